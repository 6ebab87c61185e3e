"""report.md, a self-contained report.html and chart.png from the metrics; the console summary.

The text says who wins overall and per label (`verdicts`: only where the paired bootstrap
interval of the difference excludes 0), and how many times faster and smaller the student is
than the teacher. The chart (`chart`, matplotlib) shows F per label per system with its
interval, speed in words/s and size on disk, and is embedded in the HTML as a base64 PNG, so
the one file can be mailed on.
"""

import base64
import html
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from wasabi import msg

from .calibration import calibration_lines
from .chart import chart_png, color_of
from .verdicts import (
    best_line,
    comparisons_table,
    fmt_ci,
    fmt_number,
    fmt_score,
    label_rows,
    level,
    pair_line,
    rules_verdicts,
)

__all__ = ["findings", "print_summary", "rules_verdicts", "write_report"]

MAX_SENTENCE_LABELS = 8
COMPARED = "paired bootstrap: F(a) - F(b) on the same resampled docs"
CALIBRATION = "its suggestions binned by probability, against their precision on gold"
TASK_NAMES = {
    "ner": "named entities",
    "spancat": "span categories",
    "textcat": "text classification (exclusive classes)",
    "textcat_multilabel": "text classification (multi-label)",
}


def fmt_times(ratio: float) -> str:
    return f"{ratio:,.0f}x" if ratio >= 10 else f"{ratio:.1f}x"


def findings(metrics: Dict[str, Any]) -> List[str]:
    """The sentences a reader needs: who wins (clearly or not), how much faster and smaller, what to trust."""
    systems = metrics["systems"]
    gold, task = metrics["gold"], metrics["task"]
    lines = []
    ranked = sorted(systems, key=lambda n: -1 if systems[n]["f"] is None else systems[n]["f"], reverse=True)
    scores = ", ".join(f"{name} {_with_ci(systems[name], metrics)}" for name in ranked)
    lines.append(
        f"On {gold['n_docs']} gold docs ({gold.get('n_words', 0):,} words; {TASK_NAMES.get(task['kind'], task['kind'])}), "
        f"the headline score {task['score']} is: {scores}."
    )
    lines.append(best_line(metrics))
    rows = label_rows(metrics)
    if rows and len(systems) > 1 and len(rows) <= MAX_SENTENCE_LABELS:
        for label, _, f, who in rows:
            others = ", ".join(f"{n} {fmt_score(v)}" for n, v in f.items())
            said = f"{who} wins" if not who.startswith("no clear winner") else who.replace(":", " between", 1)
            lines.append(f"{label}: {said} ({others}).")
    elif rows and len(systems) > 1:
        wins: Dict[str, int] = {}
        for _, _, _, who in rows:
            who = "no clear winner" if who.startswith("no clear winner") else who
            wins[who] = wins.get(who, 0) + 1
        summary = ", ".join(f"{who} {n}" for who, n in sorted(wins.items(), key=lambda kv: -kv[1]))
        lines.append(f"Labels won, of {len(rows)}: {summary} (see the table).")
    lines += rules_verdicts(metrics)
    teacher, student = systems.get("teacher"), systems.get("student")
    if teacher and student:
        line = pair_line(metrics, "student", "teacher")
        if line:
            lines.append(line)
        lines.append(_compare(student, teacher))
    llm = (teacher or {}).get("llm", {})
    measured = llm.get("speed_measured_on")
    if measured and measured != "llm calls":
        lines.append(
            f"Careful: the teacher's speed was measured on answers from its response store ({llm.get('cache_hits')} "
            f"cache hits, {llm.get('llm_calls')} real LLM calls), so it is not the LLM's speed. "
            "Rerun with a fresh --paths.responses to time real calls."
        )
    elif llm.get("llm_calls"):
        lines.append(
            f"The teacher made {llm['llm_calls']} LLM calls ({llm.get('prompt_tokens', 0):,} prompt and "
            f"{llm.get('completion_tokens', 0):,} completion tokens, {llm.get('llm_seconds', 0):.1f} s in the LLM)."
        )
    return lines


def _with_ci(entry: Dict[str, Any], metrics: Dict[str, Any]) -> str:
    if not entry.get("f_ci"):
        return fmt_score(entry["f"])
    return f"{fmt_score(entry['f'])} ({level(metrics)} CI {fmt_ci(entry['f_ci'])})"


