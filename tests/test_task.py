import pytest
import spacy

from spacy_distill.task import Task, detect_task, disagreement, span_tuples, teacher_task

NLP = spacy.blank("en")


def doc(text, ents=(), cats=None, spans=None):
    d = NLP(text)
    if ents:
        d.ents = [d.char_span(s, e, label) for s, e, label in ents]
    if spans is not None:
        d.spans["sc"] = [d.char_span(s, e, label) for s, e, label in spans]
    d.cats = cats or {}
    return d


def test_metrics_dict_and_review_schema_dict_round_trip():
    gold = [doc("Nike and Adidas", [(0, 4, "BRAND"), (9, 15, "BRAND")])]
    task = detect_task(gold)
    assert task.to_dict() == {
        "kind": "ner",
        "score": "ents_f",
        "span_key": None,
        "labels": ["BRAND"],
        "label_counts": {"BRAND": 2},
    }
    assert Task.from_dict(task.to_dict()) == task
    old = {"has_spans": True, "span_key": "sc", "span_labels": ["X"], "cat_labels": ["A", "B"], "exclusive": True}
    assert Task.from_dict(old).schema_dict() == old
    tc = {"has_spans": False, "span_key": None, "span_labels": [], "cat_labels": ["A", "B"], "exclusive": True}
    assert Task.from_dict(tc).kind == "textcat" and Task.from_dict(tc).schema_dict() == tc


def test_teacher_task_adds_extra_labels_and_reads_both_spans_and_cats():
    docs = [
        doc("a b c", spans=[(0, 1, "X")], cats={"A": 1.0, "B": 0.0}),
        doc("d e", spans=[], cats={"A": 0.0, "B": 1.0}),
    ]
    task = teacher_task(docs, ["Y"])
    assert (task.kind, task.span_key, task.span_labels, task.cat_labels, task.exclusive) == (
        "spancat",
        "sc",
        ["X", "Y"],
        ["A", "B"],
        True,
    )
    assert span_tuples(docs[0], task.span_key) == [(0, 1, "X")]
    multi = teacher_task([doc("x", cats={"A": 1.0, "B": 1.0})])
    assert multi.kind == "textcat_multilabel" and not multi.has_spans


def test_disagreement_takes_the_larger_of_spans_and_categories():
    task = Task("ner", None, ["B"], side_cats=["A", "C"], side_cats_exclusive=True)
    teacher = doc("Nike shoes", [(0, 4, "B")], {"A": 1.0, "C": 0.0})
    student = doc("Nike shoes", [(0, 4, "B")], {"A": 0.3, "C": 0.7})
    assert disagreement(teacher, student, task) == pytest.approx(0.7)
    assert disagreement(teacher, student, Task("ner", None, ["B"])) == 0.0
