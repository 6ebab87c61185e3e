"""End-to-end with a real tiny LLM on real sentences: in-process llama.cpp and llama.cpp's server.

Gemma-3-270M (the config's default teacher) is used rather than SmolLM2-135M: with the
span_compact prompt SmolLM2 answers "none" to every sentence, which would make the
grammar checks vacuous; Gemma names some brands.
"""

import json
from pathlib import Path
from typing import Dict, List

import httpx
import pytest
import spacy
from llm_helpers import (
    LABEL,
    NER_EXAMPLES,
    TEACHER_NER_CFG,
    LlamaServer,
    fashion_texts,
    grammar_violations,
    run_annotate,
    sha256,
    store_rows,
    write_txt,
)
from spacy.tokens import Doc, DocBin

from spacy_distill.teacher.bundled import bundled_model_path

pytestmark = pytest.mark.llm

MODEL = "gemma3-270m"
STATS_KEYS = (
    "docs",
    "llm_calls",
    "cache_hits",
    "parse_failures",
    "dropped_spans",
    "seconds",
    "prompt_tokens",
    "completion_tokens",
)


@pytest.fixture(scope="module")
def texts(test_data: Path) -> List[str]:
    return fashion_texts(test_data, n_with_brands=5, n_without=3)


@pytest.fixture(scope="module")
def input_txt(tmp_path_factory, texts):
    """The sentences one per line, with an empty and a blank line among them (skipped)."""
    lines = texts[:3] + [""] + texts[3:6] + ["   "] + texts[6:]
    path = write_txt(tmp_path_factory.mktemp("input") / "sentences.txt", lines)
    line_numbers = [i for i, line in enumerate(lines, start=1) if line.strip()]
    return path, line_numbers


def load_docs(path: Path) -> List[Doc]:
    return list(DocBin().from_disk(path).get_docs(spacy.blank("en").vocab))


def comparable(doc: Doc):
    return doc.to_json(), repr(doc.user_data)


def check_run(
    out_path: Path,
    stats: Dict,
    store_path: Path,
    texts: List[str],
    line_numbers: List[int],
    model_name: str,
    first_run: bool,
) -> List[Doc]:
    """Everything a run must deliver: docs in order with provenance, grammar-bound answers, stats."""
    n = len(texts)
    docs = load_docs(out_path)
    assert [doc.text for doc in docs] == texts, "one doc per non-empty input line, in input order"
    assert [doc.user_data["source"]["line"] for doc in docs] == line_numbers

    rows = store_rows(store_path)
    assert rows is not None and len(rows) == n, f"the store should hold one answer per doc, has {rows and len(rows)}"
    by_prompt_hash = {sha256(row["prompt"]): row for row in rows}
    violations = {}
    for doc in docs:
        teacher = doc.user_data["teacher"]
        assert teacher["model"] == model_name
        (prompt_hash,) = teacher["prompt_sha256"]
        (response,) = teacher["response"]
        (prompt,) = doc.user_data["llm_io"]["llm"]["prompt"]
        assert sha256(prompt) == prompt_hash
        assert prompt.rstrip().endswith(f"Text: {doc.text}\nEntities:")
        row = by_prompt_hash[prompt_hash]  # the stored answer of exactly this prompt
        assert row["response"] == response
        problems = grammar_violations(response, doc.text)
        if problems:
            violations[doc.text] = (response, problems)
        phrases = [line.rsplit(" | ", 1)[0].lower() for line in response.splitlines() if " | " in line]
        for ent in doc.ents:
            assert ent.label_ == LABEL
            assert any(ent.text.lower() in phrase for phrase in phrases), (ent.text, response)
    assert not violations, f"answers that break the grammar: {violations}"

    for key in STATS_KEYS:
        assert key in stats, f"stats JSON lacks {key!r}: {stats}"
    assert stats["docs"] == n
    assert stats["skipped_empty"] == 2
    assert stats["parse_failures"] == 0  # the grammar only allows readable answers
    assert stats["dropped_spans"] == sum(len(doc.user_data["spacy_distill"]["dropped_spans"]) for doc in docs)
    assert stats["seconds"] > 0
    if first_run:
        assert (stats["llm_calls"], stats["cache_hits"]) == (n, 0)
        assert stats["prompt_tokens"] == sum(row["prompt_tokens"] for row in rows) > 0
        assert stats["completion_tokens"] == sum(row["completion_tokens"] for row in rows) >= n
    else:
        assert (stats["llm_calls"], stats["cache_hits"]) == (0, n)
        assert (stats["prompt_tokens"], stats["completion_tokens"]) == (0, 0)
    return docs


def check_grammar_not_vacuous(docs: List[Doc]) -> None:
    """The grammar checks mean something only if the model named at least one entity."""
    responses = [doc.user_data["teacher"]["response"][0] for doc in docs]
    assert any(r.strip() != "none" for r in responses), f"the model answered 'none' to everything: {responses}"


def check_confidences(docs: List[Doc], store_path: Path) -> None:
    """Every suggestion carries the probability of the answer line that named it, every doc its confidence:
    from the model's token log-probabilities, kept in the store with the answer."""
    rows = store_rows(store_path)
    assert all(json.loads(row["token_logprobs"]) for row in rows), "every stored answer keeps its log-probabilities"
    scores = []
    for doc in docs:
        confidence = doc.user_data["teacher"]["confidence"]
        assert 0.0 < confidence <= 1.0, (doc.text, confidence)
        spans = {(s, e, label): p for s, e, label, p in doc.user_data["span_scores"]}
        assert set(spans) == {(e.start_char, e.end_char, e.label_) for e in doc.ents}
        assert all(confidence <= p <= 1.0 for p in spans.values()), "the doc's confidence is its least likely line"
        scores.extend(spans.values())
        scores.append(confidence)
    assert any(0.0 < p < 0.99 for p in scores), f"confidences should not all be 0 or 1: {scores}"


