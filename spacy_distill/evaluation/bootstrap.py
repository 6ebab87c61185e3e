"""How sure are the scores? Bootstrap intervals over docs, and paired comparisons of systems.

Each system's docs are scored once (`scoring.doc_counts`: tp, fp, fn per doc and label, as
spaCy's scorer counts them). A resample draws the gold docs with replacement (numpy, seeded);
its F is recomputed from the summed counts (micro F for spans, macro F over the labels for
categories: the headline score `evaluate` reports). Every system is scored on the SAME
resamples, so a comparison is paired: the difference a - b is computed per resample.

- f_ci: the percentile interval of F over the resamples (95%: the 2.5th and 97.5th percentiles).
- a comparison's ci: the same interval of F(a) - F(b); "a beats b" only when it excludes 0.
- p_value: two-sided bootstrap p-value of the difference, p = min(1, 2 * min(k_le + 1, k_ge + 1)
  / (R + 1)), where k_le (k_ge) counts the R resamples whose difference is <= 0 (>= 0): the
  smallest 1 - confidence at which the percentile interval would exclude 0 (with the usual +1
  so that a p-value is never 0). Identical systems get 1.

The interval describes the test set's sampling noise only (which docs happen to be in it), not
the noise of training (another seed can give another student): give spread over seeds for that.
"""

import time
from itertools import combinations
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy

from ..errors import InputError
from ..scoring import doc_counts
from ..task import Task

METHOD = "percentile bootstrap over docs, paired (all systems on the same resamples)"
MAX_CELLS = 4_000_000  # resample weights held at once (resamples x docs): bounds the memory


def check_options(resamples: int, confidence: float) -> None:
    if resamples < 0:
        raise InputError(f"--bootstrap must be 0 (no intervals) or a number of resamples, got {resamples}")
    if not 0.0 < confidence < 1.0:
        raise InputError(f"--confidence must be between 0 and 1 (e.g. 0.95), got {confidence}")


def f_scores(sums: numpy.ndarray, macro: bool) -> Tuple[numpy.ndarray, numpy.ndarray]:
    """(headline F, F per label) from summed counts [..., label, (tp, fp, fn)], as spaCy's PRFScore computes F."""

    def f(tp, fp, fn):
        p, r = tp / (tp + fp + 1e-100), tp / (tp + fn + 1e-100)
        return 2 * ((p * r) / (p + r + 1e-100))

    per_label = f(sums[..., 0], sums[..., 1], sums[..., 2])
    if macro:
        return per_label.sum(axis=-1) / (sums.shape[-2] + 1e-100), per_label
    total = sums.sum(axis=-2)
    return f(total[..., 0], total[..., 1], total[..., 2]), per_label


