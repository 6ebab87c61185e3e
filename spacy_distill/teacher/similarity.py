"""TF-IDF similarity of texts: which corrected docs are most like the one the teacher is asked about.

Words are lowercased runs of letters and digits, so it needs no tokenizer and no model.
"""

import math
import re
from collections import Counter
from typing import Dict, List, Sequence

WORD = re.compile(r"\w+", re.UNICODE)


def words(text: str) -> List[str]:
    return WORD.findall(text.lower())


class TfidfIndex:
    """Cosine similarity of TF-IDF vectors (sublinear tf, smoothed idf) over a fixed set of texts."""

    def __init__(self, texts: Sequence[str]):
        self.counts = [Counter(words(t)) for t in texts]
        n = len(texts)
        df: Counter = Counter()
        for counts in self.counts:
            df.update(counts.keys())
        self.idf = {w: math.log((1 + n) / (1 + d)) + 1.0 for w, d in df.items()}
        self.default_idf = math.log(1 + n) + 1.0
        self.vectors = [self._vector(c) for c in self.counts]

    def _vector(self, counts: Counter) -> Dict[str, float]:
        vec = {w: (1 + math.log(c)) * self.idf.get(w, self.default_idf) for w, c in counts.items()}
        norm = math.sqrt(sum(v * v for v in vec.values())) or 1.0
        return {w: v / norm for w, v in vec.items()}

    def similarities(self, text: str) -> List[float]:
        query = self._vector(Counter(words(text)))
        return [sum(v * vec.get(w, 0.0) for w, v in query.items()) for vec in self.vectors]

    def most_similar(self, text: str, n: int, exclude_text: bool = True, texts: Sequence[str] = ()) -> List[int]:
        """Indices of the n most similar texts, best first (ties: earlier first).

        exclude_text: skip entries equal to `text` (given `texts`), so a doc is never its own example.
        """
        sims = self.similarities(text)
        order = sorted(range(len(sims)), key=lambda i: (-sims[i], i))
        if exclude_text and texts:
            order = [i for i in order if texts[i] != text]
        return order[:n]
