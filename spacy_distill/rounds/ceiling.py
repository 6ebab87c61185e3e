"""The fully supervised ceiling: a student trained on all gold training data, for the report."""

import time
import warnings
from pathlib import Path
from typing import Any, Dict, Optional, Sequence

from spacy.tokens import Doc
from wasabi import msg

from ..corpus.gold import load_gold
from ..evaluation import evaluate
from ..files import read_json, write_docs_atomic, write_json_atomic
from ..student import best_model, train_student
from .settings import LoopSettings


def train_ceiling(
    settings: LoopSettings, cdir: Path, gold_test: Sequence[Doc], verbose: bool
) -> Optional[Dict[str, Any]]:
    """Train (once) and evaluate the ceiling student in CDIR if [loop] ceiling names gold data."""
    if settings.ceiling is None:
        return None
    metrics_path = cdir / "metrics.json"
    if metrics_path.exists():
        return read_json(metrics_path)
    test_texts = {doc.text for doc in gold_test}
    docs = [d for d in load_gold(settings.ceiling, settings.lang) if d.text not in test_texts]
    write_docs_atomic(cdir / "gold_train.spacy", docs)
    if verbose:
        msg.info(f"Ceiling: a student trained on all {len(docs)} gold training docs ({settings.ceiling})")
    start = time.perf_counter()
    train_student(settings.student, [str((cdir / "gold_train.spacy").resolve())], cdir / "student", cdir / "train.log")
    model = best_model(cdir / "student", settings.student.dev is not None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        metrics = evaluate(settings.test, student=model, **settings.evaluation())
    metrics["n_train"] = len(docs)
    metrics["seconds"] = round(time.perf_counter() - start, 3)
    write_json_atomic(metrics_path, metrics)
    return metrics
