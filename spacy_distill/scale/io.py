"""The corpus in shards, a shard's records, and the records `apply` writes.

A shard is a range of lines (JSONL, TXT, CSV: a CSV record belongs to the shard of its first line)
or rows (Parquet) of one input file. A record's id is `FILE:LINE` (the file relative to the input
folder, the line or row counted from 1): stable across runs, so a rerun knows what is done.
Malformed records come back as rejections naming the file and line, never silently dropped.
"""

import json
from dataclasses import asdict, dataclass
from itertools import islice
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

from spacy.tokens import Doc

from ..errors import InputError
from ..files import atomic_path
from ..inputs import Record, parse_jsonl_line, read_records

INPUT_SUFFIXES = (".jsonl", ".txt", ".csv", ".parquet")
OUTPUT_SUFFIXES = (".jsonl", ".parquet")


@dataclass(frozen=True)
class Shard:
    index: int
    path: str
    name: str  # the file relative to the input folder, as record ids show it
    start: int  # first line (row for Parquet) of the shard, counted from 1
    stop: int  # one past the last

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)


def input_files(input_path: Path) -> List[Tuple[Path, str]]:
    """The input files (a file, or a folder's files in sorted order) with the names record ids use."""
    path = Path(input_path)
    if not path.exists():
        raise InputError(f"{path}: file or folder not found")
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in INPUT_SUFFIXES)
        if not files:
            raise InputError(f"{path}: no {', '.join(INPUT_SUFFIXES)} files in this folder")
        return [(p, p.relative_to(path).as_posix()) for p in files]
    if path.suffix.lower() not in INPUT_SUFFIXES:
        raise InputError(f"{path}: unsupported input type {path.suffix!r}; use {', '.join(INPUT_SUFFIXES)}")
    return [(path, path.name)]


def plan_shards(input_path: Path, shard_size: int) -> List[Shard]:
    """Every input file cut into shards of `shard_size` lines (rows), in input order."""
    if shard_size < 1:
        raise InputError(f"shard size must be at least 1, got {shard_size}")
    shards: List[Shard] = []
    for path, name in input_files(input_path):
        n = _count_units(path)
        for start in range(1, n + 1, shard_size):
            shards.append(Shard(len(shards), str(path), name, start, min(start + shard_size, n + 1)))
    return shards


def _count_units(path: Path) -> int:
    if path.suffix.lower() == ".parquet":
        return _pyarrow()[1].ParquetFile(path).metadata.num_rows
    try:  # the line breaks the readers split on (universal newlines)
        with path.open(encoding="utf-8-sig", newline="") as f:
            return sum(1 for _ in f)
    except UnicodeDecodeError as e:
        raise InputError(f"{path}: not UTF-8 text ({e})") from None


def read_shard(shard: Shard, text_field: str) -> Tuple[List[Record], List[Dict[str, Any]]]:
    """The shard's records and its rejections ({"file", "line", "error"}), in file order."""
    rejected: List[Dict[str, Any]] = []

    def reject(line: int, error: InputError) -> None:
        rejected.append({"file": shard.name, "line": line, "error": str(error)})

    path = Path(shard.path)
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        records = list(_parquet_records(shard, text_field, reject))
    elif suffix == ".csv":
        records = []
        for record in read_records(path, text_field, on_error=reject):
            if record.line >= shard.stop:
                break
            if record.line >= shard.start:
                records.append(record)
        rejected = [r for r in rejected if shard.start <= r["line"] < shard.stop]
    else:
        records = list(_line_records(shard, path, suffix == ".jsonl", text_field, reject))
    return records, rejected


def _line_records(shard: Shard, path: Path, is_jsonl: bool, text_field: str, reject) -> Iterator[Record]:
    with path.open(encoding="utf-8-sig", newline=None) as f:
        lines = islice(f, shard.start - 1, shard.stop - 1)
        for i, line in enumerate(lines, start=shard.start):
            if not is_jsonl:
                yield Record(i, line.rstrip("\n"))
            elif line.strip():
                try:
                    yield parse_jsonl_line(path, i, line, text_field)
                except InputError as e:
                    reject(i, e)


