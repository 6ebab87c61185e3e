"""spacy_distill.LlamaCpp.v1 in-process: grammar checking and the store key."""

import pytest

from spacy_distill.teacher.base import TeacherError
from spacy_distill.teacher.bundled import bundled_model_path
from spacy_distill.teacher.llamacpp import LlamaCppModel
from spacy_distill.teacher.store import ResponseStore

pytestmark = pytest.mark.llm


@pytest.fixture(scope="module")
def smollm2() -> str:
    return str(bundled_model_path("smollm2-135m-instruct"))


def test_invalid_grammar_is_a_clear_error_not_a_crash(smollm2):
    model = LlamaCppModel(smollm2, grammar='root ::= "unterminated')
    with pytest.raises(ValueError, match="llama.cpp rejected the grammar"):
        model.complete("Say something:")


def test_grammar_constrains_the_answer(smollm2):
    model = LlamaCppModel(smollm2, grammar='root ::= "yes" | "no"', options={"max_tokens": 8})
    answer = model.complete("Is the sky green? Answer yes or no:")
    assert answer.text in ("yes", "no") and answer.finish_reason == "stop"
    assert answer.prompt_tokens > 0 and answer.completion_tokens >= 1


def test_cut_off_answer_is_reported_and_not_stored(smollm2, tmp_path):
    """max_tokens cuts the answer: the doc fails in words (greedy decoding would cut it again), nothing stored."""
    store = ResponseStore(tmp_path / "s.sqlite")
    model = LlamaCppModel(smollm2, options={"max_tokens": 3, "stop": []}, store=store)
    with pytest.raises(TeacherError, match=r"llama.cpp model .* cut off at the token limit .* \(not retried\)"):
        model([["Write a long story about the sea:"]])
    assert len(store) == 0


def test_identity_changes_with_options_and_grammar(smollm2):
    plain = LlamaCppModel(smollm2)
    other = LlamaCppModel(smollm2, options={"max_tokens": 7}, grammar='root ::= "x"')
    assert plain.identity["sha256"] == other.identity["sha256"]
    assert plain.key("p") != other.key("p")


def test_missing_model_file(tmp_path):
    with pytest.raises(ValueError, match="GGUF model file not found"):
        LlamaCppModel(str(tmp_path / "nope.gguf"))
