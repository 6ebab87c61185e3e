"""Text similarity for the loop's near-duplicate guard: the word sets of two texts, and their overlap.

Words are those of the teacher's TF-IDF similarity (`teacher.similarity.words`).
"""

from typing import FrozenSet

from ..teacher.similarity import words


def token_set(text: str) -> FrozenSet[str]:
    return frozenset(words(text))


def jaccard(a: FrozenSet[str], b: FrozenSet[str]) -> float:
    """|a & b| / |a | b| (two empty sets: 1.0, they are the same text as far as words go)."""
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)
