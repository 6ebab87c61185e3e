"""Rules judged on gold: per-rule stats on a split, greedy selection, and the kept set's P/R/F.

Spans are token spans `(start, end, label)`. Overlapping matches are resolved as the entity_ruler
does (the longest first, then the earliest); a span task (span_ruler) keeps them all.
"""

import random
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Optional, Sequence, Set, Tuple

from spacy.tokens import Doc, Span

from ..scoring import empty_prediction, score
from ..task import Task
from .checks import Dropped, SpanTuple, Split
from .rule import Rule

CONTEXT_CHARS = 40
EXAMPLES_PER_RULE = 3


def split_docs(docs: Sequence[Doc], seed: int) -> Tuple[List[Doc], List[Doc]]:
    """The docs in two halves (selection, report), shuffled with `seed`."""
    order = list(range(len(docs)))
    random.Random(seed).shuffle(order)
    half = (len(docs) + 1) // 2
    return [docs[i] for i in sorted(order[:half])], [docs[i] for i in sorted(order[half:])]


def make_split(name: str, docs: Sequence[Doc], task: Task) -> Split:
    gold = [{(s.start, s.end, s.label_) for s in task.spans(doc)} for doc in docs]
    return Split(name, list(docs), gold, {})


def resolve(spans: Iterable[SpanTuple], overlaps: bool) -> Set[SpanTuple]:
    """What a ruler writes: all spans (overlaps allowed) or, as entity_ruler, the longest first."""
    if overlaps:
        return set(spans)
    taken: Set[int] = set()
    kept = set()
    for start, end, label in sorted(set(spans), key=lambda s: (s[0] - s[1], s[0])):
        if not taken.intersection(range(start, end)):
            kept.add((start, end, label))
            taken.update(range(start, end))
    return kept


def prf(tp: int, predicted: int, gold: int) -> Dict[str, float]:
    p = tp / predicted if predicted else 0.0
    r = tp / gold if gold else 0.0
    return {"p": p, "r": r, "f": 2 * tp / (predicted + gold) if predicted + gold else 0.0}


def rule_stats(split: Split, overlaps: bool, among: Optional[Set[str]] = None) -> Dict[str, Dict[str, Any]]:
    """Per rule id (of `among`, default all): matches, tp, fp, precision (None without matches), and how
    many of its matches overlap a match of another of these rules with the same label (overlaps) or
    another label (conflicts)."""
    matches = {rule_id: docs for rule_id, docs in split.matches.items() if among is None or rule_id in among}
    in_doc: Dict[int, List[Tuple[str, SpanTuple]]] = defaultdict(list)
    for rule_id, docs in matches.items():
        for i, spans in docs.items():
            in_doc[i].extend((rule_id, span) for span in spans)
    stats = {}
    for rule_id, docs in matches.items():
        tp = n_matches = overlapping = conflicting = 0
        for i, spans in docs.items():
            own = resolve(spans, overlaps)
            n_matches += len(own)
            tp += len(own & split.gold[i])
            for start, end, label in own:
                crossing = {s[2] for other, s in in_doc[i] if other != rule_id and s[0] < end and start < s[1]}
                overlapping += label in crossing
                conflicting += bool(crossing - {label})
        stats[rule_id] = {
            "matches": n_matches,
            "tp": tp,
            "fp": n_matches - tp,
            "precision": round(tp / n_matches, 4) if n_matches else None,
            "overlaps": overlapping,
            "conflicts": conflicting,
        }
    return stats


@dataclass
class Selection:
    kept: List[Rule] = field(default_factory=list)
    dropped: List[Dropped] = field(default_factory=list)
    scores: Dict[str, float] = field(default_factory=dict)  # the kept set's P/R/F on the selection split


