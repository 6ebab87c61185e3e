"""The teacher configs: they assemble, their prompts read well, they annotate, and every
server snippet in configs/models/ merges into each of them.

Fast tests put the canned model in place of the LLM. The `llm` tests run a bundled model
in-process on a few real texts of each new dataset and check that the grammar holds:
SmolLM2-135M for text classification; Gemma-3-270M for spans, because with the span_compact
prompt SmolLM2 answers "none" to every toxic comment, which would make the check vacuous.
"""

import re
import socket
from pathlib import Path
from typing import Any, Dict, List

import pytest
import spacy
import srsly
from confection import Config
from spacy.tokens import Doc, DocBin
from spacy.util import load_config, registry
from spacy_llm.util import assemble_from_config

from spacy_distill.teacher.annotate import annotate, load_teacher
from spacy_distill.teacher.grammars import SpanGrammar
from spacy_distill.teacher.openai_compatible import OpenAICompatibleModel
from spacy_distill.teacher.parsing import NONE_ANSWERS

ROOT = Path(__file__).parent.parent
CONFIGS = ROOT / "configs"
SNIPPETS = sorted((CONFIGS / "models").glob("*.cfg"))
TEACHERS = ["teacher_ner.cfg", "teacher_spancat.cfg", "teacher_textcat.cfg", "teacher_textcat_multilabel.cfg"]
NEW_TEACHERS = TEACHERS[1:]
INTENTS = ["card_arrival", "change_pin", "exchange_rate", "lost_or_stolen_card", "terminate_account", "top_up_failed"]
TOXIC = "TOXIC"
# Which request field carries the grammar, per snippet (None: the server takes no GBNF).
GRAMMAR_FIELDS = {
    "llamacpp_server.cfg": "grammar",
    "vllm.cfg": "structured_outputs.grammar",
    "ollama.cfg": None,
    "lmstudio.cfg": None,
    "openai.cfg": None,
}
PORTS = {"llamacpp_server.cfg": 8080, "vllm.cfg": 8000, "ollama.cfg": 11434, "lmstudio.cfg": 1234}

pytestmark = [
    pytest.mark.filterwarnings("ignore:.*Skipping unsupported user data 'spacy_distill"),
    pytest.mark.filterwarnings("ignore:Task supports sharding"),
]


# ---------------------------------------------------------------- helpers


def gold(dataset: str, n: int) -> List[Dict[str, Any]]:
    """The first n gold records of an excerpt's test.jsonl."""
    return list(srsly.read_jsonl(ROOT / "assets" / dataset / "test.jsonl"))[:n]


def absolute_paths(config_name: str, responses: Path) -> Dict[str, str]:
    """Overrides so that a config works from any directory and stores answers under tmp."""
    examples = load_config(CONFIGS / config_name, interpolate=False)["paths"]["examples"]
    return {"paths.examples": str(ROOT / examples), "paths.responses": str(responses)}


def canned_overrides(config_name: str, tmp_path: Path, answers: Dict[str, str], default: str = "none"):
    responses = tmp_path / "responses.sqlite"
    store = {"@llm_misc": "spacy_distill.ResponseStore.v1", "path": str(responses)}
    model = {"@llm_models": "spacy_distill_test.Canned.v1", "answers": answers, "default": default, "store": store}
    return {**absolute_paths(config_name, responses), "components.llm.model": model}


def prompt_of(doc: Doc) -> str:
    prompts = doc.user_data["llm_io"]["llm"]["prompt"]
    return prompts[0] if isinstance(prompts, (list, tuple)) else prompts


def load_docs(path: Path) -> List[Doc]:
    return list(DocBin().from_disk(path).get_docs(spacy.blank("en").vocab))


def read_snippet(path: Path) -> Dict[str, Any]:
    """A snippet's [components.llm.model] section, uninterpolated (it refers to ${paths.responses})."""
    text = "[components]\n[components.llm]\n" + path.read_text(encoding="utf8")
    return Config().from_str(text, interpolate=False)["components"]["llm"]["model"]


