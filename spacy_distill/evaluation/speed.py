"""Speed and size: every system runs on the same texts in the same process.

Words are the gold docs' tokens, so words/s is comparable across systems
whatever tokenizer each one uses. Fast systems take the best of a few passes
(the least disturbed by other work on the machine); an LLM gets one pass.
Sizes are in MB of 10^6 bytes.
"""

import os
import platform
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from spacy.language import Language
from spacy.tokens import Doc


def run_pipe(
    nlp: Language, texts: Sequence[str], repeats: int = 1, batch_size: Optional[int] = None
) -> Tuple[List[Doc], List[float]]:
    """The docs of the first pass and the seconds of every pass."""
    docs: List[Doc] = []
    seconds: List[float] = []
    for i in range(max(1, repeats)):
        start = time.perf_counter()
        out = list(nlp.pipe(texts, batch_size=batch_size))
        seconds.append(time.perf_counter() - start)
        if i == 0:
            docs = out
    return docs, seconds


def speed(n_docs: int, n_words: int, seconds: Optional[float]) -> Dict[str, Optional[float]]:
    if not seconds:
        return {"docs_per_second": None, "words_per_second": None, "seconds": seconds}
    return {
        "docs_per_second": round(n_docs / seconds, 3),
        "words_per_second": round(n_words / seconds, 3),
        "seconds": round(seconds, 6),
    }


def size_mb(path: Optional[Path]) -> Optional[float]:
    """Size on disk of a file, or of everything under a folder, in MB; None if unknown."""
    if path is None:
        return None
    path = Path(path)
    if path.is_file():
        total = path.stat().st_size
    elif path.is_dir():
        total = sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    else:
        return None
    return round(total / 1e6, 6)


def machine() -> Dict[str, Any]:
    """What the speeds were measured on."""
    import spacy

    return {
        "cpus": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "spacy": spacy.__version__,
        "load_average": _load_average(),
    }


def _load_average() -> Optional[List[float]]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None
