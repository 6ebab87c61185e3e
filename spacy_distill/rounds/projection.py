"""The projection: how many corrected docs would reach a target F, from the student's learning
curve. We fit a power law F(n) = a - b * n^(-c) (the usual shape of a learning curve;
least squares over a grid of c in [0.05, 1.5], with a and b solved exactly for each c; b > 0
and a <= 1)
when there are at least 3 rounds, and a log-linear curve F(n) = a + b * ln(n) (2 rounds, or
if the power law does not fit). The report says which was used. Both are extrapolations
from few noisy points: read them as orders of magnitude.
"""

import math
from typing import Any, Dict, List, Optional, Sequence

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
