"""The review database: loading teacher docs, the queue, answers, undo, ordering, and reading it as corrections."""

import sqlite3
from pathlib import Path

import pytest
import spacy
from corrections_helpers import iob, spans_of, teacher_doc, write_docs
from spacy.tokens import DocBin
from typer.testing import CliRunner

from spacy_distill.cli import app
from spacy_distill.corpus.corrections import import_corrections
from spacy_distill.corpus.reader import create_corrections_reader
from spacy_distill.formats import detect_format, read_corrections
from spacy_distill.formats.common import FormatError
from spacy_distill.review_app import storage
from spacy_distill.review_app.ordering import disagreement, order_docs, uncertainty
from spacy_distill.review_app.server import client_doc, prepare
from spacy_distill.review_app.storage import Conflict, ReviewDB, ReviewError
from spacy_distill.task import Task

NLP = spacy.blank("en")


def ner_docs():
    return [
        teacher_doc("Alice flew to Paris with Bob.", ents=[(0, 5, "PERSON"), (14, 19, "LOC")]),
        teacher_doc("Acme Corp opened in Berlin.", ents=[(0, 4, "ORG")]),
        teacher_doc("Nothing to see here.", ents=[]),
        teacher_doc("Alice flew to Paris with Bob.", ents=[(0, 5, "PERSON")]),  # a repeated text is its own doc
    ]


@pytest.fixture
def ner_db(tmp_path):
    db, _info = prepare(write_docs(ner_docs(), tmp_path / "teacher.spacy"), tmp_path / "review.db", labels=["DATE"])
    return db


def answer(db, doc, annotator="alice", kind="accept", spans=None, cats=None, request_id=None):
    """Answer as the page does: spans as token offsets, checked by the server's check_answer."""
    from spacy_distill.review_app.server import check_answer

    body = {"spans": spans if spans is not None else client_doc(doc)["suggestion"]["spans"], "cats": cats}
    checked_spans, checked_cats = check_answer(body, kind, doc, db.schema)
    return db.add_answer(doc["id"], annotator, kind, checked_spans, checked_cats, request_id)


def test_prepare_stores_docs_tokens_suggestions_and_provenance(ner_db):
    assert ner_db.schema.schema_dict() == {
        "has_spans": True,
        "span_key": None,
        "span_labels": ["LOC", "ORG", "PERSON", "DATE"],
        "cat_labels": [],
        "exclusive": False,
    }
    assert ner_db.meta("schema") == ner_db.schema.schema_dict()  # stored as before: databases of earlier versions open
    doc = ner_db.next_doc("alice")
    assert doc["text"] == "Alice flew to Paris with Bob."
    assert doc["tokens"][:3] == [[0, 5], [6, 10], [11, 14 - 1]]
    assert doc["suggestion"]["spans"] == [
        {"start": 0, "end": 5, "token_start": 0, "token_end": 0, "label": "PERSON"},
        {"start": 14, "end": 19, "token_start": 3, "token_end": 3, "label": "LOC"},
    ]
    assert ner_db.teacher(doc["id"])["model"] == "teacher-model"
    assert ner_db.progress() == {"total": 4, "done": 0, "annotators": []}
    # The file is WAL and plain SQLite.
    con = sqlite3.connect(ner_db.path)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert con.execute("SELECT count(*) FROM docs").fetchone()[0] == 4


def test_restart_keeps_docs_and_answers_and_adds_only_new_docs(tmp_path, ner_db):
    doc = ner_db.next_doc("alice")
    answer(ner_db, doc)
    more = ner_docs() + [teacher_doc("Carol lives in Rome.", ents=[(0, 5, "PERSON")])]
    db, info = prepare(write_docs(more, tmp_path / "more.spacy"), tmp_path / "review.db")
    assert (info["added"], info["known"]) == (1, 4)
    assert db.progress("alice") == {
        "total": 5,
        "done": 1,
        "you": 1,
        "annotators": [{"name": "alice", "done": 1, "accept": 1, "reject": 0, "ignore": 0}],
    }
    assert db.next_doc("alice")["text"] == "Acme Corp opened in Berlin."
    # A later input without the first docs: they leave the queue, their answers stay.
    db, info = prepare(write_docs(more[-1:], tmp_path / "last.spacy"), tmp_path / "review.db")
    assert db.progress()["total"] == 1
    assert len(db.answers()) == 1


