"""report.md, a self-contained report.html and chart.png from the metrics; the console summary.

The text says who wins overall and per label, and how many times faster and
smaller the student is than the teacher. The chart (matplotlib) shows F per
label per system, speed in words/s and size on disk, and is embedded in the
HTML as a base64 PNG, so the one file can be mailed on.
"""

import base64
import html
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from wasabi import msg

COLORS = {"teacher": "#7b5ea7", "student": "#1f9e89", "rules": "#e0a526"}
OTHER_COLORS = ["#4c72b0", "#c44e52", "#8c8c8c", "#55a868"]
MAX_CHART_LABELS = 12
TASK_NAMES = {
    "ner": "named entities",
    "spancat": "span categories",
    "textcat": "text classification (exclusive classes)",
    "textcat_multilabel": "text classification (multi-label)",
}


def fmt_score(value: Optional[float]) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def fmt_number(value: Optional[float]) -> str:
    if value is None:
        return "n/a"
    return f"{value:,.0f}" if value >= 100 else f"{value:,.2f}" if value >= 1 else f"{value:.3g}"


def fmt_times(ratio: float) -> str:
    return f"{ratio:,.0f}x" if ratio >= 10 else f"{ratio:.1f}x"


def winner(scores: Dict[str, Optional[float]]) -> str:
    """The system with the highest score ('a = b' on a tie, '-' if none scored)."""
    known = {name: s for name, s in scores.items() if s is not None}
    if not known:
        return "-"
    best = max(known.values())
    top = [name for name, s in known.items() if abs(s - best) < 1e-9]
    return " = ".join(top)


def label_rows(metrics: Dict[str, Any]) -> List[Tuple[str, Optional[int], Dict[str, Optional[float]], str]]:
    """(label, gold count, {system: F}, winner) for every label any system was scored on."""
    systems = metrics["systems"]
    counts = metrics["task"].get("label_counts", {})
    labels = list(metrics["task"].get("labels", []))
    for entry in systems.values():
        labels += [label for label in entry.get("per_label", {}) if label not in labels]
    rows = []
    for label in labels:
        f = {name: entry.get("per_label", {}).get(label, {}).get("f") for name, entry in systems.items()}
        rows.append((label, counts.get(label), f, winner(f)))
    return rows


def findings(metrics: Dict[str, Any]) -> List[str]:
    """The sentences a reader needs: who wins, how much faster and smaller, what to trust."""
    systems = metrics["systems"]
    gold, task = metrics["gold"], metrics["task"]
    lines = []
    ranked = sorted(systems, key=lambda n: -1 if systems[n]["f"] is None else systems[n]["f"], reverse=True)
    scores = ", ".join(f"{name} {fmt_score(systems[name]['f'])}" for name in ranked)
    best = winner({n: e["f"] for n, e in systems.items()})
    lines.append(
        f"On {gold['n_docs']} gold docs ({gold.get('n_words', 0):,} words; {TASK_NAMES.get(task['kind'], task['kind'])}), "
        f"the headline score {task['score']} is: {scores}. Best: {best}."
    )
    rows = label_rows(metrics)
    if rows and len(systems) > 1 and len(rows) <= 8:
        for label, _, f, who in rows:
            others = ", ".join(f"{n} {fmt_score(v)}" for n, v in f.items())
            lines.append(f"{label}: {who} wins ({others}).")
    elif rows and len(systems) > 1:
        wins: Dict[str, int] = {}
        for _, _, _, who in rows:
            wins[who] = wins.get(who, 0) + 1
        summary = ", ".join(f"{who} {n}" for who, n in sorted(wins.items(), key=lambda kv: -kv[1]))
        lines.append(f"Labels won, of {len(rows)}: {summary} (see the table).")
    lines += rules_verdicts(metrics)
    teacher, student = systems.get("teacher"), systems.get("student")
    if teacher and student:
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


MODELS = ("student", "student+rules", "teacher")


def rules_verdicts(metrics: Dict[str, Any]) -> List[str]:
    """Per label, the first question of a project: are the rules enough, or is a model needed?

    The rules are enough for a label when their F is at least the best model's (student,
    student+rules or teacher) on this gold; one test set, so read close calls as a tie.
    """
    systems = metrics["systems"]
    rules = systems.get("rules")
    models = [name for name in MODELS if name in systems]
    if not rules or not models:
        return []
    lines = []
    for label, _, f, _ in label_rows(metrics):
        rules_f = f.get("rules")
        best = max(models, key=lambda name: f.get(name) or 0.0)
        if rules_f is None:
            continue
        if rules_f >= (f.get(best) or 0.0):
            speed = fmt_number(rules.get("words_per_second"))
            lines.append(f"Rules are enough for {label} (F {fmt_score(rules_f)}, {speed} words/s, no model).")
        else:
            lines.append(
                f"A model is needed for {label} (rules F {fmt_score(rules_f)}, {best} F {fmt_score(f.get(best))})."
            )
    return lines


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
    header = ["system", "F", "P", "R", "docs/s", "words/s", "size MB", "source"]
    rows = []
    for name, e in metrics["systems"].items():
        rows.append(
            [
                name,
                fmt_score(e["f"]),
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
    ]


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
                css = {"source": "l", "winner": "l win"}.get(header[i], "")
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
        "<h2>How this was measured</h2><ul class='note'>"
        + "".join(f"<li>{e(n)}</li>" for n in method_notes(metrics))
        + "</ul>",
        "</body></html>",
    ]
    return "\n".join(parts)


