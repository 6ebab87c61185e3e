"""Prodigy JSONL: teacher docs as tasks to correct, and answers read back.

Export: one task per doc with text, tokens, spans (token_end inclusive) and
`_view_id` ner_manual (spans_manual for span groups), or options/accept for
text classification (choice view); hashes are stable 32-bit ints, not
Prodigy's own. The teacher's confidence: `score` on each span it scored (null
where the model gave no log-probabilities) and `score` on the task (the doc's
confidence; for exclusive classes, the chosen class's probability), where
Prodigy's teach recipes put a model's score; omitted when unknown. Import
ignores them: a score never becomes gold. Import: accept/reject/ignore answers of ner_manual,
spans_manual, choice and the binary views (ner, spans, classification). A
task without an answer, as `export` writes it (with task ids such as
`_input_hash`), is not annotated: counted, never gold. A plain record with
neither answer nor task ids (text and spans, as in a gold corpus) counts as
accepted, as Prodigy's db-in reads it. Tokens, when given, are kept (and
checked against the text). `write_answers` writes the tasks as Prodigy saves
them once a person accepted them (the simulated expert's output).
"""

from pathlib import Path
from typing import Any, Dict, Iterator, List

import srsly
from spacy.tokens import Doc

from ..task import Task, doc_spans, positive_cats
from ..teacher.confidence import score_field, teacher_confidence
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
    stable_hash,
    teacher_info,
)
from .registry import Format, any_key, register

BINARY_SPAN_VIEWS = ("ner", "spans")
TASK_IDS = {"_input_hash", "_task_hash", "_view_id", "_session_id", "_annotator_id", "_teacher"}
KEYS = {"answer", "_input_hash", "tokens", "accept", "options", "_view_id", "spans"}  # any of them: a Prodigy task


def doc_to_task(doc: Doc, schema: Task) -> Dict[str, Any]:
    """A Prodigy task for one teacher doc."""
    task: Dict[str, Any] = {"text": doc.text, "meta": doc.user_data.get("meta") or {}}
    task["_input_hash"] = stable_hash(doc.text)
    if schema.has_spans:
        task["tokens"] = [
            {"text": t.text, "start": t.idx, "end": t.idx + len(t), "id": t.i, "ws": bool(t.whitespace_)} for t in doc
        ]
        task["spans"] = [
            {
                "start": s.start_char,
                "end": s.end_char,
                "token_start": s.start,
                "token_end": s.end - 1,
                "label": s.label_,
                **score_field(doc, s),
            }
            for s in doc_spans(doc, schema.span_key)
        ]
        task["_view_id"] = "ner_manual" if schema.span_key is None else "spans_manual"
        if schema.span_key is not None:
            task["_span_key"] = schema.span_key
    if schema.cat_labels:
        task["options"] = [{"id": label, "text": label} for label in schema.cat_labels]
        task["accept"] = positive_cats(doc)
        task["config"] = {"choice_style": "single" if schema.exclusive else "multiple"}
        task.setdefault("_view_id", "choice")
    confidence = teacher_confidence(doc, schema)
    if confidence is not None:  # the doc's confidence, where Prodigy's teach recipes put a model's score
        task["score"] = confidence
    task["_task_hash"] = stable_hash(task["_input_hash"], task.get("spans"), task.get("accept"))
    task["_teacher"] = teacher_info(doc)
    return task


def write(docs: List[Doc], output: Path, schema: Task) -> List[Path]:
    srsly.write_jsonl(output, (doc_to_task(doc, schema) for doc in docs))
    return [output]


def write_answers(docs: List[Doc], output: Path, schema: Task, annotator: str = "simulated-expert") -> List[Path]:
    """The tasks as Prodigy saves them after `annotator` accepted each one."""
    tasks = ({**doc_to_task(doc, schema), "answer": "accept", "_annotator_id": annotator} for doc in docs)
    srsly.write_jsonl(output, tasks)
    return [output]


def read(path: Path) -> Iterator[Record]:
    for line, task in read_jsonl(path):
        source = f"{path}:{line}"
        yield task if isinstance(task, Rejected) else guarded(source, task_to_correction, task, source)


