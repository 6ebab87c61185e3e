"""Prodigy answers: what accept, reject and ignore teach, merging annotators, bad input."""

import json

import pytest
import srsly
from corrections_helpers import NLP, iob, spans_of

from spacy_distill.corpus.corrections import Options, load_corrections
from spacy_distill.formats.common import FormatError

TEXT = "I bought Levi's jeans at Zara yesterday."  # Levi 9-13, 's 13-15, Zara 25-29


def load(tmp_path, records, **options):
    path = tmp_path / "answers.jsonl"
    srsly.write_jsonl(path, records)
    return load_corrections(path, NLP, "prodigy", Options(**options))


def task(answer="accept", spans=(), text=TEXT, **extra):
    return {
        "text": text,
        "spans": [{"start": s, "end": e, "label": label} for s, e, label in spans],
        "answer": answer,
        **extra,
    }


def test_accept_is_gold_and_empty_accept_is_negative(tmp_path):
    docs, stats = load(tmp_path, [task(spans=[(9, 13, "BRAND")]), task(text="Nothing to see.")])
    assert spans_of(docs[0]) == [(9, 13, "BRAND")]
    assert iob(docs[1]) == ["O", "O", "O", "O"]  # "no entities" is a negative example, not missing data
    assert (stats.complete, stats.negative, stats.spans) == (2, 1, {"BRAND": 1})


def test_reject_marks_spans_incorrect_and_leaves_tags_missing(tmp_path):
    docs, stats = load(tmp_path, [task("reject", [(9, 13, "BRAND"), (25, 29, "BRAND")])])
    doc = docs[0]
    assert set(iob(doc)) == {"-"}
    assert spans_of(doc, "incorrect_spans") == [(9, 13, "BRAND"), (25, 29, "BRAND")]
    assert doc.user_data["corrections"]["status"] == "partial"
    assert (stats.partial, stats.answers["reject"]) == (1, 1)


def test_binary_ner_answers_are_partial(tmp_path):
    docs, _ = load(
        tmp_path,
        [task("accept", [(9, 13, "BRAND")], _view_id="ner"), task("reject", [(25, 29, "BRAND")], _view_id="ner")],
    )
    doc = docs[0]
    assert iob(doc)[2] == "B-BRAND" and iob(doc).count("-") == len(doc) - 1
    assert spans_of(doc, "incorrect_spans") == [(25, 29, "BRAND")]


def test_binary_textcat_and_ignore(tmp_path):
    records = [
        {"text": "Docs are wrong", "label": "DOCS", "answer": "accept"},
        {"text": "Crash on start", "label": "DOCS", "answer": "reject"},
        {"text": "Unclear", "label": "DOCS", "answer": "ignore"},
    ]
    docs, stats = load(tmp_path, records)
    assert [d.cats for d in docs] == [{"DOCS": 1.0}, {"DOCS": 0.0}]
    assert stats.answers == {"accept": 1, "reject": 1, "ignore": 1} and stats.docs == 2


def test_choice_tasks(tmp_path):
    options = [{"id": "A", "text": "A"}, {"id": "B", "text": "B"}]
    docs, _ = load(tmp_path, [{"text": "t", "options": options, "accept": ["B"], "answer": "accept"}])
    assert docs[0].cats == {"A": 0.0, "B": 1.0}
    docs, _ = load(tmp_path, [{"text": "t", "accept": ["B"], "answer": "accept"}, {"text": "u", "accept": ["A"]}])
    assert [d.cats for d in docs] == [{"A": 0.0, "B": 1.0}, {"A": 1.0, "B": 0.0}]  # labels from the whole file
    with pytest.raises(FormatError, match=r"answers.jsonl:1: accept lists \['C'\]"):
        load(tmp_path, [{"text": "t", "options": options, "accept": ["C"], "answer": "accept"}])


