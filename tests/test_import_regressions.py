"""The import fuzz findings (issue 12), one case each: a clear message with file and line, or the right gold.

Every "bad" case fails with its file and line under --on-error fail, and under skip imports the
valid records around it and counts the bad one; every "good" case imports what the file says.
"""

import json

import pytest
import srsly
from corrections_helpers import NLP, spans_of

from spacy_distill.corpus.corrections import load_corrections
from spacy_distill.formats.common import FormatError

OK = {"text": "Zara is ok", "spans": [{"start": 0, "end": 4, "label": "BRAND"}], "answer": "accept"}
LS_OK = {
    "data": {"text": "Zara is ok"},
    "annotations": [
        {"result": [{"from_name": "label", "type": "labels", "value": {"start": 0, "end": 4, "labels": ["BRAND"]}}]}
    ],
}


def jsonl(*records) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


def json_array(*records) -> str:
    return "[\n" + ",\n".join(json.dumps(r) for r in records) + "\n]\n"


def argilla(folder, records, settings=None):
    folder.mkdir()
    if settings is not None:
        (folder / "settings.json").write_text(settings, encoding="utf8")
    (folder / "records.json").write_text(json.dumps(records), encoding="utf8")
    return folder


ARGILLA_SETTINGS = json.dumps(
    {"questions": [{"name": "entities", "settings": {"type": "span", "field": "text", "options": []}}]}
)
ARGILLA_OK = {
    "id": "1",
    "fields": {"text": "Zara is ok"},
    "responses": {"entities": [{"value": [{"start": 0, "end": 4, "label": "BRAND"}], "user_id": "u"}]},
}

# (id, file name, content, format, read options, message of the bad record as a regex; its line is in the regex)
BAD = [
    ("csv_unbalanced_quote", "d.csv", 'text\nNike is ok\n"Zara coat\nGucci bag\n', "csv", {}, r"d.csv:3: a quote"),
    ("csv_empty_label", "d.csv", "text,label\nhi,A\nho,\n", "csv", {"label_column": "label"}, r"d.csv:3: .*is empty"),
    (
        "csv_bad_pair",
        "d.csv",
        'text,spans\nhi there,"[[0, 2]]"\nho,"[[5, 2]]"\n',
        "csv",
        {"spans_column": "spans"},
        r"d.csv:3: the spans column pair \[5, 2\] is not a range",
    ),
    (
        "csv_true_is_not_1",
        "d.csv",
        'text,spans\nhi there,"[0, 1]"\nho,"[true, 1]"\n',
        "csv",
        {"spans_column": "spans"},
        r"d.csv:3: the spans column must list character indices",
    ),
    (
        "iobes_not_closed",
        "d.conll",
        "Zara\tO\n\nLouis\tB-ORG\nis\tO\n\nx\tS-X\n",
        "conll",
        {},
        r"d.conll:3: .*not closed",
    ),
    ("iobes_stray_end", "d.conll", "Zara\tO\n\nVuitton\tE-ORG\n", "conll", {}, r"d.conll:3: .*continues no entity"),
    (
        "empty_span_label",
        "d.jsonl",
        jsonl(OK, {**OK, "spans": [{"start": 0, "end": 4, "label": ""}]}),
        "prodigy",
        {},
        r"d.jsonl:2: span \[0, 4\) has an empty label",
    ),
    ("spans_null", "d.jsonl", jsonl(OK, {**OK, "spans": None}), "prodigy", {}, r"d.jsonl:2: field 'spans' is null"),
    (
        "ls_annotation_without_result",
        "d.json",
        json_array(LS_OK, {"data": {"text": "Gucci"}, "annotations": [{"completed_by": 1}]}),
        "labelstudio",
        {},
        r"d.json:3: annotation 1 has no 'result'",
    ),
    (
        "ls_choices_not_strings",
        "d.json",
        json_array(
            {"data": {"text": "a"}, "annotations": [{"result": [{"type": "choices", "value": {"choices": ["P"]}}]}]},
            {"data": {"text": "b"}, "annotations": [{"result": [{"type": "choices", "value": {"choices": [1, {}]}}]}]},
        ),
        "labelstudio",
        {},
        r"d.json:3: annotation 1: choices must be strings",
    ),
    (
        "deep_nesting",
        "d.jsonl",
        jsonl(OK) + '{"text": "a", "meta": ' + "[" * 100_000 + "]" * 100_000 + "}\n",
        "prodigy",
        {},
        r"d.jsonl:2: the JSON is nested too deeply",
    ),
    (
        "lone_surrogate",
        "d.jsonl",
        jsonl(OK) + '{"text": "Zara \\ud800", "spans": [], "answer": "accept"}\n',
        "prodigy",
        {},
        r"d.jsonl:2: a lone surrogate",
    ),
    (
        "int_above_2_64_in_meta",
        "d.jsonl",
        jsonl(OK, {**OK, "meta": {"id": 2**70}}),
        "prodigy",
        {},
        r"d.jsonl:2: meta holds the integer 1180591620717411303424",
    ),
    (
        "text_over_max_length",
        "d.jsonl",
        jsonl(OK, {"text": "a " * 500_001, "spans": [], "answer": "accept"}),
        "prodigy",
        {},
        r"d.jsonl:2: the text has 1,000,002 characters, more than spaCy's max_length",
    ),
    (
        "doccano_empty_label",
        "d.jsonl",
        jsonl({"text": "Zara", "label": [[0, 4, "B"]]}, {"text": "Zara", "label": [[0, 4, ""]]}),
        "doccano",
        {},
        r"d.jsonl:2: span \[0, 4\) has an empty label",
    ),
]


