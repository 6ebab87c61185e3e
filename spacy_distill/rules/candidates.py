"""Candidate rules from the corrections themselves (source "induced") and from the user's file ("seed").

Induction, per label, from the corrected spans of the selection split:

- phrases: one lower-cased token pattern per distinct span text (`[{"lower": "ann"}, {"lower": "taylor"}]`);
- shapes: a sequence of token shapes (`[{"SHAPE": "dddd"}, {"SHAPE": "-"}, ...]`) that two or more
  distinct span texts share: codes, IDs, amounts;
- edge words: a word that starts or ends two or more distinct multi-token spans, with the other
  tokens generalised to their shape (`[{"SHAPE": "X"}, {"LOWER": "crew"}]`, `[{"LOWER": "club"},
  {"IS_TITLE": true}]`);
- suffixes: a word ending (3 or 4 letters) that three or more distinct one-word spans share
  (`[{"LOWER": {"REGEX": "mab$"}}]`).

A context word before a span is no candidate: an entity_ruler labels its whole match, so a pattern
with the word would label the word too. Every candidate is judged on the data (`scoring.py`), so a
generalisation that does not hold up is dropped there.
"""

from collections import defaultdict
from pathlib import Path
from typing import Any, Dict, Iterable, List, Sequence, Set, Tuple

from spacy.tokens import Doc, Span, Token

from ..task import Task
from .rule import Rule, default_rule_id, read_rules

MIN_SHARED = 2  # distinct span texts that must share a shape or an edge word
MIN_SUFFIX_SHARED = 3
SUFFIX_LENGTHS = (3, 4)


def seed_candidates(path: Path) -> List[Rule]:
    """The rules of a plain entity_ruler JSONL (or one of ours), as source "seed"."""
    rules = read_rules(Path(path))
    for rule in rules:
        rule.source = "seed"
    return rules


def induced_candidates(docs: Sequence[Doc], task: Task) -> List[Rule]:
    """Phrase, shape, edge-word and suffix rules from the gold spans of `docs` (see the module doc)."""
    spans_by_label: Dict[str, List[Span]] = defaultdict(list)
    for doc in docs:
        for span in task.spans(doc):
            spans_by_label[span.label_].append(span)
    rules: List[Rule] = []
    for label in sorted(spans_by_label):
        spans = distinct_spans(spans_by_label[label])
        patterns = phrase_patterns(spans) + shape_patterns(spans) + edge_word_patterns(spans) + suffix_patterns(spans)
        rules.extend(induced_rule(label, pattern) for pattern in patterns)
    return rules


def induced_rule(label: str, pattern: List[Dict[str, Any]]) -> Rule:
    return Rule(id=default_rule_id(label, pattern, None), label=label, pattern=pattern, source="induced")


def distinct_spans(spans: Iterable[Span]) -> List[Span]:
    """One span per lower-cased text, in order of first appearance."""
    seen: Dict[str, Span] = {}
    for span in spans:
        seen.setdefault(span.text.lower(), span)
    return list(seen.values())


def phrase_patterns(spans: Sequence[Span]) -> List[List[Dict[str, Any]]]:
    return [[{"lower": token.lower_} for token in span] for span in spans if not span.text.isspace()]


def shape_patterns(spans: Sequence[Span]) -> List[List[Dict[str, Any]]]:
    """Shape sequences shared by MIN_SHARED or more distinct span texts."""
    shared = count_distinct(spans, lambda span: [tuple(token.shape_ for token in span)])
    return [[{"SHAPE": shape} for shape in shapes] for shapes in shared]


def edge_word_patterns(spans: Sequence[Span]) -> List[List[Dict[str, Any]]]:
    """A first or last word shared by MIN_SHARED or more distinct multi-token spans, the rest as shapes."""

    def keys(span: Span) -> List[Tuple]:
        if len(span) < 2:
            return []
        first = ("first", span[0].lower_, tuple(generalised(token) for token in span[1:]))
        last = ("last", span[-1].lower_, tuple(generalised(token) for token in span[:-1]))
        return [key for key, token in ((first, span[0]), (last, span[-1])) if token.is_alpha]

    patterns = []
    for edge, word, rest in count_distinct(spans, keys):
        head = {"LOWER": word}
        others = [dict(token) for token in rest]
        patterns.append([head, *others] if edge == "first" else [*others, head])
    return patterns


def suffix_patterns(spans: Sequence[Span]) -> List[List[Dict[str, Any]]]:
    """Word endings shared by MIN_SUFFIX_SHARED or more distinct one-word spans."""

    def keys(span: Span) -> List[str]:
        word = span[0].lower_
        if len(span) != 1 or not span[0].is_alpha:
            return []
        return [word[-n:] for n in SUFFIX_LENGTHS if len(word) > n + 1]

    shared = count_distinct(spans, keys, MIN_SUFFIX_SHARED)
    return [[{"LOWER": {"REGEX": f"{suffix}$"}, "IS_ALPHA": True}] for suffix in shared]


def generalised(token: Token) -> Tuple[Tuple[str, Any], ...]:
    """A token as a hashable pattern: a title-case word as IS_TITLE, anything else by its shape."""
    return (("IS_TITLE", True),) if token.is_title and token.is_alpha else (("SHAPE", token.shape_),)


def count_distinct(spans: Sequence[Span], keys_of, minimum: int = MIN_SHARED) -> List[Any]:
    """The keys (from `keys_of(span)`) that `minimum` or more of the distinct spans give, in first-seen order."""
    texts: Dict[Any, Set[str]] = defaultdict(set)
    for span in spans:
        for key in keys_of(span):
            texts[key].add(span.text.lower())
    return [key for key, seen in texts.items() if len(seen) >= minimum]
