"""CoNLL / BIO files (token, optional columns, a tag; blank line between sentences).

Tags are IOB (O, B-, I-; an I- after O begins an entity, as spaCy's converter
reads it), or, in a file with any E-, S-, L- or U- tag, IOBES / BILUO (E- or L-
ends an entity, S- or U- is a one-token entity), checked strictly: an entity
that is not closed, or a tag that continues no entity, rejects its doc with
the line. Whitespace-only lines count
as sentence breaks (WNUT-17 uses a lone tab). One doc per sentence, or per
`-DOCSTART-` section when the file has them; a doc's text is its tokens joined
by single spaces.
"""

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, List, Optional, Tuple

from spacy.training.iob_utils import iob_to_biluo

from .common import Correction, FormatError, Record, Rejected, SpanAnn, lines_of, read_text
from .registry import Format, register

TAG = re.compile(r"^(O|[BIELSU]-\S+)$")
SUFFIXES = (".conll", ".iob", ".bio")
SNIFFED = (".tsv", ".txt")  # CoNLL if every line starts like token ... IOB-tag
IOBES_TO_BILUO = {"E": "L", "S": "U"}

Token = Tuple[str, str, int]  # word, tag, line


@dataclass
class RawDoc:
    start: int
    sentences: List[List[Token]] = field(default_factory=list)
    problem: Optional[str] = None


def read(path: Path) -> Iterator[Record]:
    docs = _raw_docs(path)
    iobes = any(tag[0] in "ELSU" for raw in docs for sentence in raw.sentences for _, tag, _ in sentence)
    for raw in docs:
        source = f"{path}:{raw.start}"
        if raw.problem is None:
            try:
                yield _correction(raw, source, iobes)
                continue
            except FormatError as e:
                raw.problem = str(e)
        yield Rejected(source, raw.problem)


def _raw_docs(path: Path) -> List[RawDoc]:
    lines = lines_of(read_text(path))
    rows = [line.split() for line in lines]
    has_docstart = any(parts[:1] == ["-DOCSTART-"] for parts in rows)
    widths = Counter(len(parts) for parts in rows if len(parts) >= 2 and TAG.match(parts[-1]))
    n_columns = widths.most_common(1)[0][0] if widths else 2
    docs: List[RawDoc] = []
    sentence: Optional[List[Token]] = None
    new_doc = True
    for i, parts in enumerate(rows, start=1):
        if not parts or parts[0] == "-DOCSTART-":
            sentence = None
            new_doc = new_doc or bool(parts)
            continue
        if sentence is None:
            if new_doc or not has_docstart:
                docs.append(RawDoc(i))
            sentence = []
            docs[-1].sentences.append(sentence)
            new_doc = False
        if len(parts) != n_columns or not TAG.match(parts[-1]):
            if docs[-1].problem is None:
                docs[-1].problem = (
                    f"{path}:{i}: expected {n_columns} whitespace-separated columns ending in a tag "
                    f"(O, B-LABEL, I-LABEL; or E-/S-, L-/U-), got {lines[i - 1]!r:.80}"
                )
            continue
        sentence.append((parts[0], parts[-1], i))
    return docs


def _correction(raw: RawDoc, source: str, iobes: bool) -> Correction:
    path = source.rsplit(":", 1)[0]
    words = [word for sentence in raw.sentences for word, _, _ in sentence]
    offsets, pos = [], 0
    for word in words:
        offsets.append((pos, pos + len(word)))
        pos += len(word) + 1
    spans: List[SpanAnn] = []
    first = 0
    for sentence in raw.sentences:
        for start, end, label in _entities(sentence, path, iobes):
            spans.append(SpanAnn(offsets[first + start][0], offsets[first + end][1], label))
        first += len(sentence)
    return Correction(
        source=source,
        text=" ".join(words),
        spans=spans,
        tokens=[(word, start, end) for word, (start, end) in zip(words, offsets)],
        key=source,
    )


def _entities(sentence: List[Token], path: str, iobes: bool) -> List[Tuple[int, int, str]]:
    """(first token, last token, label) of a sentence's entities; FormatError naming the line of a bad tag.

    iobes: the file's tags are IOBES/BILUO (it has E-, S-, L- or U- tags), so B- must be closed.
    """
    tags = [tag for _, tag, _ in sentence]
    if not iobes:
        tags = iob_to_biluo(tags)
    else:
        tags = [IOBES_TO_BILUO.get(tag[0], tag[0]) + tag[1:] for tag in tags]
    found, open_at = [], None
    for i, (tag, (_, original, line)) in enumerate(zip(tags, sentence)):
        prefix, label = tag[0], tag[2:]
        if prefix in "IL" and (open_at is None or tags[open_at][2:] != label):
            raise FormatError(f"{path}:{line}: the tag {original} continues no entity {label} (no B-{label} before it)")
        if prefix in "BUO" and open_at is not None:
            opened = sentence[open_at]
            raise FormatError(
                f"{path}:{opened[2]}: the entity {opened[1]} is not closed (E-/L-) before {original} on line {line}"
            )
        if prefix == "B":
            open_at = i
        elif prefix in "LU":
            found.append((i if prefix == "U" else open_at, i, label))
            open_at = None
    if open_at is not None:
        opened = sentence[open_at]
        raise FormatError(f"{path}:{opened[2]}: the entity {opened[1]} is not closed (E-/L-) before the sentence ends")
    return found


def is_conll(path: Path) -> bool:
    """A file with a CoNLL suffix, or a .tsv/.txt file whose first 50 lines look like CoNLL."""
    suffix = path.suffix.lower()
    if path.is_dir() or suffix not in SUFFIXES + SNIFFED:
        return False
    if suffix in SUFFIXES:
        return True
    lines = [line.split() for line in lines_of(read_text(path))[:50] if line.strip()]
    return all(len(parts) >= 2 and TAG.match(parts[-1]) for parts in lines if parts[0] != "-DOCSTART-")


FORMAT = register(
    Format(
        "conll",
        read,
        None,
        suffix=".conll",
        description="CoNLL / BIO corpus (token ... IOB or IOBES tag), read only",
        detect_file=is_conll,
        priority=40,
    )
)
