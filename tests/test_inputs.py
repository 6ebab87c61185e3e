"""Reading raw texts: .jsonl, .txt, .csv, and errors that name the file and line."""

import re

import pytest

from spacy_distill.errors import InputError
from spacy_distill.inputs import Record, read_records


def write(path, data: str, encoding="utf-8"):
    path.write_bytes(data.encode(encoding))
    return path


def records(path, text_field="text"):
    return list(read_records(path, text_field))


def test_jsonl_reads_text_meta_and_line_numbers(tmp_path):
    path = write(
        tmp_path / "in.jsonl",
        '{"text": "one", "meta": {"id": 1}}\n\n   \n{"text": "two", "other": 5}\n{"text": "three", "meta": "not a dict"}\n',
    )
    assert records(path) == [Record(1, "one", {"id": 1}), Record(4, "two", {}), Record(5, "three", {})]


def test_jsonl_malformed_line_names_file_and_line(tmp_path):
    path = write(tmp_path / "bad.jsonl", '{"text": "ok"}\n\n{"text": "broken"\n{"text": "never read"}\n')
    with pytest.raises(InputError, match=re.escape(f"{path}:3: not valid JSON")):
        records(path)


def test_jsonl_error_is_raised_lazily_after_good_lines(tmp_path):
    path = write(tmp_path / "bad.jsonl", '{"text": "ok"}\nnot json\n')
    reader = read_records(path)
    assert next(reader) == Record(1, "ok", {})
    with pytest.raises(InputError, match=re.escape(f"{path}:2:")):
        next(reader)


@pytest.mark.parametrize(
    "line,message",
    [
        ('{"text": 5}', "field 'text' must be a string, got int"),
        ('{"text": null}', "field 'text' must be a string, got NoneType"),
        ('{"text": ["a"]}', "field 'text' must be a string, got list"),
        ('{"body": "hi"}', "no field 'text' (fields: ['body'])"),
        ('["text", "hi"]', "expected a JSON object, got list"),
        ('"just a string"', "expected a JSON object, got str"),
        ("42", "expected a JSON object, got int"),
    ],
    ids=["int", "null", "list", "missing", "array", "string", "number"],
)
def test_jsonl_bad_record_names_file_and_line(tmp_path, line, message):
    path = write(tmp_path / "in.jsonl", '{"text": "fine"}\n' + line + "\n")
    with pytest.raises(InputError) as e:
        records(path)
    assert str(e.value) == f"{path}:2: {message}"


def test_jsonl_custom_text_field(tmp_path):
    path = write(tmp_path / "in.jsonl", '{"body": "hi"}\n')
    assert records(path, "body") == [Record(1, "hi", {})]
    with pytest.raises(InputError, match="no field 'text'"):
        records(path)


def test_jsonl_bom_and_crlf(tmp_path):
    path = write(tmp_path / "in.jsonl", '\ufeff{"text": "één"}\r\n\r\n{"text": "two\\r\\nlines"}\r\n', "utf-8")
    assert records(path) == [Record(1, "één", {}), Record(3, "two\r\nlines", {})]


def test_txt_one_doc_per_line_bom_crlf(tmp_path):
    path = write(tmp_path / "in.txt", "\ufefffirst doc\r\nsecond doc\r\n\r\nfourth 👗\n")
    assert records(path) == [
        Record(1, "first doc", {}),
        Record(2, "second doc", {}),
        Record(3, "", {}),  # kept (line numbers stay right); annotate() skips and counts it
        Record(4, "fourth 👗", {}),
    ]


def test_csv_text_column_and_meta(tmp_path):
    path = write(
        tmp_path / "in.csv",
        '\ufeffid,text,source\r\n1,"Zara, and ""Gucci""",reddit\r\n2,"multi\nline",\r\n3,,web\r\n',
    )
    got = records(path)
    assert [(r.text, r.meta) for r in got] == [
        ('Zara, and "Gucci"', {"id": "1", "source": "reddit"}),
        ("multi\nline", {"id": "2"}),  # a quoted newline stays inside the record
        ("", {"id": "3", "source": "web"}),  # empty meta values are left out
    ]
    assert (got[0].line, got[2].line) == (2, 5)


def test_csv_missing_column_names_file(tmp_path):
    path = write(tmp_path / "in.csv", "id,body\n1,hello\n")
    with pytest.raises(InputError) as e:
        records(path)
    assert str(path) in str(e.value) and "'text'" in str(e.value)
    assert records(path, "body") == [Record(2, "hello", {"id": "1"})]


def test_csv_row_with_too_many_fields(tmp_path):
    path = write(tmp_path / "in.csv", "id,text\n1,ok\n2,a,b\n")
    with pytest.raises(InputError, match=re.escape(f"{path}:3:")):
        records(path)


def test_empty_csv_has_no_records(tmp_path):
    assert records(write(tmp_path / "in.csv", "")) == []


def test_suffix_is_case_insensitive(tmp_path):
    assert records(write(tmp_path / "IN.TXT", "a\n")) == [Record(1, "a", {})]


@pytest.mark.parametrize("name", ["in.json", "in.tsv", "in", "in.jsonl.gz"])
def test_unsupported_suffix(tmp_path, name):
    path = write(tmp_path / name, '{"text": "a"}\n')
    with pytest.raises(InputError, match="unsupported input type") as e:
        records(path)
    assert str(path) in str(e.value)


def test_missing_file(tmp_path):
    path = tmp_path / "nope.jsonl"
    with pytest.raises(InputError, match=re.escape(f"{path}: file not found")):
        records(path)


def test_input_error_is_a_value_error():
    assert issubclass(InputError, ValueError)
