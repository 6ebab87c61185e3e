"""Selection strategies, the diversity guard, pre-annotation sources, similar few-shot examples, projection."""

import random
import subprocess
import sys

import pytest
import spacy
from spacy.training import Example
from spacy.util import load_config, registry

from spacy_distill.rounds.examples import wrap_teacher_config
from spacy_distill.rounds.preannotate import choose, label_winners, vote
from spacy_distill.rounds.projection import docs_for, fit_log_linear, fit_power_law, predict, projection
from spacy_distill.rounds.report import findings
from spacy_distill.rounds.similarity import jaccard, token_set
from spacy_distill.rounds.strategies import (
    Candidates,
    Disagreement,
    RandomSelection,
    Uncertainty,
    cats_uncertainty,
    disagreement,
    diverse_top,
    student_uncertainty,
)
from spacy_distill.task import Task
from spacy_distill.teacher.similar_examples import SimilarExamplesTask
from spacy_distill.teacher.similarity import TfidfIndex

ROOT = __import__("pathlib").Path(__file__).parent.parent
NER = Task("ner", None, ["BRAND"])
SPANS = Task("spancat", "sc", ["TOXIC"])
TEXTCAT = Task("textcat", None, ["a", "b", "c"])
MULTI = Task("textcat_multilabel", None, ["a", "b"])
NLP = spacy.blank("en")


def ents_doc(text, spans, label="BRAND"):
    doc = NLP.make_doc(text)
    doc.ents = [doc.char_span(s, e, label) for s, e in spans]
    return doc


def cats_doc(text, cats):
    doc = NLP.make_doc(text)
    doc.cats = cats
    return doc


# --- the diversity guard ------------------------------------------------------------------------


def test_jaccard_and_token_sets():
    assert token_set("The cat, the HAT!") == {"the", "cat", "hat"}
    assert jaccard(token_set("a b c"), token_set("a b d")) == pytest.approx(2 / 4)
    assert jaccard(frozenset(), frozenset()) == 1.0


def test_diverse_top_skips_near_duplicates_and_fills_if_it_must():
    texts = ["red shoes from Nike", "red shoes from Nike!", "blue jeans by Levi's", "RED shoes from nike", "a hat"]
    chosen, skipped = diverse_top([0, 1, 2, 3, 4], texts, 3, 0.5)
    assert chosen == [0, 2, 4] and skipped == 2
    chosen, skipped = diverse_top([0, 1, 2, 3, 4], texts, 4, 0.5)
    assert chosen == [0, 2, 4, 1]  # only near-duplicates left: the best of them fills the batch
    chosen, _ = diverse_top([0, 1, 2, 3, 4], texts, 3, 1.0)  # guard off
    assert chosen == [0, 1, 2]


# --- strategies ---------------------------------------------------------------------------------


TEXTS = [
    f"doc number {i} talks about {w}"
    for i, w in enumerate(["zara", "gucci", "prada", "nike", "uniqlo", "levis", "vans", "h&m"])
]


def test_random_selection_is_seeded_distinct_and_registered():
    strategy = registry.resolve({"s": {"@misc": "spacy_distill.RandomSelection.v1", "max_similarity": 1.0}})["s"]
    assert isinstance(strategy, RandomSelection)
    a = strategy.select(Candidates(TEXTS, NER, random.Random(1)), 5)
    b = strategy.select(Candidates(TEXTS, NER, random.Random(1)), 5)
    assert a.indices == b.indices and len(set(a.indices)) == 5 and a.scores == [None] * 5


class FakeStudent:
    """A student that finds 'BRAND' on the word 'nike' and 'zara' only."""

    def pipe(self, texts):
        for text in texts:
            spans = [(text.index(w), text.index(w) + len(w)) for w in ("nike", "zara") if w in text]
            yield ents_doc(text, spans)


def fake_teacher(texts):
    """A teacher that finds every brand word after 'about'."""
    calls.append(len(texts))
    docs = []
    for text in texts:
        start = text.index("about ") + 6
        docs.append(ents_doc(text, [(start, len(text))]))
    return docs


calls = []


def test_disagreement_picks_where_teacher_and_student_differ():
    calls.clear()
    strategy = registry.resolve(
        {"s": {"@misc": "spacy_distill.Disagreement.v1", "max_similarity": 1.0, "n_candidates": 0}}
    )["s"]
    assert isinstance(strategy, Disagreement)
    selection = strategy.select(Candidates(TEXTS, NER, random.Random(0), fake_teacher, FakeStudent()), 6)
    # docs 0 (zara) and 3 (nike) agree; the others disagree fully
    assert set(selection.indices) == {1, 2, 4, 5, 6, 7} and all(s == 1.0 for s in selection.scores)
    assert calls == [len(TEXTS)] and set(selection.teacher_docs) == set(range(len(TEXTS)))
    selection = strategy.select(Candidates(TEXTS, NER, random.Random(0), fake_teacher, FakeStudent()), 8)
    assert selection.indices[-2:] in ([0, 3], [3, 0]) and selection.scores[-1] == 0.0


