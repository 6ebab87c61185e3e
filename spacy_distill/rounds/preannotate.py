"""Which model's suggestions the expert sees: teacher, student, a vote, or the best per label.

- teacher: the LLM's docs.
- student: the student of the previous round.
- vote: spans (or, for categories, the top class) that a majority of the available systems
  (teacher, student, rules) predict; with two systems that is what both predict.
- best: per label, the system that scored the higher F on that label in the previous round's
  evaluation (categories: the higher headline F), so the student takes over the labels it is
  better at. Round 1 (no student yet): the teacher.
- fewest_edits: the source (teacher, student, rules, vote, or none: no suggestions at all)
  whose suggestions for the previous round's batch needed the fewest edits per doc. F on the
  test set is not the same as the cost of correcting: a student that proposes many spans can
  score a higher F than a teacher that proposes few and still cost more clicks. The student is
  a candidate once it was counted (from round 3); round 1: the teacher.

Whatever is shown, the edits the expert needs are counted against every available source,
so the report can say which source would have needed fewer edits.
"""

from collections import Counter
from typing import Any, Dict, List, Optional, Tuple

from spacy.tokens import Doc
from spacy.util import filter_spans

from ..errors import ConfigError
from ..task import SpanTuple, Task, span_tuples, top_label

MODES = ("teacher", "student", "vote", "best", "fewest_edits")


def with_annotations(base: Doc, spans: List[SpanTuple], cats: Optional[Dict[str, float]], task: Task) -> Doc:
    """A copy of base (tokens, provenance) carrying the given spans and categories."""
    doc = base.copy()
    if task.kind in ("ner", "spancat"):
        made = [doc.char_span(s, e, label, alignment_mode="expand") for s, e, label in spans]
        made = [s for s in made if s is not None]
        if task.kind == "ner":
            doc.set_ents(filter_spans(made), default="outside")
        else:
            doc.spans[task.span_key] = made
    if cats is not None:
        doc.cats = dict(cats)
    return doc


def vote(sources: Dict[str, Doc], task: Task, order: List[str]) -> Doc:
    """Majority over the systems in `sources` (order: who wins a tie for categories)."""
    names = [n for n in order if n in sources]
    base = sources[names[0]]
    need = len(names) // 2 + 1
    if task.kind in ("ner", "spancat"):
        counts = Counter(span for n in names for span in set(span_tuples(sources[n], task.span_key)))
        return with_annotations(base, sorted(s for s, c in counts.items() if c >= need), None, task)
    if task.kind == "textcat":
        tops = [top_label(sources[n], task.labels) for n in names]
        counts = Counter(t for t in tops if t is not None)
        winner = max(counts, key=lambda t: (counts[t], -tops.index(t))) if counts else None
        return with_annotations(base, [], {label: float(label == winner) for label in task.labels}, task)
    cats = {label: float(sum(sources[n].cats.get(label, 0.0) >= 0.5 for n in names) >= need) for label in task.labels}
    return with_annotations(base, [], cats, task)


def best_by_label(sources: Dict[str, Doc], task: Task, previous: Dict[str, Any]) -> Doc:
    """Per label, the spans of the system with the higher F on that label last round."""
    winners = label_winners(previous, task, list(sources))
    base = sources.get("teacher") or next(iter(sources.values()))
    if task.kind in ("ner", "spancat"):
        spans = [
            s
            for name, doc in sources.items()
            for s in span_tuples(doc, task.span_key)
            if winners.get(s[2], "teacher") == name
        ]
        return with_annotations(base, sorted(set(spans)), None, task)
    name = winners.get("*", "teacher")
    return with_annotations(base, [], dict(sources.get(name, base).cats), task)


def label_winners(previous: Dict[str, Any], task: Task, available: List[str]) -> Dict[str, str]:
    """{label: system} from last round's per-label F ("*": the best headline F). Ties go to the teacher."""
    systems = {n: e for n, e in (previous or {}).items() if n in available and e is not None}
    if not systems:
        return {}
    ranked = lambda scores: max(scores, key=lambda n: (scores[n], n == "teacher"))  # noqa: E731
    winners = {"*": ranked({n: e.get("f") or 0.0 for n, e in systems.items()})}
    if task.kind in ("ner", "spancat"):
        labels = set(task.labels) | {label for e in systems.values() for label in (e.get("per_label") or {})}
        for label in labels:
            winners[label] = ranked(
                {n: ((e.get("per_label") or {}).get(label) or {}).get("f") or 0.0 for n, e in systems.items()}
            )
    return winners


def choose(
    mode: str,
    sources: Dict[str, List[Doc]],
    task: Task,
    previous: Dict[str, Any],
    previous_edits: Optional[Dict[str, Optional[float]]] = None,
) -> Tuple[List[Doc], str]:
    """The docs to show and a short description of where they came from.

    previous: last round's metrics per system; previous_edits: last round's edits per doc per source.
    """
    if mode not in MODES:
        raise ConfigError(f"Unknown pre-annotation {mode!r}; choose one of {', '.join(MODES)}")
    if mode == "fewest_edits":
        return fewest_edits(sources, task, previous_edits or {})
    if mode == "teacher" or "student" not in sources:
        return sources["teacher"], "teacher"
    if mode == "student":
        return sources["student"], "student"
    n = len(sources["teacher"])
    per_doc = [{name: docs[i] for name, docs in sources.items()} for i in range(n)]
    if mode == "vote":
        names = [name for name in ("teacher", "student", "rules") if name in sources]
        return [vote(d, task, names) for d in per_doc], "vote of " + " + ".join(names)
    winners = label_winners(previous, task, list(sources))
    docs = [best_by_label(d, task, previous) for d in per_doc]
    if task.kind in ("ner", "spancat"):
        used = sorted({winners.get(label, "teacher") for label in task.labels} or {"teacher"})
        if len(used) == 1:
            return docs, used[0]
        return docs, "best per label: " + ", ".join(
            f"{label}<-{winners.get(label, 'teacher')}" for label in task.labels
        )
    return docs, winners.get("*", "teacher")


def vote_source(sources: Dict[str, List[Doc]], task: Task) -> Optional[List[Doc]]:
    """The vote's docs when at least two systems are available (for counting its edits)."""
    names = [name for name in ("teacher", "student", "rules") if name in sources]
    if len(names) < 2:
        return None
    n = len(sources["teacher"])
    return [vote({name: sources[name][i] for name in names}, task, names) for i in range(n)]


def fewest_edits(
    sources: Dict[str, List[Doc]], task: Task, previous_edits: Dict[str, Optional[float]]
) -> Tuple[List[Doc], str]:
    """The source that needed the fewest edits per doc last round (ties: teacher, student, rules, vote, none)."""
    order = ["teacher", "student", "rules", "vote", "none"]
    with_vote = dict(sources)
    voted = vote_source(sources, task)
    if voted is not None:
        with_vote["vote"] = voted
    known = {
        name: cost
        for name, cost in previous_edits.items()
        if cost is not None and (name in with_vote or name == "none") and name in order
    }
    if not known:
        return sources["teacher"], "teacher"
    name = min(known, key=lambda n: (known[n], order.index(n)))
    if name == "none":
        empty_cats = {label: 0.0 for label in task.labels} if task.kind.startswith("textcat") else None
        return [with_annotations(doc, [], empty_cats, task) for doc in sources["teacher"]], "none"
    return with_vote[name], name
