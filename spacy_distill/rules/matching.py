"""Run rules on docs: token patterns with spaCy's Matcher, phrases with the PhraseMatcher (on LOWER by
default: any case; ORTH matches the exact case, as a plain entity_ruler does),
regexes with the `regex` package on the whole text, under a time bound.

Every match is a token-aligned character span. A regex match off token boundaries is snapped as
`import --align` does (`doc.char_span(..., alignment_mode=align)`; "strict" drops it), and counted.
"""

import re
from collections import Counter
from typing import Callable, Dict, Iterable, List, NamedTuple, Tuple, Union

import regex
import spacy
from spacy.language import Language
from spacy.matcher import Matcher, PhraseMatcher
from spacy.tokens import Doc
from spacy.vocab import Vocab

from ..errors import InputError
from .rule import Rule

ALIGN_MODES = ("strict", "expand", "contract")


class RuleError(InputError):
    """A rule that does not compile; the message names the rule id and why."""

    def __init__(self, rule_id: str, message: str):
        super().__init__(f"rule {rule_id}: {message}")
        self.rule_id = rule_id


class RegexTimeout(RuleError):
    """A rule's regex ran past the time bound on a doc."""


class Match(NamedTuple):
    """A rule's match: a token-aligned character span of the doc."""

    rule_id: str
    label: str
    start_char: int
    end_char: int


