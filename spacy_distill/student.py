"""Training the student: `spacy train` in this process, on corrections files, into a folder made whole.

    train_student(settings, ["round_001/corrections.spacy", ...], OUT, OUT.parent / "train.log")
    best_model(OUT, has_dev=settings.dev is not None)   # OUT/model-best, else OUT/model-last

The training writes into `OUT.partial-PID` and only a finished training is renamed to OUT, so
a folder OUT always holds a complete model (a killed run leaves a partial folder, removed on
the next try).
"""

import contextlib
import os
import shutil
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

from .errors import InputError


class TrainingError(InputError):
    """The student could not be trained; the message names the config and the log."""


@dataclass
class StudentSettings:
    config: Path
    dev: Optional[Path] = None  # None: train and pick on the corrections (model-last)
    max_steps: int = 600
    max_epochs: int = 0  # 0: no limit; else also stop after this many passes over the corrections
    eval_frequency: int = 100
    patience: int = 0
    overrides: Dict[str, Any] = field(default_factory=dict)


def best_model(student_dir: Path, has_dev: bool) -> Path:
    """model-best when a dev set picked it (and it was written), else model-last."""
    best = Path(student_dir) / "model-best"
    return best if has_dev and (best / "meta.json").exists() else Path(student_dir) / "model-last"


def train_student(settings: StudentSettings, train_files: List[str], output_dir: Path, log_path: Path) -> Path:
    """Train on the files (spaCy's log in log_path) into output_dir, replacing what was there; return output_dir."""
    output_dir = Path(output_dir)
    for stale in output_dir.parent.glob(f"{output_dir.name}.partial-*"):
        shutil.rmtree(stale, ignore_errors=True)
    tmp = output_dir.with_name(f"{output_dir.name}.partial-{os.getpid()}")
    _train(settings, train_files, tmp, Path(log_path))
    if output_dir.exists():
        shutil.rmtree(output_dir)
    os.replace(tmp, output_dir)
    return output_dir


def _train(settings: StudentSettings, train_files: List[str], output: Path, log_path: Path) -> None:
    from spacy.training.initialize import init_nlp
    from spacy.training.loop import train as train_nlp
    from spacy.util import load_config

    overrides = {
        "paths.train": ",".join(train_files),
        "paths.dev": str(Path(settings.dev).resolve()) if settings.dev is not None else ",".join(train_files),
        "training.max_steps": settings.max_steps,
        "training.max_epochs": settings.max_epochs,
        "training.eval_frequency": min(settings.eval_frequency, settings.max_steps),
        "training.patience": settings.patience,
        "training.logger.progress_bar": False,
        **settings.overrides,
    }
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("w", encoding="utf8") as log, contextlib.redirect_stdout(log), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            config = load_config(settings.config, overrides=overrides, interpolate=False)
            nlp = init_nlp(config)
            output.mkdir(parents=True, exist_ok=True)
            train_nlp(nlp, output, stdout=log, stderr=log)
        except Exception as e:
            raise TrainingError(
                f"Training the student ({settings.config}) failed: {type(e).__name__}: {e} (log: {log_path})"
            ) from e
    if not (output / "model-last" / "meta.json").exists():
        raise TrainingError(f"Training the student ({settings.config}) wrote no model; see {log_path}")
