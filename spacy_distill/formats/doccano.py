"""doccano JSONL: `{"text", "label": [[start, end, label], ...]}` for sequence
labelling, `{"text", "label": ["cat", ...]}` for text classification, and
`{"text", "entities": [[start, end, label], ...], "cats": [...]}` (intent
detection and slot filling) for both.

doccano has no field for a model's score, and keeps the keys it does not know as
the example's metadata (shown beside the text): export writes the teacher's
probabilities there as `scores` ({"spans": [[start, end, label, p]], "cats":
{label: p}, "confidence": p}; null where unknown, left out when nothing is scored).
Import ignores them.

Import also reads the relation-mode export (`entities` as objects with
start_offset / end_offset). doccano exports one file per annotator, so the file name
(without suffix) is taken as the annotator when several files are merged.
"""

from pathlib import Path
from typing import Any, Dict, Iterator, List

import srsly
from spacy.tokens import Doc

from ..task import Task, doc_spans, positive_cats
from ..teacher.confidence import chosen_cats, suggested_span_scores, teacher_confidence
from .common import (
    Correction,
    FormatError,
    Record,
    Rejected,
    SpanAnn,
    check_span_text,
    get,
    guarded,
    read_jsonl,
    span_from_dict,
    teacher_info,
)
from .registry import Format, any_key, register

KEYS = {"label", "labels", "entities", "cats"}  # any of them (and none of another tool's): a doccano record


def doc_to_record(doc: Doc, schema: Task) -> Dict[str, Any]:
    record: Dict[str, Any] = {"text": doc.text}
    spans = [[s.start_char, s.end_char, s.label_] for s in doc_spans(doc, schema.span_key)]
    if schema.has_spans and schema.cat_labels:
        record.update(entities=spans, cats=positive_cats(doc))
    else:
        record["label"] = spans if schema.has_spans else positive_cats(doc)
    record["meta"] = doc.user_data.get("meta") or {}
    record["teacher"] = teacher_info(doc)
    scores = teacher_scores(doc, schema)
    if scores:
        record["scores"] = scores
    if schema.span_key is not None:
        record["span_key"] = schema.span_key
    return record


def teacher_scores(doc: Doc, schema: Task) -> Dict[str, Any]:
    """The teacher's probabilities, as doccano metadata: spans [[start, end, label, p]], cats {label: p}, confidence."""
    spans = [list(s) for s in suggested_span_scores(doc, doc_spans(doc, schema.span_key))] if schema.has_spans else []
    cats = chosen_cats(doc, schema.exclusive) if schema.cat_labels else {}
    confidence = teacher_confidence(doc, schema)
    if confidence is None and all(s[3] is None for s in spans) and all(p is None for p in cats.values()):
        return {}
    return {"spans": spans, "cats": cats, "confidence": confidence}


def write(docs: List[Doc], output: Path, schema: Task) -> List[Path]:
    srsly.write_jsonl(output, (doc_to_record(doc, schema) for doc in docs))
    return [output]


def read(path: Path) -> Iterator[Record]:
    records = list(read_jsonl(path))
    labels = [r.get("label", r.get("labels")) for _, r in records if isinstance(r, dict)]
    has_cats = any(isinstance(x, list) and x and all(isinstance(v, str) for v in x) for x in labels)
    for line, record in records:
        source = f"{path}:{line}"
        yield (
            record
            if isinstance(record, Rejected)
            else guarded(source, record_to_correction, record, source, path.stem, has_cats)
        )


def record_to_correction(record: Dict[str, Any], source: str, annotator: str, has_cats: bool) -> Correction:
    text = get(record, "text", str, source)
    correction = Correction(
        source,
        text,
        annotator=annotator,
        span_key=get(record, "span_key", str, source, None),
        meta=get(record, "meta", dict, source, {}),
    )
    key = "label" if "label" in record else "labels"
    for name in (key, "entities", "cats"):
        if name in record and record[name] is None:
            raise FormatError(f"{source}: field {name!r} is null; an empty list [] says 'none'")
    if not KEYS & set(record):
        raise FormatError(f"{source}: no field 'label' (nor entities, cats): the record says nothing about the text")
    items = get(record, key, list, source, [])
    if "entities" in record:
        correction.spans = [
            span_from_dict(e, source, "start_offset", "end_offset") if isinstance(e, dict) else _triple(e, source)
            for e in get(record, "entities", list, source)
        ]
    elif has_cats and not any(isinstance(x, list) for x in items):
        correction.cats = {_category(x, source): 1.0 for x in items}
    else:
        correction.spans = [_triple(x, source) for x in items]
    if "cats" in record:
        correction.cats = {_category(x, source): 1.0 for x in get(record, "cats", list, source)}
    for span in correction.spans or []:
        check_span_text(text, span, None, source)
    return correction


def _triple(item: Any, source: str) -> SpanAnn:
    ok = isinstance(item, list) and len(item) == 3
    if (
        not ok
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in item[:2])
        or not isinstance(item[2], str)
    ):
        raise FormatError(f'{source}: a span label must be [start, end, "LABEL"], got {item!r:.80}')
    return SpanAnn(item[0], item[1], item[2])


def _category(item: Any, source: str) -> str:
    if not isinstance(item, str):
        raise FormatError(f"{source}: a category must be a string, got {item!r:.80}")
    return item


FORMAT = register(
    Format(
        "doccano",
        read,
        write,
        write_answers=write,  # doccano has no answer status: its export is the annotation
        suffix=".jsonl",
        description="doccano JSONL (sequence labelling, text classification, or both)",
        detect_record=any_key(KEYS),
        priority=60,
    )
)
