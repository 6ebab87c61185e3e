"""The loop's report: report.md and learning_curve.png (matplotlib), and the projection.

Projection: how many corrected docs would reach a target F, from the student's learning
curve. We fit a power law F(n) = a - b * n^(-c) (the usual shape of a learning curve;
least squares over a grid of c in [0.05, 1.5], with a and b solved exactly for each c; b > 0
and a <= 1)
when there are at least 3 rounds, and a log-linear curve F(n) = a + b * ln(n) (2 rounds, or
if the power law does not fit). The report says which was used. Both are extrapolations
from few noisy points: read them as orders of magnitude.
"""

import math
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from wasabi import msg

from ..files import write_json_atomic
from ..task import Task
from .layout import ROUNDS_FILE

COLORS = {
    "teacher": "#7b5ea7",
    "student": "#1f9e89",
    "rules": "#e0a526",
    "vote": "#4c72b0",
    "ceiling": "#8c8c8c",
    "none": "#c44e52",
}
SOURCE_NAMES = {"none": "none (no pre-annotation)"}
MAX_FACTOR = 50  # beyond 50x the docs corrected so far, a projection is not given as a number


def fit_power_law(ns: Sequence[float], fs: Sequence[float]) -> Optional[Dict[str, float]]:
    """a, b, c of F = a - b * n^-c minimising squared error (None if no increasing fit)."""
    import numpy

    n = numpy.asarray(ns, dtype=float)
    f = numpy.asarray(fs, dtype=float)
    if len(n) < 3 or len(set(ns)) < 3:
        return None
    best = None
    for c in numpy.linspace(0.05, 1.5, 146):  # learning curves have c well below 1.5; more is a step, not a curve
        x = n ** (-c)
        design = numpy.stack([numpy.ones_like(x), -x], axis=1)
        (a, b), *_ = numpy.linalg.lstsq(design, f, rcond=None)
        if b <= 0:
            continue
        if a > 1.0:  # F cannot pass 1: refit b with a = 1
            a = 1.0
            b = float(numpy.dot(1.0 - f, x) / numpy.dot(x, x))
            if b <= 0:
                continue
        sse = float(numpy.sum((a - b * x - f) ** 2))
        if best is None or sse < best["sse"]:
            best = {"a": float(a), "b": float(b), "c": float(c), "sse": sse}
    return best


def fit_log_linear(ns: Sequence[float], fs: Sequence[float]) -> Optional[Dict[str, float]]:
    import numpy

    if len(set(ns)) < 2:
        return None
    x = numpy.log(numpy.asarray(ns, dtype=float))
    f = numpy.asarray(fs, dtype=float)
    b, a = numpy.polyfit(x, f, 1)
    if b <= 0:
        return None
    return {"a": float(a), "b": float(b), "sse": float(numpy.sum((a + b * x - f) ** 2))}


def predict(fit: Dict[str, Any], n: float) -> float:
    if fit["model"] == "power":
        return fit["a"] - fit["b"] * n ** (-fit["c"])
    return fit["a"] + fit["b"] * math.log(n)


def docs_for(fit: Dict[str, Any], target: float) -> Optional[float]:
    """Corrected docs at which the fitted curve reaches target (None: never)."""
    if fit["model"] == "power":
        if target >= fit["a"]:
            return None
        return (fit["b"] / (fit["a"] - target)) ** (1.0 / fit["c"])
    return math.exp((target - fit["a"]) / fit["b"])


def projection(rounds: List[Dict[str, Any]], target: Optional[float]) -> Dict[str, Any]:
    """The fitted curve and how many corrected docs it says reach `target`."""
    points = [
        (e["n_corrected"], e["student_f"]) for e in rounds if e.get("student_f") is not None and e["n_corrected"] > 0
    ]
    ns, fs = [p[0] for p in points], [p[1] for p in points]
    fit: Optional[Dict[str, Any]] = None
    power = fit_power_law(ns, fs)
    if power is not None:
        fit = {"model": "power", "formula": f"F = {power['a']:.3f} - {power['b']:.3f} * n^-{power['c']:.2f}", **power}
    else:
        log = fit_log_linear(ns, fs)
        if log is not None:
            fit = {"model": "log-linear", "formula": f"F = {log['a']:.3f} + {log['b']:.4f} * ln(n)", **log}
    out: Dict[str, Any] = {"points": len(points), "fit": fit, "target_f": target}
    if fit is None:
        out["note"] = "no projection: " + ("fewer than 2 rounds" if len(points) < 2 else "the student's F did not rise")
        return out
    if target is None:
        out["note"] = "no target F to project to"
        return out
    n_now = max(ns)
    needed = docs_for(fit, target)
    if needed is not None:
        needed = round(needed, 6)  # 200.0000001 is 200 docs
    if needed is None:
        out["note"] = f"the fitted curve levels off at F {fit['a']:.3f}, below the target {target:.3f}"
    elif needed <= n_now:
        out["docs_needed"] = math.ceil(needed)
        out["note"] = (
            f"the fitted curve reaches F {target:.3f} at about {math.ceil(needed)} corrected docs (already passed)"
        )
    elif needed > MAX_FACTOR * n_now:
        out["note"] = (
            f"the fitted curve reaches F {target:.3f} only beyond {MAX_FACTOR}x the {n_now} docs corrected so far"
        )
    else:
        out["docs_needed"] = math.ceil(needed)
        out["more_docs"] = math.ceil(needed - n_now)
        out["note"] = (
            f"the fitted curve reaches F {target:.3f} at about {math.ceil(needed)} corrected docs, "
            f"{math.ceil(needed - n_now)} more than the {n_now} so far"
        )
    return out