def annotators(*answers):
    """The same text answered by several annotators: (annotator, timestamp, spans)."""
    return [task(spans=spans, _annotator_id=who, _timestamp=ts) for who, ts, spans in answers]


def test_disagreement_latest_wins_by_timestamp(tmp_path):
    records = annotators(("ann", 20, [(9, 13, "BRAND")]), ("bob", 10, [(25, 29, "BRAND")]))
    docs, stats = load(tmp_path, records)
    assert spans_of(docs[0]) == [(9, 13, "BRAND")]
    assert stats.conflicts == 1 and "answers.jsonl:1" in stats.problems[0] and "answers.jsonl:2" in stats.problems[0]


def test_disagreement_majority_and_fail(tmp_path):
    records = annotators(("ann", 1, [(9, 13, "BRAND")]), ("bob", 2, [(9, 13, "BRAND")]), ("cy", 3, [(25, 29, "BRAND")]))
    docs, _ = load(tmp_path, records, policy="majority")
    assert spans_of(docs[0]) == [(9, 13, "BRAND")]
    docs, _ = load(tmp_path, records, policy="latest")
    assert spans_of(docs[0]) == [(25, 29, "BRAND")]
    with pytest.raises(FormatError, match=r"disagree.*answers.jsonl:1.*answers.jsonl:3"):
        load(tmp_path, records, policy="fail")


def test_an_annotators_later_answer_replaces_the_earlier(tmp_path):
    records = annotators(("ann", 1, [(25, 29, "BRAND")]), ("ann", 2, [(9, 13, "BRAND")]))
    docs, stats = load(tmp_path, records, policy="fail")
    assert spans_of(docs[0]) == [(9, 13, "BRAND")]
    assert (stats.superseded, stats.conflicts) == (1, 0)


def test_misaligned_span_is_reported_or_snapped(tmp_path):
    records = [task(spans=[(9, 12, "BRAND"), (25, 29, "SHOP")])]  # "Lev" is not a token
    docs, stats = load(tmp_path, records)
    assert spans_of(docs[0]) == [(25, 29, "SHOP")]
    assert iob(docs[0])[2] == "-" and iob(docs[0])[0] == "O"  # the dropped span's tokens are missing, not O
    assert stats.dropped == {"not on token boundaries": 1}
    assert stats.problems[0].startswith(f"{tmp_path / 'answers.jsonl'}:1: dropped span [9, 12) 'BRAND' 'Lev'")
    docs, stats = load(tmp_path, records, alignment="expand")
    assert spans_of(docs[0]) == [(9, 13, "BRAND"), (25, 29, "SHOP")] and stats.snapped == 1


def test_unknown_labels_and_overlaps_are_counted(tmp_path):
    records = [task(spans=[(9, 15, "BRAND"), (9, 13, "BRAND"), (25, 29, "PLACE")])]
    docs, stats = load(tmp_path, records, labels={"BRAND"})
    assert spans_of(docs[0]) == [(9, 15, "BRAND")]
    assert stats.dropped == {"unknown label": 1, "overlaps another span": 1}
    assert iob(docs[0])[6] == "-" and iob(docs[0])[5] == "O"  # Zara: unknown label, so missing
    docs, stats = load(tmp_path, records, span_key="sc")  # span categorisation keeps overlaps
    assert spans_of(docs[0], "sc") == [(9, 13, "BRAND"), (9, 15, "BRAND"), (25, 29, "PLACE")]