def merged_config(teacher: str, snippet: Path, responses: Path) -> Config:
    """The teacher config with the snippet's model section in place of its own (load_config + overrides).

    The teacher's grammar block stays when the snippet names a grammar field, as
    configs/models/README.md says.
    """
    section = dict(read_snippet(snippet))
    if "grammar_field" in section:
        section["grammar"] = load_config(CONFIGS / teacher)["components"]["llm"]["model"]["grammar"]
    overrides = {**absolute_paths(teacher, responses), "components.llm.model": section}
    return load_config(CONFIGS / teacher, overrides=overrides, interpolate=True)


def pasted_config(teacher: str, snippet: Path, responses: Path) -> Config:
    """What a user gets by pasting the snippet's text over the teacher's model blocks."""
    keep_grammar = "grammar_field" in read_snippet(snippet)
    kept, skipping = [], False
    for line in (CONFIGS / teacher).read_text(encoding="utf8").splitlines():
        header = re.match(r"^\[(.+)\]$", line.strip())
        if header:
            name = header.group(1)
            if name == "components.llm.model":
                kept.append(snippet.read_text(encoding="utf8"))
            in_model = name == "components.llm.model" or name.startswith("components.llm.model.")
            skipping = in_model and not (keep_grammar and name == "components.llm.model.grammar")
        if not skipping:
            kept.append(line)
    return Config().from_str("\n".join(kept) + "\n", overrides=absolute_paths(teacher, responses))


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a connection fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


# ---------------------------------------------------------------- canned model: assemble, annotate


CANNED_CASES = {
    "teacher_ner.cfg": {
        "I love Zara and my Levi's jeans.": "Zara | FASHION_BRAND\nLevi's | FASHION_BRAND",
        "Nothing to see here.": "none",
    },
    "teacher_spancat.cfg": {
        "you are a closet idiot": f"idiot | {TOXIC}",
        "Fuck the police and fuck that construction company": f"Fuck | {TOXIC}\nconstruction company | {TOXIC}",
        "What a nice day.": "none",
    },
    "teacher_textcat.cfg": {
        "Where is my new card?": "card_arrival",
        "I need to change my PIN.": "change_pin\n",
        "My top-up was declined.": "top_up_failed",
    },
    "teacher_textcat_multilabel.cfg": {
        "Where is my new card?": "card_arrival",
        "My card was stolen, close my account.": "lost_or_stolen_card, terminate_account",
        "How old must I be?": "==NONE==",
    },
}


@pytest.mark.parametrize("config_name", TEACHERS)
def test_teacher_annotates_with_canned_model(config_name, tmp_path):
    answers = CANNED_CASES[config_name]
    texts = list(answers)
    srsly.write_jsonl(tmp_path / "in.jsonl", [{"text": t, "meta": {"i": i}} for i, t in enumerate(texts)])
    overrides = canned_overrides(config_name, tmp_path, answers)
    stats = annotate(
        CONFIGS / config_name, tmp_path / "in.jsonl", tmp_path / "out.spacy", overrides=overrides, show_progress=False
    )
    assert stats["docs"] == len(texts) and stats["llm_calls"] == len(texts) and stats["cache_hits"] == 0
    assert stats["parse_failures"] == 0 and stats["unparsed_lines"] == 0 and stats["dropped_spans"] == 0
    docs = load_docs(tmp_path / "out.spacy")
    assert [d.text for d in docs] == texts
    assert [d.user_data["meta"]["i"] for d in docs] == list(range(len(texts)))

    if config_name == "teacher_ner.cfg":
        assert [[e.text for e in d.ents] for d in docs] == [["Zara", "Levi's"], []]
    elif config_name == "teacher_spancat.cfg":
        found = [[(s.text, s.label_) for s in d.spans["sc"]] for d in docs]
        assert found == [
            [("idiot", TOXIC)],
            [("Fuck", TOXIC), ("fuck", TOXIC), ("construction company", TOXIC)],  # every occurrence
            [],
        ]
        assert not any(d.ents for d in docs)
        assert stats["labels"] == {TOXIC: 4}
    else:
        for doc in docs:
            assert sorted(doc.cats) == INTENTS
        positive = [sorted(label for label, score in d.cats.items() if score >= 0.5) for d in docs]
        if config_name == "teacher_textcat.cfg":
            assert positive == [["card_arrival"], ["change_pin"], ["top_up_failed"]]
        else:
            assert positive == [["card_arrival"], ["lost_or_stolen_card", "terminate_account"], []]

    # A second run answers everything from the store.
    again = annotate(
        CONFIGS / config_name, tmp_path / "in.jsonl", tmp_path / "again.spacy", overrides=overrides, show_progress=False
    )
    assert again["llm_calls"] == 0 and again["cache_hits"] == len(texts)


