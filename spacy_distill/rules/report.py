"""The `rules propose` report: rules.md and a self-contained rules.html, and the console summary.

One row per rule (kept first, then dropped with the reason) with precision, matches, coverage and
up to three matches in context; the counts per source; the kept set's P/R/F on the report split.
"""

import html
import json
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from wasabi import msg

from ..files import write_text_atomic
from .checks import REASONS

CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 70em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; width: 100%; }
th, td { border-bottom: 1px solid #ddd; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f4f4f4; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
code { font-size: 12px; word-break: break-all; }
.ex { font-size: 12px; color: #555; }
mark.ok { background: #c8f0c8; }
mark.fp { background: #f6c6c6; }
.dropped td { color: #777; }
"""


def write_report(report_dir: Path, stats: Dict[str, Any], rows: Sequence[Dict[str, Any]]) -> None:
    """rules.md and rules.html in report_dir."""
    write_text_atomic(Path(report_dir) / "rules.md", markdown(stats, rows))
    write_text_atomic(Path(report_dir) / "rules.html", html_page(stats, rows))


def pattern_display(pattern: Any) -> str:
    """A lower-case phrase pattern as `"ann taylor" (any case)`, anything else as compact JSON."""
    if isinstance(pattern, str):
        return pattern
    words = [t.get("lower", t.get("LOWER")) if isinstance(t, dict) and len(t) == 1 else None for t in pattern or []]
    if words and all(isinstance(word, str) for word in words):
        return '"' + " ".join(words) + '" (any case)'
    return json.dumps(pattern, ensure_ascii=False)


def number(value: Optional[float], digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def summary_lines(stats: Dict[str, Any]) -> List[str]:
    """The headline in plain words (shared by the md, the html and the console)."""
    scores, splits = stats["report_scores"], stats["splits"]
    counts = stats["sources"]
    proposed = sum(c["proposed"] for c in counts.values())
    lines = [
        f"Kept {stats['kept']} of {proposed} proposed rules (minimum precision {stats['min_precision']:g}).",
        f"Selected on {splits['selection']['data']} ({splits['selection']['docs']} docs); "
        f"reported on {splits['report']['data']} ({splits['report']['docs']} docs), which selection never saw.",
        f"The kept rules on the report split: F {number(scores['f'], 3)}, P {number(scores['p'], 3)}, "
        f"R {number(scores['r'], 3)}.",
    ]
    unjudged = stats.get("unjudged") or {}
    if unjudged.get("rules"):
        lines.append(
            f"{unjudged['rules']} rules matched nothing in the corrections, so the data cannot judge them: "
            f"they are in {unjudged['output']} for an expert (`spacy-distill review --rules {unjudged['output']} "
            "--texts YOUR_TEXTS --db ...`)."
        )
    return lines


def count_rows(stats: Dict[str, Any]) -> List[List[str]]:
    rows = []
    for source, c in stats["sources"].items():
        dropped = ", ".join(f"{n} {reason.replace('_', ' ')}" for reason, n in c["dropped"].items()) or "–"
        rows.append([source, str(c["proposed"]), str(c["valid"]), str(c["kept"]), dropped])
    return rows


COUNT_HEADER = ["source", "proposed", "valid", "kept", "dropped"]
RULE_HEADER = ["label", "pattern", "source", "precision", "matches", "covered", "report P", "report matches"]


def rule_cells(row: Dict[str, Any]) -> List[str]:
    stats = row["stats"]
    report = stats.get("report", {})
    return [
        row["label"],
        pattern_display(row["pattern"]),
        row["source"],
        number(stats.get("precision")),
        str(stats.get("matches", "–")),
        str(stats.get("covered", "–")),
        number(report.get("precision")),
        str(report.get("matches", "–")),
    ]


def why(row: Dict[str, Any]) -> str:
    return f"{REASONS[row['reason']]}: {row['detail']}" if row["reason"] else ""


# --- markdown ---------------------------------------------------------------------------------


def markdown(stats: Dict[str, Any], rows: Sequence[Dict[str, Any]]) -> str:
    lines = ["# Proposed rules", "", *summary_lines(stats), "", "## Rules by source", ""]
    lines += md_table(COUNT_HEADER, count_rows(stats))
    kept = [r for r in rows if r["kept"]]
    dropped = [r for r in rows if not r["kept"]]
    lines += ["", f"## Kept rules ({len(kept)})", ""]
    lines += md_table([*RULE_HEADER, "in context"], [[*rule_cells(r), md_examples(r)] for r in kept])
    lines += ["", f"## Dropped rules ({len(dropped)})", ""]
    lines += md_table([*RULE_HEADER, "why", "in context"], [[*rule_cells(r), why(r), md_examples(r)] for r in dropped])
    lines += ["", "Precision, matches and covered (gold spans the rule added) are on the selection split; "]
    lines += ["report P and matches on the report split. Wrong matches in context are marked ✗."]
    return "\n".join(lines) + "\n"


def md_table(header: List[str], rows: List[List[str]]) -> List[str]:
    def cell(text: str) -> str:
        return " ".join(str(text).split()).replace("|", "\\|")

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]


def md_examples(row: Dict[str, Any]) -> str:
    return " / ".join(
        f"{'' if e['correct'] else '✗ '}…{e['left'][-25:]}**{e['text']}**{e['right'][:25]}…" for e in row["examples"]
    )


# --- html -------------------------------------------------------------------------------------


def html_page(stats: Dict[str, Any], rows: Sequence[Dict[str, Any]]) -> str:
    esc = html.escape
    kept = [r for r in rows if r["kept"]]
    dropped = [r for r in rows if not r["kept"]]
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Proposed rules</title>",
        f"<style>{CSS}</style></head><body><h1>Proposed rules</h1>",
        *(f"<p>{esc(line)}</p>" for line in summary_lines(stats)),
        "<h2>Rules by source</h2>",
        html_table(COUNT_HEADER, [[esc(c) for c in row] for row in count_rows(stats)]),
        f"<h2>Kept rules ({len(kept)})</h2>",
        html_table([*RULE_HEADER, "in context"], [html_cells(r) + [html_examples(r)] for r in kept]),
        f"<h2>Dropped rules ({len(dropped)})</h2>",
        html_table(
            [*RULE_HEADER, "why", "in context"],
            [html_cells(r) + [esc(why(r)), html_examples(r)] for r in dropped],
            row_class="dropped",
        ),
        "<p>Precision, matches and covered (gold spans the rule added) are on the selection split; report P "
        "and matches on the report split. In context, <mark class='ok'>correct</mark> and "
        "<mark class='fp'>wrong</mark> matches.</p></body></html>",
    ]
    return "\n".join(parts) + "\n"


def html_cells(row: Dict[str, Any]) -> List[str]:
    cells = [html.escape(c) for c in rule_cells(row)]
    cells[1] = f"<code>{cells[1]}</code>"
    return cells


def html_table(header: List[str], rows: List[List[str]], row_class: str = "") -> str:
    """A table of cells that are already HTML; columns after the label and pattern are numbers."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = []
    for row in rows:
        cells = "".join(
            f"<td class='num'>{c}</td>"
            if c.replace(".", "").replace("–", "").isdigit() or c == "–"
            else f"<td>{c}</td>"
            for c in row
        )
        body.append(f"<tr class='{row_class}'>{cells}</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def html_examples(row: Dict[str, Any]) -> str:
    esc = html.escape
    return "<br>".join(
        f"<span class='ex'>…{esc(e['left'][-30:])}<mark class='{'ok' if e['correct'] else 'fp'}'>{esc(e['text'])}"
        f"</mark>{esc(e['right'][:30])}…</span>"
        for e in row["examples"]
    )


# --- console ----------------------------------------------------------------------------------


def print_summary(stats: Dict[str, Any]) -> None:
    msg.good(f"Wrote {stats['kept']} rules to {stats['output']}")
    for line in summary_lines(stats)[1:]:
        msg.text(line)
    msg.table(count_rows(stats), header=COUNT_HEADER, divider=True)
