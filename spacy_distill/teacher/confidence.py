"""Probabilities from answer log-probabilities, overlap resolution, and scores kept on the doc.

Kept on the doc (user_data, so a DocBin keeps them):
- "span_scores": [start_char, end_char, label, probability] of each suggested span;
- "scored_candidates": the same for every candidate scored, kept or not (a threshold can be
  chosen again later without asking the LLM).
"""

import math
from typing import Dict, List, Optional, Sequence, Tuple

from spacy.tokens import Doc, Span

SPAN_SCORES_KEY = "span_scores"
CANDIDATES_KEY = "scored_candidates"
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


def score_field(doc: Doc, span: Span) -> Dict[str, float]:
    """{"score": probability} of a span the scoring teacher suggested; {} for any other span."""
    for start, end, label, p in doc.user_data.get(SPAN_SCORES_KEY, []):
        if (start, end, label) == (span.start_char, span.end_char, span.label_):
            return {"score": p}
    return {}
