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

from . import argilla, conll, doccano, labelstudio, prodigy, tabular
from .common import Correction, FormatError, read_text, schema_of

EXPORTERS = {"prodigy": prodigy, "labelstudio": labelstudio, "doccano": doccano, "argilla": argilla}
READERS: Dict[str, Callable[..., Iterator[Correction]]] = {
    "prodigy": prodigy.read,
    "labelstudio": labelstudio.read,
    "doccano": doccano.read,
    "argilla": argilla.read,
    "conll": conll.read,
    "csv": partial(tabular.read, delimiter=","),
    "tsv": partial(tabular.read, delimiter="\t"),
}
TABULAR_OPTIONS = ("text_column", "label_column", "spans_column", "span_label")


def detect_format(path: Path) -> str:
    """The format of a corrections file, from its suffix and its first record."""
    path = Path(path)
    if path.is_dir():
        if (path / "records.json").exists():
            return "argilla"
        raise FormatError(f"{path}: a directory without records.json (an Argilla export)")
    suffix = path.suffix.lower()
    if suffix in (".conll", ".conllu", ".iob", ".bio"):
        return "conll"
    if suffix not in (".json", ".jsonl"):
        raise FormatError(f"{path}: cannot tell the format from the suffix {suffix!r}; pass it (--from)")
    head = read_text(path).lstrip()[:20000]
    if head.startswith("["):
        if '"annotations"' in head or '"predictions"' in head or '"data"' in head:
            return "labelstudio"
        if '"fields"' in head or '.responses"' in head:
            return "argilla"
        raise FormatError(f"{path}: a JSON array, but neither Label Studio tasks nor Argilla records")
    first = head.split("\n", 1)[0]
    if any(f'"{key}"' in first for key in ("answer", "_input_hash", "tokens", "accept", "_view_id")):
        return "prodigy"
    if any(f'"{key}"' in first for key in ("label", "labels", "entities", "cats")):
        return "doccano"
    if '"spans"' in first:
        return "prodigy"
    raise FormatError(f"{path}:1: cannot tell the format of this record; pass it (--from)")


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
    schema = schema_of(docs, labels)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    written = EXPORTERS[to].write(docs, output_path, schema)
    n_spans = sum(len(d.ents) if schema.span_key is None else len(d.spans.get(schema.span_key, [])) for d in docs)
    return {
        "docs": len(docs),
        "spans": n_spans if schema.has_spans else 0,
        "span_labels": schema.span_labels,
        "cat_labels": schema.cat_labels,
        "span_key": schema.span_key,
        "written": [str(p) for p in written],
    }