def _compare(student: Dict[str, Any], teacher: Dict[str, Any]) -> str:
    """'The student is 1,234x faster (...) and 48x smaller (...) than the teacher.'"""
    parts, unknown = [], []
    s_speed, t_speed = student.get("words_per_second"), teacher.get("words_per_second")
    if s_speed and t_speed:
        parts.append(
            f"{_times(s_speed / t_speed, 'faster', 'slower')} ({fmt_number(s_speed)} vs {fmt_number(t_speed)} words/s)"
        )
    else:
        unknown.append("the teacher's speed is unknown (its docs were annotated earlier, without timing)")
    s_size, t_size = student.get("size_mb"), teacher.get("size_mb")
    if s_size and t_size:
        parts.append(
            f"{_times(t_size / s_size, 'smaller', 'larger')} ({fmt_number(s_size)} MB vs {fmt_number(t_size)} MB)"
        )
    else:
        unknown.append(
            f"the teacher's size is unknown (a remote model or earlier docs); the student takes {fmt_number(s_size)} MB"
        )
    text = f"The student is {' and '.join(parts)} than the teacher." if parts else ""
    if unknown:
        joined = "; ".join(unknown)
        text += (" " if text else "") + joined[0].upper() + joined[1:] + "."
    return text


def _times(ratio: float, better: str, worse: str) -> str:
    return f"{fmt_times(ratio)} {better}" if ratio >= 1 else f"{fmt_times(1 / ratio)} {worse}"


def systems_table(metrics: Dict[str, Any]) -> Tuple[List[str], List[List[str]]]:
    with_ci = any(e.get("f_ci") for e in metrics["systems"].values())
    header = ["system", "F", *([f"F {level(metrics)} CI"] if with_ci else []), "P", "R"]
    header += ["docs/s", "words/s", "size MB", "source"]
    rows = []
    for name, e in metrics["systems"].items():
        rows.append(
            [
                name,
                fmt_score(e["f"]),
                *([fmt_ci(e.get("f_ci"))] if with_ci else []),
                fmt_score(e["p"]),
                fmt_score(e["r"]),
                fmt_number(e.get("docs_per_second")),
                fmt_number(e.get("words_per_second")),
                fmt_number(e.get("size_mb")),
                _source(e),
            ]
        )
    return header, rows


def _source(entry: Dict[str, Any]) -> str:
    model = entry.get("llm", {}).get("model")
    path = Path(str(entry.get("path", ""))).name
    if entry.get("rules_path"):
        path += f" + {Path(entry['rules_path']).name}"
    return f"{path} ({model})" if model else path


def per_label_table(metrics: Dict[str, Any]) -> Tuple[List[str], List[List[str]]]:
    names = list(metrics["systems"])
    header = ["label", "gold"] + [f"{n} F" for n in names] + ["winner"]
    rows = [
        [label, "" if n is None else str(n)] + [fmt_score(f[name]) for name in names] + [who]
        for label, n, f, who in label_rows(metrics)
    ]
    return header, rows


def markdown(metrics: Dict[str, Any], chart_name: str) -> str:
    def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
        return "\n".join(lines + ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows])

    out = ["# Teacher vs. student", ""]
    out += [f"- {line}" for line in findings(metrics)]
    out += ["", f"![F per label, speed and size]({chart_name})", "", "## Systems", "", table(*systems_table(metrics))]
    out += ["", "## Per label (F)", "", table(*per_label_table(metrics))]
    if metrics.get("comparisons"):
        out += ["", f"## Comparisons ({COMPARED})", "", table(*comparisons_table(metrics))]
    for name, sentence, found in calibration_lines(metrics):
        out += ["", f"## Calibration of the {name}'s confidence ({CALIBRATION})", "", sentence]
        out += ["", table(*found)] if found else []
    out += ["", "## How this was measured", "", *[f"- {line}" for line in method_notes(metrics)], ""]
    return "\n".join(out)


def method_notes(metrics: Dict[str, Any]) -> List[str]:
    m, gold, task = metrics["machine"], metrics["gold"], metrics["task"]
    repeats = {n: e.get("repeats") for n, e in metrics["systems"].items() if e.get("repeats")}
    return [
        f"Gold: {gold['path']} ({gold['n_docs']} docs, {gold.get('n_words', 0):,} words). Scores: spaCy's scorer, "
        f"headline {task['score']}, 0-1 scale.",
        "Every system ran on the same gold texts in the same process; words are the gold docs' tokens. "
        f"Passes (best one counts): {', '.join(f'{n} {r}' for n, r in repeats.items()) or '-'}.",
        f"Machine: {m.get('cpus')} CPUs ({m.get('processor')}), load average {m.get('load_average')}, "
        f"Python {m.get('python')}, spaCy {m.get('spacy')}. Sizes in MB of 10^6 bytes "
        "(student: pipeline folder; teacher: GGUF file; rules: patterns file).",
        _bootstrap_note(metrics),
    ]