def test_answers_are_stored_once_per_request_id(ner_db):
    doc = ner_db.next_doc("alice")
    first = answer(ner_db, doc, request_id="req-00000001")
    again = answer(ner_db, doc, request_id="req-00000001")
    assert first == (first[0], True) and again == (first[0], False)
    assert len(ner_db.answers()) == 1
    other = ner_db.next_doc("bob")
    with pytest.raises(Conflict):
        answer(ner_db, other, annotator="bob", request_id="req-00000001")


def test_without_overlap_each_doc_goes_to_one_annotator_and_comes_back_after_a_reload(ner_db):
    a = ner_db.next_doc("alice")
    b = ner_db.next_doc("bob")
    assert a["id"] != b["id"]
    assert ner_db.next_doc("alice")["id"] == a["id"]  # reload: the same doc again
    answer(ner_db, a)
    c = ner_db.next_doc("alice")
    assert c["id"] not in (a["id"], b["id"])
    # bob walks away: after CLAIM_SECONDS his doc goes to someone else.
    later = storage.time.time() + storage.CLAIM_SECONDS + 1
    answer(ner_db, c)
    assert ner_db.next_doc("carol", now=later)["id"] == b["id"]


def test_with_overlap_every_annotator_answers_every_doc(ner_db):
    seen = {"alice": [], "bob": []}
    for name in ("alice", "bob", "alice", "bob", "alice", "bob", "alice", "bob"):
        doc = ner_db.next_doc(name, overlap=True)
        seen[name].append(doc["id"])
        answer(ner_db, doc, annotator=name)
    assert seen["alice"] == seen["bob"] == [1, 2, 3, 4]
    assert ner_db.next_doc("alice", overlap=True) is None
    assert ner_db.progress("bob")["you"] == 4


def test_undo_retracts_the_latest_answer_keeps_it_as_history_and_requeues_the_doc(ner_db):
    first = ner_db.next_doc("alice")
    answer(ner_db, first)
    second = ner_db.next_doc("alice")
    answer(ner_db, second, kind="reject")
    back = ner_db.undo("alice")
    assert back["id"] == second["id"] and back["state"]["answer"] == "reject"
    assert back["state"]["spans"] == [{"start": 0, "end": 4, "token_start": 0, "token_end": 0, "label": "ORG"}]
    assert ner_db.next_doc("alice")["id"] == second["id"]
    assert ner_db.next_doc("bob")["id"] not in (first["id"], second["id"])
    assert [a["answer"] for a in ner_db.answers()] == ["accept"]
    history = ner_db.answers(include_retracted=True)
    assert history[1]["retracted"] is not None and history[1]["suggestion"]["spans"][0]["label"] == "ORG"
    with pytest.raises(Conflict):
        ner_db.undo("alice", history[1]["id"])
    ner_db.undo("alice")
    with pytest.raises(Conflict):
        ner_db.undo("alice")


def test_answers_record_annotator_time_and_original_suggestion(ner_db):
    doc = ner_db.next_doc("alice")
    answer(ner_db, doc, spans=[{"start": 0, "end": 1, "label": "PERSON"}, {"start": 5, "end": 6, "label": "PERSON"}])
    (row,) = ner_db.answers()
    assert row["annotator"] == "alice" and row["created"] > 1e9
    assert [s["label"] for s in row["suggestion"]["spans"]] == ["PERSON", "LOC"]
    assert [(s["start"], s["end"]) for s in row["spans"]] == [(0, 5), (25, 28)]


