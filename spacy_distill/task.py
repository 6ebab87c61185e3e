"""What the task is, and how to read its annotations off a Doc: the one type every folder shares.

A task is one of

- `ner`: entities in `doc.ents`;
- `spancat`: spans in `doc.spans[span_key]` (overlaps allowed);
- `textcat`: exclusive categories in `doc.cats` (one class per text);
- `textcat_multilabel`: categories in `doc.cats`, any number per text (a class is on at 0.5).

It is made from gold docs (`detect_task`: the task to score, with its labels' gold counts) or
from teacher docs (`teacher_task`: what exporters, labelling configs and the review page offer,
with labels the teacher never used added). Teacher docs may carry categories beside their spans;
a span task then also has `cat_labels` (and says whether they are `exclusive`).

Two dict forms: `to_dict()` is the `"task"` entry of metrics.json; `schema_dict()` is what the
review database stores and the review page reads (has_spans, span_key, span_labels, cat_labels,
exclusive). `from_dict` reads either.
"""

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Optional, Sequence, Set, Tuple

from spacy.tokens import Doc, Span

from .errors import InputError

TASKS = ("ner", "spancat", "textcat", "textcat_multilabel")
SPAN_TASKS = ("ner", "spancat")
INCORRECT_KEY = "incorrect_spans"  # spaCy's ner reads known-wrong spans from this group
SpanTuple = Tuple[int, int, str]


@dataclass
class Task:
    kind: str  # one of TASKS
    span_key: Optional[str] = None  # spancat: the doc.spans key; None for the others
    labels: List[str] = field(default_factory=list)  # span labels (ner, spancat) or classes (textcat*)
    label_counts: Dict[str, int] = field(default_factory=dict)  # gold counts (from gold docs)
    # Categories that a span task's docs also carry (teacher docs with both), and whether they are exclusive.
    side_cats: List[str] = field(default_factory=list)
    side_cats_exclusive: bool = False

    def __post_init__(self) -> None:
        if self.kind not in TASKS:
            raise InputError(f"Unknown task {self.kind!r}; choose one of {', '.join(TASKS)}")

    @property
    def has_spans(self) -> bool:
        return self.kind in SPAN_TASKS

    @property
    def span_labels(self) -> List[str]:
        return self.labels if self.has_spans else []

    @property
    def cat_labels(self) -> List[str]:
        return self.side_cats if self.has_spans else self.labels

    @property
    def exclusive(self) -> bool:
        return self.side_cats_exclusive if self.has_spans else self.kind == "textcat"

    @property
    def score_name(self) -> str:
        if self.kind == "ner":
            return "ents_f"
        if self.kind == "spancat":
            return f"spans_{self.span_key}_f"
        return "cats_macro_f"

    def describe(self) -> str:
        if self.kind == "ner":
            what = "entities (NER)"
        elif self.kind == "spancat":
            what = f"spans in doc.spans[{self.span_key!r}]"
        else:
            what = "categories only"
        return what + (" and categories" if self.has_spans and self.cat_labels else "")

    # --- reading a doc ---

    def spans(self, doc: Doc) -> List[Span]:
        return doc_spans(doc, self.span_key)

    def span_set(self, doc: Doc) -> Set[SpanTuple]:
        return set(span_tuples(doc, self.span_key))

    # --- dict forms ---

    def to_dict(self) -> Dict[str, Any]:
        """The `"task"` entry of metrics.json."""
        return {
            "kind": self.kind,
            "score": self.score_name,
            "span_key": self.span_key,
            "labels": self.labels,
            "label_counts": self.label_counts,
        }

    def schema_dict(self) -> Dict[str, Any]:
        """The form the review database stores and the review page reads."""
        return {
            "has_spans": self.has_spans,
            "span_key": self.span_key,
            "span_labels": list(self.span_labels),
            "cat_labels": list(self.cat_labels),
            "exclusive": self.exclusive,
        }

    @classmethod
    def from_dict(cls, obj: Dict[str, Any]) -> "Task":
        """A task from `to_dict()` or from `schema_dict()` (the review database's stored schema)."""
        if "kind" in obj:
            return cls(
                obj["kind"], obj.get("span_key"), list(obj.get("labels") or []), dict(obj.get("label_counts") or {})
            )
        cat_labels = list(obj.get("cat_labels") or [])
        exclusive = bool(obj.get("exclusive"))
        if obj.get("has_spans"):
            span_key = obj.get("span_key")
            kind = "ner" if span_key is None else "spancat"
            return cls(
                kind, span_key, list(obj.get("span_labels") or []), side_cats=cat_labels, side_cats_exclusive=exclusive
            )
        return cls("textcat" if exclusive else "textcat_multilabel", None, cat_labels)


# --- annotations of a doc ---------------------------------------------------------------------


def doc_spans(doc: Doc, span_key: Optional[str]) -> List[Span]:
    """doc.ents (span_key None) or the sorted spans of doc.spans[span_key]."""
    return list(doc.ents) if span_key is None else sorted(doc.spans.get(span_key, []))


def span_tuples(doc: Doc, span_key: Optional[str]) -> List[SpanTuple]:
    """(start_char, end_char, label) of each span, in order."""
    return [(s.start_char, s.end_char, s.label_) for s in doc_spans(doc, span_key)]


def positive_cats(doc: Doc) -> List[str]:
    return [label for label, score in doc.cats.items() if score >= 0.5]