def test_disagreement_scores_only_n_candidates_and_falls_back_to_random():
    calls.clear()
    strategy = Disagreement(max_similarity=1.0, n_candidates=4)
    selection = strategy.select(Candidates(TEXTS, NER, random.Random(0), fake_teacher, FakeStudent()), 2)
    assert calls == [4] and selection.n_scored == 4
    selection = strategy.select(Candidates(TEXTS, NER, random.Random(0), fake_teacher, None), 3)
    assert "random" in selection.note and calls == [4] and len(selection.indices) == 3


def test_disagreement_measures():
    a = ents_doc("Nike and Zara", [(0, 4), (9, 13)])
    b = ents_doc("Nike and Zara", [(0, 4)])
    assert disagreement(a, a, NER) == 0.0
    assert disagreement(a, b, NER) == pytest.approx(1 - 2 / 3)
    assert disagreement(ents_doc("x", []), ents_doc("x", []), NER) == 0.0
    teacher = cats_doc("t", {"a": 1.0, "b": 0.0, "c": 0.0})
    assert disagreement(teacher, cats_doc("t", {"a": 0.9, "b": 0.1, "c": 0.0}), TEXTCAT) == pytest.approx(0.1)
    assert disagreement(teacher, cats_doc("t", {"a": 0.2, "b": 0.8, "c": 0.0}), TEXTCAT) == pytest.approx(0.8)
    assert disagreement(
        cats_doc("t", {"a": 1.0, "b": 1.0}), cats_doc("t", {"a": 1.0, "b": 0.0}), MULTI
    ) == pytest.approx(0.5)


def test_cats_uncertainty():
    assert cats_uncertainty({"a": 0.98, "b": 0.01, "c": 0.01}, True) == pytest.approx(0.03)
    assert cats_uncertainty({"a": 0.5, "b": 0.5}, True) == pytest.approx(1.0)
    assert cats_uncertainty({"a": 0.5, "b": 0.99}, False) == pytest.approx(1.0)
    assert cats_uncertainty({"a": 0.0, "b": 1.0}, False) == pytest.approx(0.0)


def _initialised(pipe_name, examples, config=None):
    nlp = spacy.blank("en")
    nlp.add_pipe("tok2vec")
    nlp.add_pipe(pipe_name, config=config or {})
    nlp.initialize(lambda: examples)
    return nlp


def test_uncertainty_from_ner_beams_spancat_and_textcat_scores():
    texts = ["I like Nike shoes", "Zara is ok", "nothing here at all", "Uniqlo and Gap jeans"]
    first = lambda t: len(t.split()[0])  # noqa: E731
    train = [
        Example.from_dict(NLP.make_doc(t), {"entities": [(0, first(t), "BRAND")] if t[0].isupper() else []})
        for t in texts
    ]
    ner = _initialised("ner", train)
    for _i in range(5):
        ner.update(train)
    scores = student_uncertainty(ner, texts, NER)
    assert len(scores) == 4 and all(0.0 <= s <= 1.0 for s in scores)

    span_train = []
    for t in texts:
        doc = NLP.make_doc(t)
        doc.spans["sc"] = [doc.char_span(0, first(t), "TOXIC")] if t[0].isupper() else []
        span_train.append(Example(NLP.make_doc(t), doc))
    spancat = _initialised("spancat", span_train, {"spans_key": "sc"})
    scores = student_uncertainty(spancat, texts, SPANS)
    assert len(scores) == 4 and all(0.0 <= s <= 1.0 for s in scores) and max(scores) > 0.5  # untrained: coin tosses

    cat_train = [
        Example.from_dict(
            NLP.make_doc(t), {"cats": {"a": float(i % 3 == 0), "b": float(i % 3 == 1), "c": float(i % 3 == 2)}}
        )
        for i, t in enumerate(texts)
    ]
    textcat = _initialised("textcat", cat_train)
    scores = student_uncertainty(textcat, texts, TEXTCAT)
    assert len(scores) == 4 and all(s > 0.5 for s in scores)  # untrained: three near-equal classes

    strategy = Uncertainty(max_similarity=1.0)
    selection = strategy.select(Candidates(texts, NER, random.Random(0), None, ner), 2)
    assert len(selection.indices) == 2 and selection.scores[0] >= selection.scores[1]
    assert "random" in Uncertainty().select(Candidates(texts, NER, random.Random(0)), 2).note


