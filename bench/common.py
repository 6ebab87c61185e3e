"""Helpers the benchmarks share (and scripts/make_task_assets.py): toxic-span offsets to spans,
and seeded test/train samples without shared texts.

The stub OpenAI-compatible server the benchmarks use is the tests' (`tests.openai_stub`).
"""

import random
import time
from pathlib import Path
from typing import Callable, Dict, List, Tuple

from spacy.tokens import Doc

ROOT = Path(__file__).resolve().parent.parent
TOXIC_LABEL = "TOXIC"


def char_runs(offsets: List[int]) -> List[Tuple[int, int]]:
    """(start, end) of each run of consecutive character offsets."""
    runs: List[List[int]] = []
    for offset in sorted(set(offsets)):
        if runs and offset == runs[-1][1]:
            runs[-1][1] = offset + 1
        else:
            runs.append([offset, offset + 1])
    return [(start, end) for start, end in runs]


def toxic_char_spans(text: str, offsets: List[int]) -> List[Dict]:
    """SemEval-2021 toxic offsets as spans: one per run, trimmed of surrounding whitespace (empty ones dropped).

    The same spans as assets/toxic_spans (scripts/make_task_assets.py)."""
    spans = []
    for start, end in char_runs(offsets):
        end = min(end, len(text))
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if start < end:
            spans.append({"start": start, "end": end, "label": TOXIC_LABEL})
    return spans


def unique(docs: List[Doc]) -> List[Doc]:
    """Docs with a non-blank text, each text once, in order."""
    seen, out = set(), []
    for doc in docs:
        if doc.text.strip() and doc.text not in seen:
            seen.add(doc.text)
            out.append(doc)
    return out


def test_and_train(splits: Dict[str, List[Doc]], n_test: int, rng: random.Random) -> Tuple[List[Doc], List[Doc]]:
    """A seeded test sample of n_test docs, and the shuffled training docs whose texts are not in it."""
    test = unique(splits["test"])
    rng.shuffle(test)
    test = test[:n_test]
    test_texts = {d.text for d in test}
    train = [d for d in unique(splits["train"]) if d.text not in test_texts]
    rng.shuffle(train)
    return test, train


def best_seconds(run: Callable[[], object], repeats: int) -> float:
    """The fastest of `repeats` timed calls of run(), in seconds."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best
