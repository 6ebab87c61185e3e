"""Rule candidates from the teacher's LLM: parsers on canned garbage, the plumbing with the canned
model, and the real tiny LLM proposing fashion-brand rules from corrected docs."""

from pathlib import Path
from typing import Dict, List, Optional, Tuple

import canned
import pytest
import spacy
import srsly
from spacy.matcher import Matcher
from spacy.tokens import Doc
from spacy.util import load_config
from spacy_llm.registry import registry

from spacy_distill.rules.llm import llm_candidates, rule_settings
from spacy_distill.rules.llm_prompts import (
    TOKENS_DEMOS,
    has_regular_surface,
    is_junk_term,
    parse_regex,
    parse_terms,
    parse_token_pattern,
    regex_prompt,
    terms_grammar,
    terms_prompt,
    tokens_grammar,
    tokens_prompt,
)
from spacy_distill.rules.matching import RuleMatcher
from spacy_distill.task import Task
from spacy_distill.teacher.base import Completion
from spacy_distill.teacher.store import ResponseStore

ROOT = Path(__file__).parent.parent
BRAND, ORDER = "FASHION_BRAND", "ORDER_ID"
pytestmark = [
    pytest.mark.filterwarnings("ignore:.*Skipping unsupported user data 'spacy_distill"),
    pytest.mark.filterwarnings("ignore:Task supports sharding"),
]


def test_parse_terms_reads_lists_and_counts_garbage():
    answer = "9. Zara\n10) Dr. Martens\n- Levi's\n\n* `Uniqlo`,\n11.\nPlain Term\n" + "a very long sentence " * 5
    terms, unparseable = parse_terms(answer)
    assert terms == ["Zara", "Dr. Martens", "Levi's", "Uniqlo", "Plain Term"]
    assert unparseable == 2  # the bare "11." and the sentence


def test_parse_terms_of_json_soup_and_partial_lines():
    answer = '{"terms": ["Zara", "Gucci", 3]}\n["Nike"]\n{"broken": ["Ad\n12. Tommy Hilf\n<b>x</b>'
    terms, unparseable = parse_terms(answer)
    assert terms == ["Zara", "Gucci", "Nike", "Tommy Hilf"]  # a cut-off term is a term: the data judges it
    assert unparseable == 2
    assert parse_terms("") == ([], 0)


@pytest.mark.parametrize(
    "answer,expected",
    [
        (" [A-Z]{2}-\\d{4}\n", "[A-Z]{2}-\\d{4}"),
        ("`\\d+\\.\\d\\d`", "\\d+\\.\\d\\d"),
        ("/ORD-\\d+/\nmore chatter", "ORD-\\d+"),
        ("Regex: \\b\\d{5}\\b", "\\b\\d{5}\\b"),
        ("(a+)+$", "(a+)+$"),  # parsed; compiling and timing it is the matcher's job
    ],
)
def test_parse_regex(answer, expected):
    assert parse_regex(answer) == (expected, 0)


@pytest.mark.parametrize("answer", ["", "\n\n", "x" * 200])
def test_parse_regex_counts_what_it_cannot_read(answer):
    assert parse_regex(answer) == (None, 1)


@pytest.mark.parametrize(
    "answer,expected",
    [
        (' [{"LOWER": "Nike"}]\n', [{"LOWER": "nike"}]),
        ('Pattern: [{"LOWER": {"IN": ["Zara", "gap"]}}, {"IS_TITLE": true, "OP": "?"}]', None),
        ('`[{"SHAPE": "Xxxx"}]`\nchatter', [{"SHAPE": "Xxxx"}]),
    ],
)
def test_parse_token_pattern(answer, expected):
    if expected is None:
        expected = [{"LOWER": {"IN": ["zara", "gap"]}}, {"IS_TITLE": True, "OP": "?"}]
    assert parse_token_pattern(answer) == (expected, 0)


@pytest.mark.parametrize("answer", ["", "[]", "[1, 2]", '[{"LOWER": "x"', '{"LOWER": "x"}', "[{}]"])
def test_parse_token_pattern_counts_what_it_cannot_read(answer):
    assert parse_token_pattern(answer) == (None, 1)


