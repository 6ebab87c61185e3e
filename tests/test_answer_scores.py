"""The generative teacher's confidence from token log-probabilities: lines, spans, categories, shards, HTTP replies."""

import math

import pytest
import spacy
from openai_stub import StubServer
from spacy.tokens import Doc
from test_parsing import ner_nlp, teacher_config, textcat  # noqa: F401  (fixtures and helpers of the parser tests)

from spacy_distill.teacher.answer_scores import (
    ScoredAnswer,
    merge_span_scores,
    segment_probability,
    shard_offsets,
    token_offsets,
)
from spacy_distill.teacher.openai_compatible import OpenAICompatibleModel, reply_logprobs
from spacy_distill.teacher.parsing import parse_span_responses

LABEL = "FASHION_BRAND"
pytestmark = [
    pytest.mark.filterwarnings("ignore:.*Skipping unsupported user data 'spacy_distill"),
    pytest.mark.filterwarnings("ignore:Task supports sharding"),
]


def tokens(answer: str, cuts, logprobs) -> ScoredAnswer:
    """A ScoredAnswer cut into tokens at `cuts` (start chars), with these log-probabilities."""
    return ScoredAnswer(answer, list(zip(cuts, logprobs)))


def test_a_lines_probability_is_the_product_of_its_tokens():
    cuts = [0, 4, 6, 20, 21, 27, 29]  # "Zara", " |", " FASHION_BRAND", "\n", "Uniqlo", " |", " FASHION_BRAND"
    answer = tokens("Zara | FASHION_BRAND\nUniqlo | FASHION_BRAND", cuts, [-0.1, -0.2, 0, -5.0, -0.3, 0, 0])
    assert segment_probability(answer, 0, 20) == pytest.approx(math.exp(-0.3))
    # the line break token (whitespace only) counts for neither line; " |" counts where its "|" is
    assert segment_probability(answer, 21, 42) == pytest.approx(math.exp(-0.3))
    plain = "Zara | FASHION_BRAND"
    assert segment_probability(plain, 0, len(plain)) is None  # no log-probabilities: no number


def test_token_offsets_count_a_split_character_once():
    pieces = [b"Z", "ü".encode()[:1], "ü".encode()[1:] + b"r", b"ich"]
    assert token_offsets(pieces) == [0, 1, 1, 3]


def test_spans_get_the_probability_of_the_line_that_named_them(ner_nlp):  # noqa: F811
    task = ner_nlp.get_pipe("llm")._task
    doc = ner_nlp.make_doc("Zara and Uniqlo, and Zara again.")
    answer = tokens("Zara | FASHION_BRAND\nUniqlo | FASHION_BRAND", [0, 4, 20, 21, 27], [-0.5, 0, 0, -2.0, 0])
    ((spans,),) = parse_span_responses(task, [[doc]], [[answer]])
    assert [s.text for s in spans] == ["Zara", "Uniqlo", "Zara"]
    scores = {(doc.text[s:e], s): p for s, e, _, p in doc.user_data["span_scores"]}
    assert scores == {
        ("Zara", 0): pytest.approx(math.exp(-0.5)),
        ("Uniqlo", 9): pytest.approx(math.exp(-2.0)),
        ("Zara", 21): pytest.approx(math.exp(-0.5)),
    }
    assert doc.user_data["spacy_distill"]["confidence"] == pytest.approx(math.exp(-2.0))  # the least likely line


def test_a_none_answer_has_its_probability_as_the_docs_confidence(ner_nlp):  # noqa: F811
    task = ner_nlp.get_pipe("llm")._task
    doc = ner_nlp.make_doc("Nothing here.")
    ((spans,),) = parse_span_responses(task, [[doc]], [[tokens("none", [0], [-0.7])]])
    assert spans == [] and doc.user_data["span_scores"] == []
    assert doc.user_data["spacy_distill"]["confidence"] == pytest.approx(math.exp(-0.7))


def test_answers_without_logprobs_give_null_scores(ner_nlp):  # noqa: F811
    task = ner_nlp.get_pipe("llm")._task
    doc = ner_nlp.make_doc("I love Zara.")
    list(parse_span_responses(task, [[doc]], [["Zara | FASHION_BRAND"]]))
    assert doc.user_data["span_scores"] == [[7, 11, LABEL, None]]
    assert doc.user_data["spacy_distill"]["confidence"] is None


