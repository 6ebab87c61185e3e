"""The teacher's confidence, consumed: exports, evaluate's calibration table, review order, Uncertainty.v2.

Hand-made teacher docs carry the fields the teachers write (user_data span_scores, cat_scores,
teacher.confidence, scored_candidates); tests/test_teacher_confidence_llm.py runs the real model."""

import json
import random

import pytest
import srsly
from corrections_helpers import NLP, accept_all, export, spans_of, teacher_doc

from spacy_distill.corpus.corrections import Options, load_corrections
from spacy_distill.errors import InputError
from spacy_distill.evaluation import evaluate
from spacy_distill.evaluation.calibration import calibration
from spacy_distill.files import write_docs_atomic
from spacy_distill.review_app.ordering import order_docs
from spacy_distill.rounds.strategies import Candidates, TeacherStudentUncertainty, combined
from spacy_distill.task import Task
from spacy_distill.teacher.confidence import chosen_cats, doc_confidence, teacher_confidence

NER = Task("ner", None, ["BRAND"])
TEXTCAT = Task("textcat", None, ["POS", "NEG", "MIXED"])
FORMATS = ["prodigy", "labelstudio", "doccano", "argilla"]
TEXT = "Levi's and Uniqlo  are brands."


def scored_ner_doc(text=TEXT, ents=((0, 6, "BRAND", 0.9), (11, 17, "BRAND", None)), confidence=None):
    doc = teacher_doc(text, ents=[e[:3] for e in ents])
    doc.user_data["span_scores"] = [list(e) for e in ents]
    if confidence is not None:
        doc.user_data["teacher"]["confidence"] = confidence
    return doc


def textcat_doc(label, p, text=TEXT):
    doc = teacher_doc(text, ents=None, cats={c: float(c == label) for c in TEXTCAT.labels})
    doc.user_data["cat_scores"] = {label: p}
    return doc


# --- reading the scores ---------------------------------------------------------------------------


def test_doc_confidence_never_invents_a_number():
    doc = scored_ner_doc()
    assert doc_confidence(doc, list(doc.ents)) is None  # one span without a probability
    doc.user_data["span_scores"][1][3] = 0.4
    assert doc_confidence(doc, list(doc.ents)) == pytest.approx(0.4)
    doc.user_data["teacher"]["confidence"] = 0.75  # the teacher's own wins
    assert teacher_confidence(doc, NER) == pytest.approx(0.75)
    hard = teacher_doc(TEXT, ents=None, cats={"POS": 1.0, "NEG": 0.0, "MIXED": 0.0})
    assert chosen_cats(hard, True) == {"POS": None} and teacher_confidence(hard, TEXTCAT) is None
    soft = teacher_doc(TEXT, ents=None, cats={"POS": 0.3, "NEG": 0.6, "MIXED": 0.1})
    assert chosen_cats(soft, True) == {"NEG": 0.6} and teacher_confidence(soft, TEXTCAT) == pytest.approx(0.6)
    assert teacher_confidence(textcat_doc("NEG", 0.2), TEXTCAT) == pytest.approx(0.2)


def test_scored_candidates_count_the_ones_left_out():
    doc = scored_ner_doc(ents=((0, 6, "BRAND", 0.9),))
    doc.user_data["scored_candidates"] = [[0, 6, "BRAND", 0.9], [11, 17, "BRAND", 0.65], [22, 25, "BRAND", 0.01]]
    assert teacher_confidence(doc, NER) == pytest.approx(0.35)  # "no" to Uniqlo, at P(no) = 0.35


# --- exports ------------------------------------------------------------------------------------------


