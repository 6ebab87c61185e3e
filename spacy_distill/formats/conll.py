"""CoNLL / BIO files (token, optional columns, IOB tag; blank line between
sentences), read with spaCy's own `spacy convert` converter.

Each line is checked first so that an error names its line; whitespace-only
lines count as sentence breaks (WNUT-17 uses a lone tab). One doc per
sentence, or per `-DOCSTART-` section when the file has them.
"""

import re
from pathlib import Path
from typing import Iterator, List

from spacy.training.converters import conll_ner_to_docs

from .common import Correction, FormatError, SpanAnn, read_text
from .registry import Format, register

TAG = re.compile(r"^(O|[BIELSU]-\S+)$")
DOC_DELIMITER = "-DOCSTART- -X- O O"
SUFFIXES = (".conll", ".iob", ".bio")
SNIFFED = (".tsv", ".txt")  # CoNLL if every line starts like token ... IOB-tag


def read(path: Path) -> Iterator[Correction]:
    lines = read_text(path).splitlines()
    has_docstart = any(line.split()[:1] == ["-DOCSTART-"] for line in lines)
    blocks: List[List[str]] = []  # sentences and -DOCSTART- markers
    starts: List[int] = []  # first line of each doc
    current, new_doc, n_columns = None, True, None
    for i, line in enumerate(lines, start=1):
        parts = line.split()
        if not parts or parts[0] == "-DOCSTART-":
            current = None
            if parts:
                blocks.append([DOC_DELIMITER])
                new_doc = True
            continue
        n_columns = n_columns or len(parts)
        if len(parts) != n_columns or len(parts) < 2 or not TAG.match(parts[-1]):
            raise FormatError(
                f"{path}:{i}: expected {max(n_columns, 2)} whitespace-separated columns ending in an IOB tag "
                f"(O, B-LABEL, I-LABEL), got {line!r:.80}"
            )
        if current is None:
            current = []
            blocks.append(current)
            if new_doc or not has_docstart:
                starts.append(i)
            new_doc = False
        current.append(" ".join(parts))
    data = "\n\n".join("\n".join(block) for block in blocks)
    docs = list(conll_ner_to_docs(data, n_sents=0 if has_docstart else 1, no_print=True))
    if len(docs) != len(starts):
        raise FormatError(f"{path}: found {len(starts)} documents but spaCy's converter made {len(docs)}")
    for doc, start in zip(docs, starts):
        yield Correction(
            source=f"{path}:{start}",
            text=doc.text,
            spans=[SpanAnn(e.start_char, e.end_char, e.label_) for e in doc.ents],
            tokens=[(t.text, t.idx, t.idx + len(t)) for t in doc],
            key=f"{path}:{start}",
        )


def is_conll(path: Path) -> bool:
    """A file with a CoNLL suffix, or a .tsv/.txt file whose first 50 lines look like CoNLL."""
    suffix = path.suffix.lower()
    if path.is_dir() or suffix not in SUFFIXES + SNIFFED:
        return False
    if suffix in SUFFIXES:
        return True
    lines = [line.split() for line in read_text(path).splitlines()[:50] if line.strip()]
    return all(len(parts) >= 2 and TAG.match(parts[-1]) for parts in lines if parts[0] != "-DOCSTART-")


FORMAT = register(
    Format(
        "conll",
        read,
        None,
        suffix=".conll",
        description="CoNLL / BIO corpus (token ... IOB tag), read only",
        detect_file=is_conll,
        priority=40,
    )
)
