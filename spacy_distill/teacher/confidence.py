"""Probabilities from answer log-probabilities, overlap resolution, and scores kept on the doc.

Kept on the doc (user_data, so a DocBin keeps them):
- "span_scores": [start_char, end_char, label, probability] of each suggested span;
- "scored_candidates": the same for every candidate scored, kept or not (a threshold can be
  chosen again later without asking the LLM);
- "cat_scores": {label: probability} of the categories a generative teacher chose (its doc.cats
  stay 0/1); the scoring textcat teacher's doc.cats are the probabilities themselves;
- "teacher": {"confidence": ...}: the doc's confidence, set by the generative teacher.

A probability is None where the model gave no log-probabilities: never a made-up number. The
readers below (`span_score_map`, `chosen_cats`, `doc_confidence`) are what exports, `evaluate`'s
calibration, the review order and the loop's Uncertainty.v2 use.
"""

import math
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Tuple

from spacy.tokens import Doc, Span

if TYPE_CHECKING:
    from ..task import Task

SPAN_SCORES_KEY = "span_scores"
CANDIDATES_KEY = "scored_candidates"
CAT_SCORES_KEY = "cat_scores"
SpanKey = Tuple[int, int, str]  # start_char, end_char, label
ScoredSpan = Tuple[int, int, str, float]  # start, end (tokens or chars), label, probability


def yes_probability(log_probs: Dict[str, float], yes: str, no: str) -> float:
    """P(yes) / (P(yes) + P(no)) from the two answers' log-probabilities."""
    diff = log_probs[no] - log_probs[yes]
    if diff > 700:  # exp would overflow
        return 0.0
    return 1.0 / (1.0 + math.exp(diff))


def normalised(log_probs: Dict[str, float]) -> Dict[str, float]:
    """Softmax over the answers' log-probabilities: each answer's share of their total probability."""
    top = max(log_probs.values())
    weights = {key: math.exp(value - top) for key, value in log_probs.items()}
    total = sum(weights.values())
    return {key: weight / total for key, weight in weights.items()}


def resolve_overlaps(scored: Sequence[ScoredSpan], threshold: float) -> List[ScoredSpan]:
    """The spans at or above threshold, highest probability first, dropping any that overlaps one kept;
    in document order. Ties go to the longer span, then the earlier one."""
    ranked = sorted((s for s in scored if s[3] >= threshold), key=lambda s: (-s[3], -(s[1] - s[0]), s[0]))
    kept: List[ScoredSpan] = []
    for span in ranked:
        if all(span[1] <= k[0] or k[1] <= span[0] for k in kept):
            kept.append(span)
    return sorted(kept)


def set_scored_spans(doc: Doc, candidates: Sequence[ScoredSpan], threshold: float, spans_key: Optional[str]) -> None:
    """Put the kept candidates (token offsets) on the doc: doc.ents or doc.spans[spans_key] (with
    the spancat convention attrs["scores"]), and every candidate's score in user_data."""
    kept = resolve_overlaps(candidates, threshold)
    spans = [Span(doc, start, end, label=label) for start, end, label, _ in kept]
    if spans_key is None:
        doc.set_ents(spans, default="outside")
    else:
        doc.spans[spans_key] = spans
        doc.spans[spans_key].attrs["scores"] = [p for *_, p in kept]
    doc.user_data[SPAN_SCORES_KEY] = [[s.start_char, s.end_char, s.label_, p] for s, (*_, p) in zip(spans, kept)]
    doc.user_data[CANDIDATES_KEY] = [
        [doc[start].idx, doc[end - 1].idx + len(doc[end - 1]), label, p] for start, end, label, p in candidates
    ]


def rethreshold(doc: Doc, threshold: float, spans_key: Optional[str]) -> Doc:
    """A copy of a scored doc with the spans its stored candidates give at another threshold."""
    out = doc.copy()
    scored = []
    for start_char, end_char, label, p in doc.user_data.get(CANDIDATES_KEY, []):
        span = out.char_span(start_char, end_char)
        if span is not None:
            scored.append((span.start, span.end, label, p))
    set_scored_spans(out, scored, threshold, spans_key)
    return out


