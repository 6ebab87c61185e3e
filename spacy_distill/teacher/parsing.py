"""Response parsers that lose nothing silently.

spacy-llm's span parsers search each listed span only after the previous match
(an entity listed out of text order is dropped), and drop spans that are not
in the text without a word. These parsers find every span wherever it is,
accept both spacy-llm's chain-of-thought lines (``1. text | True | LABEL |
reason``) and compact lines (``text | LABEL``), and record in each doc's
``user_data["spacy_distill"]`` what could not be used and why (an empty
answer is a parse failure, not "no entities"). `annotate` adds those records
up into the run's stats; `merge_records` joins the records of a doc's shards.
Where the model gave token log-probabilities (`answer_scores.ScoredAnswer`), each
suggestion gets its line's probability and the record its answer's `confidence`.
"""

import functools
import re
from typing import Any, Dict, Iterable, List, Optional, Tuple

from spacy.tokens import Doc, Span
from spacy.util import filter_spans
from spacy_llm.registry import registry

from ..errors import ConfigError
from .answer_scores import lines_with_offsets, segment_probability
from .confidence import CAT_SCORES_KEY, SPAN_SCORES_KEY, lowest
from .spacy_llm import builtin_textcat_parse

USER_DATA_KEY = "spacy_distill"
NONE_ANSWERS = {"", "none", "==none==", "no entities", "end", "-"}
_NUMBERING = re.compile(r"^\s*(?:\d+\s*[.)]|[-*•])\s+")


def diagnostics(doc: Doc) -> Dict[str, Any]:
    """The parse record of a doc (created empty if missing)."""
    return doc.user_data.setdefault(USER_DATA_KEY, {"parse_failure": False, "unparsed_lines": [], "dropped_spans": []})


def merge_records(shards: List[Doc]) -> Optional[Dict[str, Any]]:
    """One parse record for a doc that spacy-llm cut into shards (None if no shard has one).

    Lines and drops add up; the doc is a parse failure if any shard's answer was unreadable.
    """
    records = [shard.user_data[USER_DATA_KEY] for shard in shards if USER_DATA_KEY in shard.user_data]
    if not records:
        return None
    merged = {
        "parse_failure": any(r.get("parse_failure") for r in records),
        "unparsed_lines": [line for r in records for line in r.get("unparsed_lines", [])],
        "dropped_spans": [span for r in records for span in r.get("dropped_spans", [])],
        "confidence": lowest([r.get("confidence") for r in records]),
    }
    if len(shards) > 1:
        merged["shards"] = len(shards)
    return merged


def split_span_line(line: str) -> Optional[Tuple[str, str, bool]]:
    """(text, label, is_entity) from one answer line, or None if it is not a span line."""
    parts = [p.strip() for p in _NUMBERING.sub("", line.strip(), count=1).split("|")]
    if len(parts) == 2:
        text, label = parts
        is_entity = True
    elif len(parts) in (3, 4):
        text, flag, label = parts[:3]
        if flag.lower() not in ("true", "false"):
            return None
        is_entity = flag.lower() == "true"
    else:
        return None
    text = text.strip("\"'`")
    if not text or not label:
        return None
    return text, label, is_entity


def find_span_offsets(text: str, phrase: str, case_sensitive: bool) -> List[Tuple[int, int]]:
    """Every (start, end) where phrase occurs in text, in text order."""
    haystack, needle = (text, phrase) if case_sensitive else (text.lower(), phrase.lower())
    offsets = []
    start = haystack.find(needle)
    while start != -1:
        offsets.append((start, start + len(needle)))
        start = haystack.find(needle, start + 1)
    return offsets


def locate_spans(doc: Doc, phrase: str, label: str, alignment_mode: str, case_sensitive: bool) -> List[Span]:
    """Spans for every token-aligned occurrence of phrase; falls back to alignment_mode."""
    offsets = find_span_offsets(doc.text, phrase, case_sensitive)
    strict = [doc.char_span(s, e, label=label) for s, e in offsets]
    spans = [span for span in strict if span is not None]
    if not spans:
        for s, e in offsets:
            span = doc.char_span(s, e, label=label, alignment_mode=alignment_mode)
            if span is not None and len(span) > 0:
                spans.append(span)
    return spans


def parse_span_response(
    task: Any, doc: Doc, response: str, allow_overlap: bool, min_confidence: float = 0.0
) -> List[Span]:
    """Spans in one response for one doc; records every line and span it cannot use, and each
    span's probability (doc.user_data["span_scores"]) where the answer has log-probabilities.
    A span less likely than min_confidence is dropped (recorded); one of unknown probability is kept."""
    record = diagnostics(doc)
    if not response.strip():  # not "no entities": an empty answer says nothing
        record["parse_failure"] = True
        record["unparsed_lines"].append(response)
        return []
    found: Dict[Tuple[int, int, str], Optional[float]] = {}
    line_scores: List[Optional[float]] = []
    for line, offset in lines_with_offsets(response):
        if not line.strip():
            continue
        p = segment_probability(response, offset, offset + len(line))
        line_scores.append(p)
        if line.strip().lower() in NONE_ANSWERS:
            continue
        parsed = split_span_line(line)
        if parsed is None:
            record["unparsed_lines"].append(line)
            continue
        phrase, raw_label, is_entity = parsed
        if not is_entity:
            continue
        label = task.label_dict.get(task.normalizer(raw_label))
        if label is None:
            record["dropped_spans"].append({"text": phrase, "label": raw_label, "reason": "unknown label"})
            continue
        spans = locate_spans(doc, phrase, label, task.alignment_mode, task.case_sensitive_matching)
        if not spans:
            reason = "not in text" if not find_span_offsets(doc.text, phrase, False) else "not on token boundaries"
            record["dropped_spans"].append({"text": phrase, "label": label, "reason": reason})
        for span in spans:  # a span named on two lines keeps the likelier
            key = (span.start, span.end, span.label_)
            found[key] = p if key not in found else _likelier(found[key], p)
    record["parse_failure"] = bool(record["unparsed_lines"]) and not found
    unique = [Span(doc, *key) for key in sorted(found) if _confident(doc, key, found[key], min_confidence, record)]
    record["confidence"] = lowest(line_scores)
    kept = unique if allow_overlap else filter_spans(unique)
    for span in unique:
        if span not in kept:
            record["dropped_spans"].append({"text": span.text, "label": span.label_, "reason": "overlaps another span"})
    doc.user_data[SPAN_SCORES_KEY] = [
        [s.start_char, s.end_char, s.label_, found[(s.start, s.end, s.label_)]]
        for s in sorted(kept, key=lambda s: (s.start, s.end, s.label_))
    ]
    return kept


