"""Label Studio: the export's tasks and labelling config, and reading its JSON export back."""

import xml.etree.ElementTree as ET

import pytest
import srsly
from corrections_helpers import NLP, export, spans_of, teacher_doc

from spacy_distill.corpus.corrections import Options, load_corrections
from spacy_distill.formats.common import FormatError
from spacy_distill.formats.labelstudio import config_path

TEXT = "Levi's & Zara"


def test_export_has_predictions_and_a_matching_config(tmp_path):
    docs = [teacher_doc(TEXT, ents=[(0, 4, "BRAND"), (9, 13, "BRAND")], model="qwen2.5-7b")]
    out = export(docs, tmp_path, "labelstudio", labels=["SHOP & MORE"])
    task = srsly.read_json(out)[0]
    assert task["data"]["text"] == TEXT and task["data"]["teacher"]["model"] == "qwen2.5-7b"
    prediction = task["predictions"][0]
    assert prediction["model_version"] == "qwen2.5-7b"
    assert prediction["result"][0] == {
        "id": "d0s0",
        "from_name": "label",
        "to_name": "text",
        "type": "labels",
        "value": {"start": 0, "end": 4, "text": "Levi", "labels": ["BRAND"]},
    }
    view = ET.fromstring(config_path(out).read_text())
    labels = view.find("Labels")
    assert (labels.get("name"), labels.get("toName")) == ("label", "text")
    assert [label.get("value") for label in labels] == ["BRAND", "SHOP & MORE"]
    assert view.find("Text").get("value") == "$text"


def test_textcat_export_has_choices_with_scores(tmp_path):
    docs = [
        teacher_doc("good", ents=None, cats={"POS": 0.9, "NEG": 0.1}),
        teacher_doc("bad", ents=None, cats={"POS": 0.2, "NEG": 0.8}),
    ]
    out = export(docs, tmp_path, "labelstudio")
    result = srsly.read_json(out)[0]["predictions"][0]["result"][0]
    assert result["type"] == "choices" and result["value"] == {"choices": ["POS"]} and result["score"] == 0.9
    choices = ET.fromstring(config_path(out).read_text()).find("Choices")
    assert choices.get("choice") == "single-radio" and [c.get("value") for c in choices] == ["NEG", "POS"]


def ls_task(text, *annotations):
    return {"id": 1, "data": {"text": text}, "annotations": list(annotations)}


def annotation(who, when, spans=(), choices=None, cancelled=False):
    result = [
        {
            "id": f"r{i}",
            "from_name": "label",
            "to_name": "text",
            "type": "labels",
            "value": {"start": s, "end": e, "labels": [label]},
        }
        for i, (s, e, label) in enumerate(spans)
    ]
    if choices is not None:
        result.append(
            {"id": "c", "from_name": "category", "to_name": "text", "type": "choices", "value": {"choices": choices}}
        )
    return {"completed_by": who, "updated_at": when, "was_cancelled": cancelled, "result": result}


def test_annotators_cancelled_and_unannotated_tasks(tmp_path):
    path = tmp_path / "export.json"
    tasks = [
        ls_task(
            TEXT,
            annotation(1, "2024-05-01T10:00:00Z", [(0, 4, "BRAND")]),
            annotation({"id": 2, "email": "b@x"}, "2024-05-02T10:00:00Z", [(9, 13, "BRAND")]),
        ),
        ls_task("Skipped text", annotation(1, "2024-05-01T10:00:00Z", cancelled=True)),
        ls_task("Not yet annotated"),
        ls_task("No brands here", annotation(1, "2024-05-03T10:00:00Z")),
    ]
    srsly.write_json(path, tasks)
    docs, stats = load_corrections(path, NLP)  # detected as Label Studio
    assert [d.text for d in docs] == [TEXT, "No brands here"]
    assert spans_of(docs[0]) == [(9, 13, "BRAND")]  # the later annotation wins
    assert [t.ent_iob_ for t in docs[1]] == ["O", "O", "O"]
    assert stats.answers == {"accept": 3, "ignore": 1, "none": 1} and stats.conflicts == 1


def test_text_field_with_another_name(tmp_path):
    path = tmp_path / "export.json"
    srsly.write_json(
        path, [{"data": {"review": TEXT, "stars": 5}, "annotations": [annotation(1, None, [(0, 4, "BRAND")])]}]
    )
    assert spans_of(load_corrections(path, NLP)[0][0]) == [(0, 4, "BRAND")]


def test_choices_are_categories(tmp_path):
    path = tmp_path / "export.json"
    srsly.write_json(
        path, [ls_task("good", annotation(1, None, choices=["POS"])), ls_task("meh", annotation(1, None, choices=[]))]
    )
    docs, _ = load_corrections(path, NLP, "labelstudio", Options(labels={"POS", "NEG"}))
    assert [d.cats for d in docs] == [{"NEG": 0.0, "POS": 1.0}, {"NEG": 0.0, "POS": 0.0}]
    assert not docs[0].has_annotation("ENT_IOB")  # a textcat project says nothing about entities


@pytest.mark.parametrize(
    "content, error",
    [
        (
            '[{"data": {"text": "abc"}, "annotations": []},\n {"data": {"text": "abc"}, "annot',
            "export.json:2: not valid JSON",
        ),
        ('[{"data": {"text": "abc"}, "annotations": []}\n', "export.json:2: the JSON array is not closed"),
        ('[{"data": {"title": "a", "body": "b"}}]', "export.json:1: data no field 'text'"),
        (
            '[\n{"data": {"text": "abc"}, "annotations": [{"result": [{"type": "labels", "value": {"start": 1, "end": 2, "labels": ["X"], "text": "c"}}]}]}]',
            "export.json:2: .*says its text is 'c'",
        ),
        (
            '[\n\n{"data": {"text": "abc"}, "annotations": [{"result": [{"type": "labels", "value": {"start": 0, "end": 7, "labels": ["X"]}}]}]}]',
            "export.json:3: annotation 1: span \\[0, 7\\) 'X' is outside the text",
        ),
        ('{"data": {"text": "abc"}}', "export.json:1: expected a JSON array"),
    ],
)
def test_bad_exports(tmp_path, content, error):
    path = tmp_path / "export.json"
    path.write_text(content, encoding="utf8")
    with pytest.raises(FormatError, match=error):
        load_corrections(path, NLP, "labelstudio")
