"""A rule: a phrase, a spaCy Matcher token pattern or a character regex, with a label and provenance.

One rule is one line of a patterns JSONL that spaCy's `entity_ruler` / `span_ruler` load as it is:
`label` and `pattern` are what the rulers read; `id`, `regex`, `source` and `stats` ride along. A
regex rule's `pattern` is `[{"TEXT": {"REGEX": regex}}]`, the single-token approximation the
rulers understand; `RuleMatcher` runs the regex itself on the whole text.
"""

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple, Union

from ..errors import InputError
from ..files import write_text_atomic
from ..formats.common import read_jsonl, stable_hash

SOURCES = ("llm", "induced", "seed")
TokenPattern = List[Dict[str, Any]]


@dataclass
class Rule:
    """One rule: exactly one of `pattern` (a phrase or a token pattern) and `regex`."""

    id: str
    label: str
    pattern: Optional[Union[str, TokenPattern]] = None
    regex: Optional[str] = None
    source: str = "seed"
    stats: Dict[str, Any] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        """ "regex", "phrase" or "tokens"."""
        if self.regex is not None:
            return "regex"
        return "phrase" if isinstance(self.pattern, str) else "tokens"

    def to_dict(self) -> Dict[str, Any]:
        """The JSONL object: always `label` and `pattern`, so the rulers load it as it is."""
        obj: Dict[str, Any] = {"id": self.id, "label": self.label}
        if self.regex is not None:
            obj["pattern"] = regex_token_pattern(self.regex)
            obj["regex"] = self.regex
        else:
            obj["pattern"] = self.pattern
        obj["source"] = self.source
        obj["stats"] = self.stats
        return obj

    @classmethod
    def from_dict(cls, obj: Dict[str, Any], where: str = "rule") -> "Rule":
        """A rule from a JSONL object; a wrong shape raises InputError naming `where` (file:line)."""
        if not isinstance(obj, dict):
            raise InputError(f"{where}: a rule is a JSON object, got {type(obj).__name__}")
        label = obj.get("label")
        if not isinstance(label, str) or not label:
            raise InputError(f'{where}: a pattern needs "label" and "pattern" (or "regex"); "label" is a string')
        regex = obj.get("regex")
        pattern = None if regex is not None else obj.get("pattern")
        if regex is not None and (not isinstance(regex, str) or not regex):
            raise InputError(f'{where}: "regex" must be a non-empty string')
        if regex is None:
            check_pattern_shape(pattern, where)
        source = obj.get("source", "seed")
        if source not in SOURCES:
            raise InputError(f'{where}: "source" must be one of {", ".join(SOURCES)}, not {source!r}')
        stats = obj.get("stats", {})
        if not isinstance(stats, dict):
            raise InputError(f'{where}: "stats" must be an object')
        rule_id = obj.get("id")
        if rule_id is None:
            rule_id = default_rule_id(label, pattern, regex)
        elif not isinstance(rule_id, str) or not rule_id:
            raise InputError(f'{where}: "id" must be a non-empty string')
        return cls(id=rule_id, label=label, pattern=pattern, regex=regex, source=source, stats=dict(stats))


def regex_token_pattern(regex: str) -> TokenPattern:
    """The single-token approximation of a regex that spaCy's Matcher (and so the rulers) understand."""
    return [{"TEXT": {"REGEX": regex}}]


def check_pattern_shape(pattern: Any, where: str) -> None:
    """A phrase (non-empty string) or a token pattern (non-empty list of objects); else InputError."""
    if isinstance(pattern, str):
        if not pattern.strip():
            raise InputError(f'{where}: "pattern" is an empty phrase')
        return
    if pattern is None:
        raise InputError(f'{where}: a pattern needs "label" and "pattern" (a phrase or token list) or "regex"')
    if not isinstance(pattern, list) or not pattern or not all(isinstance(t, dict) for t in pattern):
        raise InputError(f'{where}: "pattern" must be a phrase string or a non-empty list of token objects')


def default_rule_id(label: str, pattern: Any, regex: Optional[str]) -> str:
    """A stable id for a rule that has none: a hash of its label and pattern (or regex)."""
    return f"{label}-{stable_hash(label, pattern, regex) & 0xFFFFFFFF:08x}"


def rules_to_jsonl(rules: List[Rule]) -> str:
    """One JSON object per line, a final newline."""
    return "".join(json.dumps(rule.to_dict(), ensure_ascii=False) + "\n" for rule in rules)


def read_rules(path: Path) -> List[Rule]:
    """Rules from a patterns JSONL (ours, or a plain entity_ruler file); errors name file and line."""
    return [rule for _, rule in iter_rules(path)]


def iter_rules(path: Path) -> Iterator[Tuple[int, Rule]]:
    """(line number, rule) for each line of a patterns JSONL; errors name file and line."""
    for i, obj in read_jsonl(Path(path)):
        yield i, Rule.from_dict(obj, f"{path}:{i}")


def write_rules(path: Path, rules: List[Rule]) -> None:
    """Write rules as a patterns JSONL, whole or not at all."""
    write_text_atomic(Path(path), rules_to_jsonl(rules))