def test_import_gives_exact_gold_from_accepts_rejects_and_skips(tmp_path, ner_db):
    docs = [ner_db.next_doc("alice", overlap=True)]
    answer(
        ner_db,
        docs[0],
        spans=[
            {"start": 0, "end": 1, "label": "PERSON"},
            {"start": 3, "end": 4, "label": "LOC"},
            {"start": 5, "end": 6, "label": "PERSON"},
        ],
    )
    docs.append(ner_db.next_doc("alice", overlap=True))
    answer(ner_db, docs[1], kind="reject")
    docs.append(ner_db.next_doc("alice", overlap=True))
    answer(ner_db, docs[2], kind="ignore")
    docs.append(ner_db.next_doc("alice", overlap=True))
    answer(ner_db, docs[3], spans=[])  # the repeated text: a negative answer, later than the first
    stats = import_corrections(tmp_path / "review.db", tmp_path / "gold.spacy")
    assert stats["answers"] == {"accept": 2, "reject": 1, "ignore": 1}
    gold = list(DocBin().from_disk(tmp_path / "gold.spacy").get_docs(NLP.vocab))
    assert [d.text for d in gold] == ["Alice flew to Paris with Bob.", "Acme Corp opened in Berlin."]
    # Both answers about the repeated text are alice's; her latest wins.
    assert spans_of(gold[0]) == [] and stats["superseded"] == 1
    assert iob(gold[0]) == ["O"] * 7
    assert spans_of(gold[1]) == [] and iob(gold[1]) == ["-"] * 6
    assert spans_of(gold[1], "incorrect_spans") == [(0, 4, "ORG")]


def test_import_merges_annotators_by_policy(tmp_path, ner_db):
    for name, spans in (
        ("alice", [{"start": 0, "end": 1, "label": "PERSON"}]),
        ("bob", [{"start": 0, "end": 1, "label": "PERSON"}]),
        ("carol", []),
    ):
        doc = ner_db.next_doc(name, overlap=True)
        answer(ner_db, doc, annotator=name, spans=spans)
    stats = import_corrections(tmp_path / "review.db", tmp_path / "gold.spacy", policy="majority")
    gold = list(DocBin().from_disk(tmp_path / "gold.spacy").get_docs(NLP.vocab))
    assert stats["conflicts"] == 1 and spans_of(gold[0]) == [(0, 5, "PERSON")]


def test_spancat_and_textcat_databases(tmp_path):
    text = "You are a complete idiot and a liar."
    spans = [(10, 24, "INSULT"), (19, 24, "TOXIC")]
    sc_db, _ = prepare(
        write_docs([teacher_doc(text, ents=None, spans=spans)], tmp_path / "sc.spacy"), tmp_path / "sc.db"
    )
    assert sc_db.schema.span_key == "sc"
    doc = sc_db.next_doc("alice")
    answer(
        sc_db,
        doc,
        spans=[
            {"start": 3, "end": 5, "label": "INSULT"},
            {"start": 4, "end": 5, "label": "TOXIC"},
            {"start": 7, "end": 8, "label": "INSULT"},
        ],
    )
    import_corrections(tmp_path / "sc.db", tmp_path / "sc.spacy.out.spacy")
    (gold,) = DocBin().from_disk(tmp_path / "sc.spacy.out.spacy").get_docs(NLP.vocab)
    assert spans_of(gold, "sc") == [(10, 24, "INSULT"), (19, 24, "TOXIC"), (31, 35, "INSULT")]

    cats = {"POSITIVE": 1.0, "NEGATIVE": 0.0}
    tc_docs = [teacher_doc("Great phone.", ents=None, cats=cats), teacher_doc("Awful battery.", ents=None, cats=cats)]
    tc_db, _ = prepare(write_docs(tc_docs, tmp_path / "tc.spacy"), tmp_path / "tc.db")
    assert tc_db.schema.exclusive and not tc_db.schema.has_spans
    first = tc_db.next_doc("alice")
    answer(tc_db, first, cats={"POSITIVE": True, "NEGATIVE": False})
    second = tc_db.next_doc("alice")
    answer(tc_db, second, cats={"POSITIVE": False, "NEGATIVE": True})
    import_corrections(tmp_path / "tc.db", tmp_path / "tc.out.spacy")
    gold = list(DocBin().from_disk(tmp_path / "tc.out.spacy").get_docs(NLP.vocab))
    assert [d.cats for d in gold] == [{"NEGATIVE": 0.0, "POSITIVE": 1.0}, {"NEGATIVE": 1.0, "POSITIVE": 0.0}]
    assert not gold[0].has_annotation("ENT_IOB")
    # A database of spans takes no category docs.
    with pytest.raises(ReviewError, match="use another --db"):
        prepare(tmp_path / "tc.spacy", tmp_path / "sc.db")


