"""Is the teacher's confidence worth anything? Confidence bins against precision on gold.

Each suggestion the teacher scored (a span, or a category it chose) is one item: its probability
(`spacy_distill.teacher.confidence`) and whether it is right (a span: its (start, end, label) is in
the gold; a category: it is among the gold doc's categories). The items fall into equal-width bins
over [0, 1] (the last one takes 1.0); per bin: n, the mean confidence and the precision. A
calibrated teacher's precision equals its confidence in every bin. The summary is the expected
calibration error, ECE = sum over bins of n_bin / n * |precision - mean confidence| (0 is
perfect). Suggestions without a probability (the model gave no log-probabilities) are counted,
never binned.
"""

from typing import Any, Dict, List, Optional, Sequence, Tuple

from spacy.tokens import Doc

from ..task import Task, doc_spans, positive_cats, span_tuples
from ..teacher.confidence import chosen_cats, suggested_span_scores

Item = Tuple[Optional[float], bool]  # probability (None: unknown), right on gold


def items(docs: Sequence[Optional[Doc]], gold: Sequence[Doc], task: Task) -> List[Item]:
    """(probability, right) of each suggestion of the system's docs (None docs: no suggestions)."""
    out: List[Item] = []
    for doc, ref in zip(docs, gold):
        if doc is None:
            continue
        if task.has_spans:
            truth = set(span_tuples(ref, task.span_key))
            out += [
                (p, (s, e, label) in truth)
                for s, e, label, p in suggested_span_scores(doc, doc_spans(doc, task.span_key))
            ]
        if task.cat_labels:
            truth_cats = set(positive_cats(ref))
            out += [(p, label in truth_cats) for label, p in chosen_cats(doc, task.exclusive).items()]
    return out


def calibration(docs: Sequence[Optional[Doc]], gold: Sequence[Doc], task: Task, n_bins: int = 5) -> Dict[str, Any]:
    """The calibration table of one system: bins, ECE, how many suggestions had no probability."""
    found = items(docs, gold, task)
    scored = [(p, right) for p, right in found if p is not None]
    what = "spans" if task.has_spans else "categories"
    result: Dict[str, Any] = {
        "what": what if not (task.has_spans and task.cat_labels) else "spans and categories",
        "n_scored": len(scored),
        "n_unscored": len(found) - len(scored),
        "bins": [],
        "ece": None,
    }
    if not scored:
        return result
    for b in range(n_bins):
        lo, hi = b / n_bins, (b + 1) / n_bins
        inside = [(p, r) for p, r in scored if lo <= p < hi or (b == n_bins - 1 and p == 1.0)]
        entry: Dict[str, Any] = {"lo": round(lo, 4), "hi": round(hi, 4), "n": len(inside)}
        entry["mean_confidence"] = round(sum(p for p, _ in inside) / len(inside), 4) if inside else None
        entry["precision"] = round(sum(r for _, r in inside) / len(inside), 4) if inside else None
        result["bins"].append(entry)
    result["ece"] = round(
        sum(b["n"] / len(scored) * abs(b["precision"] - b["mean_confidence"]) for b in result["bins"] if b["n"]), 4
    )
    result["precision"] = round(sum(r for _, r in scored) / len(scored), 4)
    result["mean_confidence"] = round(sum(p for p, _ in scored) / len(scored), 4)
    return result


def calibration_lines(metrics: Dict[str, Any]) -> List[Tuple[str, str, Optional[Tuple[List[str], List[List[str]]]]]]:
    """Per system: (name, a sentence, (header, rows) of its table or None)."""
    out = []
    for name, c in (metrics.get("calibration") or {}).items():
        unscored = f"; {c['n_unscored']} without a probability (not binned)" if c["n_unscored"] else ""
        if not c["n_scored"]:
            total = c["n_unscored"]
            out.append(
                (name, f"{name}: no confidences ({total} suggested {c['what']}, none with a probability).", None)
            )
            continue
        sentence = (
            f"{name}: {c['n_scored']} scored {c['what']}{unscored}; mean confidence {c['mean_confidence']:.3f}, "
            f"precision {c['precision']:.3f}, expected calibration error {c['ece']:.3f} (0 is calibrated)."
        )
        header = ["confidence", "n", "mean confidence", "precision"]
        rows = [
            [
                f"{b['lo']:.1f}-{b['hi']:.1f}",
                str(b["n"]),
                "-" if b["mean_confidence"] is None else f"{b['mean_confidence']:.3f}",
                "-" if b["precision"] is None else f"{b['precision']:.3f}",
            ]
            for b in c["bins"]
        ]
        out.append((name, sentence, (header, rows)))
    return out