def test_strategies_resolve_through_entry_points_in_a_fresh_process(tmp_path):
    code = (
        "from spacy.util import registry\n"
        "from spacy_llm.registry import registry as llm\n"
        "for name in ['RandomSelection', 'Disagreement', 'Uncertainty', 'SimulatedExpert', 'ImportedCorrections', 'ReviewCorrections']:\n"
        "    registry.misc.get(f'spacy_distill.{name}.v1')\n"
        "registry.misc.get('spacy_distill.Uncertainty.v2')\n"
        "llm.llm_tasks.get('spacy_distill.SimilarExamples.v1')\n"
        "llm.llm_misc.get('spacy_distill.SpanParser.v2')\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-2000:]


# --- pre-annotation sources ---------------------------------------------------------------------


def test_vote_and_best_per_label():
    text = "Nike and Zara and Gap"
    teacher = ents_doc(text, [(0, 4), (9, 13)])
    student = ents_doc(text, [(0, 4), (18, 21)])
    rules = ents_doc(text, [(9, 13)])
    voted = vote({"teacher": teacher, "student": student, "rules": rules}, NER, ["teacher", "student", "rules"])
    assert [e.text for e in voted.ents] == ["Nike", "Zara"]
    two = vote({"teacher": teacher, "student": student}, NER, ["teacher", "student"])
    assert [e.text for e in two.ents] == ["Nike"]
    sources = {"teacher": [teacher], "student": [student]}
    docs, by = choose("teacher", sources, NER, {})
    assert by == "teacher" and docs[0] is teacher
    previous = {
        "teacher": {"f": 0.3, "per_label": {"BRAND": {"f": 0.3}}},
        "student": {"f": 0.5, "per_label": {"BRAND": {"f": 0.5}}},
    }
    docs, by = choose("best", sources, NER, previous)
    assert by == "student" and [e.text for e in docs[0].ents] == ["Nike", "Gap"]
    docs, by = choose("best", {"teacher": [teacher]}, NER, previous)  # round 1: no student yet
    assert by == "teacher"
    two_labels = Task("ner", None, ["A", "B"])
    prev = {
        "teacher": {"f": 0.5, "per_label": {"A": {"f": 0.9}, "B": {"f": 0.1}}},
        "student": {"f": 0.4, "per_label": {"A": {"f": 0.2}, "B": {"f": 0.6}}},
    }
    assert label_winners(prev, two_labels, ["teacher", "student"]) == {"*": "teacher", "A": "teacher", "B": "student"}
    t = NLP.make_doc("x y")
    t.ents = [t.char_span(0, 1, "A"), t.char_span(2, 3, "B")]
    s = NLP.make_doc("x y")
    s.ents = [s.char_span(2, 3, "A")]
    docs, by = choose("best", {"teacher": [t], "student": [s]}, two_labels, prev)
    assert by == "best per label: A<-teacher, B<-student"
    assert [(e.text, e.label_) for e in docs[0].ents] == [("x", "A")]  # teacher's A; the student's B: none


def test_vote_on_categories():
    docs = {
        "teacher": cats_doc("t", {"a": 1.0, "b": 0.0, "c": 0.0}),
        "student": cats_doc("t", {"a": 0.1, "b": 0.9, "c": 0.0}),
        "rules": cats_doc("t", {"a": 0.0, "b": 1.0, "c": 0.0}),
    }
    assert vote(docs, TEXTCAT, ["teacher", "student", "rules"]).cats == {"a": 0.0, "b": 1.0, "c": 0.0}
    two = {k: docs[k] for k in ("teacher", "student")}
    assert vote(two, TEXTCAT, ["teacher", "student"]).cats == {"a": 1.0, "b": 0.0, "c": 0.0}  # a tie: the first system


# --- the teacher's similar few-shot examples ----------------------------------------------------


def _ner_task(examples_path=None):
    from spacy_llm.registry import registry as llm

    config = {
        "t": {
            "@llm_tasks": "spacy.NER.v3",
            "labels": ["FASHION_BRAND"],
            "template": {"@llm_misc": "spacy_distill.Template.v1", "name": "span_compact"},
        }
    }
    if examples_path:
        config["t"]["examples"] = {"@misc": "spacy.FewShotReader.v1", "path": str(examples_path)}
    return llm.resolve(config)["t"]


def test_similar_examples_are_chosen_per_prompt():
    corrected = [
        ents_doc("I love my Nike running shoes", [(10, 14)], "FASHION_BRAND"),
        ents_doc("The weather is nice today", []),
        ents_doc("Zara has a sale on winter coats", [(0, 4)], "FASHION_BRAND"),
    ]
    task = SimilarExamplesTask(_ner_task(ROOT / "assets" / "fashion_brands" / "ner_examples.yml"), corrected, n=1)
    ((prompts, _),) = list(task.generate_prompts([NLP.make_doc("Are Nike running shoes good?")]))
    assert "Text: I love my Nike running shoes\nEntities:\nNike | FASHION_BRAND" in prompts[0]
    assert "Zara has a sale" not in prompts[0] and "AE's jeans" not in prompts[0]  # static examples replaced
    ((prompts, _),) = list(task.generate_prompts([NLP.make_doc("Winter coats at Zara")]))
    assert "Zara has a sale on winter coats\nEntities:\nZara | FASHION_BRAND" in prompts[0]
    ((prompts, _),) = list(task.generate_prompts([NLP.make_doc("nice weather")]))
    assert "The weather is nice today\nEntities:\nnone" in prompts[0]
    assert task._inner._prompt_examples == task._static  # restored after each prompt
    # Too few corrected docs: the static examples.
    static = SimilarExamplesTask(
        _ner_task(ROOT / "assets" / "fashion_brands" / "ner_examples.yml"), corrected, n=1, min_examples=5
    )
    ((prompts, _),) = list(static.generate_prompts([NLP.make_doc("Are Nike running shoes good?")]))
    assert "AE's jeans" in prompts[0]
    both = SimilarExamplesTask(
        _ner_task(ROOT / "assets" / "fashion_brands" / "ner_examples.yml"), corrected, n=1, keep_static=True
    )
    ((prompts, _),) = list(both.generate_prompts([NLP.make_doc("Are Nike running shoes good?")]))
    assert "AE's jeans" in prompts[0] and prompts[0].index("AE's jeans") < prompts[0].index("I love my Nike")
    assert TfidfIndex(["a b", "c d"]).most_similar("c", 1) == [1]


def test_wrapping_a_teacher_config_keeps_references_working(tmp_path):
    config = load_config(ROOT / "configs" / "teacher_textcat.cfg", interpolate=False)
    wrapped = wrap_teacher_config(config, ["x.spacy"], 2, False, 300)
    task = wrapped["components"]["llm"]["task"]
    assert task["@llm_tasks"] == "spacy_distill.SimilarExamples.v1" and task["task"]["@llm_tasks"] == "spacy.TextCat.v3"
    grammar = wrapped["components"]["llm"]["model"]["grammar"]
    assert grammar["labels"] == "${components.llm.task.task.labels}"
    assert grammar["exclusive"] == "${components.llm.task.task.exclusive_classes}"
    wrapped.to_disk(tmp_path / "t.cfg")
    interpolated = load_config(tmp_path / "t.cfg", interpolate=True)
    assert interpolated["components"]["llm"]["model"]["grammar"]["labels"][0] == "card_arrival"


# --- projection ---------------------------------------------------------------------------------


def test_power_law_fit_recovers_a_curve_and_projects():
    ns = [50, 100, 200, 400, 800]
    fs = [0.8 - 2.0 * n**-0.5 for n in ns]
    fit = fit_power_law(ns, fs)
    assert fit["a"] == pytest.approx(0.8, abs=0.01) and fit["c"] == pytest.approx(0.5, abs=0.02)
    rounds = [{"n_corrected": n, "student_f": f} for n, f in zip(ns[:3], fs[:3])]
    proj = projection(rounds, 0.75)
    assert proj["fit"]["model"] == "power"
    expected = (2.0 / 0.05) ** 2  # 1600 docs
    assert proj["docs_needed"] == pytest.approx(expected, rel=0.1) and proj["more_docs"] == proj["docs_needed"] - 200
    assert predict(proj["fit"], 1600) == pytest.approx(0.75, abs=0.01)
    assert "levels off" in projection(rounds, 0.9)["note"]


def test_log_linear_fit_with_two_points_and_no_fit_when_falling():
    rounds = [{"n_corrected": 50, "student_f": 0.4}, {"n_corrected": 100, "student_f": 0.5}]
    proj = projection(rounds, 0.6)
    assert proj["fit"]["model"] == "log-linear" and proj["docs_needed"] == 200 and proj["more_docs"] == 100
    assert docs_for(proj["fit"], 0.5) == pytest.approx(100)
    assert fit_log_linear([50, 100], [0.5, 0.4]) is None
    falling = [{"n_corrected": n, "student_f": f} for n, f in ((50, 0.5), (100, 0.4), (150, 0.3))]
    assert projection(falling, 0.6)["fit"] is None


def test_fewest_edits_shows_the_cheapest_source_of_last_round():
    text = "Nike and Zara and Gap"
    teacher = ents_doc(text, [(0, 4), (9, 13)])
    student = ents_doc(text, [(0, 4), (18, 21)])
    rules = ents_doc(text, [(9, 13)])
    sources = {"teacher": [teacher], "student": [student], "rules": [rules]}
    docs, by = choose("fewest_edits", sources, NER, {}, {})
    assert by == "teacher" and docs[0] is teacher  # round 1: nothing counted yet
    docs, by = choose("fewest_edits", sources, NER, {}, {"teacher": 0.9, "rules": 0.4, "vote": 0.6, "none": 1.2})
    assert by == "rules" and docs[0] is rules  # the student was not counted last round: not a candidate yet
    docs, by = choose(
        "fewest_edits", sources, NER, {}, {"teacher": 0.9, "student": 0.3, "rules": 0.4, "vote": 0.3, "none": 1.2}
    )
    assert by == "student"  # a tie with the vote goes to the student
    docs, by = choose("fewest_edits", sources, NER, {}, {"teacher": 0.9, "student": 0.8, "vote": 0.2})
    assert by == "vote" and [e.text for e in docs[0].ents] == ["Nike", "Zara"]
    docs, by = choose("fewest_edits", sources, NER, {}, {"teacher": 2.0, "student": 3.0, "none": 1.0})
    assert by == "none" and list(docs[0].ents) == []  # every model costs more than annotating from scratch


def test_edit_counts_per_task():
    from spacy_distill.rounds.simulate import count_edits

    gold = cats_doc("t", {"a": 0.0, "b": 1.0, "c": 0.0})
    wrong, right, empty = (
        cats_doc("t", {"a": 1.0, "b": 0.0, "c": 0.0}),
        cats_doc("t", {"a": 0.0, "b": 1.0, "c": 0.0}),
        cats_doc("t", {"a": 0.0, "b": 0.0, "c": 0.0}),
    )
    for doc, n in ((wrong, 1), (right, 0), (empty, 1)):  # exclusive classes: picking the right one is one edit
        assert count_edits([doc], {"t": gold}, TEXTCAT)["total"] == n
    multi_gold = cats_doc("t", {"a": 1.0, "b": 1.0})
    assert count_edits([cats_doc("t", {"a": 0.0, "b": 1.0})], {"t": multi_gold}, MULTI)["total"] == 1
    assert count_edits([cats_doc("t", {"a": 0.0, "b": 0.0})], {"t": multi_gold}, MULTI)["total"] == 2
    edits = count_edits(
        [ents_doc("Nike and Zara", [(0, 4), (5, 8)])],
        {"Nike and Zara": ents_doc("Nike and Zara", [(0, 4), (9, 13)])},
        NER,
    )
    assert (
        edits["edits"]["kept"] == 1
        and edits["edits"]["removed"] == 1
        and edits["edits"]["added"] == 1
        and edits["total"] == 2
    )
    assert edits["per_doc"] == 2.0 and edits["docs_unchanged"] == 0


@pytest.mark.parametrize(
    "teacher_fs, verdict",
    [
        ([0.218, 0.279, 0.222], "Last round +0.014, best round +0.071 (round 2): no clear change"),
        ([0.25, 0.30], "Last round +0.092, best round +0.092 (round 2): the corrections as examples helped"),
        ([0.20, 0.15], "Last round -0.058, best round -0.008 (round 1): the corrections as examples hurt"),
    ],
)
def test_the_report_says_whether_corrections_as_examples_helped_the_teacher(teacher_fs, verdict):
    class Settings:
        margin = 0.0

        class teacher:
            similar_examples = 3

    rounds = [
        {
            "round": i,
            "n_corrected": 50 * i,
            "teacher_f": f,
            "student_f": 0.1,
            "student_beats_teacher": False,
            "teacher_f_before_corrections": 0.208,
            "suggested_by": "teacher",
            "edits_per_doc_by_source": {},
        }
        for i, f in enumerate(teacher_fs, start=1)
    ]
    text = " ".join(findings(rounds, Settings, None, None, {"note": "too few rounds"}, final=True))
    assert "F 0.208 before any correction, then " + " -> ".join(f"{f:.3f}" for f in teacher_fs) in text
    assert verdict in text