@pytest.mark.parametrize("label,definition,examples,pattern", TOKENS_DEMOS)
def test_token_demonstrations_match_their_examples(label, definition, examples, pattern):
    nlp = spacy.blank("en")
    matcher = Matcher(nlp.vocab, validate=True)
    matcher.add(label, [parse_token_pattern(pattern)[0]])
    for example in examples:
        doc = nlp.make_doc(example)
        assert (0, len(doc)) in {(start, end) for _, start, end in matcher(doc)}, example


def test_the_token_grammar_takes_the_demonstrations():
    from llama_cpp import LlamaGrammar

    grammar = LlamaGrammar.from_string(tokens_grammar(), verbose=False)
    assert grammar is not None
    for *_, pattern in TOKENS_DEMOS:  # one line, the shape the grammar spells out
        assert pattern.startswith("[{") and "\n" not in pattern


@pytest.mark.parametrize("term", ["", "x", "!!!", "...", "FASHION_BRAND", "fashion brand", "x" * 41])
def test_junk_terms(term):
    assert is_junk_term(term, BRAND)


def test_real_terms_are_not_junk():
    assert not is_junk_term("H&M", BRAND) and not is_junk_term("3Sixteen", BRAND)


def test_regular_surface():
    assert has_regular_surface(["A-100", "B-2003", "C-7"])
    assert not has_regular_surface(["Zara", "Gucci", "AE"]) and not has_regular_surface([])


def test_prompts_are_short_completions():
    prompt = terms_prompt(BRAND, "a clothing brand", ["Zara", "Gucci"])
    assert prompt.endswith("1. Zara\n2. Gucci\n") and "a clothing brand" in prompt
    assert regex_prompt(ORDER, None, ["A-1", "B-22"]).endswith("Examples: A-1 | B-22\nRegex:")
    assert "root ::= line{1,12}" in terms_grammar()
    assert tokens_prompt(BRAND, None, ["Zara", "Old Navy"]).endswith("Examples: Zara | Old Navy\nPattern:")


class GrammarModel:
    name = "LlamaCpp"

    def __init__(self, grammar):
        self.grammar, self.options = grammar, {"max_tokens": 128, "stop": ["\n\n"]}


def test_rule_settings_replace_grammar_and_options_for_the_call_only():
    model = GrammarModel("span grammar")
    with rule_settings(model, "rule grammar", {"max_tokens": 160}):
        assert model.grammar == "rule grammar" and model.options == {"max_tokens": 160, "stop": ["\n\n"]}
    assert model.grammar == "span grammar" and model.options["max_tokens"] == 128
    free = GrammarModel(None)  # the backend takes no grammar: none is sent
    with rule_settings(free, "rule grammar", {}):
        assert free.grammar is None


# --- the plumbing, with the canned model ---

TERMS_ANSWER = (
    "9. Zara\n10. zara\n11. FASHION_BRAND\n12. ???\n"
    '{"json": "soup", "terms": ["Ad\n'
    "13. Dr. Martens\n14. this line is far too long to be the name of any brand at all\n"
)
REGEX_ANSWER = "`[A-Z]-\\d{3,5}`"
TOKENS_ANSWER = ' [{"LOWER": {"IN": ["Zara", "gucci"]}}]\n'


class RuleCanned(canned.CannedModel):
    """Answers a term-list prompt with answers["terms LABEL"], a token-pattern prompt with
    answers["tokens LABEL"], a regex prompt with answers["regex LABEL"]."""

    def complete(self, prompt: str) -> Completion:
        last = prompt.rstrip().split("\n\n")[-1]
        if last.endswith(("Regex:", "Pattern:")):
            kind = "regex " if last.endswith("Regex:") else "tokens "
            key = kind + last.split("Label: ", 1)[1].split(" ", 1)[0]
        else:
            key = "terms " + last.split(" different ", 1)[1].split(" ", 1)[0]
        return Completion(self.answers.get(key, self.default), "stop", len(prompt.split()), 3)


