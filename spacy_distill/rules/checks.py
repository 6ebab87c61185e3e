"""Checks before a candidate is scored: duplicates merged, every rule compiles, no regex hangs the run.

A failed check drops the rule with its reason (a `Dropped`); nothing here raises for a bad rule.
"""

import json
from dataclasses import dataclass
from typing import Any, Dict, List, Sequence, Set, Tuple

from spacy.language import Language
from spacy.tokens import Doc

from .matching import RegexTimeout, RuleError, RuleMatcher
from .rule import Rule

SpanTuple = Tuple[int, int, str]  # token start, token end, label
DocMatches = Dict[str, Dict[int, List[SpanTuple]]]  # rule id -> doc index -> the rule's spans there

# reason -> what the report says about it
REASONS = {
    "duplicate": "the same label and pattern as another rule",
    "invalid": "does not compile",
    "regex_timeout": "its regex ran past the time bound",
    "no_matches": "no matches on the selection split",
    "low_precision": "precision below the minimum",
    "no_gain": "does not raise F on the selection split",
}


@dataclass
class Dropped:
    rule: Rule
    reason: str  # a key of REASONS
    detail: str


@dataclass
class Split:
    """Gold docs that rules are scored on, with the gold spans and every rule's matches as token spans."""

    name: str
    docs: List[Doc]
    gold: List[Set[SpanTuple]]
    matches: DocMatches


def pattern_key(rule: Rule) -> Tuple[str, str, str]:
    """What makes two rules the same: label, kind and pattern (token attribute names in any case)."""
    if rule.kind == "tokens":
        body: Any = [{str(k).upper(): v for k, v in token.items()} for token in rule.pattern]
    else:
        body = rule.regex if rule.kind == "regex" else rule.pattern
    return rule.label, rule.kind, json.dumps(body, sort_keys=True, default=str)


def merge_duplicates(rules: Sequence[Rule]) -> Tuple[List[Rule], List[Dropped]]:
    """The first rule of each label and pattern (its stats list the other sources in `also_from`);
    the others are dropped as duplicates. An id used twice for different rules gets a suffix."""
    first: Dict[Tuple, Rule] = {}
    ids: Set[str] = set()
    dropped = []
    for rule in rules:
        key = pattern_key(rule)
        if key in first:
            kept = first[key]
            also = kept.stats.setdefault("also_from", [])
            if rule.source != kept.source and rule.source not in also:
                also.append(rule.source)
            dropped.append(Dropped(rule, "duplicate", f"same label and pattern as {kept.id}"))
            continue
        rule.id = unique_id(rule.id, ids)
        ids.add(rule.id)
        first[key] = rule
    return list(first.values()), dropped


def unique_id(rule_id: str, taken: Set[str]) -> str:
    candidate, n = rule_id, 1
    while candidate in taken:
        n += 1
        candidate = f"{rule_id}-{n}"
    return candidate


def compile_rules(nlp: Language, rules: Sequence[Rule], regex_timeout: float) -> Tuple[RuleMatcher, List[Dropped]]:
    """A matcher with every rule that compiles; the others dropped with the compiler's reason."""
    matcher = RuleMatcher(nlp, regex_timeout=regex_timeout)
    dropped = []
    for rule in rules:
        try:
            matcher.add(rule)
        except RuleError as e:
            dropped.append(Dropped(rule, "invalid", str(e)))
    return matcher, dropped


def match_splits(nlp: Language, matcher: RuleMatcher, splits: Sequence[Split]) -> Tuple[RuleMatcher, List[Dropped]]:
    """Fill each split's matches. A regex past the time bound on a doc is dropped (the reason names the
    doc), the matcher rebuilt without it and the matching started again."""
    dropped: List[Dropped] = []
    while True:
        try:
            for split in splits:
                split.matches = split_matches(matcher, split)
            return matcher, dropped
        except TimedOutOn as timeout:
            rule = matcher.rules[timeout.error.rule_id]
            dropped.append(Dropped(rule, "regex_timeout", f"{timeout.error} ({timeout.where})"))
            remaining = [r for r in matcher.rules.values() if r.id != rule.id]
            matcher, _ = compile_rules(nlp, remaining, matcher.regex_timeout)


class TimedOutOn(Exception):
    def __init__(self, error: RegexTimeout, where: str):
        super().__init__(str(error))
        self.error, self.where = error, where


def split_matches(matcher: RuleMatcher, split: Split) -> DocMatches:
    matches: DocMatches = {rule_id: {} for rule_id in matcher.rules}
    for i, doc in enumerate(split.docs):
        try:
            found = matcher(doc)
        except RegexTimeout as e:
            raise TimedOutOn(e, f"{split.name} doc {i + 1}") from None
        for match in found:
            span = doc.char_span(match.start_char, match.end_char)
            if span is not None:
                matches[match.rule_id].setdefault(i, []).append((span.start, span.end, match.label))
    return matches
