"""What the loop writes into OUTPUT, and the rounds.json entry read back from a round's folder.

Everything a round makes is a file in OUTPUT/round_NNN/, written whole (temporary file, then
renamed), and a step whose file exists is not done again (see `rounds`).

    OUTPUT/
      loop.cfg                  the config as read (with overrides)
      rounds.json               one entry per finished round (see `round_entry`)
      status.json               running / waiting / done, and why
      responses.sqlite          every teacher answer (unless [loop.teacher] responses says where)
      round_000/                the teacher before any correction: teacher.cfg, metrics.json
      round_001/
        selected.json           the batch: texts, the strategy's scores and note
        suggestions_teacher.spacy, suggestions_student.spacy, suggestions_rules.spacy, suggestions_vote.spacy
        suggestions.spacy       what the expert is shown (user_data["suggested_by"])
        corrections.jsonl       the simulated expert's answers in a tool's format (simulated source only)
        corrections.spacy       the corrected docs (gold)
        edits.json              edits the expert made, and would have made for every other source
        rules.jsonl, rules_report/, rules.json   (propose_rules) rules proposed from the corrections of
                                rounds 1..r, their report and stats (`rules_source`)
        student/                the student trained on all corrections so far (model-best, model-last)
        teacher.cfg             the teacher with this round's corrections among its examples
        metrics.json            `spacy-distill evaluate` metrics of teacher, student (and rules) on the test set
        state.json              seconds per step, notes
      rules_teacher.cfg         (propose_rules) the teacher config whose LLM proposes rules
      ceiling/                  a student trained on all gold training data (if [loop] ceiling is set)
      report/report.md, report/learning_curve.png
"""

from pathlib import Path
from typing import Any, Dict

from ..evaluation.bootstrap import find
from ..files import count_docs, read_json
from .rules_source import rules_entry

ROUNDS_FILE = "rounds.json"
STEPS = ("select", "pre_annotate", "correct", "train", "evaluate")


def round_dir(out: Path, r: int) -> Path:
    return Path(out) / f"round_{r:03d}"


def is_finished(out: Path, r: int) -> bool:
    """Every step of round r is done."""
    state = round_dir(out, r) / "state.json"
    return state.exists() and set(STEPS) <= set(read_json(state)["seconds"])


def round_entry(out: Path, r: int, margin: float) -> Dict[str, Any]:
    """Round r's entry in rounds.json, from the files in its folder (and round 0's metrics)."""
    rdir = round_dir(out, r)
    state = read_json(rdir / "state.json")
    selected = read_json(rdir / "selected.json")
    edits = read_json(rdir / "edits.json")
    metrics = read_json(rdir / "metrics.json")
    systems = metrics["systems"]
    baseline = read_json(round_dir(out, 0) / "metrics.json")["systems"]["teacher"]
    previous = sum(count_docs(round_dir(out, k) / "corrections.spacy") for k in range(1, r))
    teacher, student = systems["teacher"], systems["student"]
    shown = edits["shown_edits"]
    seconds = dict(state["seconds"])
    seconds["total"] = round(sum(seconds.values()), 3)
    entry = {
        "round": r,
        "n_corrected": previous + edits["docs"],
        "n_batch": edits["docs"],
        "teacher_f": teacher["f"],
        "student_f": student["f"],
        "teacher_p": teacher["p"],
        "teacher_r": teacher["r"],
        "student_p": student["p"],
        "student_r": student["r"],
        "teacher_f_before_corrections": baseline["f"],
        **student_vs_teacher(metrics, margin),
        "strategy": selected["strategy"],
        "selection": selected["note"],
        "skipped_as_similar": selected["skipped_as_similar"],
        "suggested_by": edits["shown"],
        "edits": shown["edits"],
        "edits_total": shown["total"],
        "edits_per_doc": shown["per_doc"],
        "docs_accepted_unchanged": shown["docs_unchanged"],
        "edits_per_doc_by_source": {name: e["per_doc"] for name, e in edits["by_source"].items()},
        "corrections": edits["source"],
        "seconds": seconds,
    }
    if "rules" in systems:
        entry["rules_f"] = systems["rules"]["f"]
    entry.update(rules_entry(rdir))
    llm = teacher.get("llm") or {}
    if "llm_calls" in llm:
        entry["teacher_llm_calls"] = llm.get("llm_calls")
        entry["teacher_cache_hits"] = llm.get("cache_hits")
    return entry


def student_vs_teacher(metrics: Dict[str, Any], margin: float) -> Dict[str, Any]:
    """Does the student beat the teacher? With intervals: when the lower end of the paired interval
    of student F - teacher F is above the margin (a clear win); without (bootstrap = 0, or metrics
    written before intervals existed): when student F > teacher F + margin."""
    teacher, student = metrics["systems"]["teacher"], metrics["systems"]["student"]
    ahead = (student["f"] or 0.0) > (teacher["f"] or 0.0) + margin
    c = find(metrics, "student", "teacher")
    if c is None:
        return {"student_beats_teacher": ahead, "student_ahead": ahead, "stop_rule": "point estimates"}
    return {
        "student_beats_teacher": c["ci"][0] > margin,
        "student_ahead": ahead,
        "stop_rule": f"paired {100 * metrics['bootstrap']['confidence']:g}% interval",
        "confidence": metrics["bootstrap"]["confidence"],
        "student_f_ci": student.get("f_ci"),
        "teacher_f_ci": teacher.get("f_ci"),
        "delta_f": c["delta_f"],
        "delta_ci": c["ci"],
        "p_value": c["p_value"],
    }


def beat_text(entry: Dict[str, Any], margin: float) -> str:
    """'F 0.300 vs 0.100, difference +0.200 (95% CI +0.120 to +0.280; margin 0.0)'."""
    text = f"F {entry['student_f']:.3f} vs {entry['teacher_f']:.3f}"
    if entry.get("delta_ci"):
        lo, hi = entry["delta_ci"]
        level = f"{100 * entry['confidence']:g}%"
        return text + f", difference {entry['delta_f']:+.3f} ({level} CI {lo:+.3f} to {hi:+.3f}; margin {margin})"
    return text + f" (margin {margin}; no intervals)"
