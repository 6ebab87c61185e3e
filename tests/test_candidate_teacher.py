"""Unit tests of the scoring teacher: candidates, probabilities, overlaps, the task's plumbing (canned log-probabilities)."""

import json
import math

import pytest
import spacy
import srsly

from spacy_distill.errors import ConfigError
from spacy_distill.formats.prodigy import doc_to_task
from spacy_distill.task import teacher_task
from spacy_distill.teacher.candidates import CandidateGenerator
from spacy_distill.teacher.confidence import (
    CANDIDATES_KEY,
    SPAN_SCORES_KEY,
    normalised,
    resolve_overlaps,
    rethreshold,
    yes_probability,
)
from spacy_distill.teacher.logprob_models import echoed_answer_log_prob, read_scoring_prompt
from spacy_distill.teacher.scored_tasks import CandidateSpansTask, ScoredTextCatTask

NLP = spacy.blank("en")


def texts_of(doc, spans):
    return [doc[s:e].text for s, e in spans]


def test_capitalised_and_unusual_tokens_and_their_ngrams():
    doc = NLP.make_doc("I bought Dr. Martens and a TimBuk2 bag at the mall for 30 dollars.")
    spans = texts_of(doc, CandidateGenerator(max_ngram=3)(doc))
    assert spans == ["Dr.", "Dr. Martens", "Martens", "TimBuk2"]  # no stop words, numbers or lower-case words


def test_lowercase_words_only_when_asked_and_never_stop_words():
    doc = NLP.make_doc("you are a closet idiot")
    assert CandidateGenerator()(doc) == []
    spans = texts_of(doc, CandidateGenerator(lowercase=True, max_ngram=2)(doc))
    assert spans == ["closet", "closet idiot", "idiot"]


def test_connectors_inside_ngrams_but_not_at_their_ends():
    doc = NLP.make_doc("Abercrombie & Fitch of course")
    spans = texts_of(doc, CandidateGenerator(max_ngram=3)(doc))
    assert "Abercrombie & Fitch" in spans and "&" not in spans and "Fitch of" not in spans


def test_common_words_from_the_texts_are_no_candidates_at_a_sentence_start(tmp_path):
    texts = tmp_path / "texts.jsonl"
    srsly.write_jsonl(texts, [{"text": "we came here twice"}, {"text": "they came back"}, {"text": "came"}])
    doc = NLP.make_doc("Came here with Versace.")
    assert texts_of(doc, CandidateGenerator()(doc)) == ["Came", "Versace"]
    assert texts_of(doc, CandidateGenerator(common_words_from=str(texts))(doc)) == ["Versace"]


def test_patterns_matches_are_candidates(tmp_path):
    patterns = tmp_path / "patterns.jsonl"
    srsly.write_jsonl(patterns, [{"label": "X", "pattern": "old navy"}])
    doc = NLP.make_doc("shirts from old navy")
    assert texts_of(doc, CandidateGenerator(patterns=str(patterns))(doc)) == ["old navy"]


def test_max_candidates_keeps_capitalised_and_short_ones_first():
    doc = NLP.make_doc("Nike shoes and adidas socks")
    spans = texts_of(doc, CandidateGenerator(lowercase=True, max_candidates=2)(doc))
    assert spans == ["Nike", "Nike shoes"] or spans[0] == "Nike"
    assert len(spans) == 2


def test_missing_patterns_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="patterns file not found"):
        CandidateGenerator(patterns=str(tmp_path / "nope.jsonl"))


def test_yes_probability_and_softmax():
    assert yes_probability({" yes": math.log(0.6), " no": math.log(0.2)}, " yes", " no") == pytest.approx(0.75)
    assert yes_probability({" yes": -1000.0, " no": 0.0}, " yes", " no") == 0.0
    shares = normalised({"a": math.log(0.1), "b": math.log(0.3)})
    assert shares == pytest.approx({"a": 0.25, "b": 0.75})


def test_overlaps_go_to_the_most_probable_span():
    scored = [(0, 2, "B", 0.7), (1, 2, "B", 0.9), (3, 4, "B", 0.6), (5, 6, "B", 0.3), (0, 1, "B", 0.8)]
    assert resolve_overlaps(scored, 0.5) == [(0, 1, "B", 0.8), (1, 2, "B", 0.9), (3, 4, "B", 0.6)]
    assert resolve_overlaps(scored, 0.95) == []