def select_rules(rules: Sequence[Rule], split: Split, min_precision: float, overlaps: bool) -> Selection:
    """Greedy: by precision, then matches, keep a rule whose precision is at least `min_precision`
    and that raises F of the kept set on `split`. Each rule's `stats["covered"]` is the gold spans it
    newly covered when kept."""
    selection = Selection()
    by_doc: Dict[int, List[SpanTuple]] = defaultdict(list)  # the kept rules' matches
    predicted: Dict[int, Set[SpanTuple]] = defaultdict(set)
    n_gold = sum(len(g) for g in split.gold)
    tp = n_predicted = 0
    f = 0.0
    for rule in sorted(rules, key=lambda r: (-(r.stats["precision"] or 0.0), -r.stats["matches"], r.id)):
        precision = rule.stats["precision"]
        if precision is None:
            selection.dropped.append(Dropped(rule, "no_matches", "no matches on the selection split"))
            continue
        if precision < min_precision:
            detail = f"precision {precision:.2f} < {min_precision:.2f} ({rule.stats['fp']} false positives)"
            selection.dropped.append(Dropped(rule, "low_precision", detail))
            continue
        changed = {}
        new_tp, new_predicted = tp, n_predicted
        for i, spans in split.matches.get(rule.id, {}).items():
            changed[i] = resolve(by_doc[i] + spans, overlaps)
            new_tp += len(changed[i] & split.gold[i]) - len(predicted[i] & split.gold[i])
            new_predicted += len(changed[i]) - len(predicted[i])
        new_f = prf(new_tp, new_predicted, n_gold)["f"]
        if new_f <= f + 1e-12:
            selection.dropped.append(Dropped(rule, "no_gain", f"F stays at {f:.3f} with it (at {new_f:.3f})"))
            continue
        rule.stats["covered"] = new_tp - tp
        for i, spans in split.matches.get(rule.id, {}).items():
            by_doc[i].extend(spans)
            predicted[i] = changed[i]
        tp, n_predicted, f = new_tp, new_predicted, new_f
        selection.kept.append(rule)
    selection.scores = prf(tp, n_predicted, n_gold)
    return selection


def kept_set_scores(rules: Sequence[Rule], split: Split, task: Task) -> Dict[str, Any]:
    """P/R/F (and per label) of the rules together on the split, with spaCy's scorer."""
    overlaps = task.kind != "ner"
    predictions = []
    for i, doc in enumerate(split.docs):
        spans = resolve((s for rule in rules for s in split.matches.get(rule.id, {}).get(i, [])), overlaps)
        predictions.append(prediction_doc(doc, sorted(spans), task))
    return score(predictions, split.docs, task)


def prediction_doc(gold: Doc, spans: Sequence[SpanTuple], task: Task) -> Doc:
    doc = empty_prediction(gold, task)
    made = [Span(doc, start, end, label=label) for start, end, label in spans]
    if task.kind == "ner":
        doc.ents = made
    else:
        doc.spans[task.span_key] = made
    return doc


def examples(rule_id: str, splits: Sequence[Split], limit: int = EXAMPLES_PER_RULE) -> List[Dict[str, Any]]:
    """Up to `limit` matches in context, from the last split first (the report split): a false
    positive first if there is one, then correct ones, then further false positives."""
    found: List[Dict[str, Any]] = []
    for split in reversed(splits):
        for i, spans in sorted(split.matches.get(rule_id, {}).items()):
            for span in sorted(set(spans)):
                found.append(in_context(split, i, span))
    wrong = [e for e in found if not e["correct"]]
    right = [e for e in found if e["correct"]]
    return (wrong[:1] + right + wrong[1:])[:limit]


def in_context(split: Split, i: int, span: SpanTuple, chars: int = CONTEXT_CHARS) -> Dict[str, Any]:
    doc = split.docs[i]
    start, end = doc[span[0]].idx, doc[span[1] - 1].idx + len(doc[span[1] - 1])
    return {
        "split": split.name,
        "doc": i + 1,
        "left": doc.text[max(0, start - chars) : start],
        "text": doc.text[start:end],
        "right": doc.text[end : end + chars],
        "correct": span in split.gold[i],
    }