@pytest.mark.parametrize("name, content, fmt, options, error", [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_record_is_named_and_the_others_import(tmp_path, name, content, fmt, options, error):
    path = tmp_path / name
    path.write_text(content, encoding="utf8")
    with pytest.raises(FormatError, match=error) as caught:
        load_corrections(path, NLP, fmt, **options)
    assert str(caught.value).startswith("1 bad record ")
    docs, stats = load_corrections(path, NLP, fmt, on_error="skip", **options)
    assert stats.skipped == 1 and len(docs) >= 1
    assert stats.records == stats.skipped + sum(stats.answers.values())
    assert [r["source"].rsplit(":", 1)[1] for r in stats.skipped_records] == [error.split(":")[1]]


def test_csv_unbalanced_quote_does_not_swallow_rows(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text('text\nNike is ok\n"Zara coat\nGucci bag\n"two\nlines",x\n', encoding="utf8")
    docs, stats = load_corrections(path, NLP, "csv", on_error="skip")
    assert [d.text for d in docs] == ["Nike is ok", "Gucci bag", "two\nlines"] and stats.skipped == 1


def test_iobes_and_biluo_tags_make_multi_token_entities(tmp_path):
    path = tmp_path / "d.conll"
    path.write_text(
        "Louis\tB-ORG\nVuitton\tE-ORG\nis\tO\nnice\tS-ADJ\n\nA\tB-X\nB\tI-X\nC\tL-X\nD\tU-Y\n", encoding="utf8"
    )
    docs, _ = load_corrections(path, NLP, "conll")
    assert [d.text for d in docs] == ["Louis Vuitton is nice", "A B C D"]  # no stray space at the end
    assert [spans_of(d) for d in docs] == [[(0, 13, "ORG"), (17, 21, "ADJ")], [(0, 5, "X"), (6, 7, "Y")]]


@pytest.mark.parametrize("char", ["\u2028", "\u0085", "\u2029", "\x1c"])
def test_raw_line_separators_inside_json_strings(tmp_path, char):
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps({**OK, "text": f"Zara is{char}ok"}, ensure_ascii=False) + "\n", encoding="utf8")
    docs, _ = load_corrections(path, NLP, "prodigy")
    assert [d.text for d in docs] == [f"Zara is{char}ok"]


def test_long_csv_field_is_read(tmp_path):
    path = tmp_path / "d.csv"
    text = "word " * 40_000
    path.write_text(f'text,label\n"{text}",A\nhi,B\n', encoding="utf8")
    docs, _ = load_corrections(path, NLP, "csv", label_column="label")
    assert [len(d.text) for d in docs] == [200_000, 2]


def test_label_studio_relations_are_left_out(tmp_path):
    relation = {"type": "relation", "from_id": "a", "to_id": "b", "direction": "right"}
    task = {**LS_OK, "annotations": [{"result": [*LS_OK["annotations"][0]["result"], relation]}]}
    path = tmp_path / "d.json"
    path.write_text(json_array(task), encoding="utf8")
    docs, _ = load_corrections(path, NLP, "labelstudio")
    assert [spans_of(d) for d in docs] == [[(0, 4, "BRAND")]]


def test_label_studio_span_control_is_the_configs(tmp_path):
    other = {"from_name": "ner", "type": "labels", "value": {"start": 8, "end": 10, "labels": ["X"]}}
    path = tmp_path / "d.json"
    path.write_text(json_array(LS_OK, {**LS_OK, "annotations": [{"result": [other]}]}), encoding="utf8")
    (tmp_path / "d.label_config.xml").write_text(
        '<View><Labels name="label" toName="text"><Label value="BRAND"/></Labels><Text name="text" value="$text"/></View>'
    )
    with pytest.raises(FormatError, match=r"d.json:3: annotation 1: a span result from the control 'ner'.* 'label'"):
        load_corrections(path, NLP, "labelstudio")


def test_file_name_with_a_comma(tmp_path):
    path = tmp_path / "a,b.jsonl"
    srsly.write_jsonl(path, [OK])
    docs, _ = load_corrections(str(path), NLP)
    assert [d.text for d in docs] == ["Zara is ok"]


@pytest.mark.parametrize(
    "settings, records, error",
    [
        ('{"questions": [{"name": "entities"', [ARGILLA_OK], r"settings.json:1: not valid JSON"),
        ('{"questions": [{"name": "e", "settings": {}}]}', [ARGILLA_OK], r"settings.json: not Argilla settings"),
        (ARGILLA_SETTINGS, [ARGILLA_OK, {**ARGILLA_OK, "responses": {"entities": ["x"]}}], r"records.json:1: a resp"),
        (ARGILLA_SETTINGS, [{**ARGILLA_OK, "responses": {"entities": [3]}}], r"records.json:1: a response"),
    ],
)
def test_argilla_bad_settings_and_responses(tmp_path, settings, records, error):
    folder = argilla(tmp_path / "ds", records, settings)
    with pytest.raises(FormatError, match=error):
        load_corrections(folder, NLP, "argilla")


def test_argilla_folder_without_records(tmp_path):
    folder = tmp_path / "ds"
    folder.mkdir()
    (folder / "settings.json").write_text(ARGILLA_SETTINGS)
    with pytest.raises(FormatError, match=r"ds: an Argilla dataset folder without records.json"):
        load_corrections(folder, NLP)


def test_folder_passed_with_from_prodigy(tmp_path):
    folder = argilla(tmp_path / "ds", [ARGILLA_OK], ARGILLA_SETTINGS)
    with pytest.raises(FormatError, match=r"ds: a folder, where a file was expected"):
        load_corrections(folder, NLP, "prodigy")


@pytest.mark.parametrize("content", [b"SQLite format 3\x00" + b"\x00" * 200, b""])
def test_truncated_review_database(tmp_path, content):
    path = tmp_path / "review.db"
    path.write_bytes(content)
    with pytest.raises(FormatError, match=r"review.db: not a (readable )?review database.*truncated or corrupt"):
        load_corrections(path, NLP)


def test_all_bad_records_in_one_pass_then_a_count(tmp_path):
    path = tmp_path / "d.jsonl"
    lines = [json.dumps(OK)] * 3 + ['{"text": "broken'] * 25 + [json.dumps({**OK, "spans": None})]
    path.write_text("\n".join(lines) + "\n", encoding="utf8")
    with pytest.raises(FormatError) as caught:
        load_corrections(path, NLP, "prodigy")
    message = str(caught.value)
    assert message.startswith("26 bad records ") and "and 6 more" in message
    assert all(f"d.jsonl:{n}: not valid JSON" in message for n in range(4, 24))
    docs, stats = load_corrections(path, NLP, "prodigy", on_error="skip")
    assert len(docs) == 1 and stats.skipped == 26 and len(stats.skipped_records) == 26
    assert stats.skipped_records[-1]["source"].endswith("d.jsonl:29")


def test_records_that_say_nothing_are_not_gold(tmp_path):
    path = tmp_path / "d.jsonl"
    srsly.write_jsonl(path, [OK, {"text": "Gucci", "answer": "accept"}])
    with pytest.raises(FormatError, match=r"d.jsonl:2: the record says nothing about spans or categories"):
        load_corrections(path, NLP, "prodigy")


def test_unanswered_prodigy_tasks_are_not_annotated(tmp_path):
    path = tmp_path / "d.jsonl"
    unanswered = {k: v for k, v in OK.items() if k != "answer"}
    srsly.write_jsonl(path, [{**unanswered, "_input_hash": 1}, {**OK, "text": "Zara again", "_input_hash": 2}])
    docs, stats = load_corrections(path, NLP, "prodigy")
    assert [d.text for d in docs] == ["Zara again"] and stats.answers == {"none": 1, "accept": 1}


def test_skip_and_limit_make_a_split(tmp_path):
    path = tmp_path / "d.jsonl"
    srsly.write_jsonl(path, [{**OK, "text": f"Zara {i}"} for i in range(10)])
    head, stats = load_corrections(path, NLP, limit=3)
    rest, rest_stats = load_corrections(path, NLP, skip=3)
    assert [d.text for d in head] == ["Zara 0", "Zara 1", "Zara 2"] and stats.outside_split == 7
    assert [d.text for d in rest] == [f"Zara {i}" for i in range(3, 10)] and rest_stats.complete == 7
    middle, _ = load_corrections(path, NLP, skip=8, limit=5)
    assert [d.text for d in middle] == ["Zara 8", "Zara 9"]