def test_exports_carry_the_scores(tmp_path):
    docs = [scored_ner_doc(), scored_ner_doc(ents=((0, 6, "BRAND", 0.9), (11, 17, "BRAND", 0.2)), confidence=0.2)]
    tasks = list(srsly.read_jsonl(export(docs, tmp_path, "prodigy")))
    assert [[s.get("score") for s in t["spans"]] for t in tasks] == [[0.9, None], [0.9, 0.2]]
    assert "score" not in tasks[0] and tasks[1]["score"] == 0.2

    ls = srsly.read_json(export(docs, tmp_path, "labelstudio"))
    results = [[r.get("score") for r in t["predictions"][0]["result"]] for t in ls]
    assert results == [[0.9, None], [0.9, 0.2]] and "score" not in ls[0]["predictions"][0]
    assert ls[1]["predictions"][0]["score"] == 0.2

    records = srsly.read_json(export(docs, tmp_path, "argilla") / "records.json")
    assert [r["suggestions"]["entities"]["score"] for r in records] == [None, [0.9, 0.2]]

    doccano = list(srsly.read_jsonl(export(docs, tmp_path, "doccano")))
    assert doccano[1]["scores"] == {
        "spans": [[0, 6, "BRAND", 0.9], [11, 17, "BRAND", 0.2]],
        "cats": {},
        "confidence": 0.2,
    }
    plain = list(srsly.read_jsonl(export([teacher_doc(TEXT, ents=[(0, 6, "BRAND")])], tmp_path, "doccano", "plain")))
    assert "scores" not in plain[0]  # nothing scored: no metadata


def test_textcat_exports_take_the_chosen_class_probability(tmp_path):
    docs = [textcat_doc("POS", 0.55), textcat_doc("NEG", None)]
    tasks = list(srsly.read_jsonl(export(docs, tmp_path, "prodigy", labels=TEXTCAT.labels)))
    assert tasks[0]["score"] == 0.55 and "score" not in tasks[1]
    ls = srsly.read_json(export(docs, tmp_path, "labelstudio", labels=TEXTCAT.labels))
    assert ls[0]["predictions"][0]["result"][0]["score"] == 0.55 and ls[0]["predictions"][0]["score"] == 0.55
    assert "score" not in ls[1]["predictions"][0]["result"][0]  # hard 0/1 cats are no probability
    records = srsly.read_json(export(docs, tmp_path, "argilla", labels=TEXTCAT.labels) / "records.json")
    assert [r["suggestions"]["category"]["score"] for r in records] == [0.55, None]


@pytest.mark.parametrize("fmt", FORMATS)
def test_scores_never_become_gold(tmp_path, fmt):
    docs = [scored_ner_doc(confidence=0.3), scored_ner_doc("Nothing here.", ents=())]
    out = accept_all(fmt, export(docs, tmp_path, fmt))
    got, stats = load_corrections(out, NLP, "auto", Options())
    assert stats.dropped == {} and [spans_of(d) for d in got] == [spans_of(d) for d in docs]
    assert all("span_scores" not in d.user_data and not d.cats for d in got)
    cats = [textcat_doc("POS", 0.55), textcat_doc("MIXED", 0.9, "Another text.")]
    out = accept_all(fmt, export(cats, tmp_path, fmt, name="cats", labels=TEXTCAT.labels))
    got, _ = load_corrections(out, NLP, "auto", Options(labels=set(TEXTCAT.labels)))
    assert [d.cats for d in got] == [d.cats for d in cats]


# --- calibration ---------------------------------------------------------------------------------------


def gold_doc(text, ents):
    doc = NLP(text)
    doc.set_ents([doc.char_span(s, e, label=label) for s, e, label in ents], default="outside")
    return doc


