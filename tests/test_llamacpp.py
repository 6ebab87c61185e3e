"""spacy_distill.LlamaCpp.v1 in-process: grammar checking and the store key."""

import math

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


def test_recorded_logprobs_equal_llama_cpps_own(smollm2):
    """Without a grammar, the log-probabilities kept from each step's logits are those llama-cpp-python
    computes itself from a model that keeps every position's logits (logits_all)."""
    from llama_cpp import Llama

    prompt = "The capital of France is"
    model = LlamaCppModel(smollm2, options={"max_tokens": 6, "stop": ["\n"]})
    answer = model.complete(prompt)
    reference = Llama(model_path=smollm2, n_ctx=256, logits_all=True, verbose=False, seed=0)
    own = reference.create_completion(prompt, max_tokens=6, stop=["\n"], temperature=0.0, logprobs=1)["choices"][0]
    assert answer.text == own["text"] and answer.text.strip()
    ours = [lp for _, lp in answer.token_logprobs]
    theirs = [lp for lp in own["logprobs"]["token_logprobs"]][: len(ours)]
    assert len(ours) == len(theirs) >= 2
    assert ours == pytest.approx(theirs, abs=2e-3)
    assert [o for o, _ in answer.token_logprobs] == [o - len(prompt) for o in own["logprobs"]["text_offset"]][
        : len(ours)
    ]


def test_logprobs_under_a_grammar_are_shares_of_what_it_allows(smollm2):
    """A grammar that allows one token only: it is certain (probability 1), though the model alone would
    not write it. With two answers allowed, the chosen one's probability is its share of the
    two: more than its probability among all tokens (from the scorer's own evaluation of the prompt)."""
    from spacy_distill.teacher.logprob_models import LlamaCppScorerModel

    forced = LlamaCppModel(smollm2, grammar='root ::= "Q"', options={"max_tokens": 4}).complete("Hi:")
    assert forced.text == "Q" and forced.token_logprobs == [[0, pytest.approx(0.0, abs=1e-6)]]
    alone = LlamaCppModel(smollm2, options={"max_tokens": 4}).complete("Hi:")
    assert alone.text[:1] != "Q"

    prompt = "Is the sky green? Answer yes or no:"
    answer = LlamaCppModel(smollm2, grammar='root ::= " yes" | " no"', options={"max_tokens": 4}).complete(prompt)
    p_share = math.exp(sum(lp for _, lp in answer.token_logprobs))
    logprobs, _ = LlamaCppScorerModel(smollm2).answer_log_probs(prompt, [answer.text])
    p_all = math.exp(logprobs[answer.text])
    assert p_all < p_share < 1.0
