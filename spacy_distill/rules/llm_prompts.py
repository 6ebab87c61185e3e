"""Prompts, grammars and parsers for rule candidates from an LLM.

Completion-style prompts a tiny base model can continue (a numbered list of terms, a
``Regex:`` or ``Pattern:`` line after demonstrations), GBNF grammars that keep its answer in that
shape where the backend takes one, and parsers that read any answer line by line:
what they cannot read is counted, never fatal.
"""

import json
import re
from typing import Any, Dict, List, Optional, Sequence, Tuple

MAX_TERM_CHARS = 40
MAX_TERM_WORDS = 3
MAX_REGEX_CHARS = 80
# Characters a term never has (GBNF class body): blanks and the punctuation of chatter, lists and prices.
NOT_IN_TERMS = r" \t\n()\[\]{},;:/|\"$?!*=<>#@%"

TERMS_INTRO = "A list of {n} different {label} names{definition}:\n"
REGEX_DEMOS = (
    ("ORDER_ID", "an order number", ["A-10023", "B-99812", "A-00017"], r"[A-Z]-\d{5}"),
    ("PRICE", "an amount of money", ["$12.99", "$5", "$1,200.00"], r"\$\d{1,3}(,\d{3})*(\.\d\d)?"),
)
# spaCy Matcher token patterns (Matcher JSON): each demonstration matches its examples (tested).
TOKENS_DEMOS = (
    ("PRICE", "an amount of money", ["$12.99", "$5", "$1,200"], '[{"ORTH": "$"}, {"LIKE_NUM": true}]'),
    (
        "COLOR",
        "a color",
        ["dark blue", "light green", "red"],
        '[{"LOWER": {"IN": ["dark", "light"]}, "OP": "?"}, {"LOWER": {"IN": ["blue", "green", "red"]}}]',
    ),
    ("PHONE", "a phone model", ["iPhone 12", "Pixel 7", "Galaxy 9"], '[{"IS_ALPHA": true}, {"LIKE_NUM": true}]'),
)
TOKEN_FLAGS = ("IS_TITLE", "IS_DIGIT", "LIKE_NUM", "IS_UPPER", "IS_ALPHA", "IS_PUNCT")
MAX_PATTERN_TOKENS = 5
_TOKENS_LINE = "Label: {label} ({definition})\nExamples: {examples}\nPattern:"
_REGEX_LINE = "Label: {label} ({definition})\nExamples: {examples}\nRegex:"
_LIST_ITEM = re.compile(r"^\s*(?:\d{1,3}\s*[.):]|[-*\u2022])?\s*(?P<term>.*?)\s*$")
_WORD = re.compile(r"\w")
_MARKUP = re.compile(r"[{}\[\]<>=]")


def terms_prompt(label: str, definition: Optional[str], seeds: Sequence[str], n: int = 20) -> str:
    """A numbered list of the label's terms for the model to continue (one term per line)."""
    definition = f" ({definition})" if definition else ""
    items = "".join(f"{i}. {seed}\n" for i, seed in enumerate(seeds, start=1))
    return TERMS_INTRO.format(n=n, label=label, definition=definition) + items


def terms_grammar(max_terms: int = 12, max_words: int = MAX_TERM_WORDS) -> str:
    """GBNF: up to `max_terms` lines ``N. term`` (a term of 1..max_words words), then a blank line."""
    return "\n".join(
        [
            f'root ::= line{{1,{max_terms}}} "\\n"',
            'line ::= [0-9]{1,2} ". " term "\\n"',
            f'term ::= word (" " word){{0,{max_words - 1}}}',
            f"word ::= [^{NOT_IN_TERMS}&'.-] [^{NOT_IN_TERMS}]{{0,15}}",
        ]
    )


def regex_prompt(label: str, definition: Optional[str], examples: Sequence[str]) -> str:
    """Two demonstrations, then the label's examples and ``Regex:`` for the model to complete."""
    blocks = [
        _REGEX_LINE.format(label=name, definition=what, examples=" | ".join(shown)) + f" {answer}\n"
        for name, what, shown, answer in REGEX_DEMOS
    ]
    query = _REGEX_LINE.format(label=label, definition=definition or label, examples=" | ".join(examples))
    return "Write a regular expression that matches the examples of each label.\n\n" + "\n".join(blocks) + "\n" + query


def regex_grammar() -> str:
    """GBNF: one space, a regex of printable characters on one line, a newline."""
    return f'root ::= " " [^ \\t\\n] [^\\t\\n]{{0,{MAX_REGEX_CHARS - 1}}} "\\n"'


def tokens_prompt(label: str, definition: Optional[str], examples: Sequence[str]) -> str:
    """Three demonstrations of spaCy token patterns, then the label's examples and ``Pattern:``."""
    blocks = [
        _TOKENS_LINE.format(label=name, definition=what, examples=" | ".join(shown)) + f" {answer}\n"
        for name, what, shown, answer in TOKENS_DEMOS
    ]
    query = _TOKENS_LINE.format(label=label, definition=definition or label, examples=" | ".join(examples))
    intro = "Write a spaCy Matcher token pattern that matches the examples of each label.\n\n"
    return intro + "\n".join(blocks) + "\n" + query