@registry.llm_models("spacy_distill_test.RuleCanned.v1")
def make_rule_canned(answers: Dict[str, str], default: str = "none", store: Optional[ResponseStore] = None):
    return RuleCanned(answers, default, store)


def canned_config(tmp_path: Path, answers: Dict[str, str], default: str = "none") -> Path:
    """configs/teacher_ner.cfg with two labels and the rule-canned model."""
    config = load_config(ROOT / "configs" / "teacher_ner.cfg", interpolate=False)
    config["paths"]["examples"] = str(ROOT / "assets" / "fashion_brands" / "ner_examples.yml")
    config["paths"]["responses"] = str(tmp_path / "responses.sqlite")
    task = config["components"]["llm"]["task"]
    task["labels"] = [BRAND, ORDER]
    task["label_definitions"] = {BRAND: "a clothing brand", ORDER: "an order number"}
    config["components"]["llm"]["model"] = {
        "@llm_models": "spacy_distill_test.RuleCanned.v1",
        "answers": answers,
        "default": default,
        "store": {"@llm_misc": "spacy_distill.ResponseStore.v1", "path": "${paths.responses}"},
    }
    path = tmp_path / "teacher.cfg"
    config.to_disk(path)
    return path


def corrected_docs(rows: List[Tuple[str, List[Tuple[str, str]]]]) -> List[Doc]:
    nlp = spacy.blank("en")
    docs = []
    for text, spans in rows:
        doc = nlp.make_doc(text)
        doc.ents = [
            doc.char_span(text.index(phrase), text.index(phrase) + len(phrase), label) for phrase, label in spans
        ]
        docs.append(doc)
    return docs


DOCS = [
    ("I love Gucci and my order A-1234.", [("Gucci", BRAND), ("A-1234", ORDER)]),
    ("Uniqlo sent B-5678 late.", [("Uniqlo", BRAND), ("B-5678", ORDER)]),
    ("Nothing here.", []),
]


def canned_answers(terms: str = TERMS_ANSWER, regex: str = REGEX_ANSWER) -> Dict[str, str]:
    return {f"terms {BRAND}": terms, f"regex {ORDER}": regex, f"tokens {BRAND}": TOKENS_ANSWER}


def test_candidates_from_canned_answers_count_garbage_and_never_crash(tmp_path):
    config = canned_config(tmp_path, canned_answers(), default="1. ((((\n2. Acme Order")
    docs = corrected_docs(DOCS)
    task = Task(kind="ner", labels=[BRAND, ORDER])
    rules, counts = llm_candidates(config, {}, docs, task)
    phrases = {(r.label, r.kind, str(r.pattern or r.regex)) for r in rules}
    assert (BRAND, "tokens", str([{"LOWER": "zara"}])) in phrases  # "Zara" and "zara": one rule
    assert (BRAND, "tokens", str([{"LOWER": "dr."}, {"LOWER": "martens"}])) in phrases
    assert (ORDER, "regex", "[A-Z]-\\d{3,5}") in phrases
    assert (BRAND, "tokens", str([{"LOWER": {"IN": ["zara", "gucci"]}}])) in phrases  # a token pattern
    assert all(r.source == "llm" and r.id.startswith("llm-") for r in rules)
    assert len({r.id for r in rules}) == len(rules)
    RuleMatcher(spacy.blank("en"), rules)  # every rule returned compiles
    # 5 prompts: terms and a token pattern for each label; the order ids hold digits, so one regex
    # prompt (ORDER_ID's terms and token-pattern prompts get the unreadable default answer).
    assert counts["prompts"] == counts["answers"] == 5 and counts["llm_calls"] == 5
    assert counts["unparseable"] >= 2 and counts["junk"] >= 2 and counts["rules"] == len(rules)
    zara = next(r for r in rules if r.pattern == [{"LOWER": "zara"}])
    assert zara.stats["llm_answers"] == 2
    again, counts_again = llm_candidates(config, {}, docs, task)
    assert [r.id for r in again] == [r.id for r in rules]
    assert counts_again["llm_calls"] == 0 and counts_again["cache_hits"] == 5