def _bootstrap_note(metrics: Dict[str, Any]) -> str:
    b = metrics.get("bootstrap")
    if not b:
        return "No intervals (--bootstrap 0): the winners are the point estimates, which a small test set makes noisy."
    return (
        f"Intervals: {level(metrics)} percentile bootstrap over the {metrics['gold']['n_docs']} gold docs "
        f"({b['resamples']} resamples, seed {b['seed']}), paired: every system is scored on the same resampled docs. "
        "'A beats B' (or 'wins') only when the interval of F(A) - F(B) excludes 0, else 'no clear difference'; "
        "p: two-sided bootstrap p-value of the difference. They show the noise of which docs are in the test set, "
        "not of training (another seed can give another student)."
    )


CSS = """
body{font-family:-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em;margin-bottom:.2em} h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ddd;padding-bottom:.2em}
ul.findings li{margin:.35em 0;font-size:1.05em} table{border-collapse:collapse;margin:.6em 0;font-size:.95em}
th,td{padding:.35em .8em;border-bottom:1px solid #e5e5e5;text-align:right} th:first-child,td:first-child{text-align:left}
th{background:#f5f5f5} td.l{text-align:left} td.win{font-weight:bold} img{max-width:100%;border:1px solid #eee}
.note{color:#666;font-size:.9em} .sw{display:inline-block;width:.8em;height:.8em;margin-right:.35em;border-radius:2px}
"""


def html_report(metrics: Dict[str, Any], png: bytes) -> str:
    e = html.escape

    def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
        head = "".join(f"<th>{e(h)}</th>" for h in header)
        body = []
        for row in rows:
            cells = []
            for i, cell in enumerate(row):
                text = e(cell)
                if i == 0 and cell in metrics["systems"]:
                    text = f'<span class="sw" style="background:{color_of(cell)}"></span>{text}'
                css = {"source": "l", "winner": "l win", "verdict": "l win"}.get(header[i], "")
                cells.append(f'<td class="{css}">{text}</td>' if css else f"<td>{text}</td>")
            body.append("<tr>" + "".join(cells) + "</tr>")
        return f"<table><tr>{head}</tr>{''.join(body)}</table>"

    chart = base64.b64encode(png).decode("ascii")
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Teacher vs. student</title>",
        f"<style>{CSS}</style></head><body><h1>Teacher vs. student</h1>",
        "<ul class='findings'>" + "".join(f"<li>{e(line)}</li>" for line in findings(metrics)) + "</ul>",
        f"<img alt='F per label, speed and size' src='data:image/png;base64,{chart}'>",
        "<h2>Systems</h2>",
        table(*systems_table(metrics)),
        "<h2>Per label (F)</h2>",
        table(*per_label_table(metrics)),
        *(
            [f"<h2>Comparisons ({COMPARED})</h2>", table(*comparisons_table(metrics))]
            if metrics.get("comparisons")
            else []
        ),
        *(
            f"<h2>Calibration of the {e(name)}'s confidence ({CALIBRATION})</h2><p>{e(sentence)}</p>"
            + (table(*found) if found else "")
            for name, sentence, found in calibration_lines(metrics)
        ),
        "<h2>How this was measured</h2><ul class='note'>"
        + "".join(f"<li>{e(n)}</li>" for n in method_notes(metrics))
        + "</ul>",
        "</body></html>",
    ]
    return "\n".join(parts)


def write_report(metrics: Dict[str, Any], out_dir: Path) -> List[Path]:
    """DIR/report.md, DIR/report.html (self-contained) and DIR/chart.png."""
    out_dir.mkdir(parents=True, exist_ok=True)
    chart = out_dir / "chart.png"
    png = chart_png(metrics, chart)
    md = out_dir / "report.md"
    md.write_text(markdown(metrics, chart.name), encoding="utf8")
    page = out_dir / "report.html"
    page.write_text(html_report(metrics, png), encoding="utf8")
    return [md, page, chart]


def print_summary(metrics: Dict[str, Any], output: Optional[Path] = None) -> None:
    gold = metrics["gold"]
    msg.good(
        f"Evaluated on {gold['n_docs']} gold docs ({metrics['task']['score']})" + (f" -> {output}" if output else "")
    )
    header, rows = systems_table(metrics)
    msg.table(rows, header=header, divider=True)
    for line in findings(metrics)[1:]:
        msg.text(line)
    if metrics.get("comparisons"):
        header, rows = comparisons_table(metrics)
        msg.table(rows, header=header, divider=True)
    for _, sentence, found in calibration_lines(metrics):
        msg.text(f"Calibration: {sentence}")
        if found:
            msg.table(found[1], header=found[0], divider=True)
    if metrics.get("report"):
        msg.info(f"Report: {', '.join(metrics['report'])}")
