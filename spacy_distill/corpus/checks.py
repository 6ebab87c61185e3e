"""What every record must be before it becomes gold, whatever its format, and how bad records are reported.

A reader rejects what it cannot read (`formats.common.Rejected`); `problem` rejects
what it read but cannot use (no answer about spans or categories, an empty label, a
text longer than spaCy takes, meta a .spacy file cannot hold). `on_error` fail stops
with one message listing every bad record (up to a limit, then a count); skip leaves
them out, and the import lists and counts them.
"""

from typing import Any, List, Optional

from ..formats.common import Correction, FormatError, Rejected

ON_ERROR = ("fail", "skip")
SHOWN = 20  # bad records listed in a message or summary, then "and N more"
MAX_DEPTH = 100  # nesting of meta a .spacy file holds (msgpack stops at 511)
INT_RANGE = (-(2**63), 2**64 - 1)  # integers msgpack can write


def check_on_error(on_error: str) -> str:
    if on_error not in ON_ERROR:
        raise FormatError(f"Unknown --on-error {on_error!r}; choose one of {', '.join(ON_ERROR)}")
    return on_error


def problem(c: Correction, max_length: int) -> Optional[str]:
    """Why the record cannot be used (a message naming its source), or None."""
    if len(c.text) > max_length:
        return (
            f"{c.source}: the text has {len(c.text):,} characters, more than spaCy's max_length ({max_length:,}); "
            "split it into smaller docs"
        )
    if c.answer in ("accept", "reject") and c.spans is None and c.cats is None:
        return f"{c.source}: the record says nothing about spans or categories (no spans, no labels)"
    for span in c.spans or []:
        if not span.label.strip():
            return f"{c.source}: span [{span.start}, {span.end}) has an empty label"
    for label in c.cats or {}:
        if not label.strip():
            return f"{c.source}: a category label is empty"
    where = _bad_value(c.meta, 0)
    return None if where is None else f"{c.source}: meta {where}"


def _bad_value(value: Any, depth: int) -> Optional[str]:
    if depth > MAX_DEPTH:
        return f"is nested more than {MAX_DEPTH} levels deep"
    if isinstance(value, int) and not isinstance(value, bool) and not INT_RANGE[0] <= value <= INT_RANGE[1]:
        return f"holds the integer {str(value)[:24]}..., outside the range a .spacy file holds (-2^63 to 2^64 - 1)"
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    for item in items:
        found = _bad_value(item, depth + 1)
        if found is not None:
            return found
    return None


def rejected_message(rejected: List[Rejected], shown: int = SHOWN) -> str:
    """Every bad record, one line each (the first `shown`, then a count)."""
    lines = [f"  {r.message}" for r in rejected[:shown]]
    if len(rejected) > shown:
        lines.append(f"  and {len(rejected) - shown} more")
    return "\n".join(lines)


def fail_on(rejected: List[Rejected]) -> None:
    """A FormatError listing the bad records, if there are any."""
    if rejected:
        raise FormatError(
            f"{len(rejected)} bad record{'s' if len(rejected) > 1 else ''} (nothing imported; fix them, "
            f"or pass --on-error skip to import the others):\n{rejected_message(rejected)}"
        )