def color_of(name: str, index: int = 0) -> str:
    return COLORS.get(name, OTHER_COLORS[index % len(OTHER_COLORS)])


def chart_png(metrics: Dict[str, Any], path: Path) -> bytes:
    """Grouped bars of F per label per system (overall first), words/s and size (log scales).

    Up to 4 groups: three panels side by side. More: horizontal bars with the full label names
    on the left, speed and size stacked on the right.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    systems = metrics["systems"]
    names = list(systems)
    rows = label_rows(metrics)
    shown = rows[:MAX_CHART_LABELS]
    groups = [label for label, *_ in shown]
    values = [[f[n] for n in names] for _, _, f, _ in shown]
    if len(rows) != 1:  # with one label, "overall" would repeat it
        groups.insert(0, f"overall ({metrics['task']['score']})")
        values.insert(0, [systems[n]["f"] for n in names])
    horizontal = len(groups) > 4

    if horizontal:
        height = max(4.8, 0.9 + len(groups) * (0.18 * len(names) + 0.2))
        fig = plt.figure(figsize=(12, height))
        grid = fig.add_gridspec(2, 2, width_ratios=[2.3, 1])
        ax_f, ax_speed, ax_size = fig.add_subplot(grid[:, 0]), fig.add_subplot(grid[0, 1]), fig.add_subplot(grid[1, 1])
    else:
        fig, (ax_f, ax_speed, ax_size) = plt.subplots(
            1, 3, figsize=(12, 4.8), gridspec_kw={"width_ratios": [3, 1.3, 1.3]}
        )
    width = min(0.8, 0.3 * len(groups)) / len(names)
    for i, name in enumerate(names):
        offset = (i - (len(names) - 1) / 2) * width
        pos = [g + offset for g in range(len(groups))]
        if horizontal:
            pos = [len(groups) - 1 - g - offset for g in range(len(groups))]  # first group on top, systems in order
        heights = [v[i] or 0.0 for v in values]
        draw = ax_f.barh if horizontal else ax_f.bar
        bars = draw(pos, heights, width * 0.95, label=name, color=color_of(name, i))
        for bar, v in zip(bars, (v[i] for v in values)):
            text = "n/a" if v is None else f"{v:.2f}"
            if horizontal:
                ax_f.text(bar.get_width() + 0.01, bar.get_y() + bar.get_height() / 2, text, va="center", fontsize=7)
            else:
                ax_f.text(
                    bar.get_x() + bar.get_width() / 2,
                    bar.get_height() + 0.015,
                    text,
                    ha="center",
                    va="bottom",
                    fontsize=8,
                )
    ticks = list(range(len(groups)))
    labels = [_wrap(g, 40) for g in groups]
    if horizontal:
        ax_f.set_yticks([len(groups) - 1 - t for t in ticks])
        ax_f.set_yticklabels(labels, fontsize=9)
        ax_f.set_xlim(0, 1.1)
        ax_f.set_xlabel("F (0-1)")
        ax_f.set_ylim(-0.6, len(groups) - 0.4)
    else:
        ax_f.set_xticks(ticks)
        ax_f.set_xticklabels([g.replace(" (", "\n(") for g in labels], fontsize=9)
        ax_f.set_ylim(0, 1.08)
        ax_f.set_xlim(-0.6, len(groups) - 0.4)
        ax_f.set_ylabel("F (0-1)")
    title = "F per label"
    if len(rows) > len(shown):
        title += f" ({len(shown)} most frequent of {len(rows)} labels)"
    ax_f.set_title(title)
    ax_f.spines[["top", "right"]].set_visible(False)
    handles, legend_labels = ax_f.get_legend_handles_labels()
    fig.legend(handles, legend_labels, loc="upper right", ncol=len(names), frameon=False, fontsize=10)
    gold = metrics["gold"]
    fig.suptitle(
        f"{' vs. '.join(names)} on {gold['n_docs']} gold docs", x=0.01, ha="left", fontsize=12, fontweight="bold"
    )

    _log_bars(ax_speed, names, [systems[n].get("words_per_second") for n in names], "Speed (words/s, log)", "")
    _log_bars(ax_size, names, [systems[n].get("size_mb") for n in names], "Size on disk (MB, log)", " MB")
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / fig.get_figheight()))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path.read_bytes()


def _wrap(label: str, width: int = 14) -> str:
    return label if len(label) <= width else label[: width - 1] + "\u2026"


def _log_bars(ax: Any, names: List[str], values: List[Optional[float]], title: str, unit: str) -> None:
    known = [v for v in values if v]
    ys = list(range(len(names)))[::-1]
    for y, name, v, i in zip(ys, names, values, range(len(names))):
        if v:
            ax.barh(y, v, color=color_of(name, i), height=0.6)
            ax.text(v, y, " " + fmt_number(v) + unit, va="center", ha="left", fontsize=8)
        else:
            ax.text(min(known) if known else 1, y, " n/a", va="center", ha="left", fontsize=8, color="#888")
    ax.set_yticks(ys)
    ax.set_yticklabels(names, fontsize=9)
    ax.set_ylim(-0.6, len(names) - 0.4)
    ax.set_xscale("log")
    if known:
        ax.set_xlim(min(known) / 3, max(known) * 30)
    ax.set_title(title, fontsize=10)
    ax.spines[["top", "right"]].set_visible(False)


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
    if metrics.get("report"):
        msg.info(f"Report: {', '.join(metrics['report'])}")
