"""Seeded fuzzing of `import` over every format: bad input gives a message with file and line, never a
traceback, and nothing it imports is wrong (Hypothesis, derandomized: the same cases on every run).

A case is a valid file with one to three mutations: a JSON value replaced by another (null, "", huge integers,
lone surrogates, nesting, wrong types) or a key deleted, or for CoNLL/CSV a line with odd tags,
quotes, separators and blanks. Checked on each: only the package's own errors, naming the file and
a line; every record counted (imported, not annotated, ignored or skipped); every gold label one the
file states, none empty; no doc made only of unanswered tasks.
"""

import json
import re
from pathlib import Path

import pytest
from corrections_helpers import NLP
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spacy_distill.corpus.corrections import load_corrections
from spacy_distill.errors import DistillError

FUZZ = settings(
    max_examples=150, derandomize=True, deadline=None, database=None, suppress_health_check=list(HealthCheck)
)
ODD_STRINGS = ["", " ", "\ud800", "\u2028", "B-X", "E-X", "S-X", "a\nb", '"', "BRAND", "POS"]
LEAVES = (
    st.none()
    | st.booleans()
    | st.sampled_from([0, 1, -1, 3, 2**63, 2**64 + 1, -(2**70)])
    | st.floats(allow_nan=False, width=32)
    | st.sampled_from(ODD_STRINGS)
    | st.text(max_size=6)
)
JSON_VALUES = st.recursive(
    LEAVES,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=8,
)
SPAN = {"start": 0, "end": 4, "label": "BRAND"}
BASES = {
    "prodigy": [
        {"text": "Zara is ok", "spans": [SPAN], "answer": "accept", "meta": {"id": 1}},
        {"text": "Nike too", "options": [{"id": "POS"}, {"id": "NEG"}], "accept": ["POS"], "answer": "reject"},
        {"text": "Gucci", "spans": [], "_input_hash": 3},
    ],
    "doccano": [{"text": "Zara is ok", "label": [[0, 4, "BRAND"]]}, {"text": "Nike", "label": []}],
    "labelstudio": [
        {
            "data": {"text": "Zara is ok", "meta": {"n": 1}},
            "annotations": [
                {
                    "result": [
                        {"from_name": "label", "type": "labels", "value": {"start": 0, "end": 4, "labels": ["BRAND"]}},
                        {"from_name": "category", "type": "choices", "value": {"choices": ["POS"]}},
                    ],
                    "completed_by": 1,
                    "was_cancelled": False,
                }
            ],
        },
        {"data": {"text": "Nike"}, "predictions": [{"result": []}]},
    ],
    "argilla": [
        {
            "id": "1",
            "fields": {"text": "Zara is ok"},
            "metadata": {"n": 1},
            "responses": {
                "entities": [{"value": [SPAN], "user_id": "u", "status": "submitted"}],
                "category": [{"value": "POS", "user_id": "u", "status": "submitted"}],
            },
        },
        {"id": "2", "fields": {"text": "Nike"}, "responses": {}},
    ],
}
ARGILLA_SETTINGS = {
    "questions": [
        {"name": "entities", "settings": {"type": "span", "field": "text", "options": [{"value": "BRAND"}]}},
        {"name": "category", "settings": {"type": "label_selection", "options": [{"value": "POS"}, {"value": "NEG"}]}},
    ]
}


def paths_of(value, prefix=()):
    """Every place in a JSON value: (path of keys/indices) for the value and each of its parts."""
    yield prefix
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        yield from paths_of(item, (*prefix, key))


def mutated(data, base):
    """The base records with one to three values replaced or keys deleted."""
    records = json.loads(json.dumps(base))
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        places = [p for p in paths_of(records) if p]
        if not places:
            break
        place = data.draw(st.sampled_from(places), label="place")
        parent = records
        for key in place[:-1]:
            parent = parent[key]
        if isinstance(parent, dict) and data.draw(st.booleans(), label="delete"):
            del parent[place[-1]]
        else:
            parent[place[-1]] = data.draw(JSON_VALUES, label="value")
    return records


def write_case(tmp_path: Path, fmt: str, records) -> Path:
    if fmt in ("prodigy", "doccano"):
        path = tmp_path / "case.jsonl"
        lines = [json.dumps(r) if isinstance(r, dict) else json.dumps(r) for r in records]
        path.write_text("\n".join(lines) + "\n", encoding="utf8")
    elif fmt == "labelstudio":
        path = tmp_path / "case.json"
        path.write_text(json.dumps(records, indent=1), encoding="utf8")
    else:
        path = tmp_path / "case"
        path.mkdir(exist_ok=True)
        (path / "settings.json").write_text(json.dumps(ARGILLA_SETTINGS), encoding="utf8")
        (path / "records.json").write_text(json.dumps(records, indent=1), encoding="utf8")
    return path