def test_echoed_logprobs_of_the_answer():
    logprobs = {  # the `logprobs` of a /v1/completions choice, as JSON
        "tokens": ["Is", " it", "?", " yes", "\n"],
        "token_logprobs": [None, -1.0, -0.5, -0.25, -3.0],
        "text_offset": [0, 2, 5, 6, 10],
    }
    assert echoed_answer_log_prob(logprobs, " yes", len("Is it? yes")) == -0.25
    with pytest.raises(ValueError, match="no logprobs"):
        echoed_answer_log_prob(None, " yes", 10)


class CannedScorer:
    """Answers each scoring prompt with canned log-probabilities: P(yes) from the phrase asked about."""

    def __init__(self, p_yes):
        self.p_yes = p_yes
        self.prompts = []

    def __call__(self, prompts):
        out = []
        for doc_prompts in prompts:
            answers = []
            for prompt in doc_prompts:
                self.prompts.append(prompt)
                text, _ = read_scoring_prompt(prompt)
                phrase = text.rsplit('"', 2)[-2]
                p = self.p_yes.get(phrase, 0.1)
                answers.append(json.dumps({" yes": math.log(p), " no": math.log(1 - p)}))
            out.append(answers)
        return out


def run_task(task, model, texts):
    docs = [NLP.make_doc(t) for t in texts]
    prompts = list(task.generate_prompts(docs))
    responses = model([p for p, _ in prompts])
    return list(task.parse_responses([s for _, s in prompts], responses))


EXAMPLES = [{"text": "I like AE jeans from Amazon", "spans": [{"text": "AE", "is_entity": True, "label": "BRAND"}]}]


def test_candidate_task_keeps_spans_above_threshold_with_their_probability():
    task = CandidateSpansTask(["BRAND"], CandidateGenerator(), examples=lambda: EXAMPLES, threshold=0.5)
    model = CannedScorer({"Levi": 0.9, "Levi Strauss": 0.6, "Boston": 0.3})
    (doc,) = run_task(task, model, ["Levi Strauss jeans bought in Boston"])
    assert [(e.text, e.label_) for e in doc.ents] == [("Levi", "BRAND")]
    assert doc.user_data[SPAN_SCORES_KEY] == [[0, 4, "BRAND", pytest.approx(0.9)]]
    assert len(doc.user_data[CANDIDATES_KEY]) == 4  # Levi, Levi Strauss, Strauss, Boston
    prompt, answers = read_scoring_prompt(model.prompts[0])
    assert answers == [" yes", " no"]
    assert 'Text: I like AE jeans from Amazon\nIs "AE" a brand here? yes\nIs "Amazon" a brand here? no' in prompt
    assert prompt.endswith('Text: Levi Strauss jeans bought in Boston\nIs "Levi" a brand here?')
    # every question of the doc shares the prefix up to the question
    prefixes = {read_scoring_prompt(p)[0].rsplit("\n", 1)[0] for p in model.prompts}
    assert len(prefixes) == 1
    lower = rethreshold(doc, 0.25, None)
    assert [e.text for e in lower.ents] == ["Levi", "Boston"]


def test_spancat_scores_in_attrs_and_the_prodigy_export_carries_them():
    task = CandidateSpansTask(["TOXIC"], CandidateGenerator(lowercase=True, max_ngram=1), spans_key="sc", threshold=0.5)
    (doc,) = run_task(task, CannedScorer({"idiot": 0.8, "closet": 0.55}), ["you are a closet idiot"])
    assert [s.text for s in doc.spans["sc"]] == ["closet", "idiot"]
    assert doc.spans["sc"].attrs["scores"] == pytest.approx([0.55, 0.8])
    exported = doc_to_task(doc, teacher_task([doc]))
    assert [s["score"] for s in exported["spans"]] == pytest.approx([0.55, 0.8])


def test_doc_without_candidates_gets_no_prompt_and_no_spans():
    task = CandidateSpansTask(["BRAND"], CandidateGenerator())
    model = CannedScorer({})
    (doc,) = run_task(task, model, ["nothing to see here"])
    assert model.prompts == [] and list(doc.ents) == [] and doc.user_data[CANDIDATES_KEY] == []


def test_scored_textcat_gives_every_label_its_share():
    task = ScoredTextCatTask(
        ["card_arrival", "change_pin"], examples=lambda: [{"text": "PIN?", "answer": "change_pin"}]
    )

    def model(prompts):
        return [[json.dumps({" card_arrival": math.log(0.2), " change_pin": math.log(0.6)})] for _ in prompts]

    (doc,) = run_task(task, model, ["how do I change my pin"])
    assert doc.cats == pytest.approx({"card_arrival": 0.25, "change_pin": 0.75})


def test_question_without_placeholders_is_a_config_error():
    with pytest.raises(ConfigError, match="question"):
        CandidateSpansTask(["BRAND"], CandidateGenerator(), question="Is it?")
