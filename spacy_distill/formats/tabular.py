"""CSV / TSV corpora: a text column plus a label column (text classification)
and/or a column of character offsets (span detection, as in SemEval toxic
spans: a JSON list of character indices, or of [start, end] pairs).

Columns are named by header, or by 0-based index for files without a header
(e.g. GermEval 2018: text_column "0", label_column "1"). A quote that is never
closed rejects the row it opens (named by its line) and reading goes on with the
next line; fields may be as long as a text may be.
"""

import csv
import io
import json
from functools import partial
from pathlib import Path
from typing import Any, Iterator, List, Optional

from .common import Correction, FormatError, Record, Rejected, SpanAnn, guarded, lines_of, read_text
from .registry import Format, register

OPTIONS = ("text_column", "label_column", "spans_column", "span_label")
FIELD_LIMIT = 2**31 - 1  # csv's default (131,072 characters) is shorter than many texts
MAX_ERRORS = 100  # unbalanced quotes before a file counts as unreadable


def read(
    path: Path,
    delimiter: str = ",",
    text_column: str = "text",
    label_column: Optional[str] = None,
    spans_column: Optional[str] = None,
    span_label: str = "SPAN",
) -> Iterator[Record]:
    csv.field_size_limit(max(csv.field_size_limit(), FIELD_LIMIT))
    rows = _rows(path, delimiter)
    columns = [c for c in (text_column, label_column, spans_column) if c is not None]
    if all(c.isdigit() for c in columns):
        index = {c: int(c) for c in columns}
    else:
        line, header = next(rows, (1, []))
        if isinstance(header, Rejected):
            raise FormatError(header.message)
        missing = [c for c in columns if c not in header]
        if missing:
            raise FormatError(f"{path}:{line}: no column {missing[0]!r} (columns: {header})")
        index = {c: header.index(c) for c in columns}
    settings = (index, text_column, label_column, spans_column, span_label)
    for line, row in rows:
        source = f"{path}:{line}"
        if isinstance(row, Rejected):
            yield row
        elif row:
            yield guarded(source, row_to_correction, row, source, settings)


def _rows(path: Path, delimiter: str) -> Iterator[Any]:
    """(first line, fields) of each row; a row with a quote never closed is Rejected, and reading resumes after it."""
    lines = lines_of(read_text(path))
    quoting = csv.QUOTE_MINIMAL if delimiter == "," else csv.QUOTE_NONE
    offset, errors = 0, 0
    while offset < len(lines):
        text = "\n".join(lines[offset:])
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quoting=quoting, strict=True)
        first = 1
        try:
            for row in reader:
                yield offset + first, row
                first = reader.line_num + 1
            return
        except csv.Error as e:
            errors += 1
            line = offset + first
            if errors > MAX_ERRORS:
                raise FormatError(f"{path}:{line}: more than {MAX_ERRORS} rows with unbalanced quotes") from None
            yield line, Rejected(f"{path}:{line}", f"{path}:{line}: {_csv_problem(e)}")
            offset = line  # the next line (0-based index of line + 1)


def _csv_problem(error: csv.Error) -> str:
    text = str(error)
    if "unexpected end of data" in text:
        return 'a quote (") opens a field here and is never closed; quote whole fields and double inner quotes ("")'
    return (
        f'a quoted field starting here does not end properly ({text}); quote whole fields and double inner quotes ("")'
    )


def row_to_correction(row: List[str], source: str, settings: tuple) -> Correction:
    index, text_column, label_column, spans_column, span_label = settings
    width = max(index.values()) + 1
    if len(row) < width:
        raise FormatError(f"{source}: expected at least {width} fields, got {len(row)}")
    text = row[index[text_column]]
    correction = Correction(source, text, key=source)
    if label_column is not None:
        label = row[index[label_column]].strip()
        if not label:
            raise FormatError(f"{source}: the label column {label_column!r} is empty")
        correction.cats = {label: 1.0}
    if spans_column is not None:
        correction.spans = offsets_to_spans(row[index[spans_column]], span_label, source, len(text))
    else:
        correction.spans = None if label_column is not None else []
    return correction


def offsets_to_spans(value: str, label: str, source: str, length: Optional[int] = None) -> List[SpanAnn]:
    """Spans from a JSON list of character indices (runs become spans) or of [start, end] pairs."""
    try:
        offsets: Any = json.loads(value)
    except (ValueError, RecursionError):
        raise FormatError(f"{source}: the spans column is not a JSON list: {value!r:.60}") from None
    if not isinstance(offsets, list):
        raise FormatError(f"{source}: the spans column must be a JSON list, got {value!r:.60}")
    if offsets and all(isinstance(o, list) for o in offsets):
        return [_pair(o, label, source, length) for o in offsets]
    if not all(_is_int(o) for o in offsets):
        raise FormatError(
            f"{source}: the spans column must list character indices or [start, end] pairs: {value!r:.60}"
        )
    spans: List[SpanAnn] = []
    for i in sorted(set(offsets)):
        if length is not None and not 0 <= i < length:
            raise FormatError(f"{source}: character index {i} is outside the text (length {length})")
        if spans and spans[-1].end == i:
            spans[-1].end = i + 1
        else:
            spans.append(SpanAnn(i, i + 1, label))
    return spans


def _pair(pair: List[Any], label: str, source: str, length: Optional[int]) -> SpanAnn:
    if len(pair) != 2 or not all(_is_int(x) for x in pair):
        raise FormatError(f"{source}: the spans column pair {pair!r:.40} is not [start, end] (two integers)")
    start, end = pair
    if not 0 <= start < end or (length is not None and end > length):
        raise FormatError(
            f"{source}: the spans column pair [{start}, {end}] is not a range in the text (length {length}); "
            "expected 0 <= start < end <= length"
        )
    return SpanAnn(start, end, label)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


for _name, _delimiter in (("csv", ","), ("tsv", "\t")):
    register(
        Format(
            _name,
            partial(read, delimiter=_delimiter),
            None,
            suffix=f".{_name}",
            description=f"{_name.upper()} corpus (text and label/spans columns), read only",
            options=OPTIONS,
        )
    )