def task_to_correction(task: Dict[str, Any], source: str) -> Correction:
    text = get(task, "text", str, source)
    answer = get(task, "answer", str, source, None) or _unanswered(task)
    if answer not in ("accept", "reject", "ignore", "none") or "answer" in task and answer == "none":
        raise FormatError(f"{source}: answer must be accept, reject or ignore, got {answer!r}")
    for key in ("spans", "accept", "options", "tokens"):
        if key in task and task[key] is None:
            raise FormatError(f"{source}: field {key!r} is null; an empty list [] says 'none'")
    view = get(task, "_view_id", str, source, "")
    tokens = _tokens(task, text, source)
    correction = Correction(
        source=source,
        text=text,
        answer=answer,
        tokens=tokens,
        span_key=get(task, "_span_key", str, source, None),
        annotator=get(task, "_annotator_id", (str, int), source, None)
        or get(task, "_session_id", (str, int), source, None),
        timestamp=get(task, "_timestamp", (int, float), source, None),
        meta=get(task, "meta", dict, source, {}),
    )
    if view == "spans_manual" and correction.span_key is None:
        correction.span_key = "sc"
    has_cats = "options" in task or "accept" in task or ("label" in task and view not in BINARY_SPAN_VIEWS)
    if "spans" in task:  # no spans and no categories: the record says nothing (rejected by the import)
        correction.spans = [_span(obj, text, tokens, source) for obj in get(task, "spans", list, source, [])]
        correction.binary = view in BINARY_SPAN_VIEWS
    if "options" in task or "accept" in task:  # without options, the other labels come from the rest of the data
        options = [
            str(get(o, "id", (str, int), source, what="option ")) for o in get(task, "options", list, source, [])
        ]
        accepted = {str(a) for a in get(task, "accept", list, source, [])}
        unknown = accepted - set(options) if options else set()
        if unknown:
            raise FormatError(f"{source}: accept lists {sorted(unknown)}, which are not among the options {options}")
        correction.cats = {label: float(label in accepted) for label in options or accepted}
    elif has_cats:
        correction.cats = {get(task, "label", str, source): 1.0}
        correction.binary = True
    return correction


def _unanswered(task: Dict[str, Any]) -> str:
    """A task a tool issued (it has task ids) and nobody answered is not annotated; a plain record is gold."""
    return "none" if TASK_IDS & set(task) else "accept"


def _tokens(task: Dict[str, Any], text: str, source: str):
    if "tokens" not in task:
        return None
    tokens = []
    for obj in get(task, "tokens", list, source):
        if not isinstance(obj, dict):
            raise FormatError(f"{source}: a token must be an object, got {type(obj).__name__}")
        t_text = get(obj, "text", str, source, what="token ")
        start, end = get(obj, "start", int, source, what="token "), get(obj, "end", int, source, what="token ")
        if text[start:end] != t_text or end > len(text):
            raise FormatError(
                f"{source}: token {len(tokens)} is {t_text!r} at [{start}, {end}), "
                f"but the text there is {text[start:end]!r}: tokens and text differ"
            )
        tokens.append((t_text, start, end))
    return tokens


def _span(obj: Any, text: str, tokens, source: str) -> SpanAnn:
    span = span_from_dict(obj, source)
    check_span_text(text, span, obj.get("text") if isinstance(obj.get("text"), str) else None, source)
    if tokens is not None and span.token_start is not None and span.token_end is not None:
        ok = 0 <= span.token_start <= span.token_end < len(tokens)
        if not ok or tokens[span.token_start][1] != span.start or tokens[span.token_end][2] != span.end:
            raise FormatError(
                f"{source}: span [{span.start}, {span.end}) {span.label!r} has token_start/token_end "
                f"{span.token_start}/{span.token_end}, which do not match its character offsets"
            )
    return span


FORMAT = register(
    Format(
        "prodigy",
        read,
        write,
        write_answers=write_answers,
        suffix=".jsonl",
        description="Prodigy JSONL (ner_manual, spans_manual, choice and binary views)",
        detect_record=any_key(KEYS),
        priority=50,
    )
)