def test_tokens_are_used_and_checked(tmp_path):
    tokens = [
        {"text": t, "start": s, "end": e, "id": i}
        for i, (t, s, e) in enumerate([("New", 0, 3), ("York-City", 4, 13), ("!", 13, 14)])
    ]
    span = {"start": 4, "end": 13, "token_start": 1, "token_end": 1, "label": "GPE"}
    docs, _ = load(tmp_path, [{"text": "New York-City!", "tokens": tokens, "spans": [span], "answer": "accept"}])
    assert [t.text for t in docs[0]] == ["New", "York-City", "!"] and spans_of(docs[0]) == [(4, 13, "GPE")]
    bad = [dict(tokens[0], text="Old")] + tokens[1:]
    with pytest.raises(FormatError, match="answers.jsonl:1: token 0 is 'Old'.*tokens and text differ"):
        load(tmp_path, [{"text": "New York-City!", "tokens": bad, "spans": [], "answer": "accept"}])
    with pytest.raises(FormatError, match="answers.jsonl:1: .*token_start/token_end 0/1"):
        load(
            tmp_path,
            [{"text": "New York-City!", "tokens": tokens, "spans": [dict(span, token_start=0)], "answer": "accept"}],
        )


@pytest.mark.parametrize(
    "line, error",
    [
        (
            '{"text": "abc", "spans": [{"start": 0, "end": 9, "label": "X"}]}',
            "answers.jsonl:2: span \\[0, 9\\) 'X' is outside the text",
        ),
        (
            '{"text": "abc", "spans": [{"start": "0", "end": 3, "label": "X"}]}',
            "answers.jsonl:2: span field 'start' must be int, got str",
        ),
        ('{"text": "abc", "spans": {"start": 0}}', "answers.jsonl:2: field 'spans' must be list, got dict"),
        ('{"text": 42}', "answers.jsonl:2: field 'text' must be str, got int"),
        ('{"text": "abc", "answer": "maybe"}', "answers.jsonl:2: answer must be accept, reject or ignore"),
        ('{"text": "abc", "spans": [{"start": 0, "end": 1, "label": "X", "text": "b"}]}', "says its text is 'b'"),
        ('{"text": "abc", "spans": [', "answers.jsonl:2: not valid JSON .*truncated"),
        ('["text"]', "answers.jsonl:2: expected a JSON object, got list"),
    ],
)
def test_bad_input_names_file_and_line(tmp_path, line, error):
    path = tmp_path / "answers.jsonl"
    path.write_text('{"text": "fine", "answer": "accept"}\n' + line + "\n", encoding="utf8")
    with pytest.raises(FormatError, match=error):
        load_corrections(path, NLP, "prodigy")


def test_bom_crlf_and_empty_files(tmp_path):
    path = tmp_path / "windows.jsonl"
    lines = [json.dumps(task(spans=[(9, 13, "BRAND")])), json.dumps(task(text="Zara\r\nagain"))]
    path.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(lines).encode("utf8") + b"\r\n")
    docs, _stats = load_corrections(path, NLP)  # format detected despite the BOM
    assert spans_of(docs[0]) == [(9, 13, "BRAND")] and docs[1].text == "Zara\r\nagain"
    (tmp_path / "empty.jsonl").write_text("\n\n", encoding="utf8")
    with pytest.raises(FormatError, match="empty.jsonl:1: the file is empty"):
        load_corrections(tmp_path / "empty.jsonl", NLP, "prodigy")


def test_empty_text_is_counted(tmp_path):
    docs, stats = load(tmp_path, [task(text=""), task(text="ok")])
    assert len(docs) == 1 and stats.dropped == {"empty text": 1}


@pytest.mark.parametrize(
    "record, fmt",
    [
        ({"text": "a b", "spans": [{"start": 0, "end": 1, "label": "X"}]}, "prodigy"),  # "label" only inside spans
        ({"text": "a b", "accept": ["X"]}, "prodigy"),
        ({"text": "a b", "label": [[0, 1, "X"]]}, "doccano"),
        ({"text": "a b", "entities": [], "cats": ["X"]}, "doccano"),
    ],
)
def test_format_detection_looks_at_top_level_fields(tmp_path, record, fmt):
    from spacy_distill.formats import detect_format

    srsly.write_jsonl(tmp_path / "x.jsonl", [record])
    assert detect_format(tmp_path / "x.jsonl") == fmt
