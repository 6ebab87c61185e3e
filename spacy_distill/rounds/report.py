"""The loop's report: report.md and learning_curve.png (matplotlib) with the projection (`projection`).

The student's and the teacher's F carry their bootstrap intervals (bands on the curve); the
student beats the teacher only when the paired interval of the difference is above the margin
(`layout.student_vs_teacher`).
"""

from pathlib import Path
from typing import Any, Dict, List, Optional

from wasabi import msg

from ..files import write_json_atomic
from ..task import Task
from .layout import ROUNDS_FILE, beat_text
from .projection import __doc__ as projection_doc
from .projection import predict, projection

COLORS = {
    "teacher": "#7b5ea7",
    "student": "#1f9e89",
    "rules": "#e0a526",
    "vote": "#4c72b0",
    "ceiling": "#8c8c8c",
    "none": "#c44e52",
}
SOURCE_NAMES = {"none": "none (no pre-annotation)"}
PLOT_FACTOR = 3  # the curve's projection is drawn up to 3x the docs corrected so far


def target_of(rounds: List[Dict[str, Any]], settings: Any, ceiling: Optional[float]) -> Optional[float]:
    """The configured target F; else, while the student has not clearly won, the F that would be a clear win
    (`clear_win_f`); else 95% of the ceiling if known."""
    if getattr(settings, "target_f", None) is not None:
        return float(settings.target_f)
    last = rounds[-1]
    if not last["student_beats_teacher"]:
        return clear_win_f(last, getattr(settings, "margin", 0.0))
    if ceiling:
        return round(0.95 * ceiling, 3)
    return None


