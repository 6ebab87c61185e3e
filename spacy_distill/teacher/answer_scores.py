"""The generative teacher's confidence: probabilities of answer lines from token log-probabilities.

A model that knows its tokens' log-probabilities returns a `ScoredAnswer`: the answer's
text (a str, so spacy-llm passes it on unchanged) with `token_logprobs`, a list of
[start char, log-probability] per token of the answer; None where the model gave none.
A line's probability is the product of its tokens' probabilities: how likely the model
was to write exactly that line there ("Levi's | FASHION_BRAND", or "none"). A span
suggested by a line gets the line's probability; a doc's confidence is its least likely
line. Where no log-probabilities exist every score is None, never a made-up number.

Kept on the doc (user_data, so a DocBin keeps them):
- "span_scores": [start_char, end_char, label, probability or None] per suggested span
  (the key the scoring teacher uses too, `confidence.SPAN_SCORES_KEY`);
- "cat_scores": {label: probability or None} per category the teacher chose.
"""

import math
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

from spacy.tokens import Doc

from .confidence import CAT_SCORES_KEY, SPAN_SCORES_KEY, lowest

TokenLogprobs = List[Tuple[int, float]]


class ScoredAnswer(str):
    """An answer's text, with the log-probability of each of its tokens (or None)."""

    token_logprobs: Optional[TokenLogprobs]

    def __new__(cls, text: str, token_logprobs: Optional[Sequence[Sequence[float]]] = None) -> "ScoredAnswer":
        answer = super().__new__(cls, text)
        answer.token_logprobs = None if token_logprobs is None else [(int(o), float(lp)) for o, lp in token_logprobs]
        return answer


def token_offsets(pieces: Sequence[bytes]) -> List[int]:
    """The start char of each token, from the bytes of each token (a char may span two tokens:
    it counts from the token that completes it)."""
    offsets, seen = [], b""
    for piece in pieces:
        offsets.append(len(seen.decode("utf-8", errors="ignore")))
        seen += piece
    return offsets


def segment_probability(answer: str, start: int, end: int) -> Optional[float]:
    """Probability of the answer's chars [start, end): the product over the tokens whose first
    visible char lies there (tokens of only whitespace, such as a line break, count for no segment)."""
    logprobs = getattr(answer, "token_logprobs", None)
    if logprobs is None:
        return None
    total, bounds = 0.0, [o for o, _ in logprobs[1:]] + [len(answer)]
    for (offset, logprob), token_end in zip(logprobs, bounds):
        text = answer[offset:token_end]
        visible = offset + len(text) - len(text.lstrip())
        if text.strip() and start <= visible < end:
            total += logprob
    return math.exp(total)


def lines_with_offsets(text: str) -> Iterator[Tuple[str, int]]:
    """(line, start char) of each line, as str.splitlines cuts them."""
    offset = 0
    for line in text.splitlines(keepends=True):
        yield line.rstrip("\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"), offset
        offset += len(line)


def shard_offsets(shards: Sequence[Doc]) -> List[int]:
    """Where each shard's text starts in the doc `Doc.from_docs(shards)` makes (a space is
    added after a shard that does not end in whitespace)."""
    offsets, position = [], 0
    for shard in shards:
        offsets.append(position)
        position += len(shard.text)
        if len(shard) and not shard[-1].whitespace_:
            position += 1
    return offsets


def merge_span_scores(shards: List[Doc]) -> Optional[List[List[Any]]]:
    """The span scores of a doc spacy-llm cut into shards, in the joined doc's char offsets."""
    if not any(SPAN_SCORES_KEY in shard.user_data for shard in shards):
        return None
    merged = []
    for shard, offset in zip(shards, shard_offsets(shards)):
        for start, end, label, p in shard.user_data.get(SPAN_SCORES_KEY, []):
            merged.append([start + offset, end + offset, label, p])
    return merged


def merge_cat_scores(shards: List[Doc]) -> Optional[Dict[str, Optional[float]]]:
    """The category scores of a sharded doc: per label, its lowest over the shards that chose it."""
    scores: Dict[str, List[Optional[float]]] = {}
    for shard in shards:
        for label, p in shard.user_data.get(CAT_SCORES_KEY, {}).items():
            scores.setdefault(label, []).append(p)
    return {label: lowest(values) for label, values in scores.items()} if scores else None