def top_label(doc: Doc, labels: Sequence[str]) -> Optional[str]:
    """The highest-scoring of labels (the first on a tie); None if all are 0."""
    scored = {label: float(doc.cats.get(label, 0.0)) for label in labels}
    best = max(scored, key=lambda label: scored[label]) if scored else None
    return best if best is not None and scored[best] > 0 else None


def span_keys(doc: Doc) -> List[str]:
    return [key for key in doc.spans if key != INCORRECT_KEY]


# --- constructors -----------------------------------------------------------------------------


def detect_task(docs: Sequence[Doc], kind: Optional[str] = None, span_key: Optional[str] = None) -> Task:
    """The task of the gold docs (or the one asked for), with its labels and their gold counts."""
    if kind is None:
        keys = Counter(key for doc in docs for key in span_keys(doc) if len(doc.spans[key]))
        if span_key is not None:
            kind = "spancat"
        elif any(doc.ents for doc in docs):
            kind = "ner"
        elif keys:
            kind = "spancat"
        elif any(doc.cats for doc in docs):
            kind = "textcat"
        elif any(span_keys(doc) for doc in docs):
            kind = "spancat"
        else:
            kind = "ner"
    if kind not in TASKS:
        raise InputError(f"Unknown task {kind!r}; choose one of {', '.join(TASKS)}")
    if kind == "spancat" and span_key is None:
        keys = Counter({key: 0 for doc in docs for key in span_keys(doc)})
        keys.update(key for doc in docs for key in span_keys(doc) for _ in doc.spans[key])
        if not keys:
            raise InputError("The gold docs have no doc.spans group to score spans against")
        span_key = keys.most_common(1)[0][0]
    counts: Counter = Counter()
    if kind == "ner":
        counts.update(ent.label_ for doc in docs for ent in doc.ents)
    elif kind == "spancat":
        counts.update(span.label_ for doc in docs for span in doc.spans.get(span_key, []))
    else:
        for doc in docs:
            counts.update({label: 0 for label in doc.cats})
            counts.update(positive_cats(doc))
        positives = [len(positive_cats(doc)) for doc in docs if doc.cats]
        if kind == "textcat" and any(n != 1 for n in positives):
            kind = "textcat_multilabel"
    labels = sorted(counts, key=lambda label: (-counts[label], label))
    return Task(kind, span_key if kind == "spancat" else None, labels, dict(counts))


def teacher_task(docs: Sequence[Doc], extra_labels: Optional[Iterable[str]] = None) -> Task:
    """The task of teacher docs; extra_labels are offered to reviewers even if the teacher never used them.

    Entities make a NER task, else a non-empty doc.spans group (the first by name) a spancat
    task, else categories a textcat task (exclusive if there are two or more classes and every
    doc with categories has exactly one on). Docs with nothing make a NER task.
    """
    keys = sorted({k for d in docs for k, group in d.spans.items() if len(group) and k != INCORRECT_KEY})
    has_ents = any(d.has_annotation("ENT_IOB") for d in docs)
    cat_labels = sorted({label for d in docs for label in d.cats})
    span_key = None if has_ents or not keys else keys[0]
    has_spans = has_ents or bool(keys) or not cat_labels
    span_labels = sorted({s.label_ for d in docs for s in doc_spans(d, span_key)}) if has_spans else []
    for label in extra_labels or []:
        target = span_labels if has_spans else cat_labels
        if label not in target:
            target.append(label)
    exclusive = len(cat_labels) > 1 and all(len(positive_cats(d)) == 1 for d in docs if d.cats)
    if has_spans:
        kind = "ner" if span_key is None else "spancat"
        return Task(kind, span_key, span_labels, side_cats=cat_labels, side_cats_exclusive=exclusive)
    return Task("textcat" if exclusive else "textcat_multilabel", None, cat_labels)


# --- agreement --------------------------------------------------------------------------------


def f1(a: Set, b: Set) -> float:
    """F1 of two sets (symmetric); two empty sets agree fully."""
    if not a and not b:
        return 1.0
    return 2 * len(a & b) / (len(a) + len(b))


def disagreement(teacher: Doc, student: Doc, task: Task) -> float:
    """0 (the same answer) to 1 (nothing in common); a task with spans and categories takes the larger.

    Spans: 1 - F1 of the two (start, end, label) sets. Exclusive classes: 1 - the student's score
    for the teacher's class (no teacher class: the student's highest score). Multi-label: the mean
    absolute difference of the scores over the task's categories.
    """
    parts = []
    if task.has_spans:
        parts.append(1.0 - f1(task.span_set(teacher), task.span_set(student)))
    if task.cat_labels or not task.has_spans:
        parts.append(cats_disagreement(teacher, student, task.cat_labels, task.exclusive))
    return max(parts)


def cats_disagreement(teacher: Doc, student: Doc, labels: Sequence[str], exclusive: bool) -> float:
    labels = list(labels) or sorted(set(teacher.cats) | set(student.cats))
    if not labels:
        return 0.0
    if exclusive:
        top = [label for label in labels if teacher.cats.get(label, 0.0) >= 0.5]
        if top:
            return 1.0 - float(student.cats.get(top[0], 0.0))
        return max(float(student.cats.get(label, 0.0)) for label in labels)
    return sum(abs(teacher.cats.get(label, 0.0) - student.cats.get(label, 0.0)) for label in labels) / len(labels)
