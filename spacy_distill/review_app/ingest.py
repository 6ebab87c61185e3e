"""Teacher docs into the review database: their rows, their task, and the queue to review them in."""

import hashlib
import json
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from spacy.tokens import Doc

from ..task import Task, doc_spans, teacher_task
from .ordering import ORDERS, order_docs
from .storage import ReviewDB, ReviewError, merge_schema, span_dict


def prepare(
    input_path: Path,
    db_path: Path,
    order: str = "as-is",
    student: Optional[Path] = None,
    labels: Optional[Sequence[str]] = None,
) -> Tuple[ReviewDB, Dict[str, Any]]:
    """Open (or create) the database, add INPUT's docs not yet in it, and queue INPUT's docs in ORDER."""
    from spacy.tokens import DocBin
    from spacy.vocab import Vocab

    if order not in ORDERS:
        raise ReviewError(f"Unknown order {order!r}; choose one of {', '.join(ORDERS)}")
    input_path = Path(input_path)
    if not input_path.exists():
        raise ReviewError(f"{input_path}: file not found")
    if input_path.suffix != ".spacy":
        raise ReviewError(
            f"{input_path}: expected teacher docs as a .spacy DocBin (the output of `spacy-distill annotate`)"
        )
    try:
        docs = list(DocBin().from_disk(input_path).get_docs(Vocab()))
    except (ValueError, OSError) as e:
        raise ReviewError(f"{input_path}: not a .spacy DocBin ({e})") from None
    if not docs:
        raise ReviewError(f"{input_path}: holds no docs")
    task = teacher_task(docs, list(labels) if labels else None)
    ranked, scores, note = order_docs(docs, task, order, student)
    db = ReviewDB(db_path)
    stored = db.meta("schema")
    if stored is not None:  # a later batch: the labels of the first ones stay on offer
        task = merge_schema(Task.from_dict(stored), task, db.path)
    if task.has_spans and not task.span_labels:
        raise ReviewError(
            f"{input_path}: the teacher suggested no span at all; name the labels to offer with --labels A,B,C"
        )
    records = records_from_docs(docs, task)
    added, known = db.add_docs(records, task)
    db.set_queue([records[i]["key"] for i in ranked], [scores[i] for i in ranked], order)
    return db, {"docs": len(docs), "added": added, "known": known, "order_note": note}


def doc_key(text: str, occurrence: int) -> str:
    """A doc's identity: its text, and which repeat of that text in the input it is."""
    return hashlib.sha256(text.encode("utf8")).hexdigest()[:32] + f"#{occurrence}"


def jsonable(value: Any) -> Any:
    """Doc user data as plain JSON (bytes and other odd values become strings)."""
    return json.loads(json.dumps(value, ensure_ascii=False, default=str))


def records_from_docs(docs: Sequence[Doc], task: Task) -> List[Dict[str, Any]]:
    """Database rows of teacher docs: text, tokens, suggestion, provenance."""
    seen: Dict[str, int] = {}
    records = []
    for doc in docs:
        occurrence = seen.get(doc.text, 0)
        seen[doc.text] = occurrence + 1
        spans = None
        if task.has_spans:
            spans = [
                span_dict(s.start_char, s.end_char, s.start, s.end - 1, s.label_) for s in doc_spans(doc, task.span_key)
            ]
        cats = {label: float(doc.cats.get(label, 0.0)) for label in task.cat_labels} if task.cat_labels else None
        teacher = dict(doc.user_data.get("teacher") or {})
        if doc.user_data.get("spacy_distill"):
            teacher["parser"] = doc.user_data["spacy_distill"]
        records.append(
            {
                "key": doc_key(doc.text, occurrence),
                "text": doc.text,
                "tokens": [[t.idx, t.idx + len(t.text)] for t in doc],
                "suggestion": {"spans": spans, "cats": cats},
                "teacher": jsonable(teacher),
                "meta": jsonable(doc.user_data.get("meta") or {}),
                "source": jsonable(doc.user_data.get("source") or {}),
            }
        )
    return records
