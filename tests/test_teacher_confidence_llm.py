"""The teacher's confidence from the real tiny model (Gemma-3-270M, the scoring teacher config) in
evaluate's calibration table, the exports and the loop's Uncertainty.v2."""

import random

import pytest
import spacy
import srsly
from llm_helpers import ROOT
from spacy.tokens import DocBin

from spacy_distill.evaluation import evaluate
from spacy_distill.formats import export_docs
from spacy_distill.rounds.strategies import Candidates, TeacherStudentUncertainty
from spacy_distill.task import Task
from spacy_distill.teacher.annotate import annotate
from spacy_distill.teacher.confidence import span_score_map, teacher_confidence

NER_CFG = ROOT / "configs" / "teacher_ner_scored.cfg"
NER = Task("ner", None, ["FASHION_BRAND"])


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    """Six short test-split docs (gold) and the scoring teacher's docs for them, at threshold 0.2."""
    folder = tmp_path_factory.mktemp("scored")
    rows = [r for r in srsly.read_jsonl(ROOT / "assets" / "fashion_brands" / "test.jsonl") if len(r["text"]) < 160][:6]
    srsly.write_jsonl(folder / "gold.jsonl", rows)
    overrides = {"paths.responses": str(folder / "store.sqlite"), "components.llm.task.threshold": 0.2}
    annotate(NER_CFG, folder / "gold.jsonl", folder / "teacher.spacy", overrides=overrides, show_progress=False)
    docs = list(DocBin().from_disk(folder / "teacher.spacy").get_docs(spacy.blank("en").vocab))
    return folder, docs


def test_calibration_table_from_real_probabilities(scored):
    folder, docs = scored
    metrics = evaluate(
        folder / "gold.jsonl", teacher=folder / "teacher.spacy", report_dir=folder / "report", bootstrap=0
    )
    table = metrics["calibration"]["teacher"]
    n_spans = sum(len(d.ents) for d in docs)
    assert table["n_scored"] == n_spans > 0 and table["n_unscored"] == 0
    assert sum(b["n"] for b in table["bins"]) == n_spans and table["bins"][0]["n"] == 0  # threshold 0.2
    assert 0.2 <= table["mean_confidence"] < 1.0 and 0.0 <= table["ece"] <= 1.0
    assert "Calibration of the teacher's confidence" in (folder / "report" / "report.md").read_text()


def test_exports_carry_the_real_probabilities(scored, tmp_path):
    folder, docs = scored
    probabilities = [p for d in docs for p in span_score_map(d).values()]
    assert probabilities and all(0.0 < p < 1.0 for p in probabilities) and len(set(probabilities)) > 1
    export_docs(folder / "teacher.spacy", tmp_path / "ls.json", to="labelstudio")
    ls = srsly.read_json(tmp_path / "ls.json")
    assert [r["score"] for t in ls for r in t["predictions"][0]["result"]] == pytest.approx(probabilities)
    assert [t["predictions"][0].get("score") for t in ls] == pytest.approx([teacher_confidence(d, NER) for d in docs])
    export_docs(folder / "teacher.spacy", tmp_path / "argilla", to="argilla")
    records = srsly.read_json(tmp_path / "argilla" / "records.json")
    argilla = [p for r in records for p in (r["suggestions"].get("entities") or {}).get("score") or []]
    assert argilla == pytest.approx(probabilities)


def test_uncertainty_v2_ranks_by_the_real_confidence(scored):
    _, docs = scored
    by_text = {d.text: d for d in docs}
    texts = list(by_text)
    selection = TeacherStudentUncertainty(max_similarity=1.0, n_candidates=0).select(
        Candidates(texts, NER, random.Random(0), lambda batch: [by_text[t] for t in batch]), 3
    )
    confidences = {t: teacher_confidence(by_text[t], NER) for t in texts}
    known = sorted(c for c in confidences.values() if c is not None)
    assert known, "no doc with a confidence"
    picked = [confidences[texts[i]] for i in selection.indices]
    assert picked[: len(known[:3])] == pytest.approx(known[:3])  # the least confident first


def test_review_queue_puts_the_least_confident_first(scored, tmp_path):
    import sqlite3

    from spacy_distill.review_app.ingest import prepare

    folder, docs = scored
    _db, info = prepare(folder / "teacher.spacy", tmp_path / "review.db", order="uncertainty")
    known = [c for c in (teacher_confidence(d, NER) for d in docs) if c is not None]
    assert f"{len(known)} of {len(docs)} docs have a confidence" in info["order_note"] and known
    rows = sqlite3.connect(tmp_path / "review.db").execute("SELECT score FROM docs ORDER BY rank").fetchall()
    queued = [s for (s,) in rows]
    assert queued[: len(known)] == pytest.approx(sorted((1.0 - c for c in known), reverse=True))
    assert all(s is None for s in queued[len(known) :])


def test_text_categories_calibration_from_real_probabilities(tmp_path):
    rows = list(srsly.read_jsonl(ROOT / "assets" / "banking77" / "test.jsonl"))[:4]
    srsly.write_jsonl(tmp_path / "gold.jsonl", rows)
    metrics = evaluate(
        tmp_path / "gold.jsonl", teacher=ROOT / "configs" / "teacher_textcat_scored.cfg", bootstrap=0,
        overrides={"paths.responses": str(tmp_path / "store.sqlite")},
    )  # fmt: skip
    table = metrics["calibration"]["teacher"]
    assert table["what"] == "categories" and table["n_scored"] == 4 and table["n_unscored"] == 0
    assert 0.0 < table["mean_confidence"] < 1.0 and sum(b["n"] for b in table["bins"]) == 4