def test_reader_for_spacy_train_reads_the_database(tmp_path, ner_db):
    doc = ner_db.next_doc("alice")
    answer(ner_db, doc)
    reader = create_corrections_reader(str(tmp_path / "review.db"))
    nlp = spacy.blank("en")
    (example,) = list(reader(nlp))
    assert [(e.text, e.label_) for e in example.reference.ents] == [("Alice", "PERSON"), ("Paris", "LOC")]
    assert example.predicted.text == doc["text"]


def test_import_cli_reads_the_database_while_it_is_open(tmp_path, ner_db):
    answer(ner_db, ner_db.next_doc("alice"))
    result = CliRunner().invoke(app, ["import", str(tmp_path / "review.db"), str(tmp_path / "gold.spacy")])
    assert result.exit_code == 0, result.output
    assert "Imported 1 docs from 1 records" in result.output
    assert detect_format(tmp_path / "review.db") == "review"


def test_other_sqlite_files_are_not_review_databases(tmp_path):
    other = tmp_path / "responses.db"
    sqlite3.connect(other).execute("CREATE TABLE responses (key TEXT)")
    assert not storage.is_review_db(other)
    with pytest.raises(FormatError, match="cannot tell the format"):
        list(read_corrections(other))
    with pytest.raises(ReviewError, match="not a review database"):
        ReviewDB(other)
    with pytest.raises(FormatError, match="not found"):
        list(read_corrections(tmp_path / "missing.db", "review"))


def test_prepare_rejects_bad_inputs(tmp_path):
    with pytest.raises(ReviewError, match="file not found"):
        prepare(tmp_path / "missing.spacy", tmp_path / "r.db")
    (tmp_path / "texts.jsonl").write_text('{"text": "hi"}\n')
    with pytest.raises(ReviewError, match=r"\.spacy DocBin"):
        prepare(tmp_path / "texts.jsonl", tmp_path / "r.db")
    (tmp_path / "broken.spacy").write_bytes(b"not a docbin")
    with pytest.raises(ReviewError, match="not a .spacy DocBin"):
        prepare(tmp_path / "broken.spacy", tmp_path / "r.db")
    docs = [teacher_doc("No spans at all.", ents=[])]
    with pytest.raises(ReviewError, match="--labels"):
        prepare(write_docs(docs, tmp_path / "empty.spacy"), tmp_path / "r.db")
    with pytest.raises(ReviewError, match="Unknown order"):
        prepare(write_docs(docs, tmp_path / "empty.spacy"), tmp_path / "r.db", order="random", labels=["X"])


# -- ordering ---------------------------------------------------------------------------


def make_student(tmp_path):
    nlp = spacy.blank("en")
    ruler = nlp.add_pipe("entity_ruler")
    ruler.add_patterns([{"label": "PERSON", "pattern": "Alice"}, {"label": "ORG", "pattern": "Acme Corp"}])
    nlp.to_disk(tmp_path / "student")
    return tmp_path / "student"