def tokens_grammar(max_tokens: int = MAX_PATTERN_TOKENS) -> str:
    """GBNF: one space and a JSON list of 1..max_tokens token objects on one line, each with one or two
    of LOWER (a string or {"IN": [...]}), ORTH, SHAPE, a flag set to true and OP; then a newline."""
    flags = " | ".join(f'"\\"{flag}\\": true"' for flag in TOKEN_FLAGS)
    return "\n".join(
        [
            f'root ::= " [" tok (", " tok){{0,{max_tokens - 1}}} "]\\n"',
            'tok ::= "{" attr (", " attr)? (", " op)? "}"',
            f'attr ::= "\\"LOWER\\": " (str | in) | "\\"ORTH\\": " str | "\\"SHAPE\\": " shape | {flags}',
            'op ::= "\\"OP\\": \\"" [?+*] "\\""',
            'in ::= "{\\"IN\\": [" str (", " str){0,9} "]}"',
            'str ::= "\\"" [^"\\\\\\n]{1,24} "\\""',
            'shape ::= "\\"" [Xxd]{1,5} "\\""',
        ]
    )


def parse_token_pattern(answer: str) -> Tuple[Optional[List[Dict[str, Any]]], int]:
    """The token pattern (a JSON list of objects) on the answer's first non-blank line, LOWER values
    lower-cased, and 1 if there is none (0 otherwise). Whether spaCy's Matcher takes it is checked later."""
    line = next((line.strip() for line in answer.splitlines() if line.strip()), "")
    if line.lower().startswith("pattern:"):
        line = line[len("pattern:") :].strip()
    try:
        pattern = json.loads(line.strip("`"))
    except ValueError:
        return None, 1
    if not isinstance(pattern, list) or not pattern or not all(isinstance(t, dict) and t for t in pattern):
        return None, 1
    return [lower_values(token) for token in pattern], 0


def lower_values(token: Dict[str, Any]) -> Dict[str, Any]:
    """A token object with its LOWER value (a string or the strings of an IN list) lower-cased."""
    value = token.get("LOWER")
    if isinstance(value, str):
        return {**token, "LOWER": value.lower()}
    if isinstance(value, dict) and isinstance(value.get("IN"), list):
        return {**token, "LOWER": {**value, "IN": [v.lower() if isinstance(v, str) else v for v in value["IN"]]}}
    return token


def parse_terms(answer: str) -> Tuple[List[str], int]:
    """Terms from a list answer (numbered, bulleted or plain lines, or JSON lists of strings) and the
    count of unreadable lines.

    Blank lines are skipped; a line is unreadable when nothing is left after its list marker, it is
    too long to be a term (a sentence of chatter), or it holds brackets that are not valid JSON.
    """
    terms: List[str] = []
    unparseable = 0
    for line in answer.splitlines():
        if not line.strip():
            continue
        if _MARKUP.search(line):
            strings = json_strings(line.strip())
            terms += strings
            unparseable += not strings
            continue
        term = _LIST_ITEM.match(line).group("term").strip(" \"'`,;")
        if not term or len(term) > MAX_TERM_CHARS or len(term.split()) > MAX_TERM_WORDS:
            unparseable += 1
        else:
            terms.append(term)
    return terms, unparseable


def json_strings(text: str) -> List[str]:
    """The short strings in a JSON list or object (values, nested one level); [] if it is not JSON."""
    try:
        value = json.loads(text)
    except ValueError:
        return []
    values = list(value.values()) if isinstance(value, dict) else [value]
    flat = [item for v in values for item in (v if isinstance(v, list) else [v])]
    return [item.strip() for item in flat if isinstance(item, str) and 0 < len(item.strip()) <= MAX_TERM_CHARS]


def parse_regex(answer: str) -> Tuple[Optional[str], int]:
    """The regex on the answer's first non-blank line (backticks, quotes or /slashes/ removed),
    and 1 if there is none or it is too long (0 otherwise). Whether it compiles is checked later."""
    line = next((line.strip() for line in answer.splitlines() if line.strip()), "")
    if line.lower().startswith("regex:"):
        line = line[len("regex:") :].strip()
    for opening, closing in (("`", "`"), ('"', '"'), ("'", "'"), ("/", "/")):
        if len(line) > 2 and line.startswith(opening) and line.endswith(closing):
            line = line[1:-1].strip()
            break
    if not line or len(line) > MAX_REGEX_CHARS:
        return None, 1
    return line, 0


def is_junk_term(term: str, label: str) -> bool:
    """Shorter than 2 or longer than MAX_TERM_CHARS characters, without a letter or digit, or the
    label's own name."""
    if len(term) < 2 or len(term) > MAX_TERM_CHARS or not _WORD.search(term):
        return True
    name = label.lower().replace("_", " ").replace("-", " ")
    return term.lower().replace("_", " ").replace("-", " ") in (name, label.lower())


def has_regular_surface(texts: Sequence[str], min_share: float = 0.5) -> bool:
    """Whether the label's span texts look like codes, IDs, amounts or dates: most hold a digit."""
    if not texts:
        return False
    with_digit = sum(1 for text in texts if any(ch.isdigit() for ch in text))
    return with_digit / len(texts) >= min_share