def clear_win_f(entry: Dict[str, Any], margin: float) -> float:
    """The student's F that would be a clear win if the interval of the difference kept its width: the teacher's
    F + margin + the lower half-width of the paired interval (without intervals: teacher's F + margin)."""
    half_width = entry["delta_f"] - entry["delta_ci"][0] if entry.get("delta_ci") else 0.0
    return min(1.0, (entry["teacher_f"] or 0.0) + margin + half_width + 1e-6)


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
    margin = getattr(settings, "margin", 0.0)
    if won:
        lines.append(
            f"The student beat the teacher in round {won['round']}, after {won['n_corrected']} corrected docs: "
            f"{beat_text(won, margin)}."
        )
    else:
        clearly = "clearly beaten" if last.get("delta_ci") else "beaten"
        lines.append(
            f"After {len(rounds)} rounds and {last['n_corrected']} corrected docs the student has not {clearly} "
            f"the teacher: {beat_text(last, margin)}."
        )
    noisy = [e["round"] for e in rounds if e.get("student_ahead") and not e["student_beats_teacher"]]
    if noisy:
        lines.append(
            f"The student was ahead but not clearly in round{'s' if len(noisy) > 1 else ''} "
            f"{', '.join(map(str, noisy))}: the interval of the difference did not lie above the margin."
        )
    start = rounds[0].get("teacher_f_before_corrections")
    if start is not None:
        change = last["teacher_f"] - start
        trend = " -> ".join(fmt(e["teacher_f"]) for e in rounds)
        if getattr(getattr(settings, "teacher", None), "similar_examples", 0):
            best = max(rounds, key=lambda e: e["teacher_f"])
            lines.append(
                f"The teacher with the most similar corrected docs as few-shot examples: F {start:.3f} before any "
                f"correction, then {trend}. Last round {signed(change)}, best round {signed(best['teacher_f'] - start)} "
                f"(round {best['round']}): {teacher_verdict(start, last)}."
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
    if not won and last.get("delta_ci") and getattr(settings, "target_f", None) is None:
        lines.append(
            f"Target F {clear_win_f(last, margin):.3f}: a clear win if the interval of the difference keeps its width "
            f"(teacher F {last['teacher_f']:.3f} + margin {margin} + the interval's lower half-width "
            f"{last['delta_f'] - last['delta_ci'][0]:.3f})."
        )
    if not final:
        lines.append("The loop is not finished (see status.json).")
    return lines


def teacher_verdict(start: float, last: Dict[str, Any]) -> str:
    """Did the corrections as examples change the teacher's F? With intervals: only if its F before corrections
    lies outside the last round's interval (unpaired, so cautious); without: a change of more than 0.02."""
    change = last["teacher_f"] - start
    ci = last.get("teacher_f_ci")
    if ci:
        where = f"this round's {100 * last['confidence']:g}% interval, {ci[0]:.3f} to {ci[1]:.3f}"
        if ci[0] <= start <= ci[1]:
            return f"no clear change (the F before corrections lies inside {where})"
        return f"the corrections as examples {'helped' if change > 0 else 'hurt'} (the F before corrections lies outside {where})"
    if change > 0.02:
        return "the corrections as examples helped"
    if change < -0.02:
        return "the corrections as examples hurt"
    return "no clear change (less than 0.02 is within the noise of a small test set)"


def _delta(e: Dict[str, Any]) -> str:
    """'+0.041 (-0.020 to +0.100)'; the point difference alone without intervals."""
    delta = f"{e['student_f'] - e['teacher_f']:+.3f}"
    return delta if not e.get("delta_ci") else f"{delta} ({e['delta_ci'][0]:+.3f} to {e['delta_ci'][1]:+.3f})"


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
    header = ["round", "corrected", "teacher F", "student F", "student - teacher (CI)", "shown", "edits/doc shown"]
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
            _delta(e),
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
    out.append("- Projection: " + " ".join(projection_doc.split("curve. ", 1)[1].split()))
    return "\n".join(out) + "\n"


def projection_end(ns: List[int], proj: Dict[str, Any]) -> float:
    """Where the drawn projection ends: twice the docs corrected so far, or where it reaches the target if that is
    at most PLOT_FACTOR times as far (beyond, the report gives the number and the rounds stay readable)."""
    end = max(ns) * 2
    if proj.get("docs_needed"):
        end = max(end, min(proj["docs_needed"] * 1.1, PLOT_FACTOR * max(ns)))
    return end


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
    for who in ("student", "teacher"):
        known = [e for e in rounds if e.get(f"{who}_f_ci")]
        if known:
            level = f"{100 * known[-1]['confidence']:g}%"
            xs, lo, hi = zip(*((e["n_corrected"], *e[f"{who}_f_ci"]) for e in known))
            ax.fill_between(xs, lo, hi, color=COLORS[who], alpha=0.15, linewidth=0, label=f"{who} {level} interval")
    won = next((e for e in rounds if e["student_beats_teacher"]), None)
    if won is not None:
        ax.plot(
            [won["n_corrected"]],
            [won["student_f"]],
            "*",
            color=COLORS["student"],
            markersize=15,
            markeredgecolor="black",
            zorder=5,
            label="clear win" if won.get("delta_ci") else "student wins",
        )
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

        xs = numpy.linspace(min(ns), projection_end(ns, proj), 100)
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
    if not e["student_beats_teacher"] and e["student_f"] > e["teacher_f"]:
        verdict = "student ahead, not clearly" if e.get("delta_ci") else "student ahead, not by the margin"
    msg.good(
        f"Round {e['round']}: {e['n_corrected']} corrected docs; teacher F {e['teacher_f']:.3f}, "
        f"student F {e['student_f']:.3f}, student - teacher {_delta(e)}: {verdict}; {e['edits_per_doc']:.2f} edits per doc on "
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
            _delta(e),
            "yes" if e["student_beats_teacher"] else "no",
            e["suggested_by"],
            f"{e['edits_per_doc']:.2f}",
            f"{e['seconds']['total']:.0f}",
        )
        for e in summary["rounds"]
    ]
    if rows:
        msg.table(
            rows,
            header=("round", "corrected", "teacher F", "student F", "student - teacher (CI)", "beats", "shown")
            + ("edits/doc", "seconds"),
            divider=True,
        )
    if summary["status"] == "waiting":
        msg.warn(summary["reason"])
    else:
        msg.good(f"Loop done: {summary['reason']}")
    for path in summary["report"]:
        msg.text(f"report: {path}")
    msg.text(f"rounds: {Path(summary['output']) / ROUNDS_FILE}")
