"""Who wins, in words that do not claim more than the test set shows.

With intervals (metrics["comparisons"], `bootstrap`), "A beats B" / "A wins" is said only when
the paired interval of F(A) - F(B) excludes 0; otherwise "no clear difference". Without them
(`--bootstrap 0`) the point estimates decide, as before, and the text says the intervals are off.
"""

from typing import Any, Dict, List, Optional, Sequence, Tuple

from .bootstrap import find

MODELS = ("student", "student+rules", "teacher")


def fmt_score(value: Optional[float]) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def fmt_number(value: Optional[float]) -> str:
    if value is None:
        return "n/a"
    return f"{value:,.0f}" if value >= 100 else f"{value:,.2f}" if value >= 1 else f"{value:.3g}"


def fmt_ci(ci: Optional[Sequence[float]], signed: bool = False) -> str:
    if not ci:
        return "n/a"
    form = "{:+.3f}" if signed else "{:.3f}"
    return f"{form.format(ci[0])} to {form.format(ci[1])}"


def level(metrics: Dict[str, Any]) -> str:
    """'95%' (the intervals' confidence level)."""
    return f"{100 * metrics.get('bootstrap', {}).get('confidence', 0.95):g}%"


def has_intervals(metrics: Dict[str, Any]) -> bool:
    return "comparisons" in metrics


def difference(metrics: Dict[str, Any], c: Dict[str, Any]) -> str:
    """'difference +0.108, 95% CI +0.050 to +0.170, p 0.002'."""
    return f"difference {c['delta_f']:+.3f}, {level(metrics)} CI {fmt_ci(c['ci'], True)}, p {c['p_value']:.3g}"


def winner(scores: Dict[str, Optional[float]]) -> str:
    """The system with the highest score ('a = b' on a tie, '-' if none scored)."""
    known = {name: s for name, s in scores.items() if s is not None}
    if not known:
        return "-"
    best = max(known.values())
    top = [name for name, s in known.items() if abs(s - best) < 1e-9]
    return " = ".join(top)


def leaders(
    metrics: Dict[str, Any], scores: Dict[str, Optional[float]], label: Optional[str] = None
) -> Tuple[Optional[str], List[str]]:
    """(the best system by its score, the others with no clear difference from it)."""
    known = {name: s for name, s in scores.items() if s is not None}
    if not known:
        return None, []
    best = max(known, key=lambda name: known[name])
    tied = []
    for name in known:
        c = comparison(metrics, best, name, label)
        if name != best and (c is None or not c["clear"]):
            tied.append(name)
    return best, tied


def comparison(metrics: Dict[str, Any], a: str, b: str, label: Optional[str] = None) -> Optional[Dict[str, Any]]:
    """The paired comparison of a with b (overall, or for one label), None if there is none."""
    c = find(metrics, a, b)
    if c is None or label is None:
        return c
    return c.get("per_label", {}).get(label)


def winner_cell(metrics: Dict[str, Any], scores: Dict[str, Optional[float]], label: Optional[str] = None) -> str:
    """The table's winner column: 'X', or 'no clear winner: X, Y' when the intervals cannot tell them apart."""
    if not has_intervals(metrics):
        return winner(scores)
    best, tied = leaders(metrics, scores, label)
    if best is None:
        return "-"
    return best if not tied else f"no clear winner: {', '.join([best, *tied])}"


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
        rows.append((label, counts.get(label), f, winner_cell(metrics, f, label)))
    return rows


def best_line(metrics: Dict[str, Any]) -> str:
    """'Best: X, clearly ahead of every other system.' or which systems it cannot be told apart from."""
    systems = metrics["systems"]
    scores = {n: e["f"] for n, e in systems.items()}
    if not has_intervals(metrics):
        return f"Best: {winner(scores)} (no intervals: --bootstrap 0)."
    best, tied = leaders(metrics, scores)
    if best is None:
        return "Best: -."
    if len(scores) == 1:
        return f"Best: {best} (the only system)."
    if not tied:
        return f"Best: {best}, clearly ahead of every other system ({level(metrics)} paired intervals)."
    parts = "; ".join(f"{name}: {difference(metrics, comparison(metrics, best, name))}" for name in tied)
    return f"Best: {best}, but with no clear difference from {', '.join(tied)} ({parts})."


def pair_line(metrics: Dict[str, Any], a: str, b: str) -> Optional[str]:
    """'The student beats the teacher (...)' or 'No clear difference between the student and the teacher (...)'."""
    c = comparison(metrics, a, b)
    if c is None:
        return None
    if not c["clear"]:
        return f"No clear difference between the {a} and the {b} ({difference(metrics, c)})."
    if c["delta_f"] < 0:
        a, b, c = b, a, comparison(metrics, b, a)
    return f"The {a} beats the {b} ({difference(metrics, c)})."


def comparisons_table(metrics: Dict[str, Any]) -> Tuple[List[str], List[List[str]]]:
    header = ["a", "b", "F(a) - F(b)", f"{level(metrics)} CI", "p", "verdict"]
    rows = [
        [c["a"], c["b"], f"{c['delta_f']:+.3f}", fmt_ci(c["ci"], True), f"{c['p_value']:.3g}", c["verdict"]]
        for c in metrics.get("comparisons", [])
    ]
    return header, rows


def rules_verdicts(metrics: Dict[str, Any]) -> List[str]:
    """Per label, the first question of a project: are the rules enough, or is a model needed?

    With intervals: a model is needed for a label when some model (student, student+rules or
    teacher) clearly beats the rules on it (the paired interval of its F minus the rules' F is
    above 0); the rules are enough when their F is at least every model's; otherwise the best
    model is ahead but not clearly, and the verdict says so ("Rules may be enough"). Without
    intervals: the rules are enough when their F is at least the best model's.
    """
    systems = metrics["systems"]
    rules = systems.get("rules")
    models = [name for name in MODELS if name in systems]
    if not rules or not models:
        return []
    lines = []
    for label, _, f, _ in label_rows(metrics):
        rules_f = f.get("rules")
        if rules_f is None:
            continue
        best = max(models, key=lambda name: f.get(name) or 0.0)
        clearly_better = []
        for name in models:
            c = comparison(metrics, name, "rules", label)
            if c is not None and c["clear"] and c["delta_f"] > 0:
                clearly_better.append(name)
        if clearly_better:
            top = max(clearly_better, key=lambda name: f.get(name) or 0.0)
            why = f"; {difference(metrics, comparison(metrics, top, 'rules', label))}"
            lines.append(
                f"A model is needed for {label} (rules F {fmt_score(rules_f)}, {top} F {fmt_score(f[top])}{why})."
            )
        elif rules_f >= (f.get(best) or 0.0):
            speed = fmt_number(rules.get("words_per_second"))
            lines.append(f"Rules are enough for {label} (F {fmt_score(rules_f)}, {speed} words/s, no model).")
        elif (c := comparison(metrics, best, "rules", label)) is None:
            lines.append(
                f"A model is needed for {label} (rules F {fmt_score(rules_f)}, {best} F {fmt_score(f.get(best))})."
            )
        else:
            lines.append(
                f"Rules may be enough for {label}: {best} is ahead (F {fmt_score(f.get(best))} vs rules "
                f"{fmt_score(rules_f)}) but not clearly ({difference(metrics, c)}); more gold docs would tell."
            )
    return lines