def test_calibration_bins_precision_and_ece():
    gold = [gold_doc(TEXT, [(0, 6, "BRAND")]), gold_doc(TEXT, [(11, 17, "BRAND")])]
    docs = [
        scored_ner_doc(ents=((0, 6, "BRAND", 0.95), (11, 17, "BRAND", 0.85))),  # right, wrong
        scored_ner_doc(ents=((0, 6, "BRAND", 0.1), (11, 17, "BRAND", None))),  # wrong, unscored
    ]
    table = calibration(docs, gold, NER, n_bins=5)
    assert (table["n_scored"], table["n_unscored"]) == (3, 1)
    top, bottom = table["bins"][4], table["bins"][0]
    assert (top["n"], top["precision"], top["mean_confidence"]) == (2, 0.5, 0.9)
    assert (bottom["n"], bottom["precision"], bottom["mean_confidence"]) == (1, 0.0, 0.1)
    assert table["ece"] == pytest.approx(2 / 3 * 0.4 + 1 / 3 * 0.1, abs=1e-4)
    none = calibration([teacher_doc(TEXT, ents=[(0, 6, "BRAND")])], gold[:1], NER)
    assert none["n_scored"] == 0 and none["n_unscored"] == 1 and none["bins"] == [] and none["ece"] is None


def test_evaluate_reports_the_calibration_table(tmp_path, capsys):
    from spacy_distill.evaluation import print_summary

    gold = [gold_doc(TEXT, [(0, 6, "BRAND")]), gold_doc("Nothing here at all.", [])]
    write_docs_atomic(tmp_path / "gold.spacy", gold)
    teacher = [
        scored_ner_doc(ents=((0, 6, "BRAND", 0.95), (11, 17, "BRAND", 0.3))),
        teacher_doc("Nothing here at all."),
    ]
    write_docs_atomic(tmp_path / "teacher.spacy", teacher)
    metrics = evaluate(
        tmp_path / "gold.spacy", teacher=tmp_path / "teacher.spacy", output=tmp_path / "m.json",
        report_dir=tmp_path / "report", bootstrap=0,
    )  # fmt: skip
    table = json.loads((tmp_path / "m.json").read_text())["calibration"]["teacher"]
    assert table["n_scored"] == 2 and table["bins"][4]["precision"] == 1.0 and table["bins"][1]["precision"] == 0.0
    report = (tmp_path / "report" / "report.md").read_text()
    assert "Calibration of the teacher's confidence" in report and "| 0.8-1.0 | 1 | 0.950 | 1.000 |" in report
    assert "expected calibration error" in (tmp_path / "report" / "report.html").read_text()
    print_summary(metrics)
    assert "expected calibration error" in capsys.readouterr().out

    write_docs_atomic(tmp_path / "hard.spacy", [teacher_doc(TEXT, ents=[(0, 6, "BRAND")]), teacher_doc("x")])
    metrics = evaluate(
        tmp_path / "gold.spacy", teacher=tmp_path / "hard.spacy", report_dir=tmp_path / "r2", bootstrap=0
    )
    assert metrics["calibration"]["teacher"]["n_scored"] == 0
    assert "no confidences (1 suggested spans" in (tmp_path / "r2" / "report.md").read_text()


def test_textcat_calibration_uses_the_chosen_class():
    gold = [teacher_doc(TEXT, ents=None, cats={"POS": 1.0, "NEG": 0.0, "MIXED": 0.0})] * 2
    docs = [textcat_doc("POS", 0.9), textcat_doc("NEG", 0.7)]
    table = calibration(docs, gold, TEXTCAT, n_bins=2)
    assert [(b["n"], b["precision"]) for b in table["bins"]] == [(0, None), (2, 0.5)]


# --- review order and the loop's Uncertainty.v2 ---------------------------------------------------------


def test_review_uncertainty_order_reads_span_and_cat_scores():
    docs = [
        scored_ner_doc(ents=((0, 6, "BRAND", 0.9),)),
        teacher_doc(TEXT),
        scored_ner_doc(ents=((0, 6, "BRAND", 0.6),)),
    ]
    ranked, scores, note = order_docs(docs, NER, "uncertainty")
    assert ranked == [2, 0, 1] and scores[1] is None and "2 of 3 docs have a confidence" in note
    cats = [textcat_doc("POS", 0.99), textcat_doc("NEG", 0.51)]
    assert order_docs(cats, TEXTCAT, "uncertainty")[0] == [1, 0]