def _confident(doc: Doc, key: Tuple[int, int, str], p: Optional[float], least: float, record: Dict) -> bool:
    """Whether a span is at least as likely as `least` (or of unknown probability); records it if not."""
    if p is None or p >= least:
        return True
    span = {"text": doc[key[0] : key[1]].text, "label": key[2], "reason": "below min_confidence", "confidence": p}
    record["dropped_spans"].append(span)
    return False


def _likelier(a: Optional[float], b: Optional[float]) -> Optional[float]:
    return None if a is None or b is None else max(a, b)


def parse_span_responses(
    task: Any, shards: Iterable[Iterable[Doc]], responses: Iterable[Iterable[str]], min_confidence: float = 0.0
) -> Iterable[Iterable[List[Span]]]:
    """spacy-llm TaskResponseParser for NER.v3 / SpanCat.v3."""
    allow_overlap = task.allow_overlap
    for shards_for_doc, responses_for_doc in zip(shards, responses):
        yield [
            parse_span_response(task, shard, response, allow_overlap, min_confidence)
            for shard, response in zip(shards_for_doc, responses_for_doc)
        ]


def textcat_answer_is_valid(task: Any, response: str) -> bool:
    """Whether a TextCat response names only known labels (or POS/NEG, or none)."""
    answer = response.strip()
    if task.use_binary:
        return answer.upper() in ("POS", "NEG")
    if answer.lower() in NONE_ANSWERS:
        return True
    preds = [task.normalizer(p.strip()) for p in answer.split(",")]
    if task.exclusive_classes and len(preds) > 1:
        return False
    return all(p in task.label_dict for p in preds)


def parse_textcat_responses(
    task: Any, shards: Iterable[Iterable[Doc]], responses: Iterable[Iterable[str]]
) -> Iterable[Iterable[Dict[str, float]]]:
    """spacy-llm's TextCat parser, plus a record of answers it could not read."""
    shards = [list(s) for s in shards]
    responses = [list(r) for r in responses]
    for shards_for_doc, responses_for_doc in zip(shards, responses):
        for shard, response in zip(shards_for_doc, responses_for_doc):
            record = diagnostics(shard)
            if not textcat_answer_is_valid(task, response):
                record["parse_failure"] = True
                record["unparsed_lines"].append(response.strip())
            else:
                shard.user_data[CAT_SCORES_KEY], record["confidence"] = textcat_scores(task, response)
    yield from builtin_textcat_parse(task, shards, responses)


def textcat_scores(task: Any, response: str) -> Tuple[Dict[str, Optional[float]], Optional[float]]:
    """({chosen label: probability of its name in the answer}, the answer's probability)."""
    stripped = response.strip()
    start = response.find(stripped)
    confidence = segment_probability(response, start, start + len(stripped))
    if task.use_binary:
        label = task.labels[0] if len(task.labels) == 1 else None
        return ({label: confidence} if label and stripped.upper() == "POS" else {}), confidence
    if stripped.lower() in NONE_ANSWERS:
        return {}, confidence
    scores: Dict[str, Optional[float]] = {}
    offset = start
    for part in stripped.split(","):
        label = task.label_dict.get(task.normalizer(part.strip()))
        if label is not None:
            scores[label] = segment_probability(response, offset, offset + len(part))
        offset += len(part) + 1
    return scores, confidence


@registry.llm_misc("spacy_distill.SpanParser.v1")
def make_span_parser():
    """Span parser for NER.v3/SpanCat.v3: any order, CoT or compact lines, drops counted."""
    return parse_span_responses


@registry.llm_misc("spacy_distill.SpanParser.v2")
def make_span_parser_v2(min_confidence: float = 0.0):
    """SpanParser.v1, which also drops the spans the teacher is less sure of than min_confidence
    (their answer line's probability, where the model gives log-probabilities; counted in the
    parse record as dropped, "below min_confidence"). Spans of unknown probability are kept."""
    if not 0.0 <= min_confidence <= 1.0:
        raise ConfigError(f"min_confidence must be between 0 and 1, got {min_confidence}")
    return functools.partial(parse_span_responses, min_confidence=min_confidence)


@registry.llm_misc("spacy_distill.TextCatParser.v1")
def make_textcat_parser():
    """TextCat.v3 parser that records unreadable answers."""
    return parse_textcat_responses
