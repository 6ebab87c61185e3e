"""Argilla v2: a dataset folder as `rg.Dataset.to_disk` writes it.

Export writes OUTPUT/ with dataset.json, settings.json (a text field, a span
question and/or a label question) and records.json, each record carrying the
teacher's output as suggestions with agent = the teacher model and score = its
probabilities (one per span or chosen label; null unless every one is known, as Argilla wants); load it with
`rg.Dataset.from_disk(OUTPUT)`. Import reads records.json (from such a
folder or given directly), or the flat records of
`dataset.records.to_list(flatten=True)` saved as JSON: every user's submitted
responses are one answer, discarded ones count as ignored, drafts and
records without responses as not annotated. Argilla 2.x's `to_disk` writes
responses without their status, so all of them read as submitted there; the
flat form keeps the status. `write_answers` writes the folder as it is once a
person submitted each suggestion as their response.
"""

import json
from collections import defaultdict
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import srsly
from spacy.tokens import Doc

from ..task import Task, doc_spans, positive_cats
from ..teacher.confidence import chosen_cats, suggested_span_scores
from .common import (
    Correction,
    FormatError,
    Record,
    Rejected,
    check_span_text,
    get,
    guarded,
    read_json_array,
    read_text,
    span_from_dict,
    stable_hash,
    teacher_info,
)
from .registry import Format, register

SPAN, LABEL, MULTI = "span", "label_selection", "multi_label_selection"


def settings(schema: Task) -> Dict[str, Any]:
    """Argilla settings for the schema (the shape of `rg.Settings.to_json`)."""
    questions = []
    if schema.has_spans:
        options = [{"value": label, "text": label, "description": None} for label in schema.span_labels]
        question_settings = {
            "type": SPAN,
            "field": "text",
            "options": options,
            "allow_overlapping": schema.span_key is not None,
        }
        questions.append(_question("entities" if schema.span_key is None else "spans", question_settings, False))
    if schema.cat_labels:
        options = [{"value": label, "text": label, "description": None} for label in schema.cat_labels]
        kind = LABEL if schema.exclusive else MULTI
        questions.append(
            _question("category" if schema.exclusive else "categories", {"type": kind, "options": options}, True)
        )
    text_field = {
        "name": "text",
        "title": "Text",
        "required": True,
        "settings": {"type": "text", "use_markdown": False},
    }
    guidelines = "Correct the suggestions of the teacher model; submit when the record is right."
    return {
        "guidelines": guidelines,
        "fields": [text_field],
        "questions": questions,
        "vectors": [],
        "metadata": [],
        "allow_extra_metadata": True,
    }


def _question(name: str, question_settings: Dict[str, Any], required: bool) -> Dict[str, Any]:
    return {
        "name": name,
        "title": name.capitalize(),
        "description": None,
        "required": required,
        "settings": question_settings,
    }


def doc_to_record(doc: Doc, schema: Task, questions: Dict[str, str]) -> Dict[str, Any]:
    agent = teacher_info(doc).get("model", "teacher")
    suggestions: Dict[str, Any] = {}
    for name, kind in questions.items():
        if kind == SPAN:
            spans = doc_spans(doc, schema.span_key)
            value: Any = [{"start": s.start_char, "end": s.end_char, "label": s.label_} for s in spans]
            score = [p for *_, p in suggested_span_scores(doc, spans)]
        else:
            value = positive_cats(doc)
            known = chosen_cats(doc, kind == LABEL)
            score = [known.get(label) for label in value]
            value = value if kind == MULTI else (value[0] if value else None)
            score = score if kind == MULTI else (score[0] if score else None)
        if isinstance(score, list) and None in score:  # Argilla takes one number per item or none at all
            score = None
        if value:
            suggestions[name] = {"value": value, "score": score, "agent": agent}
    metadata = {
        k: v if isinstance(v, (str, int, float)) else json.dumps(v)
        for k, v in (doc.user_data.get("meta") or {}).items()
    }
    if schema.span_key is not None:
        metadata["span_key"] = schema.span_key
    record_id = str(stable_hash(doc.text, metadata) & 0xFFFFFFFF)
    return {
        "id": record_id,
        "fields": {"text": doc.text},
        "metadata": metadata,
        "suggestions": suggestions,
        "responses": {},
        "vectors": {},
    }


