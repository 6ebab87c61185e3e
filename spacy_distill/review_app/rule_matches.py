"""The texts a rule is shown on, and its matches there in context, marked by gold where known.

A rule from the page (an edit) is parsed and compiled with `RuleMatcher` here; anything wrong
with it is a `ReviewError` whose message the page shows.
"""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Set

import spacy
from spacy.tokens import Doc

from ..corpus.gold import load_gold
from ..errors import InputError
from ..inputs import read_records
from ..rules.matching import RuleError, RuleMatcher
from ..rules.rule import Rule
from ..task import detect_task, span_tuples
from .storage import ReviewError

SHOWN = 20  # matches shown per rule
CONTEXT = 60  # characters either side of a match
KINDS = ("phrase", "tokens", "regex")
REGEX_TIMEOUT = 1.0


@dataclass
class Corpus:
    """Docs to run rules on; gold: per doc the (start, end, label) spans, or None when not known."""

    path: Path
    docs: List[Doc]
    gold: Optional[List[Set]]


def load_texts(path: Path, lang: str = "en") -> Corpus:
    """Gold docs (.spacy or a corrections file `import` reads) or raw texts (.jsonl, .txt, .csv)."""
    path = Path(path)
    if not path.exists():
        raise ReviewError(f"{path}: file not found")
    try:
        docs = load_gold(path, lang)
    except InputError:
        if path.suffix == ".spacy":
            raise
        nlp = spacy.blank(lang)
        docs = [nlp.make_doc(record.text) for record in read_records(path)]
        if not docs:
            raise ReviewError(f"{path}: holds no texts") from None
        return Corpus(path, docs, None)
    task = detect_task(docs)
    if not task.has_spans:
        return Corpus(path, docs, None)
    return Corpus(path, docs, [set(span_tuples(doc, task.span_key)) for doc in docs])


def edited_rule(original: Dict[str, Any], kind: Any, text: Any) -> Rule:
    """The original rule with its pattern replaced by the page's edit: a phrase, a JSON token
    pattern or a regex; ReviewError with the reason if it does not parse (compiling is
    `rule_matches`'s)."""
    if kind not in KINDS:
        raise ReviewError(f"kind: one of {', '.join(KINDS)}")
    if not isinstance(text, str) or not text.strip():
        raise ReviewError("the pattern is empty")
    obj = {k: v for k, v in original.items() if k not in ("pattern", "regex", "stats")}
    if kind == "tokens":
        try:
            obj["pattern"] = json.loads(text)
        except ValueError as e:
            raise ReviewError(f"the token pattern is not valid JSON ({e})") from None
    elif kind == "regex":
        obj["regex"] = text
    else:
        obj["pattern"] = text.strip()
    try:
        return Rule.from_dict(obj, "the edited rule")
    except InputError as e:
        raise ReviewError(str(e)) from None


def rule_matches(rule: Rule, corpus: Corpus, shown: int = SHOWN) -> Dict[str, Any]:
    """The rule's first `shown` matches in context, and its counts over the whole corpus;
    ReviewError if the rule does not compile."""
    try:
        matcher = RuleMatcher(corpus.docs[0].vocab, [rule], regex_timeout=REGEX_TIMEOUT)
    except RuleError as e:
        raise ReviewError(str(e)) from None
    matches: List[Dict[str, Any]] = []
    total = tp = docs_matched = 0
    for i, doc in enumerate(corpus.docs):
        found = matcher(doc, skip_timeouts=True)
        docs_matched += bool(found)
        for match in found:
            correct = None if corpus.gold is None else (match.start_char, match.end_char, match.label) in corpus.gold[i]
            total += 1
            tp += bool(correct)
            if len(matches) < shown:
                matches.append(in_context(doc.text, match.start_char, match.end_char, i, correct))
    stats: Dict[str, Any] = {"matches": total, "docs": docs_matched, "texts": len(corpus.docs)}
    if corpus.gold is not None:
        stats.update(tp=tp, fp=total - tp, precision=round(tp / total, 3) if total else None)
    if matcher.counts["regex_timeouts"]:
        stats["timeouts"] = matcher.counts["regex_timeouts"]
    return {"matches": matches, "stats": stats}


def in_context(text: str, start: int, end: int, doc: int, correct: Optional[bool]) -> Dict[str, Any]:
    left, right = max(0, start - CONTEXT), min(len(text), end + CONTEXT)
    return {
        "doc": doc,
        "left": ("…" if left else "") + text[left:start],
        "text": text[start:end],
        "right": text[end:right] + ("…" if right < len(text) else ""),
        "correct": correct,
    }