def resampled_f(
    counts: Dict[str, numpy.ndarray], macro: bool, resamples: int, seed: int
) -> Dict[str, Tuple[numpy.ndarray, numpy.ndarray]]:
    """Per system, F and F per label on each of the same `resamples` resamples of the docs."""
    n_docs = next(iter(counts.values())).shape[0]
    rng = numpy.random.default_rng(seed)
    flat = {name: c.reshape(n_docs, -1).astype(numpy.float64) for name, c in counts.items()}
    chunk = max(1, MAX_CELLS // max(1, n_docs))
    parts: Dict[str, List[Tuple[numpy.ndarray, numpy.ndarray]]] = {name: [] for name in counts}
    for start in range(0, resamples, chunk):
        size = min(chunk, resamples - start)
        weights = rng.multinomial(n_docs, numpy.full(n_docs, 1.0 / n_docs), size=size).astype(numpy.float64)
        for name, c in counts.items():
            sums = (weights @ flat[name]).reshape(size, *c.shape[1:])
            parts[name].append(f_scores(sums, macro))
    return {
        name: (numpy.concatenate([p[0] for p in ps]), numpy.concatenate([p[1] for p in ps]))
        for name, ps in parts.items()
    }


def interval(values: numpy.ndarray, confidence: float) -> List[float]:
    alpha = 1.0 - confidence
    lo, hi = numpy.quantile(values, [alpha / 2, 1 - alpha / 2])
    return [round(float(lo), 6), round(float(hi), 6)]


def p_value(delta: numpy.ndarray) -> float:
    k_le, k_ge = int((delta <= 0).sum()), int((delta >= 0).sum())
    return round(min(1.0, 2 * min(k_le + 1, k_ge + 1) / (len(delta) + 1)), 6)


def clear(ci: Sequence[float]) -> bool:
    """The interval of a difference excludes 0."""
    return ci[0] > 0 or ci[1] < 0


def compare(a: str, b: str, delta_f: float, delta: numpy.ndarray, confidence: float) -> Dict[str, Any]:
    ci = interval(delta, confidence)
    verdict = "no clear difference" if not clear(ci) else f"{a} beats {b}" if ci[0] > 0 else f"{b} beats {a}"
    return {"delta_f": delta_f, "ci": ci, "p_value": p_value(delta), "clear": clear(ci), "verdict": verdict}


def paired_bootstrap(
    docs: Dict[str, Sequence[Any]],
    gold: Sequence[Any],
    task: Task,
    results: Dict[str, Dict[str, Any]],
    resamples: int,
    seed: int,
    confidence: float,
) -> Tuple[List[Dict[str, Any]], Dict[str, Any]]:
    """Add "f_ci" to every system in `results` (and to its per-label entries); return the paired
    comparisons of every pair of systems and a description of the method."""
    start = time.perf_counter()
    counted = {name: doc_counts(system_docs, gold, task) for name, system_docs in docs.items()}
    labels: List[str] = []
    for system_labels, _ in counted.values():
        labels += [label for label in system_labels if label not in labels]
    counts = {}
    for name, (system_labels, c) in counted.items():  # one label order for all systems
        aligned = numpy.zeros((c.shape[0], len(labels), 3), dtype=c.dtype)
        aligned[:, [labels.index(label) for label in system_labels]] = c
        counts[name] = aligned
    count_seconds = time.perf_counter() - start
    macro = task.kind.startswith("textcat")
    f = resampled_f(counts, macro, resamples, seed)
    for name, entry in results.items():
        if entry.get("f") is not None:
            entry["f_ci"] = interval(f[name][0], confidence)
        for label, scores in entry.get("per_label", {}).items():
            scores["f_ci"] = interval(f[name][1][:, labels.index(label)], confidence)
    comparisons = []
    for a, b in combinations(results, 2):
        fa, fb = results[a].get("f"), results[b].get("f")
        if fa is None or fb is None:
            continue
        comparison = {"a": a, "b": b, **compare(a, b, fa - fb, f[a][0] - f[b][0], confidence)}
        shared = [label for label in results[a].get("per_label", {}) if label in results[b].get("per_label", {})]
        comparison["per_label"] = {
            label: compare(
                a,
                b,
                results[a]["per_label"][label]["f"] - results[b]["per_label"][label]["f"],
                f[a][1][:, labels.index(label)] - f[b][1][:, labels.index(label)],
                confidence,
            )
            for label in shared
        }
        comparisons.append(comparison)
    info = {
        "resamples": resamples,
        "seed": seed,
        "confidence": confidence,
        "unit": "doc",
        "method": METHOD,
        "count_seconds": round(count_seconds, 3),
        "seconds": round(time.perf_counter() - start - count_seconds, 3),
    }
    return comparisons, info


def find(metrics: Dict[str, Any], a: str, b: str) -> Optional[Dict[str, Any]]:
    """The comparison of a with b (delta_f = F(a) - F(b)), turned around if it was stored as b vs a."""
    for c in metrics.get("comparisons", []):
        if (c["a"], c["b"]) == (a, b):
            return c
        if (c["a"], c["b"]) == (b, a):
            return flip(c)
    return None


def flip(c: Dict[str, Any]) -> Dict[str, Any]:
    out = {**c, "delta_f": 0.0 - c["delta_f"], "ci": [0.0 - c["ci"][1], 0.0 - c["ci"][0]]}  # 0.0 - x: no -0.0
    if "a" in c:
        out["a"], out["b"] = c["b"], c["a"]
    if "per_label" in c:
        out["per_label"] = {label: flip(v) for label, v in c["per_label"].items()}
    return out