def write(docs: List[Doc], output: Path, schema: Task) -> List[Path]:
    output.mkdir(parents=True, exist_ok=True)
    dataset_settings = settings(schema)
    questions = {q["name"]: q["settings"]["type"] for q in dataset_settings["questions"]}
    srsly.write_json(output / "dataset.json", {"name": output.name})
    srsly.write_json(output / "settings.json", dataset_settings)
    srsly.write_json(output / "records.json", [doc_to_record(doc, schema, questions) for doc in docs])
    return [output / "dataset.json", output / "settings.json", output / "records.json"]


def write_answers(docs: List[Doc], output: Path, schema: Task, annotator: str = "simulated-expert") -> List[Path]:
    """The dataset folder as it is once `annotator` submitted each suggestion as their response."""
    written = write(docs, output, schema)
    questions = {q["name"]: q["settings"]["type"] for q in settings(schema)["questions"]}
    records = srsly.read_json(output / "records.json")
    for record in records:
        suggestions = record.pop("suggestions")
        record["suggestions"] = {}
        record["responses"] = {
            name: [
                {
                    "value": suggestions.get(name, {}).get("value", None if kind == LABEL else []),
                    "user_id": annotator,
                    "status": "submitted",
                }
            ]
            for name, kind in questions.items()
        }
    srsly.write_json(output / "records.json", records)
    return written


def read(path: Path) -> Iterator[Record]:
    if path.is_dir() and not (path / "records.json").exists():
        raise FormatError(f"{path}: an Argilla dataset folder without records.json (is the export incomplete?)")
    records_path = path / "records.json" if path.is_dir() else path
    settings_path = records_path.with_name("settings.json")
    questions = _questions(settings_path) if settings_path.exists() else []
    types = {q["name"]: q["settings"]["type"] for q in questions}
    fields = [q["settings"].get("field") for q in questions if q["settings"]["type"] == SPAN]
    text_field = next((f for f in fields if isinstance(f, str)), None)
    cat_labels = [
        o["value"]
        for q in questions
        if q["settings"]["type"] != SPAN and isinstance(q["settings"].get("options"), list)
        for o in q["settings"]["options"]
        if isinstance(o, dict) and isinstance(o.get("value"), str)
    ]
    records = [(line, _unflatten(record)) for line, record in read_json_array(records_path)]
    if not types:
        types = _guess_types(records)
    for line, record in records:
        source = f"{records_path}:{line}"
        found = (
            record if isinstance(record, Rejected) else guarded(source, _corrections, record, source, types, text_field)
        )
        if isinstance(found, Rejected):
            yield found
            continue
        for correction in found:
            if correction.cats is not None:  # unchosen options are answered "no"
                correction.cats = {**{label: 0.0 for label in cat_labels}, **correction.cats}
            yield correction


def _corrections(record: Any, source: str, types: Dict[str, str], text_field: Optional[str]) -> List[Correction]:
    return list(record_to_corrections(record, source, types, text_field))


def _questions(settings_path: Path) -> List[Dict[str, Any]]:
    """The questions of an Argilla settings.json."""
    try:
        data = json.loads(read_text(settings_path))
    except json.JSONDecodeError as e:
        raise FormatError(f"{settings_path}:{e.lineno}: not valid JSON ({e.msg}); is the file truncated?") from None
    except (RecursionError, ValueError):
        raise FormatError(f"{settings_path}: not readable JSON") from None
    questions = data.get("questions") if isinstance(data, dict) else None
    if not isinstance(questions, list) or not all(
        isinstance(q, dict)
        and isinstance(q.get("settings"), dict)
        and isinstance(q["settings"].get("type"), str)
        and isinstance(q.get("name"), str)
        for q in questions
    ):
        raise FormatError(
            f"{settings_path}: not Argilla settings (a list of questions, each with a name and settings with a type)"
        )
    return questions


def _unflatten(record: Any) -> Any:
    """A nested record from a flat one (`to_list(flatten=True)`); other records unchanged."""
    if not isinstance(record, dict) or "fields" in record or not any(k.endswith(".responses") for k in record):
        return record
    plain = {k: v for k, v in record.items() if "." not in k and k not in ("id", "status", "_server_id", "score")}
    responses = {}
    for key, values in record.items():
        if key.endswith(".responses") and isinstance(values, list):
            users = record.get(f"{key}.users") or [None] * len(values)
            statuses = record.get(f"{key}.status") or [None] * len(values)
            responses[key[: -len(".responses")]] = [
                {"value": v, "user_id": u, "status": st} for v, u, st in zip(values, users, statuses)
            ]
    return {"id": record.get("id"), "fields": plain, "metadata": plain, "responses": responses}