def test_textcat_scores_the_chosen_labels():
    text = "Loved it, but it broke."
    nlp = textcat({}, ["POSITIVE", "NEGATIVE"], exclusive=False)
    nlp.get_pipe("llm")._model.answers = {text: tokens("POSITIVE, NEGATIVE", [0, 8, 10], [-0.2, 0.0, -1.2])}
    doc = nlp(text)
    assert doc.user_data["cat_scores"] == {
        "POSITIVE": pytest.approx(math.exp(-0.2)),
        "NEGATIVE": pytest.approx(math.exp(-1.2)),
    }
    assert doc.user_data["spacy_distill"]["confidence"] == pytest.approx(math.exp(-1.4))


def test_shard_scores_move_to_their_place_in_the_joined_doc():
    nlp = spacy.blank("en")
    shards = [nlp("I like Zara"), nlp("and Uniqlo. "), nlp("Levi's")]
    shards[0].user_data["span_scores"] = [[7, 11, LABEL, 0.9]]
    shards[1].user_data["span_scores"] = [[4, 10, LABEL, None]]
    shards[2].user_data["span_scores"] = [[0, 6, LABEL, 0.4]]
    joined = Doc.from_docs(shards)
    assert shard_offsets(shards) == [0, 12, 24]
    merged = merge_span_scores(shards)
    assert [joined.text[s:e] for s, e, *_ in merged] == ["Zara", "Uniqlo", "Levi's"]
    assert [p for *_, p in merged] == [0.9, None, 0.4]


@pytest.mark.parametrize("endpoint", ["chat", "completions"])
def test_servers_logprobs_reach_the_answer(endpoint):
    def split(text):
        return [(text[:2], -0.1), (text[2:], -0.4)]

    with StubServer(answer=lambda prompt: "Zara | FASHION_BRAND", logprobs=split) as stub:
        model = OpenAICompatibleModel(base_url=stub.base_url, model="stub", endpoint=endpoint)
        ((answer,),) = model([["hello"]])
    assert answer == "Zara | FASHION_BRAND"
    assert answer.token_logprobs == [(0, -0.1), (2, -0.4)]


def test_server_without_logprobs_gives_answers_without_scores():
    with StubServer(answer=lambda prompt: "none") as stub:
        ((answer,),) = OpenAICompatibleModel(base_url=stub.base_url, model="stub")([["hello"]])
    assert answer == "none" and answer.token_logprobs is None


def test_server_that_refuses_the_logprobs_field_is_asked_without_it(caplog):
    with StubServer(answer=lambda prompt: "none", reject_field="logprobs") as stub:
        model = OpenAICompatibleModel(base_url=stub.base_url, model="stub")
        ((first,),) = model([["one"]])
        ((second,),) = model([["two"]])
    assert (first, second) == ("none", "none")
    assert ["logprobs" in r["body"] for r in stub.requests] == [True, False, False]  # asked once, then never
    assert "refused a request with `logprobs`" in caplog.text


@pytest.mark.parametrize(
    "logprobs",
    [
        None,
        {"content": [{"token": "Zar", "logprob": -0.1}]},  # does not spell the answer
        {"tokens": ["Zara"], "token_logprobs": [float("nan")]},
        {"content": "garbage"},
        [1, 2],
    ],
)
def test_unusable_logprobs_are_no_scores(logprobs):
    assert reply_logprobs(logprobs, "Zara") is None


def test_span_parser_v2_drops_what_the_teacher_is_unsure_of(ner_nlp):  # noqa: F811
    from spacy_distill.teacher.parsing import make_span_parser_v2

    parse = make_span_parser_v2(min_confidence=0.5)
    task = ner_nlp.get_pipe("llm")._task
    doc = ner_nlp.make_doc("Zara and Uniqlo.")
    answer = tokens("Zara | FASHION_BRAND\nUniqlo | FASHION_BRAND", [0, 20, 21], [-0.1, 0.0, -1.5])
    ((spans,),) = parse(task, [[doc]], [[answer]])
    assert [s.text for s in spans] == ["Zara"]
    (dropped,) = doc.user_data["spacy_distill"]["dropped_spans"]
    assert dropped == {
        "text": "Uniqlo",
        "label": LABEL,
        "reason": "below min_confidence",
        "confidence": pytest.approx(math.exp(-1.5)),
    }
    plain = ner_nlp.make_doc("Zara and Uniqlo.")
    ((spans,),) = parse(task, [[plain]], [["Zara | FASHION_BRAND\nUniqlo | FASHION_BRAND"]])
    assert [s.text for s in spans] == ["Zara", "Uniqlo"]  # unknown probabilities: nothing to judge by


@pytest.mark.parametrize("value", [-0.1, 1.5])
def test_span_parser_v2_checks_min_confidence(value):
    from spacy_distill.errors import ConfigError
    from spacy_distill.teacher.parsing import make_span_parser_v2

    with pytest.raises(ConfigError, match="min_confidence must be between 0 and 1"):
        make_span_parser_v2(min_confidence=value)
