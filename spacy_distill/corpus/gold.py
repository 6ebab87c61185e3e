"""Gold docs from any file the package reads: a .spacy DocBin or corrections in any format."""

from pathlib import Path
from typing import Any, List

import spacy
from spacy.tokens import Doc, DocBin

from ..errors import InputError
from .corrections import load_corrections


def load_gold(path: Path, lang: str = "en", **read_options: Any) -> List[Doc]:
    """Gold docs from a .spacy DocBin, or from any corrections file `spacy-distill import` reads."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: gold file not found")
    try:
        nlp = spacy.blank(lang)
    except ImportError:
        raise InputError(f"Unknown language {lang!r} (an ISO code spaCy supports, e.g. en, de)") from None
    if path.suffix == ".spacy":
        try:
            docs = list(DocBin().from_disk(path).get_docs(nlp.vocab))
        except Exception as e:  # msgpack/zlib errors say little; name the file
            raise InputError(f"{path}: not a readable .spacy DocBin ({e})") from None
    else:
        docs, _ = load_corrections(path, nlp, **read_options)
    if not docs:
        raise InputError(f"{path}: no gold docs")
    return docs