def test_cli_annotate_in_process_then_from_store(tmp_path, texts, input_txt):
    input_path, line_numbers = input_txt
    store = tmp_path / "store.sqlite"
    model_name = bundled_model_path(MODEL).name

    stats = run_annotate(input_path, tmp_path / "out.spacy", tmp_path / "stats.json", store)
    docs = check_run(tmp_path / "out.spacy", stats, store, texts, line_numbers, model_name, first_run=True)
    check_grammar_not_vacuous(docs)
    check_confidences(docs, store)

    again = run_annotate(input_path, tmp_path / "again.spacy", tmp_path / "again.json", store)
    docs_again = check_run(tmp_path / "again.spacy", again, store, texts, line_numbers, model_name, first_run=False)
    assert [comparable(d) for d in docs_again] == [comparable(d) for d in docs]
    assert (tmp_path / "again.spacy").read_bytes() == (tmp_path / "out.spacy").read_bytes()

    # annotate's JSONL (Prodigy tasks): each span's score, each task's confidence, from the stored answers
    run_annotate(input_path, tmp_path / "out.jsonl", tmp_path / "jsonl.json", store)
    tasks = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text(encoding="utf8").splitlines()]
    assert [t["text"] for t in tasks] == texts
    for task, doc in zip(tasks, docs):
        scores = {(s, e): p for s, e, _, p in doc.user_data["span_scores"]}
        assert [(s["start"], s["end"]) for s in task["spans"]] == list(scores)
        assert [s["score"] for s in task["spans"]] == pytest.approx(list(scores.values()), abs=1e-9)
        assert task["score"] == pytest.approx(doc.user_data["teacher"]["confidence"], abs=1e-9)
    assert any(0.0 < s["score"] < 1.0 for t in tasks for s in t["spans"]), "span scores are not all 0 or 1"


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory):
    server = LlamaServer(
        bundled_model_path(MODEL), tmp_path_factory.mktemp("server") / "server.log", alias="tiny-teacher"
    )
    yield server
    server.stop()


def test_server_honours_grammar_field(llama_server):
    """llama.cpp's server applies a GBNF `grammar` sent in the request body."""
    response = httpx.post(
        f"{llama_server.base_url}/completions",
        json={"prompt": "Say hello.", "max_tokens": 8, "temperature": 0, "grammar": 'root ::= "zq" "x"'},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["text"] == "zqx"


def test_model_name_is_checked_against_the_servers_list(tmp_path, input_txt, llama_server):
    from spacy_distill.errors import ConfigError
    from spacy_distill.teacher.annotate import annotate

    overrides = server_overrides(llama_server.base_url, tmp_path / "store.sqlite")
    overrides["components.llm.model"]["model"] = "gemma-2b"
    with pytest.raises(ConfigError, match=r"does not serve the model 'gemma-2b'; it lists 'tiny-teacher'"):
        annotate(TEACHER_NER_CFG, input_txt[0], tmp_path / "out.spacy", overrides=overrides, show_progress=False)


def server_overrides(base_url: str, store: Path) -> Dict:
    """Swap the whole [components.llm.model] section, subsections included, for the server model."""
    return {
        "paths.examples": str(NER_EXAMPLES),
        "paths.responses": str(store),
        "components.llm.model": {
            "@llm_models": "spacy_distill.OpenAICompatible.v1",
            "base_url": base_url,
            "model": "tiny-teacher",
            "endpoint": "completions",
            "options": {"temperature": 0, "max_tokens": 64, "stop": ["\n\n"]},
            "grammar": {"@llm_misc": "spacy_distill.SpanGrammar.v1", "labels": [LABEL]},
            "concurrency": 2,
            "store": {"@llm_misc": "spacy_distill.ResponseStore.v1", "path": str(store)},
        },
    }


def test_annotate_behind_llama_cpp_server(tmp_path, texts, input_txt, llama_server):
    from spacy_distill.teacher.annotate import annotate

    input_path, line_numbers = input_txt
    store = tmp_path / "store.sqlite"
    overrides = server_overrides(llama_server.base_url, store)

    stats = annotate(
        TEACHER_NER_CFG,
        input_path,
        tmp_path / "out.spacy",
        stats_path=tmp_path / "stats.json",
        overrides=overrides,
        show_progress=False,
    )
    # the stdlib parser: srsly's ujson may read a float one ulp off
    assert json.loads((tmp_path / "stats.json").read_text()) == stats
    # Overriding the nested section replaced it: the LlamaCpp model_path subsection is gone,
    # and only the OpenAI-compatible model counts HTTP requests.
    assert stats["http_requests"] == len(texts), llama_server.log_tail()
    docs = check_run(tmp_path / "out.spacy", stats, store, texts, line_numbers, "tiny-teacher", first_run=True)
    check_grammar_not_vacuous(docs)
    check_confidences(docs, store)
    assert all(d.user_data["teacher"]["identity"]["kind"] == "OpenAICompatible" for d in docs)

    again = annotate(
        TEACHER_NER_CFG,
        input_path,
        tmp_path / "again.spacy",
        stats_path=tmp_path / "again.json",
        overrides=overrides,
        show_progress=False,
    )
    assert again["http_requests"] == 0
    docs_again = check_run(tmp_path / "again.spacy", again, store, texts, line_numbers, "tiny-teacher", first_run=False)
    assert [comparable(d) for d in docs_again] == [comparable(d) for d in docs]
    assert (tmp_path / "again.spacy").read_bytes() == (tmp_path / "out.spacy").read_bytes()