def test_a_prompt_with_no_usable_answer_is_counted_not_fatal(tmp_path):
    config = canned_config(tmp_path, canned_answers(terms=""))  # an empty answer: refused, never stored
    rules, counts = llm_candidates(config, {}, corrected_docs(DOCS), Task(kind="ner", labels=[BRAND, ORDER]))
    assert counts["unanswered"] == 1 and counts["answers"] == counts["prompts"] == 5
    assert any(r.kind == "regex" for r in rules)  # the other answers are used
    _, counts_again = llm_candidates(config, {}, corrected_docs(DOCS), Task(kind="ner", labels=[BRAND, ORDER]))
    # the 4 usable answers come from the store; the refused one was not stored, so it is asked again
    assert counts_again["cache_hits"] == 4 and counts_again["unanswered"] == 1


def test_invalid_regexes_are_counted_and_dropped(tmp_path):
    config = canned_config(tmp_path, canned_answers(regex="[A-Z-\\d{3\n"))
    rules, counts = llm_candidates(config, {}, corrected_docs(DOCS), Task(kind="ner", labels=[ORDER]))
    assert counts["invalid"] == 1 and not [r for r in rules if r.kind == "regex"]
    assert counts["proposed"] >= 1


def test_regexes_only_where_asked(tmp_path):
    config = canned_config(tmp_path, canned_answers())
    task = Task(kind="ner", labels=[BRAND, ORDER])
    _, counts = llm_candidates(config, {}, corrected_docs(DOCS), task, ask_regex=False)
    assert counts["prompts"] == 4
    _, counts = llm_candidates(config, {}, corrected_docs(DOCS), task, ask_regex=True)
    assert counts["prompts"] == 6


def test_store_path_overrides_the_configs(tmp_path):
    config = canned_config(tmp_path, canned_answers())
    store = tmp_path / "rules" / "store.sqlite"
    llm_candidates(config, {}, corrected_docs(DOCS), Task(kind="ner", labels=[BRAND]), store_path=store)
    assert store.exists() and not (tmp_path / "responses.sqlite").exists()


# --- the real tiny LLM ---


def gold_docs(n: int) -> List[Doc]:
    nlp = spacy.blank("en")
    docs = []
    for row in srsly.read_jsonl(ROOT / "assets" / "fashion_brands" / "train.jsonl"):
        if row.get("spans"):
            doc = nlp.make_doc(row["text"])
            doc.ents = [doc.char_span(s["start"], s["end"], s["label"]) for s in row["spans"]]
            docs.append(doc)
        if len(docs) == n:
            return docs
    return docs


@pytest.mark.llm
def test_the_bundled_llm_proposes_valid_brand_rules_and_a_rerun_asks_nothing(tmp_path):
    config = ROOT / "configs" / "teacher_ner.cfg"
    overrides = {"paths.examples": str(ROOT / "assets" / "fashion_brands" / "ner_examples.yml")}
    docs = gold_docs(12)
    task = Task(kind="ner", labels=[BRAND])
    store = tmp_path / "responses.sqlite"
    rules, counts = llm_candidates(config, overrides, docs, task, store_path=store, n_prompts=2, n_pattern_prompts=1)
    assert counts["prompts"] == 3 and counts["llm_calls"] == 3
    assert rules and all(r.label == BRAND and r.kind == "tokens" for r in rules)
    RuleMatcher(spacy.blank("en"), rules)  # token patterns included: all pass Matcher(validate=True)
    assert counts["proposed"] > counts["invalid"] + counts["junk"]
    seen = {span.text.lower() for doc in docs for span in doc.ents}
    phrases = [r.pattern for r in rules if all(isinstance(t.get("LOWER"), str) and len(t) == 1 for t in r.pattern)]
    proposed = {" ".join(t["LOWER"] for t in pattern) for pattern in phrases}
    assert proposed - seen, f"nothing beyond the corrections: {proposed}"
    again, counts_again = llm_candidates(
        config, overrides, docs, task, store_path=store, n_prompts=2, n_pattern_prompts=1
    )
    assert counts_again["llm_calls"] == 0 and counts_again["cache_hits"] == 3
    assert [r.id for r in again] == [r.id for r in rules]