def _parquet_records(shard: Shard, text_field: str, reject) -> Iterator[Record]:
    file = _pyarrow()[1].ParquetFile(shard.path)
    if text_field not in file.schema_arrow.names:
        raise InputError(f"{shard.path}: no column {text_field!r} (columns: {file.schema_arrow.names})")
    row = 1
    for batch in file.iter_batches(batch_size=4096):
        if row >= shard.stop:
            break
        for values in batch.to_pylist():
            if shard.start <= row < shard.stop:
                text = values.pop(text_field)
                if isinstance(text, str):
                    meta = values.pop("meta", None)
                    meta = dict(meta) if isinstance(meta, dict) else {}
                    meta.update({k: v for k, v in values.items() if v not in (None, "")})
                    yield Record(row, text, meta)
                else:
                    reject(row, InputError(f"{shard.path}:{row}: column {text_field!r} must be a string, got {text!r}"))
            row += 1


def doc_record(doc: Doc, record_id: str, meta: Dict[str, Any]) -> Dict[str, Any]:
    """What `apply` writes for one doc: id, text, meta, entities, spans (with scores if any), categories."""
    spans = []
    for key, group in doc.spans.items():
        scores = group.attrs.get("scores")
        for i, span in enumerate(group):
            score = float(scores[i]) if scores is not None and i < len(scores) else None
            spans.append(
                {"key": key, "start": span.start_char, "end": span.end_char, "label": span.label_, "score": score}
            )
    return {
        "id": record_id,
        "text": doc.text,
        "meta": meta,
        "ents": [{"start": e.start_char, "end": e.end_char, "label": e.label_} for e in doc.ents],
        "spans": spans,
        "cats": {label: float(score) for label, score in doc.cats.items()},
    }


def write_output(parts: List[Path], output_path: Path) -> int:
    """Concatenate the shards' parts (JSONL, in order) into OUTPUT (.jsonl or .parquet), whole or not at all."""
    n = 0
    with atomic_path(output_path) as tmp:
        if output_path.suffix == ".parquet":
            pa, pq = _pyarrow()
            schema = _parquet_schema()
            with pq.ParquetWriter(tmp, schema) as writer:
                for part in parts:
                    rows = [_parquet_row(json.loads(line)) for line in _part_lines(part)]
                    writer.write_table(pa.Table.from_pylist(rows, schema=schema))
                    n += len(rows)
        else:
            with tmp.open("w", encoding="utf8") as out:
                for part in parts:
                    for line in _part_lines(part):
                        out.write(line + "\n")
                        n += 1
    return n


def _part_lines(part: Path) -> Iterator[str]:
    with part.open(encoding="utf8") as f:
        next(f)  # the shard's summary
        for line in f:
            yield line.rstrip("\n")


def _parquet_row(record: Dict[str, Any]) -> Dict[str, Any]:
    """Parquet keeps meta as a JSON string (its keys differ from record to record)."""
    return {**record, "meta": json.dumps(record["meta"], ensure_ascii=False, default=str)}


def _parquet_schema():
    pa, _ = _pyarrow()
    span = [("start", pa.int64()), ("end", pa.int64()), ("label", pa.string())]
    return pa.schema(
        [
            ("id", pa.string()),
            ("text", pa.string()),
            ("meta", pa.string()),
            ("ents", pa.list_(pa.struct(span))),
            ("spans", pa.list_(pa.struct([("key", pa.string()), *span, ("score", pa.float64())]))),
            ("cats", pa.map_(pa.string(), pa.float64())),
        ]
    )


def _pyarrow():
    """pyarrow and pyarrow.parquet: Parquet files need the optional `ray` extra."""
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        raise InputError("Parquet files need pyarrow: pip install 'spacy-distill[ray]'") from None
    return pyarrow, pyarrow.parquet
