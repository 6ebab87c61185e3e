"""chart.png: F per label per system with its bootstrap interval, speed and size."""

from pathlib import Path
from typing import Any, Dict, List, Optional

from .verdicts import fmt_number, label_rows

COLORS = {"teacher": "#7b5ea7", "student": "#1f9e89", "rules": "#e0a526"}
OTHER_COLORS = ["#4c72b0", "#c44e52", "#8c8c8c", "#55a868"]
MAX_CHART_LABELS = 12


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
    cis = [[systems[n].get("per_label", {}).get(label, {}).get("f_ci") for n in names] for label in groups]
    if len(rows) != 1:  # with one label, "overall" would repeat it
        groups.insert(0, f"overall ({metrics['task']['score']})")
        values.insert(0, [systems[n]["f"] for n in names])
        cis.insert(0, [systems[n].get("f_ci") for n in names])
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
        intervals = [c[i] or [h, h] for c, h in zip(cis, heights)]
        errors = [
            [h - lo for h, (lo, _) in zip(heights, intervals)],
            [hi - h for h, (_, hi) in zip(heights, intervals)],
        ]
        error_kw = {"elinewidth": 0.9, "capsize": 2, "ecolor": "#333333"}
        if horizontal:
            bars = ax_f.barh(
                pos, heights, width * 0.95, label=name, color=color_of(name, i), xerr=errors, error_kw=error_kw
            )
        else:
            bars = ax_f.bar(
                pos, heights, width * 0.95, label=name, color=color_of(name, i), yerr=errors, error_kw=error_kw
            )
        for bar, v, (_, hi) in zip(bars, (v[i] for v in values), intervals):
            text = "n/a" if v is None else f"{v:.2f}"
            if horizontal:
                ax_f.text(
                    max(bar.get_width(), hi) + 0.01, bar.get_y() + bar.get_height() / 2, text, va="center", fontsize=7
                )
            else:
                ax_f.text(
                    bar.get_x() + bar.get_width() / 2,
                    max(bar.get_height(), hi) + 0.015,
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
    if any(c for row in cis for c in row):
        title += f" (error bars: {100 * metrics['bootstrap']['confidence']:g}% bootstrap intervals)"
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