def score_field(doc: Doc, span: Span) -> Dict[str, Optional[float]]:
    """{"score": probability or None} of a span the teacher scored; {} for a span without an entry."""
    scores = span_score_map(doc)
    key = (span.start_char, span.end_char, span.label_)
    return {"score": scores[key]} if key in scores else {}


def lowest(values: Sequence[Optional[float]]) -> Optional[float]:
    """The least of the probabilities; None if any is unknown (or there are none)."""
    if not values or any(v is None for v in values):
        return None
    return min(values)


def probability(value: Any) -> Optional[float]:
    """A probability as a float in [0, 1], or None for anything else (None, bools, strings, NaN)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        return None
    return min(max(float(value), 0.0), 1.0)


def span_score_map(doc: Doc) -> Dict[SpanKey, Optional[float]]:
    """(start_char, end_char, label) -> probability (None: unknown) of each span in user_data["span_scores"]."""
    entries = doc.user_data.get(SPAN_SCORES_KEY) or []
    return {(int(e[0]), int(e[1]), str(e[2])): probability(e[3]) for e in entries if len(e) == 4}


def suggested_span_scores(doc: Doc, spans: Sequence[Span]) -> List[Tuple[int, int, str, Optional[float]]]:
    """(start_char, end_char, label, probability or None) of each suggested span."""
    scores = span_score_map(doc)
    return [(s.start_char, s.end_char, s.label_, scores.get((s.start_char, s.end_char, s.label_))) for s in spans]


def soft_cats(doc: Doc) -> bool:
    """doc.cats are probabilities (some strictly between 0 and 1), not a generative teacher's hard 0/1."""
    return any(0.0 < float(v) < 1.0 for v in doc.cats.values())


def chosen_cats(doc: Doc, exclusive: bool) -> Dict[str, Optional[float]]:
    """The categories the teacher chose -> their probability (None: unknown).

    user_data["cat_scores"] when given; else soft doc.cats (the best class if exclusive, those at
    0.5 or more if multi-label) with their own scores; else doc.cats' positive labels, unscored."""
    given = doc.user_data.get(CAT_SCORES_KEY)
    if isinstance(given, dict):
        return {str(label): probability(p) for label, p in given.items()}
    cats = {label: float(v) for label, v in doc.cats.items()}
    if exclusive and soft_cats(doc):
        best = max(cats, key=lambda label: cats[label])
        return {best: cats[best]}
    chosen = {label: v for label, v in cats.items() if v >= 0.5}
    return chosen if soft_cats(doc) else {label: None for label in chosen}


def doc_confidence(
    doc: Doc, spans: Optional[Sequence[Span]] = None, exclusive: Optional[bool] = None
) -> Optional[float]:
    """The doc's confidence in [0, 1], or None if unknown.

    user_data["teacher"]["confidence"] when set (the generative teacher's); else the least sure of
    the doc's decisions: with scored candidates (the scoring teacher), p of each kept span and 1 - p of
    each candidate left out; else the lowest probability of the suggested `spans` and of the chosen
    categories (when `exclusive` is given: True or False for exclusive or multi-label categories).
    None when any of those is unknown or there is nothing scored."""
    teacher = doc.user_data.get("teacher")
    given = probability(teacher.get("confidence")) if isinstance(teacher, dict) else None
    if given is not None:
        return given
    found: List[Optional[float]] = []
    candidates = doc.user_data.get(CANDIDATES_KEY) or []
    if candidates and spans is not None:
        kept = {(s.start_char, s.end_char, s.label_) for s in spans}
        for start, end, label, p in candidates:
            p = probability(p)
            found.append(None if p is None else p if (start, end, label) in kept else 1.0 - p)
    elif spans:
        found += [p for *_, p in suggested_span_scores(doc, spans)]
    if exclusive is not None:
        found += list(chosen_cats(doc, exclusive).values())
    return lowest(found)


def teacher_confidence(doc: Doc, task: "Task") -> Optional[float]:
    """`doc_confidence` of a teacher doc for the task's spans and/or categories."""
    from ..task import doc_spans

    spans = doc_spans(doc, task.span_key) if task.has_spans else None
    return doc_confidence(doc, spans, task.exclusive if task.cat_labels else None)