def _guess_types(records: List) -> Dict[str, str]:
    types: Dict[str, str] = {}
    for _, record in records:
        answers = (
            record.get("responses") if isinstance(record, dict) and isinstance(record.get("responses"), dict) else {}
        )
        for name, responses in answers.items():
            for value in (r.get("value") for r in responses if isinstance(r, dict)):
                if isinstance(value, str):
                    types[name] = LABEL
                elif isinstance(value, list) and value:
                    types[name] = SPAN if isinstance(value[0], dict) else MULTI
                else:
                    types.setdefault(name, SPAN)
    return types


def record_to_corrections(
    record: Any, source: str, types: Dict[str, str], text_field: Optional[str]
) -> Iterator[Correction]:
    if not isinstance(record, dict):
        raise FormatError(f"{source}: a record must be an object, got {type(record).__name__}")
    fields = get(record, "fields", dict, source)
    name = text_field or ("text" if "text" in fields else next(iter(fields), "text") if len(fields) == 1 else "text")
    text = get(fields, name, str, source, what="fields ")
    metadata = get(record, "metadata", dict, source, {})
    span_key = metadata.get("span_key") if isinstance(metadata.get("span_key"), str) else None
    by_user: Dict[str, Dict[str, Any]] = defaultdict(dict)
    statuses: Dict[str, set] = defaultdict(set)
    for question, responses in get(record, "responses", dict, source, {}).items():
        if not isinstance(responses, list):
            raise FormatError(f"{source}: responses to {question!r} must be a list, got {type(responses).__name__}")
        for response in responses:
            if not isinstance(response, dict):
                raise FormatError(f"{source}: a response to {question!r} must be an object, got {response!r:.60}")
            user = str(get(response, "user_id", (str, int), source, "unknown", "response "))
            by_user[user][question] = response.get("value")
            statuses[user].add(str(response.get("status") or "submitted"))
    if not by_user:
        yield Correction(source, text, answer="none", meta=metadata)
    for user, values in by_user.items():
        answer = (
            "ignore" if "discarded" in statuses[user] else "none" if "submitted" not in statuses[user] else "accept"
        )
        correction = Correction(source, text, answer=answer, span_key=span_key, annotator=user, meta=metadata)
        if answer == "accept":  # a submitted record without a value for a question answers "none of them"
            correction.spans = [] if SPAN in types.values() else None
            correction.cats = {} if {LABEL, MULTI} & set(types.values()) else None
        for question, value in values.items():
            _add_answer(correction, types.get(question), question, value, text, source)
        yield correction


def _add_answer(correction: Correction, kind: Optional[str], question: str, value: Any, text: str, source: str) -> None:
    if value is None:  # question left unanswered
        return
    if kind == SPAN:
        if not isinstance(value, list):
            raise FormatError(f"{source}: the answer to span question {question!r} must be a list, got {value!r:.60}")
        correction.spans = (correction.spans or []) + [span_from_dict(v, source) for v in value]
        for span in correction.spans:
            check_span_text(text, span, None, source)
    elif kind in (LABEL, MULTI):
        labels = [value] if isinstance(value, str) else value if isinstance(value, list) else None
        if labels is None or not all(isinstance(v, str) for v in labels):
            raise FormatError(
                f"{source}: the answer to label question {question!r} must be a label or list of labels, got {value!r:.60}"
            )
        correction.cats = {**(correction.cats or {}), **{label: 1.0 for label in labels}}


def is_record(record: Dict[str, Any]) -> bool:
    """A nested record (fields) or a flat one (QUESTION.responses)."""
    return "fields" in record or any(k.endswith(".responses") for k in record)


FORMAT = register(
    Format(
        "argilla",
        read,
        write,
        write_answers=write_answers,
        suffix="",
        description="Argilla v2 dataset folder (rg.Dataset.to_disk / from_disk)",
        detect_file=lambda path: path.is_dir() and (path / "records.json").exists(),
        detect_record=is_record,
        priority=30,
    )
)