def test_unreadable_answers_are_counted(tmp_path):
    """An exclusive teacher answering two labels, or an unknown one, is a parse failure, not a label."""
    answers = {"Where is my new card?": "card_arrival, change_pin", "I need to change my PIN.": "pin_stuff"}
    srsly.write_jsonl(tmp_path / "in.jsonl", [{"text": t} for t in answers])
    overrides = canned_overrides("teacher_textcat.cfg", tmp_path, answers)
    stats = annotate(
        CONFIGS / "teacher_textcat.cfg",
        tmp_path / "in.jsonl",
        tmp_path / "out.spacy",
        overrides=overrides,
        show_progress=False,
    )
    assert stats["parse_failures"] == 2 and stats["labels"] == {}
    assert all(max(d.cats.values()) == 0.0 for d in load_docs(tmp_path / "out.spacy"))


# ---------------------------------------------------------------- prompts


def rendered_prompt(config_name: str, tmp_path: Path, text: str) -> str:
    nlp = load_teacher(CONFIGS / config_name, canned_overrides(config_name, tmp_path, {}))
    return prompt_of(nlp(text))


def grammar_of(config_name: str, tmp_path: Path) -> Any:
    """The config's grammar object, resolved on its own (the model itself is not loaded)."""
    config = load_config(CONFIGS / config_name, interpolate=True)
    return registry.resolve({"grammar": config["components"]["llm"]["model"]["grammar"]})["grammar"]


def test_spancat_prompt(tmp_path):
    text = gold("toxic_spans", 1)[0]["text"]
    prompt = rendered_prompt("teacher_spancat.cfg", tmp_path, text)
    examples = srsly.read_yaml(ROOT / "assets" / "toxic_spans" / "spancat_examples.yml")
    assert prompt.startswith("The texts are comments from a news site.")
    assert "Labels: TOXIC." in prompt and "TOXIC: an insult, slur" in prompt
    for example in examples:  # all four, the one without toxic spans too
        assert f"\nText: {example['text']}\nEntities:\n" in prompt
        for span in example["spans"]:
            line = f"\n{span['text']} | {TOXIC}\n"
            assert (line in prompt) == span["is_entity"]
    assert "\nEntities:\nnone\n" in prompt
    assert prompt.endswith(f"\nText: {text}\nEntities:")
    # The grammar finds the text between the markers and allows only phrases copied from it.
    grammar = grammar_of("teacher_spancat.cfg", tmp_path)
    assert isinstance(grammar, SpanGrammar) and grammar.labels == [TOXIC]
    assert grammar.prompt_text(prompt) == text
    gbnf = grammar(prompt)
    assert '"idiot"' in gbnf and '"moron"' not in gbnf  # "moron" is only in an example


@pytest.mark.parametrize("config_name", ["teacher_textcat.cfg", "teacher_textcat_multilabel.cfg"])
def test_textcat_prompt(config_name, tmp_path):
    text = gold("banking77", 1)[0]["text"]
    prompt = rendered_prompt(config_name, tmp_path, text)
    multi = "multilabel" in config_name
    examples = srsly.read_yaml(
        ROOT / "assets" / "banking77" / ("textcat_multilabel_examples.yml" if multi else "textcat_examples.yml")
    )
    assert prompt.startswith("Classify the text. Labels: " + ", ".join(INTENTS) + ".\n")
    for label in INTENTS:
        assert re.search(rf"^{label}: \S", prompt, re.M), f"no definition of {label}"
    for example in examples:
        assert f"\nText: {example['text']}\nLabel:\n{example['answer']}\n" in prompt
    if multi:
        assert 'separated by ", ", or ==NONE== if none applies' in prompt
        assert "\nLabel:\n==NONE==\n" in prompt
    else:
        assert "Answer with exactly one label." in prompt and "==NONE==" not in prompt
    assert prompt.endswith(f"\nText: {text}\nLabel:\n")
    assert "'''" not in prompt  # not spacy-llm's stock template
    grammar = grammar_of(config_name, tmp_path)
    for label in INTENTS:
        assert f'"{label}"' in grammar
    assert ("==NONE==" in grammar) == multi