def target_of(rounds: List[Dict[str, Any]], settings: Any, ceiling: Optional[float]) -> Optional[float]:
    """The configured target F; else the teacher's last F + margin if the student is not there yet;
    else 95% of the ceiling if known."""
    if getattr(settings, "target_f", None) is not None:
        return float(settings.target_f)
    last = rounds[-1]
    if not last["student_beats_teacher"]:
        return min(1.0, (last["teacher_f"] or 0.0) + getattr(settings, "margin", 0.0) + 1e-6)
    if ceiling:
        return round(0.95 * ceiling, 3)
    return None


def fmt(value: Optional[float], digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def signed(value: float) -> str:
    return f"{value:+.3f}"


def source_totals(rounds: List[Dict[str, Any]]) -> Dict[str, Dict[str, float]]:
    """Edits per doc by suggestion source, over the rounds in which every compared source existed."""
    sources = sorted({s for e in rounds for s in e.get("edits_per_doc_by_source", {})})
    out = {}
    for source in sources:
        rows = [e for e in rounds if e.get("edits_per_doc_by_source", {}).get(source) is not None]
        docs = sum(e["n_batch"] for e in rows)
        edits = sum(e["edits_per_doc_by_source"][source] * e["n_batch"] for e in rows)
        out[source] = {"rounds": len(rows), "docs": docs, "per_doc": edits / docs if docs else None}
    return out


def findings(
    rounds: List[Dict[str, Any]],
    settings: Any,
    baseline: Optional[Dict[str, Any]],
    ceiling_f: Optional[float],
    proj: Dict[str, Any],
    final: bool,
) -> List[str]:
    last = rounds[-1]
    lines = []
    won = next((e for e in rounds if e["student_beats_teacher"]), None)
    if won:
        lines.append(
            f"The student beat the teacher in round {won['round']}, after {won['n_corrected']} corrected docs: "
            f"F {won['student_f']:.3f} vs {won['teacher_f']:.3f} (margin {getattr(settings, 'margin', 0.0)})."
        )
    else:
        lines.append(
            f"After {len(rounds)} rounds and {last['n_corrected']} corrected docs the student (F {last['student_f']:.3f}) "
            f"has not beaten the teacher (F {last['teacher_f']:.3f}) by the margin {getattr(settings, 'margin', 0.0)}."
        )
    start = rounds[0].get("teacher_f_before_corrections")
    if start is not None:
        change = last["teacher_f"] - start
        trend = " -> ".join(fmt(e["teacher_f"]) for e in rounds)
        if getattr(getattr(settings, "teacher", None), "similar_examples", 0):
            best = max(rounds, key=lambda e: e["teacher_f"])
            verdict = (
                "the corrections as examples helped"
                if change > 0.02
                else "the corrections as examples hurt"
                if change < -0.02
                else "no clear change (less than 0.02 is within the noise of a small test set)"
            )
            lines.append(
                f"The teacher with the most similar corrected docs as few-shot examples: F {start:.3f} before any "
                f"correction, then {trend}. Last round {signed(change)}, best round {signed(best['teacher_f'] - start)} "
                f"(round {best['round']}): {verdict}."
            )
        else:
            lines.append(f"The teacher kept its static examples (similar_examples = 0): F {start:.3f} throughout.")
    totals = source_totals(rounds)
    if len(totals) > 1:
        known = {s: t for s, t in totals.items() if t["per_doc"] is not None}
        ranked = sorted(known, key=lambda s: known[s]["per_doc"])
        parts = ", ".join(
            f"{SOURCE_NAMES.get(s, s)} {known[s]['per_doc']:.2f} ({known[s]['docs']} docs)" for s in ranked
        )
        lines.append(
            f"Edits per doc the expert needed (or would have needed) by suggestion source: {parts}. "
            f"Fewest: {ranked[0]}."
        )
    shown = sorted({e["suggested_by"] for e in rounds})
    lines.append(f"Suggestions shown came from: {', '.join(shown)}.")
    if ceiling_f is not None:
        lines.append(f"Fully supervised ceiling (a student trained on all gold training data): F {ceiling_f:.3f}.")
    if proj.get("fit"):
        lines.append(
            f"Projection ({proj['fit']['model']} fit {proj['fit']['formula']} on {proj['points']} rounds): {proj['note']}."
        )
    else:
        lines.append(f"Projection: {proj['note']}.")
    if not final:
        lines.append("The loop is not finished (see status.json).")
    return lines


def markdown(
    rounds: List[Dict[str, Any]], settings: Any, task: Task, baseline, ceiling_f, proj, final, png_name
) -> str:
    out = ["# Distillation loop", ""]
    out.append(
        f"Task: {task.kind} ({task.score_name}); pool {getattr(settings, 'pool', '?')}; test set {getattr(settings, 'test', '?')}; "
        f"strategy {rounds[0]['strategy']}; corrections: {rounds[0]['corrections']}."
    )
    out.append("")
    out += [f"- {line}" for line in findings(rounds, settings, baseline, ceiling_f, proj, final)]
    out += ["", f"![learning curve]({png_name})", "", "## Rounds", ""]
    sources = sorted({s for e in rounds for s in e.get("edits_per_doc_by_source", {})})
    header = ["round", "corrected", "teacher F", "student F", "shown", "edits/doc shown"]
    header += [f"edits/doc {s}" for s in sources] + ["select s", "pre-annotate s", "correct s", "train s", "evaluate s"]
    out.append("| " + " | ".join(header) + " |")
    out.append("|" + "---|" * len(header))
    for e in rounds:
        sec = e["seconds"]
        row = [
            str(e["round"]),
            str(e["n_corrected"]),
            fmt(e["teacher_f"]),
            fmt(e["student_f"]),
            e["suggested_by"],
            fmt(e["edits_per_doc"], 2),
        ]
        row += [fmt(e["edits_per_doc_by_source"].get(s), 2) for s in sources]
        row += [f"{sec.get(k, 0):.1f}" for k in ("select", "pre_annotate", "correct", "train", "evaluate")]
        out.append("| " + " | ".join(row) + " |")
    out += ["", "## How to read this", ""]
    out.append(
        "- teacher F and student F are the headline scores on the same gold test set after each round; "
        "the teacher's few-shot examples include that round's corrections."
    )
    out.append(
        "- edits/doc counts the span (or category) changes the expert made to the suggestions shown, and would "
        "have made to every other source's suggestions for the same docs (added, removed, relabelled, "
        "boundary fixes, categories toggled). With the simulated expert the counts are exact; a person "
        "shown one source may be anchored by it."
    )
    out.append("- Projection: " + " ".join(__doc__.split("Projection: ", 1)[1].split()))
    return "\n".join(out) + "\n"


def chart(
    rounds: List[Dict[str, Any]],
    path: Path,
    baseline_f: Optional[float],
    ceiling_f: Optional[float],
    proj: Dict[str, Any],
    teacher_learns: bool = True,
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ns = [e["n_corrected"] for e in rounds]
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(13, 4.4), gridspec_kw={"width_ratios": [3, 2]})
    ax.plot(ns, [e["student_f"] for e in rounds], "o-", color=COLORS["student"], label="student")
    teacher_label = "teacher (corrections as few-shot examples)" if teacher_learns else "teacher (static examples)"
    ax.plot(ns, [e["teacher_f"] for e in rounds], "s--", color=COLORS["teacher"], label=teacher_label)
    if baseline_f is not None and teacher_learns:
        ax.axhline(baseline_f, color=COLORS["teacher"], linestyle=":", linewidth=1, label="teacher before corrections")
    if any("rules_kept" in e for e in rounds):  # proposed from the corrections: a curve
        ax.plot(ns, [e.get("rules_f") or 0.0 for e in rounds], "^:", color=COLORS["rules"], label="proposed rules")
    elif any("rules_f" in e for e in rounds):
        ax.axhline(rounds[-1].get("rules_f") or 0.0, color=COLORS["rules"], linestyle=":", linewidth=1, label="rules")
    if ceiling_f is not None:
        ax.axhline(ceiling_f, color=COLORS["ceiling"], linestyle="-.", linewidth=1.2, label="fully supervised ceiling")
    fit = proj.get("fit")
    if fit is not None:
        import numpy

        end = max(ns) * 2
        if proj.get("docs_needed"):
            end = max(end, min(proj["docs_needed"] * 1.1, MAX_FACTOR * max(ns)))
        xs = numpy.linspace(min(ns), end, 100)
        ax.plot(
            xs,
            [predict(fit, x) for x in xs],
            color=COLORS["student"],
            alpha=0.45,
            linewidth=1,
            label=f"projection ({fit['model']})",
        )
        if proj.get("target_f") is not None:
            ax.axhline(
                proj["target_f"],
                color="#c44e52",
                linestyle=(0, (6, 3)),
                linewidth=1.2,
                label=f"target F {proj['target_f']:.3f}",
            )
    ax.set_xlabel("corrected docs")
    ax.set_ylabel("F on the gold test set")
    ax.set_ylim(0, 1)
    ax.set_title("Learning curve")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    sources = sorted({s for e in rounds for s in e.get("edits_per_doc_by_source", {})})
    for s in sources:
        pts = [
            (e["round"], e["edits_per_doc_by_source"][s])
            for e in rounds
            if e["edits_per_doc_by_source"].get(s) is not None
        ]
        ax2.plot(
            [p[0] for p in pts], [p[1] for p in pts], "o-", color=COLORS.get(s, "#555555"), label=SOURCE_NAMES.get(s, s)
        )
    ax2.set_xlabel("round")
    ax2.set_ylabel("edits per doc")
    ax2.set_title("Edits the expert needed, by suggestion source")
    ax2.grid(alpha=0.3)
    ax2.set_ylim(bottom=0)
    ax2.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=3)
    ax2.set_xticks([e["round"] for e in rounds])
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_loop_report(
    rounds: List[Dict[str, Any]],
    out_dir: Path,
    settings: Any,
    task: Task,
    baseline: Optional[Dict[str, Any]],
    ceiling: Optional[Dict[str, Any]],
    final: bool,
) -> List[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    baseline_f = baseline["systems"]["teacher"]["f"] if baseline else None
    ceiling_f = ceiling["systems"]["student"]["f"] if ceiling else None
    proj = projection(rounds, target_of(rounds, settings, ceiling_f))
    png = out_dir / "learning_curve.png"
    chart(
        rounds,
        png,
        baseline_f,
        ceiling_f,
        proj,
        bool(getattr(getattr(settings, "teacher", None), "similar_examples", 0)),
    )
    md = out_dir / "report.md"
    md.write_text(markdown(rounds, settings, task, baseline, ceiling_f, proj, final, png.name), encoding="utf8")
    data = out_dir / "projection.json"
    write_json_atomic(
        data,
        {
            "projection": proj,
            "ceiling_f": ceiling_f,
            "teacher_f_before_corrections": baseline_f,
            "sources": source_totals(rounds),
        },
        ensure_ascii=True,
    )
    return [md, png, data]


def print_round(e: Dict[str, Any]) -> None:
    """One line per finished round, while the loop runs."""
    verdict = "student wins" if e["student_beats_teacher"] else "teacher ahead"
    msg.good(
        f"Round {e['round']}: {e['n_corrected']} corrected docs; teacher F {e['teacher_f']:.3f}, "
        f"student F {e['student_f']:.3f} ({verdict}); {e['edits_per_doc']:.2f} edits per doc on "
        f"{e['suggested_by']}'s suggestions; {e['seconds']['total']:.0f}s"
    )


def print_summary(summary: Dict[str, Any]) -> None:
    """The loop's rounds as a table, how it ended, and where its report is."""
    rows = [
        (
            e["round"],
            e["n_corrected"],
            f"{e['teacher_f']:.3f}",
            f"{e['student_f']:.3f}",
            e["suggested_by"],
            f"{e['edits_per_doc']:.2f}",
            f"{e['seconds']['total']:.0f}",
        )
        for e in summary["rounds"]
    ]
    if rows:
        msg.table(
            rows, header=("round", "corrected", "teacher F", "student F", "shown", "edits/doc", "seconds"), divider=True
        )
    if summary["status"] == "waiting":
        msg.warn(summary["reason"])
    else:
        msg.good(f"Loop done: {summary['reason']}")
    for path in summary["report"]:
        msg.text(f"report: {path}")
    msg.text(f"rounds: {Path(summary['output']) / ROUNDS_FILE}")
