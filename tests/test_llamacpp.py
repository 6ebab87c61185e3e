"""spacy_distill.LlamaCpp.v1 in-process: grammar checking and the store key."""

import pytest

from spacy_distill.teacher.bundled import bundled_model_path
from spacy_distill.teacher.llamacpp import LlamaCppModel

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
    text, n_prompt, n_completion = model.complete("Is the sky green? Answer yes or no:")
    assert text in ("yes", "no")
    assert n_prompt > 0 and n_completion >= 1


def test_identity_changes_with_options_and_grammar(smollm2):
    plain = LlamaCppModel(smollm2)
    other = LlamaCppModel(smollm2, options={"max_tokens": 7}, grammar='root ::= "x"')
    assert plain.identity["sha256"] == other.identity["sha256"]
    assert plain.key("p") != other.key("p")


def test_missing_model_file(tmp_path):
    with pytest.raises(ValueError, match="GGUF model file not found"):
        LlamaCppModel(str(tmp_path / "nope.gguf"))