def test_disagreement_order_puts_docs_where_teacher_and_student_differ_first(tmp_path):
    docs = ner_docs()
    schema = Task.from_dict(
        {"has_spans": True, "span_key": None, "span_labels": [], "cat_labels": [], "exclusive": False}
    )
    ranked, scores, note = order_docs(docs, schema, "disagreement", make_student(tmp_path))
    # Student: Alice PERSON in docs 0 and 3, Acme Corp ORG in doc 1, nothing in doc 2.
    assert scores == [pytest.approx(1 - 2 / 3), 1.0, 0.0, 0.0]
    assert ranked == [1, 0, 2, 3]
    assert "disagree" in note
    db, _info = prepare(
        write_docs(docs, tmp_path / "t.spacy"), tmp_path / "r.db", "disagreement", make_student(tmp_path)
    )
    first = db.next_doc("alice")
    assert first["text"].startswith("Acme") and first["score"] == 1.0
    with pytest.raises(ReviewError, match="--student"):
        order_docs(docs, schema, "disagreement")
    with pytest.raises(ReviewError, match="student model not found"):
        order_docs(docs, schema, "disagreement", tmp_path / "nope")


def test_disagreement_on_categories():
    schema = Task.from_dict(
        {"has_spans": False, "span_key": None, "span_labels": [], "cat_labels": ["A", "B"], "exclusive": True}
    )
    teacher = teacher_doc("x", ents=None, cats={"A": 1.0, "B": 0.0})
    student = NLP("x")
    student.cats = {"A": 0.2, "B": 0.8}
    assert disagreement(teacher, student, schema) == pytest.approx(0.8)


def test_uncertainty_order_uses_known_confidences_first(tmp_path):
    schema = Task.from_dict(
        {"has_spans": False, "span_key": None, "span_labels": [], "cat_labels": ["A", "B"], "exclusive": True}
    )
    docs = [
        teacher_doc(f"doc {i}", ents=None, cats=cats)
        for i, cats in enumerate([{"A": 1.0, "B": 0.0}, {"A": 0.9, "B": 0.1}, {"A": 0.55, "B": 0.45}])
    ]
    docs[0].user_data["teacher"]["confidence"] = 0.7
    ranked, scores, note = order_docs(docs, schema, "uncertainty")
    assert ranked == [2, 0, 1] and scores == [pytest.approx(0.3), pytest.approx(0.2), pytest.approx(0.9)]
    hard = [teacher_doc(f"doc {i}", ents=None, cats={"A": 1.0, "B": 0.0}) for i in range(3)]
    ranked, scores, note = order_docs(hard, schema, "uncertainty")
    assert ranked == [0, 1, 2] and scores == [None] * 3 and "no confidences" in note
    sc = teacher_doc("a b c", ents=None, spans=[(0, 1, "X"), (2, 3, "Y")])
    sc.spans["sc"].attrs["scores"] = [0.9, 0.6]
    assert uncertainty(
        sc, Task.from_dict({"has_spans": True, "span_key": "sc", "cat_labels": [], "exclusive": False})
    ) == pytest.approx(0.4)


def test_spacy_train_reads_the_review_database(tmp_path, ner_db):
    from spacy.cli.train import train

    for name in ("alice", "bob"):
        for _ in range(2):
            doc = ner_db.next_doc(name)
            answer(ner_db, doc, annotator=name, kind="accept" if name == "alice" else "reject")
    paths = {
        "paths.train": str(ner_db.path),
        "paths.dev": str(ner_db.path),
        "training.max_steps": 4,
        "training.eval_frequency": 2,
    }
    train(Path(__file__).parent.parent / "configs" / "student_ner.cfg", tmp_path / "out", overrides=paths)
    assert (tmp_path / "out" / "model-last" / "meta.json").exists()