def check(path: Path, fmt: str, raw: str, **options):
    """Import with skip and with fail; assert the invariants; return the stats."""
    try:
        docs, stats = load_corrections(path, NLP, fmt, on_error="skip", **options)
    except DistillError as e:  # a file-level problem: the message names the file and a line
        assert path.name in str(e) and re.search(rf"{re.escape(path.name)}[^:]*:\d+", str(e)), str(e)
        return None
    assert stats.records == stats.skipped + sum(stats.answers.values())
    for record in stats.skipped_records:
        assert re.search(rf"{re.escape(path.name)}[^:]*:\d+: ", record["reason"]), record["reason"]
    for doc in docs:
        answers = doc.user_data["corrections"]["answers"]
        assert answers.get("accept") or answers.get("reject"), answers
        labels = [s.label_ for s in doc.ents] + [s.label_ for group in doc.spans.values() for s in group]
        labels += [label for label, value in doc.cats.items() if value >= 0.5]
        for label in labels:
            assert label.strip() and (label in raw or json.dumps(label)[1:-1] in raw), label
    try:
        strict, _ = load_corrections(path, NLP, fmt, **options)
        assert stats.skipped == 0 and len(strict) == len(docs)
    except DistillError as e:
        assert stats.skipped > 0 and f"{stats.skipped} bad record" in str(e)
    return stats


@pytest.mark.parametrize("fmt", sorted(BASES))
def test_fuzz_json_formats(tmp_path_factory, fmt):
    @FUZZ
    @given(data=st.data())
    def case(data):
        records = mutated(data, BASES[fmt])
        path = write_case(tmp_path_factory.mktemp(fmt), fmt, records)
        raw = "".join(p.read_text(encoding="utf8") for p in ([path] if path.is_file() else path.iterdir()))
        check(path, fmt, raw)

    case()


CONLL_TAGS = ["O", "B-X", "I-X", "E-X", "S-X", "L-Y", "U-Y", "B-", "X", "I-Y"]
CONLL_LINES = st.one_of(
    st.tuples(st.sampled_from(["Zara", "is", "ok", '"', "a,b"]), st.sampled_from(CONLL_TAGS)).map("\t".join),
    st.sampled_from(["", "\t", "-DOCSTART- -X- O O", "Zara\tB-X\tO", "Zara"]),
)


@FUZZ
@given(lines=st.lists(CONLL_LINES, min_size=1, max_size=12))
def test_fuzz_conll(tmp_path_factory, lines):
    path = tmp_path_factory.mktemp("conll") / "case.conll"
    raw = "\n".join(["Zara\tB-X", "is\tO", ""] + lines) + "\n"
    path.write_text(raw, encoding="utf8")
    stats = check(path, "conll", raw)
    if stats is not None and any(t[:2] in ("E-", "S-", "L-", "U-") for line in lines for t in line.split()[-1:]):
        assert stats.spans.get("X", 0) + stats.spans.get("Y", 0) + stats.skipped >= 1


CSV_FIELDS = st.sampled_from(["Nike is ok", '"Zara coat', "Gucci bag", "", "POS", '"a ""b"" c"', "x,y", "[0, 4]"])


@FUZZ
@given(rows=st.lists(st.lists(CSV_FIELDS, min_size=1, max_size=3), min_size=1, max_size=8))
def test_fuzz_csv(tmp_path_factory, rows):
    path = tmp_path_factory.mktemp("csv") / "case.csv"
    raw = "text,label\n" + "\n".join(",".join(row) for row in rows) + "\n"
    path.write_text(raw, encoding="utf8")
    stats = check(path, "csv", raw + raw.replace('""', '"'), label_column="label")  # labels as quoted or not
    if stats is not None:
        assert "" not in stats.categories and stats.docs <= len(rows)


@pytest.mark.parametrize("fmt", sorted(BASES))
def test_fuzz_file_bytes(tmp_path_factory, fmt):
    """The file cut short, or a character put anywhere (quotes, brackets, line breaks, NUL, BOM)."""

    @FUZZ
    @given(data=st.data())
    def case(data):
        path = write_case(tmp_path_factory.mktemp(fmt), fmt, BASES[fmt])
        target = path / "records.json" if path.is_dir() else path
        text = target.read_text(encoding="utf8")
        at = data.draw(st.integers(0, len(text)), label="at")
        insert = data.draw(st.sampled_from(['"', "{", "]", "\n", "\\", "\u2028", "\x00", ",", "\ufeff", "CUT"]))
        text = text[:at] if insert == "CUT" else text[:at] + insert + text[at:]
        target.write_text(text, encoding="utf8")
        raw = "".join(p.read_text(encoding="utf8") for p in ([path] if path.is_file() else path.iterdir()))
        check(path, fmt, raw)

    case()
