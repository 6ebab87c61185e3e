"""Outside formats: export teacher docs for review, read corrections back.

Every format is a `Format` in the registry (`formats.registry`): review tools
(prodigy, labelstudio, doccano, argilla) go both ways; corpus formats (conll,
csv, tsv) and the review database are read only. Each module of this package
registers its format when imported, and other packages add theirs through the
entry-point group `spacy_distill_formats`. `read_corrections` yields the
`Correction` records of one file; `export_docs` writes teacher docs.
"""

import importlib
import pkgutil
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

from spacy.tokens import DocBin
from spacy.vocab import Vocab

from ..task import doc_spans, teacher_task
from .common import Correction, FormatError, Record, Rejected, read_json_array, read_jsonl, read_text
from .registry import JSON_SUFFIXES, Format, all_formats, by_priority, exporters, formats, get_format, readers, register

for _module in pkgutil.iter_modules(__path__):  # every module here registers its format
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = [
    "Correction",
    "Format",
    "FormatError",
    "Rejected",
    "detect_format",
    "export_docs",
    "exporters",
    "formats",
    "get_format",
    "read_corrections",
    "readers",
    "register",
]


def detect_format(path: Path) -> str:
    """The format of a corrections file, from the file itself and the keys of its first record."""
    path = Path(path)
    ordered = by_priority()
    for fmt in ordered:
        if fmt.detect_file is not None and fmt.detect_file(path):
            return fmt.name
    if path.is_dir():
        raise FormatError(f"{path}: a folder without records.json (as an Argilla dataset folder has)")
    suffix = path.suffix.lower()
    if suffix not in JSON_SUFFIXES:
        raise FormatError(f"{path}: cannot tell the format from the suffix {suffix!r}; pass it (--from)")
    records = read_json_array(path) if read_text(path).lstrip().startswith("[") else read_jsonl(path)
    line, first = next(((n, r) for n, r in records if isinstance(r, dict)), (1, {}))
    for fmt in ordered:
        if fmt.detect_record is not None and fmt.detect_record(first):
            return fmt.name
    raise FormatError(f"{path}:{line}: cannot tell the format from the fields {sorted(first)}; pass it (--from)")


def read_corrections(path: Path, fmt: str = "auto", **options: Any) -> Iterator[Record]:
    """The records of one file: a Correction each, or Rejected (file, line, what is wrong) for a bad one.

    options: those the format takes, e.g. the tabular column settings.
    """
    path = Path(path)
    if not path.exists():
        raise FormatError(f"{path}: file not found")
    fmt = detect_format(path) if fmt == "auto" else fmt
    found = all_formats()
    if fmt not in found:
        raise FormatError(f"Unknown format {fmt!r}; choose one of auto, {', '.join(found)}")
    reader = found[fmt]
    return reader.read(path, **{k: v for k, v in options.items() if k in reader.options and v is not None})


def export_docs(input_path: Path, output_path: Path, *, to: str, labels: Optional[List[str]] = None) -> Dict[str, Any]:
    """Write the teacher docs in INPUT (.spacy) as review tasks for the tool `to`; return counts.

    labels: offered to the reviewers even if the teacher never used them.
    """
    writer = get_format(to, write=True)
    input_path, output_path = Path(input_path), Path(output_path)
    if not input_path.exists():
        raise FormatError(f"{input_path}: file not found")
    try:
        docs = list(DocBin().from_disk(input_path).get_docs(Vocab()))
    except ValueError as e:
        raise FormatError(f"{input_path}: not a .spacy DocBin ({e})") from None
    schema = teacher_task(docs, labels)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    written = writer.write(docs, output_path, schema)
    n_spans = sum(len(doc_spans(d, schema.span_key)) for d in docs)
    return {
        "docs": len(docs),
        "spans": n_spans if schema.has_spans else 0,
        "span_labels": schema.span_labels,
        "cat_labels": schema.cat_labels,
        "span_key": schema.span_key,
        "written": [str(p) for p in written],
    }
