"""The import's summary and errors on the terminal."""

from pathlib import Path
from typing import Any, Dict

from wasabi import color, msg

from ..formats.common import Rejected
from .checks import SHOWN, rejected_message


def print_summary(stats: Dict[str, Any], output: Path) -> None:
    """The import's numbers: docs, answers, labels, conflicts, drops, and where the problems are."""
    say(f"\u2714 Imported {stats['docs']} docs from {stats['records']} records -> {output}", "green")
    answers = stats["answers"]
    rows = [
        ("complete / partial docs", f"{stats['complete']} / {stats['partial']}"),
        ("negative docs (no spans)", stats["negative"]),
        ("accepted / rejected", f"{answers.get('accept', 0)} / {answers.get('reject', 0)}"),
        ("ignored / not annotated", f"{answers.get('ignore', 0)} / {answers.get('none', 0)}"),
        ("conflicts / superseded", f"{stats['conflicts']} / {stats['superseded']}"),
        ("spans per label", stats["spans"] or "-"),
        ("categories per label", stats["categories"] or "-"),
        ("snapped", stats["snapped"]),
        ("dropped", stats["dropped"] or 0),
    ]
    if stats["skipped"]:
        rows.append(("skipped bad records", stats["skipped"]))
    if stats["outside_split"]:
        rows.append(("docs left out by --skip/--limit", stats["outside_split"]))
    msg.table(rows)
    for line in stats["problems"]:
        say(f"  {line}")
    if answers.get("none"):
        say(
            f"\u26a0 {answers['none']} of {stats['records']} records have no answer (not annotated, e.g. tasks as "
            "`export` writes them): they are not gold; import the tool's export after annotation",
            "yellow",
        )
    if stats["skipped"]:
        more = " (all of them in --stats-json)" if stats["skipped"] > SHOWN else ""
        say(f"\u26a0 Skipped {stats['skipped']} bad records (--on-error skip){more}:", "yellow")
        say(rejected_message([Rejected(r["source"], r["reason"]) for r in stats["skipped_records"]]))


def say(text: str, fg: str = "") -> None:
    """A line (or lines) as is: no wrapping, so a file name and its line number stay together."""
    print(color(text, fg=fg) if fg else text, flush=True)
