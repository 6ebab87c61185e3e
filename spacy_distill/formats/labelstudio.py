"""Label Studio: tasks with the teacher's suggestions as predictions, plus the labelling config.

Export writes OUTPUT (a JSON array of tasks, each with `data.text` and one
prediction whose `model_version` is the teacher model) and, next to it,
OUTPUT's stem + `.label_config.xml` with the matching Labels/Choices
controls: create a project with that config, import the tasks, and every
suggestion shows up ready to correct. Import reads Label Studio's JSON
export: each annotation is one annotator's answer; cancelled (skipped)
annotations count as ignored, a task without annotations as not annotated.
The text is `data.text`, or the only string in `data` when a project named its
field otherwise. The teacher's confidence is each result's `score` (a span's
probability; the chosen classes' lowest) and the prediction's `score` (the doc's
confidence, by which Label Studio's Data Manager sorts tasks), left out where unknown;
predictions are never read back as gold. Span results come from one Labels control: the one the
labelling config names (OUTPUT's stem + .label_config.xml next to the file), or
else the one most results use; results of other types (relations, ratings,
text areas) are left out. `write_answers` writes the tasks as Label Studio
exports them once a person submitted the suggestions as their annotation.
"""

import xml.etree.ElementTree as ElementTree
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional
from xml.sax.saxutils import quoteattr

import srsly
from spacy.tokens import Doc

from ..task import Task, doc_spans
from ..teacher.confidence import chosen_cats, span_score_map, teacher_confidence
from .common import (
    Correction,
    FormatError,
    Record,
    Rejected,
    SpanAnn,
    check_span_text,
    get,
    guarded,
    read_json_array,
    teacher_info,
)
from .registry import Format, any_key, register

SPANS_CONTROL = "label"
CATS_CONTROL = "category"
KEYS = {"data", "annotations", "predictions"}  # any of them: a Label Studio task


def label_config(schema: Task) -> str:
    """The labelling-config XML for the schema."""
    lines = ["<View>"]
    if schema.has_spans:
        lines.append(f'  <Labels name="{SPANS_CONTROL}" toName="text">')
        lines += [f"    <Label value={quoteattr(label)}/>" for label in schema.span_labels]
        lines.append("  </Labels>")
    lines.append('  <Text name="text" value="$text"/>')
    if schema.cat_labels:
        choice = "single-radio" if schema.exclusive else "multiple"
        lines.append(f'  <Choices name="{CATS_CONTROL}" toName="text" choice="{choice}">')
        lines += [f"    <Choice value={quoteattr(label)}/>" for label in schema.cat_labels]
        lines.append("  </Choices>")
    return "\n".join([*lines, "</View>", ""])


def doc_to_task(doc: Doc, schema: Task, index: int) -> Dict[str, Any]:
    result: List[Dict[str, Any]] = []
    if schema.has_spans:
        scores = span_score_map(doc)
        for j, span in enumerate(doc_spans(doc, schema.span_key)):
            value = {"start": span.start_char, "end": span.end_char, "text": span.text, "labels": [span.label_]}
            item = {"id": f"d{index}s{j}", "from_name": SPANS_CONTROL, "to_name": "text", "type": "labels"}
            result.append({**item, "value": value, **_score(scores.get((span.start_char, span.end_char, span.label_)))})
    prediction: Dict[str, Any] = {"model_version": teacher_info(doc).get("model", "teacher"), "result": result}
    if schema.cat_labels:
        chosen = [label for label in schema.cat_labels if doc.cats.get(label, 0.0) >= 0.5]
        item = {
            "id": f"d{index}c",
            "from_name": CATS_CONTROL,
            "to_name": "text",
            "type": "choices",
            "value": {"choices": chosen},
        }
        known = chosen_cats(doc, schema.exclusive)
        scores = [known.get(label) for label in chosen]
        result.append({**item, **_score(min(scores) if scores and None not in scores else None)})
    prediction.update(_score(teacher_confidence(doc, schema)))
    data = {"text": doc.text, "meta": doc.user_data.get("meta") or {}, "teacher": teacher_info(doc)}
    if schema.span_key is not None:
        data["span_key"] = schema.span_key
    return {"data": data, "predictions": [prediction]}


def _score(p: Optional[float]) -> Dict[str, float]:
    """{"score": p}, or nothing where the teacher gave no probability (Label Studio wants a number)."""
    return {} if p is None else {"score": p}


def config_path(output: Path) -> Path:
    return output.with_name(output.stem + ".label_config.xml")


def write(docs: List[Doc], output: Path, schema: Task) -> List[Path]:
    srsly.write_json(output, [doc_to_task(doc, schema, i) for i, doc in enumerate(docs)])
    config_path(output).write_text(label_config(schema), encoding="utf8")
    return [output, config_path(output)]


def write_answers(docs: List[Doc], output: Path, schema: Task, annotator: str = "simulated-expert") -> List[Path]:
    """The tasks as Label Studio exports them after `annotator` submitted each suggestion as their annotation."""
    tasks = [doc_to_task(doc, schema, i) for i, doc in enumerate(docs)]
    for task in tasks:
        result = task.pop("predictions")[0]["result"]
        task["annotations"] = [{"result": result, "completed_by": annotator, "was_cancelled": False}]
    srsly.write_json(output, tasks)
    config_path(output).write_text(label_config(schema), encoding="utf8")
    return [output, config_path(output)]