# ---------------------------------------------------------------- server snippets


def test_snippets_cover_the_servers():
    assert sorted(p.name for p in SNIPPETS) == sorted(GRAMMAR_FIELDS)
    for path in SNIPPETS:
        section = read_snippet(path)
        assert section["@llm_models"] == "spacy_distill.OpenAICompatible.v1"
        assert section["store"] == {"@llm_misc": "spacy_distill.ResponseStore.v1", "path": "${paths.responses}"}
        assert section.get("grammar_field") == GRAMMAR_FIELDS[path.name]
        assert "grammar" not in section  # the grammar is the teacher's (task-specific)
        if path.name in PORTS:
            assert section["base_url"] == f"http://127.0.0.1:{PORTS[path.name]}/v1"
            assert section["api_key_env"] is None
        assert section["concurrency"] >= 1
    assert read_snippet(CONFIGS / "models" / "openai.cfg")["api_key_env"] == "OPENAI_API_KEY"


@pytest.mark.parametrize("snippet", SNIPPETS, ids=lambda p: p.stem)
@pytest.mark.parametrize("config_name", TEACHERS)
def test_snippet_merges_into_teacher(config_name, snippet, tmp_path, monkeypatch, no_network):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-key")
    config = merged_config(config_name, snippet, tmp_path / "responses.sqlite")
    model = registry.resolve({"model": config["components"]["llm"]["model"]})["model"]
    assert isinstance(model, OpenAICompatibleModel)
    field = GRAMMAR_FIELDS[snippet.name]
    assert model.grammar_field == (field or "grammar")
    assert (model.grammar is not None) == (field is not None)
    assert model.store.path == tmp_path / "responses.sqlite"
    assert model.http_requests == 0

    # The whole pipeline builds from the merged config, and the paste route gives the same model.
    nlp = assemble_from_config(config)
    assert isinstance(nlp.get_pipe("llm")._model, OpenAICompatibleModel)
    pasted = pasted_config(config_name, snippet, tmp_path / "responses.sqlite")
    pasted_model = registry.resolve({"model": pasted["components"]["llm"]["model"]})["model"]
    assert pasted_model.identity == model.identity

    # One prompt of this teacher goes out with the grammar in the right field.
    prompt = prompt_of(_one_prompt(config_name, tmp_path))
    sent = {"extra_body": _request_body(model, prompt)}
    if field is None:
        assert not {"grammar", "guided_grammar", "structured_outputs"} & set(sent["extra_body"])
    else:
        *parents, leaf = field.split(".")
        target = sent["extra_body"]
        for name in parents:
            target = target[name]
        assert target[leaf].startswith("root ::=")
        assert "grammar" not in sent["extra_body"] or field == "grammar"
    assert sent["extra_body"]["temperature"] == 0.0
    assert model.http_requests == 0


def _one_prompt(config_name: str, tmp_path: Path) -> Doc:
    text = {"teacher_ner.cfg": "I love Zara.", "teacher_spancat.cfg": "you are a closet idiot"}.get(
        config_name, "Where is my new card?"
    )
    nlp = load_teacher(CONFIGS / config_name, canned_overrides(config_name, tmp_path, {}))
    return nlp(text)


def _request_body(model: OpenAICompatibleModel, prompt: str) -> Dict[str, Any]:
    """The body the model would send for the prompt (nothing is sent)."""
    body = model.request_body(prompt)
    if model.endpoint == "chat":
        assert body["messages"][-1] == {"role": "user", "content": prompt}
    else:
        assert body["prompt"] == prompt
    return body


