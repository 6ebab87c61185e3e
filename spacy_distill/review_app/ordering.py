"""In which order the review page offers the docs.

- as-is: the order of the input.
- disagreement: docs where the teacher and a student model disagree most
  first (`spacy_distill.task.disagreement`, the measure the loop's
  Disagreement strategy uses). Spans: 1 - F1 between the teacher's and the
  student's (start, end, label) sets (two empty sets agree). Exclusive
  categories: 1 - the student's score for the teacher's class; multi-label:
  the mean absolute difference of the scores. A doc with both takes the larger.
- uncertainty: docs where the teacher is least sure first, for the docs where
  a confidence is known: the doc's confidence
  (`spacy_distill.teacher.confidence.teacher_confidence`: `user_data["teacher"]
  ["confidence"]`, else the lowest of `user_data["span_scores"]` /
  `["cat_scores"]`, or the scoring teacher's least sure candidate), `scores`
  in the span group's attrs (spaCy's spancat writes them;
  the least confident span counts), or category scores strictly between 0 and
  1 (exclusive: 1 - the margin between the two best; multi-label: the score
  closest to 0.5). Docs without a known confidence follow in input order
  (spacy-llm's TextCat gives hard 0/1 scores, which are not a confidence).

Sorting is stable: equal scores keep the input order.
"""

from pathlib import Path
from typing import List, Optional, Sequence, Tuple

from spacy.tokens import Doc

from ..task import Task, disagreement
from ..teacher.confidence import teacher_confidence
from .storage import ReviewError

ORDERS = ("as-is", "disagreement", "uncertainty")


def order_docs(
    docs: Sequence[Doc], task: Task, order: str = "as-is", student: Optional[Path] = None
) -> Tuple[List[int], List[Optional[float]], str]:
    """(indices of docs in review order, the score of each doc by index, a note for the user)."""
    if order not in ORDERS:
        raise ReviewError(f"Unknown order {order!r}; choose one of {', '.join(ORDERS)}")
    if order == "disagreement" and student is None:
        raise ReviewError("--order disagreement needs a student model: --student MODEL_DIR (e.g. training/model-best)")
    if order == "as-is":
        return list(range(len(docs))), [None] * len(docs), "in the order of the input"
    if order == "disagreement":
        scores: List[Optional[float]] = disagreement_scores(docs, task, load_student(student))
        note = f"where the teacher and the student {student} disagree most first"
    else:
        scores = [uncertainty(doc, task) for doc in docs]
        known = sum(s is not None for s in scores)
        note = f"least confident teacher suggestions first ({known} of {len(docs)} docs have a confidence)"
        if not known:
            note = "in the order of the input: the teacher gave no confidences"
    ranked = sorted(range(len(docs)), key=lambda i: (scores[i] is None, -(scores[i] or 0.0), i))
    return ranked, scores, note


def load_student(path: Path):
    import spacy

    path = Path(path)
    if not path.exists():
        raise ReviewError(f"{path}: student model not found (a directory from `spacy train`, e.g. training/model-best)")
    try:
        return spacy.load(path)
    except (OSError, ValueError) as e:
        raise ReviewError(f"{path}: cannot load the student model ({e})") from None


def disagreement_scores(docs: Sequence[Doc], task: Task, nlp) -> List[float]:
    predicted = nlp.pipe([doc.text for doc in docs], batch_size=64)
    return [disagreement(teacher, student, task) for teacher, student in zip(docs, predicted)]


def uncertainty(doc: Doc, task: Task) -> Optional[float]:
    """0 (sure) to 1 (unsure); None if the teacher gave no confidence for this doc."""
    found = []
    confidence = teacher_confidence(doc, task)
    if confidence is not None:
        found.append(1.0 - confidence)
    if task.kind == "spancat" and task.span_key in doc.spans:
        scores = doc.spans[task.span_key].attrs.get("scores")
        if scores is not None and len(scores):
            found.append(1.0 - min(float(s) for s in scores))
    soft = [float(v) for v in doc.cats.values() if 0.0 < float(v) < 1.0]
    if soft and task.cat_labels:
        values = sorted((float(v) for v in doc.cats.values()), reverse=True)
        if task.exclusive and len(values) > 1:
            found.append(1.0 - (values[0] - values[1]))
        else:
            found.append(1.0 - min(abs(2 * v - 1) for v in values))
    return max(found) if found else None
