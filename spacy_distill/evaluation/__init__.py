"""evaluate(): teacher vs. student (vs. rules) on the same gold docs, in one run.

Scores come from spaCy's scorers (`spacy_distill.scoring`), gold docs from `corpus.gold`, speed
and size from `speed`, the systems from `systems`, report.md / report.html / chart.png from `report`.
metrics.json has a shape other tools (the loop, bench/, the README's examples) rely on: extend it,
do not rename its keys:

    {"gold": {"path", "n_docs", ...}, "task": {...}, "machine": {...},
     "systems": {NAME: {"f", "p", "r", "per_label", "docs_per_second",
                        "words_per_second", "size_mb", "f_ci", ...}},
     "comparisons": [{"a", "b", "delta_f", "ci", "p_value", "clear", "verdict", "per_label"}, ...],
     "bootstrap": {"resamples", "seed", "confidence", ...},
     "calibration": {"teacher": {"what", "n_scored", "n_unscored", "bins": [{"lo", "hi", "n",
                                 "mean_confidence", "precision"}], "ece", ...}}}

f_ci ([lo, hi], also in each per_label entry) and comparisons (delta_f = F(a) - F(b), paired on
the same resampled docs) come from `bootstrap`; with bootstrap=0 there are none. calibration
(`calibration`): the teacher's confidence bins against precision on gold, when a teacher is given.
"""

from pathlib import Path
from typing import Any, Dict, Optional

from ..corpus.gold import load_gold
from ..errors import InputError
from ..files import write_json_atomic
from ..scoring import score
from ..task import Task, detect_task
from .bootstrap import check_options, paired_bootstrap
from .calibration import calibration
from .report import print_summary, write_report
from .speed import machine

__all__ = ["Task", "detect_task", "evaluate", "load_gold", "print_summary", "score", "write_report"]


def evaluate(
    gold_path: Path,
    *,
    teacher: Optional[Path] = None,
    student: Optional[Path] = None,
    rules: Optional[Path] = None,
    reference_rules: Optional[Path] = None,
    output: Optional[Path] = None,
    report_dir: Optional[Path] = None,
    overrides: Optional[Dict[str, Any]] = None,
    lang: str = "en",
    repeats: int = 3,
    batch_size: Optional[int] = None,
    task: Optional[str] = None,
    span_key: Optional[str] = None,
    show_progress: bool = False,
    bootstrap: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    calibration_bins: int = 5,
) -> Dict[str, Any]:
    """Score and time every given system on GOLD; write OUTPUT (metrics.json) and the report; return the metrics.

    teacher: a config (.cfg, run on the gold texts with `overrides`) or a .spacy DocBin of teacher docs.
    student: a pipeline directory. rules: patterns (.jsonl, e.g. from `rules propose`); with a
    student also scored as "student+rules" (the rules before the student's ner). reference_rules:
    another patterns file scored as "reference_rules" (e.g. hand-written ones to compare with).
    repeats: passes over the texts for the fast systems (the best counts); the LLM runs once.
    task / span_key: override the task read off the gold (ner, spancat, textcat, textcat_multilabel).
    bootstrap: resamples of the gold docs for the intervals and paired comparisons (0: none), drawn
    with `seed`; confidence: the intervals' level. calibration_bins: equal-width bins of the
    teacher's confidence for the calibration table.
    """
    from . import systems

    check_options(bootstrap, confidence)
    if calibration_bins < 1:
        raise InputError(f"calibration_bins must be 1 or more, got {calibration_bins}")
    if teacher is None and student is None and rules is None and reference_rules is None:
        raise InputError("Nothing to evaluate: give --teacher, --student and/or --rules")
    gold_path = Path(gold_path)
    gold = load_gold(gold_path, lang)
    the_task = detect_task(gold, task, span_key)
    n_words = sum(len(doc) for doc in gold)
    runs: Dict[str, Any] = {}
    if teacher is not None:
        teacher = Path(teacher)
        if teacher.suffix == ".spacy":
            runs["teacher"] = systems.teacher_from_docbin(teacher, gold, n_words, the_task)
        else:
            runs["teacher"] = systems.teacher_from_config(teacher, overrides, gold, n_words, batch_size, show_progress)
    if student is not None:
        runs["student"] = systems.student(Path(student), gold, n_words, repeats, batch_size)
    if rules is not None:
        runs["rules"] = systems.rules(Path(rules), gold, n_words, the_task, repeats)
    if student is not None and rules is not None:
        runs["student+rules"] = systems.student_with_rules(
            Path(student), Path(rules), gold, n_words, the_task, repeats, batch_size
        )
    if reference_rules is not None:
        runs["reference_rules"] = systems.rules(Path(reference_rules), gold, n_words, the_task, repeats)

    results: Dict[str, Dict[str, Any]] = {}
    for name, (docs, entry) in runs.items():
        results[name] = {**score(docs, gold, the_task), **entry, "n_predicted": systems.n_predicted(docs, the_task)}
    metrics = {
        "gold": {"path": str(gold_path), "n_docs": len(gold), "n_words": n_words, "lang": gold[0].lang_},
        "task": the_task.to_dict(),
        "machine": machine(),
        "systems": results,
    }
    if bootstrap:
        docs = {name: system_docs for name, (system_docs, _) in runs.items()}
        metrics["comparisons"], metrics["bootstrap"] = paired_bootstrap(
            docs, gold, the_task, results, bootstrap, seed, confidence
        )
    if "teacher" in runs:
        metrics["calibration"] = {"teacher": calibration(runs["teacher"][0], gold, the_task, calibration_bins)}
    if report_dir is not None:
        metrics["report"] = [str(p) for p in write_report(metrics, Path(report_dir))]
    if output is not None:
        write_json_atomic(Path(output), metrics, ensure_ascii=True)
    return metrics