# ---------------------------------------------------------------- a real tiny LLM


SMOLLM = "smollm2-135m-instruct"
GEMMA = "gemma3-270m"


def run_real(config_name: str, texts: List[str], tmp_path: Path, model: str):
    srsly.write_jsonl(tmp_path / "in.jsonl", [{"text": t} for t in texts])
    overrides = {
        **absolute_paths(config_name, tmp_path / "responses.sqlite"),
        "components.llm.model.model_path.name": model,
    }
    stats = annotate(
        CONFIGS / config_name, tmp_path / "in.jsonl", tmp_path / "out.spacy", overrides=overrides, show_progress=False
    )
    docs = load_docs(tmp_path / "out.spacy")
    assert [d.text for d in docs] == texts
    assert stats["docs"] == len(texts) and stats["llm_calls"] == len(texts) and stats["cache_hits"] == 0
    assert stats["parse_failures"] == 0 and stats["unparsed_lines"] == 0
    assert 0 < stats["completion_tokens"] < 40 * len(texts) and stats["prompt_tokens"] > 100 * len(texts)
    identity = docs[0].user_data["teacher"]["identity"]
    assert identity["kind"] == "LlamaCpp" and identity["model"].lower().startswith(model[:5])
    again = annotate(
        CONFIGS / config_name, tmp_path / "in.jsonl", tmp_path / "again.spacy", overrides=overrides, show_progress=False
    )
    assert again["llm_calls"] == 0 and again["cache_hits"] == len(texts)
    return docs, stats


# Toxic comments of the test excerpt: one Gemma finds nothing in, four it marks spans in
# (one of them, "NANA", is not toxic: the grammar keeps the form, not the judgement).
SPANCAT_DOCS = [10, 47, 48, 50, 61]


@pytest.mark.llm
def test_real_llm_spancat(tmp_path):
    rows = list(srsly.read_jsonl(ROOT / "assets" / "toxic_spans" / "test.jsonl"))
    texts = [rows[i]["text"] for i in SPANCAT_DOCS]
    docs, stats = run_real("teacher_spancat.cfg", texts, tmp_path, GEMMA)
    n_lines = 0
    for doc in docs:
        (response,) = doc.user_data["teacher"]["response"]
        lines = response.strip().splitlines()
        assert lines, "empty answer"
        if lines == ["none"]:
            assert len(doc.spans["sc"]) == 0
            continue
        assert len(lines) <= 6  # max_spans
        dropped = {d["text"] for d in doc.user_data["spacy_distill"]["dropped_spans"]}
        found = {s.text.lower() for s in doc.spans["sc"]}
        for line in lines:
            phrase, label = line.split(" | ")
            assert label == TOXIC and phrase in doc.text, line  # copied from the text
            assert len(re.findall(r"\w+|[^\w\s]", phrase)) <= 8  # max_phrase_tokens
            assert phrase.lower() in found or phrase in dropped, line  # used, or counted as dropped
            n_lines += 1
        assert all(s.label_ == TOXIC for s in doc.spans["sc"])
    assert n_lines > 0, "the model marked nothing: the grammar check was vacuous"
    assert set(stats["labels"]) <= {TOXIC}


@pytest.mark.llm
@pytest.mark.parametrize("config_name", ["teacher_textcat.cfg", "teacher_textcat_multilabel.cfg"])
def test_real_llm_textcat(config_name, tmp_path):
    rows = gold("banking77", 5)
    docs, stats = run_real(config_name, [r["text"] for r in rows], tmp_path, SMOLLM)
    multi = "multilabel" in config_name
    for doc in docs:
        (response,) = doc.user_data["teacher"]["response"]
        answer = response.strip()
        labels = [part.strip() for part in answer.split(",")]
        if multi and answer == "==NONE==":
            assert max(doc.cats.values()) == 0.0
            continue
        assert set(labels) <= set(INTENTS), response
        if not multi:
            assert len(labels) == 1 and answer.lower() not in NONE_ANSWERS
        assert sorted(label for label, score in doc.cats.items() if score == 1.0) == sorted(set(labels))
    assert sum(stats["labels"].values()) >= (0 if multi else len(docs))
