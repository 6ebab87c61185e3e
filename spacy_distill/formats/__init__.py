"""Outside formats: export teacher docs for review, read corrections back.

Review tools (prodigy, labelstudio, doccano, argilla) go both ways; corpus
formats (conll, csv, tsv) are read only. `read_corrections` yields the
`Correction` records of one file; `export_docs` writes teacher docs.
"""
from functools import partial
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional

from spacy.tokens import DocBin
from spacy.vocab import Vocab

from . import argilla, conll, doccano, labelstudio, prodigy, review_db, tabular
from ..task import doc_spans, teacher_task
from .common import Correction, FormatError, read_json_array, read_jsonl, read_text

EXPORTERS = {"prodigy": prodigy, "labelstudio": labelstudio, "doccano": doccano, "argilla": argilla}
READERS: Dict[str, Callable[..., Iterator[Correction]]] = {
    "prodigy": prodigy.read,
    "labelstudio": labelstudio.read,
    "doccano": doccano.read,
    "argilla": argilla.read,
    "conll": conll.read,
    "csv": partial(tabular.read, delimiter=","),
    "tsv": partial(tabular.read, delimiter="\t"),
    "review": review_db.read,  # the SQLite database of `spacy-distill review`
}
TABULAR_OPTIONS = ("text_column", "label_column", "spans_column", "span_label")


def detect_format(path: Path) -> str:
    """The format of a corrections file, from its suffix and the keys of its first record."""
    path = Path(path)
    if path.is_dir():
        if (path / "records.json").exists():
            return "argilla"
        raise FormatError(f"{path}: a directory without records.json (an Argilla export)")
    if review_db.is_review_db(path):
        return "review"
    suffix = path.suffix.lower()
    if suffix in (".conll", ".iob", ".bio"):
        return "conll"
    if suffix in (".tsv", ".txt"):  # CoNLL if every line starts like token ... IOB-tag
        lines = [line.split() for line in read_text(path).splitlines()[:50] if line.strip()]
        if all(len(parts) >= 2 and conll.TAG.match(parts[-1]) for parts in lines if parts[0] != "-DOCSTART-"):
            return "conll"
    if suffix not in (".json", ".jsonl"):
        raise FormatError(f"{path}: cannot tell the format from the suffix {suffix!r}; pass it (--from)")
    records = read_json_array(path) if read_text(path).lstrip().startswith("[") else read_jsonl(path)
    line, first = next(iter(records), (1, {}))
    keys = set(first) if isinstance(first, dict) else set()
    if {"data", "annotations", "predictions"} & keys:
        return "labelstudio"
    if "fields" in keys or any(k.endswith(".responses") for k in keys):
        return "argilla"
    if {"answer", "_input_hash", "tokens", "accept", "options", "_view_id", "spans"} & keys:
        return "prodigy"
    if {"label", "labels", "entities", "cats"} & keys:
        return "doccano"
    raise FormatError(f"{path}:{line}: cannot tell the format from the fields {sorted(keys)}; pass it (--from)")


def read_corrections(path: Path, fmt: str = "auto", **options: Any) -> Iterator[Correction]:
    """Correction records of one file (options: the tabular column settings)."""
    path = Path(path)
    if not path.exists():
        raise FormatError(f"{path}: file not found")
    fmt = detect_format(path) if fmt == "auto" else fmt
    if fmt not in READERS:
        raise FormatError(f"Unknown format {fmt!r}; choose one of auto, {', '.join(READERS)}")
    if fmt in ("csv", "tsv"):
        options = {k: v for k, v in options.items() if k in TABULAR_OPTIONS and v is not None}
        return READERS[fmt](path, **options)
    return READERS[fmt](path)


def export_docs(input_path: Path, output_path: Path, to: str, labels: Optional[List[str]] = None) -> Dict[str, Any]:
    """Write the teacher docs in INPUT (.spacy) as review tasks for the tool `to`; return counts."""
    if to not in EXPORTERS:
        raise FormatError(f"Unknown export format {to!r}; choose one of {', '.join(EXPORTERS)}")
    input_path, output_path = Path(input_path), Path(output_path)
    if not input_path.exists():
        raise FormatError(f"{input_path}: file not found")
    try:
        docs = list(DocBin().from_disk(input_path).get_docs(Vocab()))
    except ValueError as e:
        raise FormatError(f"{input_path}: not a .spacy DocBin ({e})") from None
    schema = teacher_task(docs, labels)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    written = EXPORTERS[to].write(docs, output_path, schema)
    n_spans = sum(len(doc_spans(d, schema.span_key)) for d in docs)
    return {
        "docs": len(docs),
        "spans": n_spans if schema.has_spans else 0,
        "span_labels": schema.span_labels,
        "cat_labels": schema.cat_labels,
        "span_key": schema.span_key,
        "written": [str(p) for p in written],
    }