def test_uncertainty_v2_uses_the_teacher_before_there_is_a_student():
    texts = [f"text number {i} here" for i in range(6)]
    confidence = {t: c for t, c in zip(texts, [0.9, 0.2, None, 0.8, 0.5, 0.95])}
    asked = []

    def teacher(batch):
        asked.extend(batch)
        return [scored_ner_doc(t, ents=(), confidence=confidence[t]) for t in batch]

    strategy = TeacherStudentUncertainty(max_similarity=1.0, n_candidates=0)
    selection = strategy.select(Candidates(texts, NER, random.Random(0), teacher), 6)
    assert selection.indices == [1, 4, 3, 0, 5, 2] and selection.scores[-1] is None
    assert selection.scores[0] == pytest.approx(0.8) and set(selection.teacher_docs) == set(range(6))
    assert sorted(asked) == sorted(texts) and "5 with a teacher confidence" in selection.note
    blind = strategy.select(Candidates(texts, NER, random.Random(0), lambda b: [teacher_doc(t) for t in b]), 2)
    assert blind.note.startswith("random") and blind.scores == [None, None]
    assert combined(0.2, 0.6) == pytest.approx(0.4) and combined(None, 0.6) == 0.6 and combined(None, None) is None


def test_uncertainty_v2_is_registered():
    from spacy.util import registry

    made = registry.misc.get("spacy_distill.Uncertainty.v2")(n_candidates=50)
    assert isinstance(made, TeacherStudentUncertainty) and made.n_candidates == 50 and made.uses_student


def test_loop_runs_with_uncertainty_v2(tmp_path):
    """A canned teacher gives no confidence: round 1 is random, round 2 ranks by the student."""
    from test_loop import check_rounds, make_project

    from spacy_distill.rounds.loop import run_loop

    config = make_project(tmp_path, budget=40, batch_size=20, strategy="spacy_distill.Uncertainty.v2")
    run_loop(config, tmp_path / "out", show_progress=False)
    check_rounds(tmp_path / "out", 2)
    selected = [json.loads((tmp_path / "out" / f"round_00{r}" / "selected.json").read_text()) for r in (1, 2)]
    assert [s["strategy"] for s in selected] == ["uncertainty_v2"] * 2
    assert selected[0]["note"].startswith("random (no teacher confidence")
    assert "over 80 candidates (0 with a teacher confidence, 80 with a student score)" in selected[1]["note"]
    assert all(isinstance(s, float) for s in selected[1]["scores"])


def test_evaluate_cli_calibration_bins(tmp_path):
    from typer.testing import CliRunner

    from spacy_distill.cli import app

    write_docs_atomic(tmp_path / "gold.spacy", [gold_doc(TEXT, [(0, 6, "BRAND")])])
    write_docs_atomic(tmp_path / "teacher.spacy", [scored_ner_doc(ents=((0, 6, "BRAND", 0.95),))])
    args = ["evaluate", str(tmp_path / "gold.spacy"), "--teacher", str(tmp_path / "teacher.spacy"), "--bootstrap", "0"]
    args += ["--output", str(tmp_path / "m.json")]
    result = CliRunner().invoke(app, [*args, "--calibration-bins", "2"])
    assert result.exit_code == 0, result.output
    bins = json.loads((tmp_path / "m.json").read_text())["calibration"]["teacher"]["bins"]
    assert [(b["lo"], b["hi"], b["n"]) for b in bins] == [(0.0, 0.5, 0), (0.5, 1.0, 1)]
    assert "Calibration: teacher: 1 scored spans" in " ".join(result.output.split())
    bad = CliRunner().invoke(app, [*args, "--calibration-bins", "0"])
    assert bad.exit_code != 0 and "--calibration-bins" in bad.output
    with pytest.raises(InputError, match="calibration_bins must be 1 or more"):
        evaluate(tmp_path / "gold.spacy", teacher=tmp_path / "teacher.spacy", bootstrap=0, calibration_bins=0)
