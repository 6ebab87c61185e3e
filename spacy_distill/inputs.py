"""Read raw texts for annotation: .jsonl, .txt (one doc per line) or .csv.

Each record keeps its line number so that every error and every skipped
record can name the file and line it came from.
"""

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, Optional

import srsly

from .errors import InputError


@dataclass
class Record:
    line: int
    text: str
    meta: Dict[str, Any] = field(default_factory=dict)


OnError = Optional[Callable[[int, InputError], None]]


def read_records(path: Path, text_field: str = "text", on_error: OnError = None) -> Iterator[Record]:
    """Records of a .jsonl, .txt or .csv file, in file order.

    on_error: called with the line and the InputError of each malformed record, and reading goes on
        (default: raise the error).
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file not found")
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        yield from _read_jsonl(path, text_field, on_error)
    elif suffix == ".txt":
        with path.open(encoding="utf-8-sig", newline=None) as f:
            for i, line in enumerate(f, start=1):
                yield Record(i, line.rstrip("\n"))
    elif suffix == ".csv":
        yield from _read_csv(path, text_field, on_error)
    else:
        raise InputError(f"{path}: unsupported input type {suffix!r}; use .jsonl, .txt or .csv")


def _read_jsonl(path: Path, text_field: str, on_error: OnError) -> Iterator[Record]:
    with path.open(encoding="utf-8-sig", newline=None) as f:
        for i, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                yield parse_jsonl_line(path, i, line, text_field)
            except InputError as e:
                if on_error is None:
                    raise
                on_error(i, e)


def parse_jsonl_line(path: Path, i: int, line: str, text_field: str) -> Record:
    """The record on line `i` of a JSONL file; InputError naming the file and line if it is malformed."""
    try:
        obj = srsly.json_loads(line)
    except ValueError as e:
        raise InputError(f"{path}:{i}: not valid JSON ({e})") from None
    if not isinstance(obj, dict):
        raise InputError(f"{path}:{i}: expected a JSON object, got {type(obj).__name__}")
    if text_field not in obj:
        raise InputError(f"{path}:{i}: no field {text_field!r} (fields: {sorted(obj)})")
    text = obj[text_field]
    if not isinstance(text, str):
        raise InputError(f"{path}:{i}: field {text_field!r} must be a string, got {type(text).__name__}")
    meta = obj.get("meta") if isinstance(obj.get("meta"), dict) else {}
    return Record(i, text, meta)


def _read_csv(path: Path, text_field: str, on_error: OnError) -> Iterator[Record]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames is None:
            return
        if text_field not in reader.fieldnames:
            raise InputError(f"{path}:1: no column {text_field!r} (columns: {reader.fieldnames})")
        first_line = reader.line_num + 1
        for row in reader:
            if None in row:
                error = InputError(f"{path}:{first_line}: more fields than the header has")
                if on_error is None:
                    raise error
                on_error(first_line, error)
                first_line = reader.line_num + 1
                continue
            text = row.pop(text_field) or ""
            yield Record(first_line, text, {k: v for k, v in row.items() if v not in (None, "")})
            first_line = reader.line_num + 1
