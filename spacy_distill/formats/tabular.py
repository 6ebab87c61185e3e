"""CSV / TSV corpora: a text column plus a label column (text classification)
and/or a column of character offsets (span detection, as in SemEval toxic
spans: a JSON list of character indices, or of [start, end] pairs).

Columns are named by header, or by 0-based index for files without a header
(e.g. GermEval 2018: text_column "0", label_column "1").
"""

import csv
import io
import json
from functools import partial
from pathlib import Path
from typing import Any, Iterator, List, Optional

from .common import Correction, FormatError, SpanAnn, read_text
from .registry import Format, register

OPTIONS = ("text_column", "label_column", "spans_column", "span_label")


def read(
    path: Path,
    delimiter: str = ",",
    text_column: str = "text",
    label_column: Optional[str] = None,
    spans_column: Optional[str] = None,
    span_label: str = "SPAN",
) -> Iterator[Correction]:
    quoting = csv.QUOTE_MINIMAL if delimiter == "," else csv.QUOTE_NONE
    reader = csv.reader(io.StringIO(read_text(path), newline=""), delimiter=delimiter, quoting=quoting)
    columns = [c for c in (text_column, label_column, spans_column) if c is not None]
    if all(c.isdigit() for c in columns):
        index = {c: int(c) for c in columns}
    else:
        header = next(reader)
        missing = [c for c in columns if c not in header]
        if missing:
            raise FormatError(f"{path}:1: no column {missing[0]!r} (columns: {header})")
        index = {c: header.index(c) for c in columns}
    width = max(index.values()) + 1
    for row in reader:
        source = f"{path}:{reader.line_num}"
        if not row:
            continue
        if len(row) < width:
            raise FormatError(f"{source}: expected at least {width} fields, got {len(row)}")
        correction = Correction(source, row[index[text_column]], key=source)
        if label_column is not None:
            correction.cats = {row[index[label_column]]: 1.0}
        if spans_column is not None:
            correction.spans = offsets_to_spans(row[index[spans_column]], span_label, source)
        else:
            correction.spans = None if label_column is not None else []
        yield correction


def offsets_to_spans(value: str, label: str, source: str) -> List[SpanAnn]:
    """Spans from a JSON list of character indices (runs become spans) or of [start, end] pairs."""
    try:
        offsets: Any = json.loads(value)
    except ValueError:
        raise FormatError(f"{source}: the spans column is not a JSON list: {value!r:.60}") from None
    if not isinstance(offsets, list):
        raise FormatError(f"{source}: the spans column must be a JSON list, got {value!r:.60}")
    if all(isinstance(o, list) and len(o) == 2 and all(isinstance(x, int) for x in o) for o in offsets):
        return [SpanAnn(start, end, label) for start, end in offsets]
    if not all(isinstance(o, int) and not isinstance(o, bool) for o in offsets):
        raise FormatError(
            f"{source}: the spans column must list character indices or [start, end] pairs: {value!r:.60}"
        )
    spans: List[SpanAnn] = []
    for i in sorted(set(offsets)):
        if spans and spans[-1].end == i:
            spans[-1].end = i + 1
        else:
            spans.append(SpanAnn(i, i + 1, label))
    return spans


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
