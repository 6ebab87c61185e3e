"""doccano: sequence labelling, text classification and relation-mode exports."""

import pytest
import srsly
from corrections_helpers import NLP, export, spans_of, teacher_doc

from spacy_distill.corpus.corrections import Options, load_corrections
from spacy_distill.formats.common import FormatError

TEXT = "Levi's & Zara"


def test_export_shapes(tmp_path):
    ner = srsly.read_jsonl(export([teacher_doc(TEXT, ents=[(0, 4, "BRAND")])], tmp_path, "doccano", "ner"))
    assert next(ner)["label"] == [[0, 4, "BRAND"]]
    cats = srsly.read_jsonl(
        export([teacher_doc(TEXT, ents=None, cats={"A": 1.0, "B": 0.0})], tmp_path, "doccano", "cats")
    )
    assert next(cats)["label"] == ["A"]
    both = srsly.read_jsonl(
        export([teacher_doc(TEXT, ents=[(9, 13, "BRAND")], cats={"A": 1.0})], tmp_path, "doccano", "both")
    )
    record = next(both)
    assert (record["entities"], record["cats"]) == ([[9, 13, "BRAND"]], ["A"])


def test_one_file_per_annotator_is_merged(tmp_path):
    srsly.write_jsonl(tmp_path / "alice.jsonl", [{"id": 1, "text": TEXT, "label": [[0, 4, "BRAND"]], "Comments": []}])
    srsly.write_jsonl(
        tmp_path / "bob.jsonl", [{"id": 1, "text": TEXT, "label": [[0, 4, "BRAND"], [9, 13, "BRAND"]], "Comments": []}]
    )
    docs, stats = load_corrections(tmp_path, NLP, "doccano", Options(policy="latest"))
    assert spans_of(docs[0]) == [(0, 4, "BRAND"), (9, 13, "BRAND")]  # bob.jsonl comes later
    assert stats.conflicts == 1 and "alice" in stats.problems[0] and "bob" in stats.problems[0]


def test_relation_mode_and_categories(tmp_path):
    path = tmp_path / "admin.jsonl"
    entities = [{"id": 7, "label": "BRAND", "start_offset": 9, "end_offset": 13}]
    srsly.write_jsonl(path, [{"id": 1, "text": TEXT, "entities": entities, "relations": []}])
    assert spans_of(load_corrections(path, NLP)[0][0]) == [(9, 13, "BRAND")]
    srsly.write_jsonl(path, [{"text": "good", "label": ["POS"]}, {"text": "none", "label": []}])
    docs, _ = load_corrections(path, NLP, "doccano", Options(labels={"POS", "NEG"}))
    assert [d.cats for d in docs] == [{"NEG": 0.0, "POS": 1.0}, {"NEG": 0.0, "POS": 0.0}]


@pytest.mark.parametrize(
    "line, error",
    [
        ('{"text": "abc", "label": [[0, 2]]}', 'admin.jsonl:2: a span label must be \\[start, end, "LABEL"\\]'),
        ('{"text": "abc", "label": [[0, "2", "X"]]}', "admin.jsonl:2: a span label must be"),
        ('{"text": "abc", "label": [[0, 5, "X"]]}', "admin.jsonl:2: span \\[0, 5\\) 'X' is outside the text"),
        ('{"text": "abc", "label": "X"}', "admin.jsonl:2: field 'label' must be list, got str"),
        ('{"text": "abc", "label": [[0, 1, "X"]', "admin.jsonl:2: not valid JSON"),
    ],
)
def test_bad_lines(tmp_path, line, error):
    path = tmp_path / "admin.jsonl"
    path.write_text('{"text": "fine", "label": []}\r\n' + line, encoding="utf8")
    with pytest.raises(FormatError, match=error):
        load_corrections(path, NLP, "doccano")
