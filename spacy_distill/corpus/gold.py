"""Gold docs from any file the package reads: a .spacy DocBin or corrections in any format."""

from pathlib import Path
from typing import Any, List, Sequence, Union

import spacy
from spacy.tokens import Doc, DocBin

from ..errors import InputError
from .corrections import load_corrections


def load_gold(paths: Union[str, Path, Sequence[Union[str, Path]]], lang: str = "en", **read_options: Any) -> List[Doc]:
    """Gold docs from a .spacy DocBin or any corrections file `spacy-distill import` reads; or from
    several such files (DocBins first, then the corrections files, merged as `import` merges them)."""
    paths = [Path(paths)] if isinstance(paths, (str, Path)) else [Path(p) for p in paths]
    for path in paths:
        if not path.exists():
            raise InputError(f"{path}: gold file not found")
    try:
        nlp = spacy.blank(lang)
    except ImportError:
        raise InputError(f"Unknown language {lang!r} (an ISO code spaCy supports, e.g. en, de)") from None
    docs: List[Doc] = []
    for path in paths:
        if path.suffix == ".spacy":
            try:
                docs.extend(DocBin().from_disk(path).get_docs(nlp.vocab))
            except Exception as e:  # msgpack/zlib errors say little; name the file
                raise InputError(f"{path}: not a readable .spacy DocBin ({e})") from None
    corrections = [path for path in paths if path.suffix != ".spacy"]
    why = ""
    if corrections:
        loaded, stats = load_corrections(corrections, nlp, **read_options)
        docs.extend(loaded)
        answers = stats.answers
        if answers.get("none"):
            why = f" ({answers['none']} of {stats.records} records have no answer: tasks not annotated yet)"
    if not docs:
        raise InputError(f"{', '.join(map(str, paths))}: no gold docs{why}")
    return docs
