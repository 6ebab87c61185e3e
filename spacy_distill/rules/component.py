"""The rules that ship: a spaCy pipeline component (`spacy_distill_rules`) running token, phrase and
regex rules, writing `doc.ents` (overlaps resolved as the entity_ruler does: longest first) or `doc.spans[spans_key]`
(overlaps kept, as the span_ruler does; exact duplicates of a span already there are not added).

Phrase rules match any case (`phrase_matcher_attr = "LOWER"`); set "ORTH" to match the exact case
as a plain entity_ruler does. Token patterns and regexes behave as in the rulers. No LLM and no
network at run time. Before a `ner` it sets entities the model then respects and fills
in around; alone it is the whole system. A regex that runs past `regex_timeout` on a doc gives no
matches in that doc and is counted (`component.counts["regex_timeouts"]`), never a crash.

    nlp.add_pipe("spacy_distill_rules", before="ner")
    nlp.initialize()  # with [initialize.components.<name>] rules_path = "rules.jsonl"
"""

from pathlib import Path
from typing import Callable, Iterable, List, Optional, Tuple

import srsly
from spacy.language import Language
from spacy.tokens import Doc, Span
from spacy.util import filter_spans

from ..errors import InputError
from .matching import RuleMatcher
from .rule import Rule, read_rules, write_rules

RULES_FILE = "rules.jsonl"


@Language.factory(
    "spacy_distill_rules",
    default_config={
        "spans_key": None,
        "overwrite": False,
        "align": "expand",
        "regex_timeout": 1.0,
        "phrase_matcher_attr": "LOWER",
    },
)
def make_rules_component(
    nlp: Language,
    name: str,
    spans_key: Optional[str],
    overwrite: bool,
    align: str,
    regex_timeout: float,
    phrase_matcher_attr: str,
) -> "RulesComponent":
    return RulesComponent(
        nlp,
        name,
        spans_key=spans_key,
        overwrite=overwrite,
        align=align,
        regex_timeout=regex_timeout,
        phrase_matcher_attr=phrase_matcher_attr,
    )


class RulesComponent:
    """Rules in a pipeline: `add_rules`, or `initialize(rules_path=...)`; saved with the pipeline."""

    def __init__(
        self,
        nlp: Language,
        name: str = "spacy_distill_rules",
        *,
        spans_key: Optional[str] = None,
        overwrite: bool = False,
        align: str = "expand",
        regex_timeout: float = 1.0,
        phrase_matcher_attr: str = "LOWER",
    ):
        self.nlp = nlp
        self.name = name
        self.spans_key = spans_key
        self.overwrite = overwrite
        self.align = align
        self.regex_timeout = regex_timeout
        self.phrase_matcher_attr = phrase_matcher_attr
        self.matcher = self._new_matcher([])

    def _new_matcher(self, rules: Iterable[Rule]) -> RuleMatcher:
        return RuleMatcher(
            self.nlp, rules, align=self.align, regex_timeout=self.regex_timeout, phrase_attr=self.phrase_matcher_attr
        )

    @property
    def rules(self) -> List[Rule]:
        return list(self.matcher.rules.values())

    @property
    def labels(self) -> Tuple[str, ...]:
        return tuple(sorted({rule.label for rule in self.rules}))

    @property
    def counts(self):
        """Regex matches snapped to tokens or dropped, and regex timeouts, since the rules were set."""
        return self.matcher.counts

    def add_rules(self, rules: Iterable[Rule]) -> None:
        """Add rules; RuleError (an InputError naming the rule) for one that does not compile."""
        for rule in rules:
            self.matcher.add(rule)

    def set_rules(self, rules: Iterable[Rule]) -> None:
        """Replace the rules."""
        self.matcher = self._new_matcher(rules)

    def initialize(
        self,
        get_examples: Optional[Callable] = None,
        *,
        nlp: Optional[Language] = None,
        rules_path: Optional[Path] = None,
    ) -> None:
        """Load the rules from a patterns JSONL (`rules_path`); without one, keep the rules it has."""
        if rules_path is not None:
            self.set_rules(read_rules(Path(rules_path)))

    def __call__(self, doc: Doc) -> Doc:
        matches = self.matcher(doc, skip_timeouts=True)
        spans = [doc.char_span(m.start_char, m.end_char, m.label, span_id=m.rule_id) for m in matches]
        if self.spans_key is not None:
            kept = [] if self.overwrite else list(doc.spans.get(self.spans_key, []))
            seen = {(s.start, s.end, s.label) for s in kept}
            new = {(s.start, s.end, s.label): s for s in spans if (s.start, s.end, s.label) not in seen}
            doc.spans[self.spans_key] = kept + list(new.values())
        else:
            doc.ents = sorted(merge_entities(list(doc.ents), filter_spans(spans), self.overwrite))
        return doc

    def to_bytes(self, *, exclude: Iterable[str] = ()) -> bytes:
        return srsly.msgpack_dumps({"rules": [rule.to_dict() for rule in self.rules]})

    def from_bytes(self, data: bytes, *, exclude: Iterable[str] = ()) -> "RulesComponent":
        rules = srsly.msgpack_loads(data)["rules"]
        self.set_rules(Rule.from_dict(obj, f"{self.name} rule {i}") for i, obj in enumerate(rules, start=1))
        return self

    def to_disk(self, path: Path, *, exclude: Iterable[str] = ()) -> None:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        write_rules(path / RULES_FILE, self.rules)

    def from_disk(self, path: Path, *, exclude: Iterable[str] = ()) -> "RulesComponent":
        rules_file = Path(path) / RULES_FILE
        if not rules_file.exists():
            raise InputError(f"{rules_file}: missing; the {self.name} component was saved without its rules")
        self.set_rules(read_rules(rules_file) if rules_file.stat().st_size else [])
        return self


def merge_entities(existing: List[Span], new: List[Span], overwrite: bool) -> List[Span]:
    """Non-overlapping entities: the new ones win over the existing ones if overwrite, else lose."""
    first, second = (new, existing) if overwrite else (existing, new)
    taken = {i for span in first for i in range(span.start, span.end)}
    return first + [span for span in second if not taken.intersection(range(span.start, span.end))]