def read(path: Path) -> Iterator[Record]:
    tasks = list(read_json_array(path))
    results = [
        r
        for _, task in tasks
        if isinstance(task, dict)
        for key in ("annotations", "predictions")
        if isinstance(task.get(key), list)
        for a in task[key]
        if isinstance(a, dict) and isinstance(a.get("result"), list)
        for r in a["result"]
        if isinstance(r, dict) and isinstance(r.get("type"), str)
    ]
    types = {r["type"] for r in results}
    has_spans, has_cats = "labels" in types or "choices" not in types, "choices" in types
    control = _span_control(path, results)
    for line, task in tasks:
        source = f"{path}:{line}"
        if isinstance(task, Rejected):
            yield task
            continue
        found = guarded(source, _corrections, task, source, has_spans, has_cats, control)
        yield from [found] if isinstance(found, Rejected) else found


def _corrections(task: Any, source: str, has_spans: bool, has_cats: bool, control: Optional[str]) -> List[Correction]:
    return list(task_to_corrections(task, source, has_spans, has_cats, control))


def _span_control(path: Path, results: List[Dict[str, Any]]) -> Optional[str]:
    """The Labels control spans are read from: the labelling config's, else the one most results name."""
    config = config_path(path)
    if config.exists():
        try:
            names = [e.get("name") for e in ElementTree.parse(config).getroot().iter("Labels")]
        except ElementTree.ParseError as e:
            raise FormatError(f"{config}: not a readable labelling config ({e})") from None
        return names[0] if len(names) == 1 else None
    used = Counter(r.get("from_name") for r in results if r["type"] == "labels" and isinstance(r.get("from_name"), str))
    return used.most_common(1)[0][0] if used else None


def task_to_corrections(
    task: Any, source: str, has_spans: bool, has_cats: bool, control: Optional[str] = None
) -> Iterator[Correction]:
    if not isinstance(task, dict):
        raise FormatError(f"{source}: a task must be an object, got {type(task).__name__}")
    data = get(task, "data", dict, source)
    strings = [key for key, value in data.items() if isinstance(value, str)]
    text = get(data, "text" if "text" in data or len(strings) != 1 else strings[0], str, source, what="data ")
    meta = get(data, "meta", dict, source, {})
    span_key = get(data, "span_key", str, source, None)
    annotations = get(task, "annotations", list, source, [])
    if not annotations:
        yield Correction(source, text, answer="none", meta=meta)
    for n, annotation in enumerate(annotations, start=1):
        where = f"{source}: annotation {n}"
        if not isinstance(annotation, dict):
            raise FormatError(f"{where} must be an object, got {type(annotation).__name__}")
        cancelled = bool(annotation.get("was_cancelled"))
        if annotation.get("result") is None and not cancelled:
            raise FormatError(f"{where} has no 'result': it says nothing about the text")
        correction = Correction(
            source=source,
            text=text,
            answer="ignore" if cancelled else "accept",
            spans=[] if has_spans else None,
            cats={} if has_cats else None,
            span_key=span_key,
            annotator=_annotator(annotation.get("completed_by")),
            timestamp=_timestamp(annotation.get("updated_at") or annotation.get("created_at"), source),
            meta=meta,
        )
        for item in get(annotation, "result", list, source, [], what=f"annotation {n} "):
            _add_result(correction, item, text, where, control)
        yield correction


def _add_result(correction: Correction, item: Any, text: str, where: str, control: Optional[str]) -> None:
    if not isinstance(item, dict):
        raise FormatError(f"{where}: a result must be an object, got {type(item).__name__}")
    kind = item.get("type")
    if kind not in ("labels", "choices"):  # relations, ratings, text areas: not spans or categories
        return
    value = get(item, "value", dict, where, what="result ")
    if kind == "labels":
        if control is not None and item.get("from_name") != control:
            raise FormatError(
                f"{where}: a span result from the control {item.get('from_name')!r}, but the spans of this file "
                f"come from {control!r} (one Labels control is read)"
            )
        start, end = get(value, "start", int, where, what="result "), get(value, "end", int, where, what="result ")
        for label in get(value, "labels", list, where, what="result "):
            if not isinstance(label, str):
                raise FormatError(f"{where}: result labels must be strings, got {label!r:.60}")
            span = SpanAnn(start, end, label)
            check_span_text(text, span, value.get("text") if isinstance(value.get("text"), str) else None, where)
            correction.spans.append(span)
    else:
        for label in get(value, "choices", list, where, what="result "):
            if not isinstance(label, str):
                raise FormatError(f"{where}: choices must be strings, got {label!r:.60}")
            correction.cats[label] = 1.0


def _annotator(completed_by: Any) -> Optional[str]:
    if isinstance(completed_by, dict):
        completed_by = completed_by.get("email") or completed_by.get("id")
    return None if completed_by is None else str(completed_by)


def _timestamp(value: Any, source: str) -> Optional[float]:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise FormatError(f"{source}: unreadable date {value!r}") from None


FORMAT = register(
    Format(
        "labelstudio",
        read,
        write,
        write_answers=write_answers,
        suffix=".json",
        description="Label Studio JSON tasks (+ OUTPUT's stem .label_config.xml)",
        detect_record=any_key(KEYS),
        priority=20,
    )
)
