"""Files written whole or not at all, and read back: the one place for the temporary-file dance.

Every writer puts its bytes in `NAME.partial-PID` next to the target and renames it into place
(`os.replace` is atomic), so a process killed at any point leaves either the old file or the
new one, never half of one; a write that fails removes its partial file (a killed one cannot:
`annotate` removes those of dead processes). JSON is written with `json`, not srsly: srsly's ujson writes 1.914
as 1.9139999.
"""

import contextlib
import json
import os
from pathlib import Path
from typing import Any, Iterator, List

from spacy.tokens import Doc, DocBin
from spacy.vocab import Vocab


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary path to write to; renamed to `path` when the block ends without an error."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.partial-{os.getpid()}")
    try:
        yield tmp
    except BaseException:
        tmp.unlink(missing_ok=True)  # a failed write leaves nothing behind
        raise
    os.replace(tmp, path)


def write_text_atomic(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf8")


def write_json_atomic(path: Path, data: Any, ensure_ascii: bool = False) -> None:
    """Indented JSON and a final newline (ensure_ascii: escape non-ASCII characters)."""
    write_text_atomic(path, json.dumps(data, indent=2, ensure_ascii=ensure_ascii) + "\n")


def write_docs_atomic(path: Path, docs: List[Doc]) -> None:
    """A .spacy DocBin with the docs' user_data."""
    with atomic_path(path) as tmp:
        DocBin(docs=docs, store_user_data=True).to_disk(tmp)


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf8"))


def read_docs(path: Path, vocab: Vocab) -> List[Doc]:
    return list(DocBin().from_disk(path).get_docs(vocab))


def count_docs(path: Path) -> int:
    """How many docs a .spacy DocBin holds (without making them)."""
    return len(DocBin().from_disk(path))
