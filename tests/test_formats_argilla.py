"""Argilla v2: the dataset folder of the export, and reading users' responses back."""

import pytest
import srsly
from corrections_helpers import NLP, export, spans_of, teacher_doc

from spacy_distill.corpus.corrections import load_corrections
from spacy_distill.formats.common import FormatError

TEXT = "Levi's & Zara"


def test_export_is_a_dataset_folder_with_suggestions(tmp_path):
    out = export(
        [teacher_doc(TEXT, ents=[(0, 4, "BRAND")], model="llama3.1-8b")], tmp_path, "argilla", "ds", labels=["SHOP"]
    )
    assert sorted(p.name for p in out.iterdir()) == ["dataset.json", "records.json", "settings.json"]
    settings = srsly.read_json(out / "settings.json")
    question = settings["questions"][0]
    assert (
        question["name"] == "entities"
        and question["settings"]["type"] == "span"
        and question["settings"]["field"] == "text"
    )
    assert [o["value"] for o in question["settings"]["options"]] == ["BRAND", "SHOP"]
    assert settings["fields"] == [
        {"name": "text", "title": "Text", "required": True, "settings": {"type": "text", "use_markdown": False}}
    ]
    record = srsly.read_json(out / "records.json")[0]
    assert record["fields"] == {"text": TEXT}
    assert record["suggestions"]["entities"] == {
        "value": [{"start": 0, "end": 4, "label": "BRAND"}],
        "score": None,
        "agent": "llama3.1-8b",
    }
    assert srsly.read_json(out / "dataset.json") == {"name": "ds"}


def test_textcat_export_uses_label_questions(tmp_path):
    docs = [
        teacher_doc("a", ents=None, cats={"X": 1.0, "Y": 0.0}),
        teacher_doc("b", ents=None, cats={"X": 0.0, "Y": 1.0}),
    ]
    out = export(docs, tmp_path, "argilla", "ds")
    question = srsly.read_json(out / "settings.json")["questions"][0]
    assert (question["name"], question["settings"]["type"]) == ("category", "label_selection")
    assert srsly.read_json(out / "records.json")[0]["suggestions"]["category"]["value"] == "X"


def records_file(tmp_path, *records):
    path = tmp_path / "records.json"
    srsly.write_json(path, list(records))
    return path


def record(text, **responses):
    return {
        "id": "1",
        "fields": {"text": text},
        "metadata": {},
        "suggestions": {},
        "responses": responses,
        "vectors": {},
    }


def test_users_statuses_and_pending_records(tmp_path):
    spans = [{"start": 0, "end": 4, "label": "BRAND"}]
    path = records_file(
        tmp_path,
        record(
            TEXT,
            entities=[
                {"value": spans, "user_id": "u1", "status": "submitted"},
                {"value": [], "user_id": "u2", "status": "discarded"},
            ],
        ),
        record("Only a draft", entities=[{"value": spans, "user_id": "u1", "status": "draft"}]),
        record("Pending"),
        record("Nothing here", entities=[{"value": [], "user_id": "u1"}]),
    )
    docs, stats = load_corrections(path, NLP)  # detected as Argilla
    assert [d.text for d in docs] == [TEXT, "Nothing here"]
    assert spans_of(docs[0]) == [(0, 4, "BRAND")] and stats.negative == 1
    assert stats.answers == {"accept": 2, "ignore": 1, "none": 2}


def test_types_come_from_settings_when_present(tmp_path):
    out = export([teacher_doc("a", ents=None, cats={"X": 1.0, "Y": 0.0, "Z": 0.0})], tmp_path, "argilla", "ds")
    records = srsly.read_json(out / "records.json")
    records[0]["responses"] = {"category": [{"value": "Y", "user_id": "u1", "status": "submitted"}]}
    srsly.write_json(out / "records.json", records)
    docs, _ = load_corrections(out, NLP)
    assert docs[0].cats == {"X": 0.0, "Y": 1.0, "Z": 0.0}


@pytest.mark.parametrize(
    "content, error",
    [
        (
            '[{"fields": {"text": "abc"}, "responses": {"entities": [{"value": [{"start": 0, "end": 9, "label": "X"}], "user_id": "u"}]}}]',
            "records.json:1: span \\[0, 9\\)",
        ),
        (
            '[{"fields": {"text": "abc"}, "responses": {"entities": {"value": []}}}]',
            "records.json:1: responses to 'entities' must be a list",
        ),
        ('[\n{"fields": {"text": 3}}]', "records.json:2: fields field 'text' must be str"),
        ('[{"fields": {"text": "abc"}},\n{"fields"', "records.json:2: not valid JSON"),
    ],
)
def test_bad_records(tmp_path, content, error):
    path = tmp_path / "records.json"
    path.write_text(content, encoding="utf8")
    with pytest.raises(FormatError, match=error):
        load_corrections(path, NLP, "argilla")


def test_flat_records_keep_response_status(tmp_path):
    spans = [{"start": 0, "end": 4, "label": "BRAND"}]
    flat = {
        "id": "1",
        "status": "completed",
        "text": TEXT,
        "entities.responses": [spans, []],
        "entities.responses.users": ["u1", "u2"],
        "entities.responses.status": ["submitted", "discarded"],
        "entities.suggestion": spans,
        "entities.suggestion.agent": "m",
        "entities.suggestion.score": None,
    }
    docs, stats = load_corrections(records_file(tmp_path, flat), NLP)  # detected as Argilla
    assert spans_of(docs[0]) == [(0, 4, "BRAND")] and stats.answers == {"accept": 1, "ignore": 1}