class RuleMatcher:
    """All rules' matches in a doc. Invalid rules raise RuleError when added.

    vocab_or_nlp: the pipeline (or its vocab) whose tokenizer the docs and phrases share.
    phrase_attr: the token attribute phrases match on ("LOWER": any case, "ORTH": exact case).
    counts: "regex_snapped" (moved to token boundaries), "regex_dropped" (no token span under
    align="strict" or "contract"), "regex_timeouts" (skipped, with skip_timeouts).
    """

    def __init__(
        self,
        vocab_or_nlp: Union[Vocab, Language],
        rules: Iterable[Rule] = (),
        *,
        align: str = "expand",
        regex_timeout: float = 1.0,
        phrase_attr: str = "LOWER",
    ):
        if align not in ALIGN_MODES:
            raise InputError(f"align must be one of {', '.join(ALIGN_MODES)}, not {align!r}")
        if isinstance(vocab_or_nlp, Language):
            self.vocab, self.make_doc = vocab_or_nlp.vocab, vocab_or_nlp.make_doc
        else:
            self.vocab, self.make_doc = vocab_or_nlp, spacy.blank(vocab_or_nlp.lang, vocab=vocab_or_nlp).make_doc
        self.align = align
        self.regex_timeout = regex_timeout
        self.counts: Counter = Counter()
        self.rules: Dict[str, Rule] = {}
        self._token_matcher = Matcher(self.vocab, validate=True)
        try:
            self._phrase_matcher = PhraseMatcher(self.vocab, attr=phrase_attr)
        except ValueError as e:
            raise InputError(f"phrase_matcher_attr {phrase_attr!r}: {one_line(e)}") from None
        self._regexes: Dict[str, regex.Pattern] = {}
        for rule in rules:
            self.add(rule)

    def add(self, rule: Rule) -> None:
        """Compile and add one rule; RuleError if it does not compile or its id is taken."""
        if rule.id in self.rules:
            raise RuleError(rule.id, "the id is used by another rule")
        if rule.kind == "regex":
            self._regexes[rule.id] = compile_regex(rule)
        elif rule.kind == "phrase":
            if not rule.pattern.strip():
                raise RuleError(rule.id, "the phrase has no tokens")
            self._phrase_matcher.add(rule.id, [self.make_doc(rule.pattern)])
        else:
            try:
                self._token_matcher.add(rule.id, [rule.pattern])
            except (ValueError, TypeError, KeyError) as e:
                raise RuleError(rule.id, f"invalid token pattern ({one_line(e)})") from None
        self.rules[rule.id] = rule

    def __len__(self) -> int:
        return len(self.rules)

    def __call__(self, doc: Doc, *, skip_timeouts: bool = False) -> List[Match]:
        """Every rule's matches, sorted by position then rule. A regex running past the time bound
        raises RegexTimeout, or with skip_timeouts gives no matches in this doc and counts
        "regex_timeouts"."""
        matches = self._token_and_phrase_matches(doc)
        for rule_id in self._regexes:
            try:
                matches.extend(self._regex_matches(rule_id, doc))
            except RegexTimeout:
                if not skip_timeouts:
                    raise
                self.counts["regex_timeouts"] += 1
        return sorted(set(matches), key=lambda m: (m.start_char, m.end_char, m.rule_id))

    def rule_matches(self, rule_id: str, doc: Doc) -> List[Match]:
        """One rule's matches in doc, sorted by position (for many rules, `matcher(doc)` once is faster)."""
        rule = self.rules[rule_id]
        if rule.kind == "regex":
            return sorted(set(self._regex_matches(rule_id, doc)), key=lambda m: (m.start_char, m.end_char))
        matcher = self._phrase_matcher if rule.kind == "phrase" else self._token_matcher
        key = self.vocab.strings[rule_id]
        found = {(start, end) for match_id, start, end in self._raw(matcher, doc) if match_id == key}
        return [self._match(rule_id, doc, start, end) for start, end in sorted(found)]

    def _raw(self, matcher: Callable, doc: Doc) -> List[Tuple[int, int, int]]:
        return [m for m in matcher(doc) if m[1] != m[2]] if len(matcher) else []

    def _token_and_phrase_matches(self, doc: Doc) -> List[Match]:
        raw = self._raw(self._token_matcher, doc) + self._raw(self._phrase_matcher, doc)
        return [self._match(self.vocab.strings[match_id], doc, start, end) for match_id, start, end in raw]

    def _match(self, rule_id: str, doc: Doc, start: int, end: int) -> Match:
        span = doc[start:end]
        return Match(rule_id, self.rules[rule_id].label, span.start_char, span.end_char)

    def _regex_matches(self, rule_id: str, doc: Doc) -> List[Match]:
        label = self.rules[rule_id].label
        matches = []
        for start, end in regex_char_spans(self._regexes[rule_id], rule_id, doc.text, self.regex_timeout):
            span = doc.char_span(start, end, alignment_mode=self.align)
            if span is None or not len(span):
                self.counts["regex_dropped"] += 1
                continue
            if (span.start_char, span.end_char) != (start, end):
                self.counts["regex_snapped"] += 1
            matches.append(Match(rule_id, label, span.start_char, span.end_char))
        return matches


def compile_regex(rule: Rule) -> "regex.Pattern":
    """The rule's regex compiled with `regex`; it must also compile with Python's `re`, since the
    rulers' single-token approximation (`{"TEXT": {"REGEX": ...}}`) is run by spaCy with `re`."""
    try:
        compiled = regex.compile(rule.regex)
        re.compile(rule.regex)
    except (regex.error, re.error) as e:
        raise RuleError(rule.id, f"invalid regex {rule.regex!r} ({one_line(e)})") from None
    if compiled.search("") is not None:
        raise RuleError(rule.id, f"the regex {rule.regex!r} matches the empty string")
    return compiled


def regex_char_spans(pattern: "regex.Pattern", rule_id: str, text: str, timeout: float) -> List[Tuple[int, int]]:
    """(start, end) of the regex's non-empty matches in text; RegexTimeout past `timeout` seconds."""
    try:
        return [m.span() for m in pattern.finditer(text, timeout=timeout) if m.end() > m.start()]
    except TimeoutError:
        raise RegexTimeout(
            rule_id, f"the regex took over {timeout:g} s on the doc starting {text[:40]!r}; it backtracks"
        ) from None


def one_line(error: Exception) -> str:
    return " ".join(str(error).split())
