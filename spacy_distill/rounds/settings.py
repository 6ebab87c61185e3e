"""The loop's config file: spaCy's config format, read with `spacy.util.load_config`.

    [loop]
    pool = "assets/fashion_brands/train.jsonl"   # unlabelled texts (.jsonl/.txt/.csv or .spacy)
    test = "assets/fashion_brands/test.jsonl"    # gold test set (any format `import` reads, or .spacy)
    batch_size = 50                              # docs per round
    budget = 600                                 # corrected docs at most
    margin = 0.0                                 # stop when the student's F is clearly above the teacher's + margin
    confidence = 0.95                            # ... clearly: the lower end of this paired interval
    bootstrap = 1000                             # resamples of the test docs for the intervals (0: point estimates)
    pre_annotate = "best"                        # teacher, student, vote or best
    rules = "assets/fashion_brands/patterns.jsonl"  # fixed patterns (null: none)
    propose_rules = true                         # propose rules from the corrections each round

    [loop.strategy]
    @misc = "spacy_distill.Disagreement.v1"

    [loop.corrections]
    @misc = "spacy_distill.SimulatedExpert.v1"
    gold = "assets/fashion_brands/train.jsonl"

    [loop.teacher]
    config = "configs/teacher_ner.cfg"
    similar_examples = 3

    [loop.student]
    config = "configs/student_ner.cfg"
    dev = "assets/fashion_brands/dev.jsonl"
    max_steps = 600

The registered blocks (strategy, corrections) are resolved with spaCy's registry.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Optional

from spacy.util import load_config, registry
from thinc.api import Config

from ..errors import InputError
from ..student import StudentSettings
from . import sources  # noqa: F401  (registers the corrections sources)
from .preannotate import MODES
from .strategies import Strategy


class LoopConfigError(InputError):
    """A loop config that cannot work; the message names the setting."""


@dataclass
class TeacherSettings:
    config: Path
    responses: Optional[Path] = None  # None: OUTPUT/responses.sqlite
    similar_examples: int = 3  # 0: the teacher keeps its static examples
    keep_static_examples: bool = False
    max_example_chars: int = 600
    overrides: Dict[str, Any] = field(default_factory=dict)


@dataclass
class LoopSettings:
    pool: Path
    test: Path
    teacher: TeacherSettings
    student: StudentSettings
    strategy: Strategy
    corrections: Any
    text_field: str = "text"
    lang: str = "en"
    batch_size: int = 50
    budget: int = 600
    margin: float = 0.0
    confidence: float = 0.95  # the student beats the teacher when the paired interval of the difference is above margin
    bootstrap: int = 1000  # resamples of the test docs for the intervals (0: none; the point estimates decide)
    stop_when_beaten: bool = True
    max_rounds: int = 0
    seed: int = 0
    target_f: Optional[float] = None
    pre_annotate: str = "best"
    rules: Optional[Path] = None  # a fixed patterns file (with propose_rules: the seed patterns)
    propose_rules: bool = False  # each round: rules proposed from all corrections so far
    rules_min_precision: float = 0.9
    rules_no_llm: bool = False
    ceiling: Optional[Path] = None  # gold training data: a student trained on all of it is the ceiling
    raw: Any = None  # the config as read (a thinc Config)

    def evaluation(self) -> Dict[str, Any]:
        """`evaluate`'s options for the test set: one pass, the loop's intervals."""
        return {
            "lang": self.lang,
            "repeats": 1,
            "bootstrap": self.bootstrap,
            "seed": self.seed,
            "confidence": self.confidence,
        }


LOOP_KEYS = {
    "pool",
    "test",
    "teacher",
    "student",
    "strategy",
    "corrections",
    "text_field",
    "lang",
    "batch_size",
    "budget",
    "margin",
    "confidence",
    "bootstrap",
    "stop_when_beaten",
    "max_rounds",
    "seed",
    "target_f",
    "pre_annotate",
    "rules",
    "propose_rules",
    "rules_min_precision",
    "rules_no_llm",
    "ceiling",
}


def read_settings(config_path: Path, overrides: Optional[Dict[str, Any]] = None) -> LoopSettings:
    config_path = Path(config_path)
    if not config_path.exists():
        raise LoopConfigError(f"{config_path}: config file not found")
    try:
        config = load_config(config_path, overrides=overrides or {}, interpolate=True)
    except Exception as e:  # thinc's ConfigValidationError, parse errors
        raise LoopConfigError(f"{config_path}: cannot read the config ({e})") from None
    return settings_from_config(config, str(config_path))


def settings_from_config(config: Config, where: str = "config") -> LoopSettings:
    if "loop" not in config:
        raise LoopConfigError(f"{where}: no [loop] section")
    loop = dict(config["loop"])
    unknown = set(loop) - LOOP_KEYS
    if unknown:
        raise LoopConfigError(f"{where}: unknown [loop] settings {sorted(unknown)}; known: {sorted(LOOP_KEYS)}")
    for key in ("pool", "test", "teacher", "student", "strategy", "corrections"):
        if loop.get(key) in (None, "", {}):
            raise LoopConfigError(f"{where}: [loop] needs {key}")
    try:
        strategy = registry.resolve({"x": loop["strategy"]})["x"]
        corrections = registry.resolve({"x": loop["corrections"]})["x"]
    except Exception as e:
        raise LoopConfigError(f"{where}: cannot build [loop.strategy] / [loop.corrections]: {e}") from None
    if not isinstance(strategy, Strategy):
        raise LoopConfigError(
            f"{where}: [loop.strategy] must build a selection strategy, got {type(strategy).__name__}"
        )
    if not hasattr(corrections, "correct"):
        raise LoopConfigError(
            f"{where}: [loop.corrections] must build a corrections source, got {type(corrections).__name__}"
        )
    teacher = _section(TeacherSettings, loop["teacher"], "loop.teacher", where)
    student = _section(StudentSettings, loop["student"], "loop.student", where)
    teacher.config = Path(teacher.config)
    teacher.responses = Path(teacher.responses) if teacher.responses else None
    student.config = Path(student.config)
    student.dev = Path(student.dev) if student.dev else None
    plain = {k: v for k, v in loop.items() if k not in ("teacher", "student", "strategy", "corrections")}
    settings = LoopSettings(
        pool=Path(plain.pop("pool")),
        test=Path(plain.pop("test")),
        teacher=teacher,
        student=student,
        strategy=strategy,
        corrections=corrections,
        **plain,
    )
    settings.rules = Path(settings.rules) if settings.rules else None
    settings.ceiling = Path(settings.ceiling) if settings.ceiling else None
    settings.raw = config
    check(settings, where)
    return settings


def _section(cls, values: Any, name: str, where: str):
    if not isinstance(values, dict):
        raise LoopConfigError(f"{where}: [{name}] must be a section")
    known = set(cls.__dataclass_fields__)
    unknown = set(values) - known
    if unknown:
        raise LoopConfigError(f"{where}: unknown [{name}] settings {sorted(unknown)}; known: {sorted(known)}")
    if "config" not in values:
        raise LoopConfigError(f"{where}: [{name}] needs config")
    return cls(**values)


def check(s: LoopSettings, where: str) -> None:
    def fail(message: str) -> None:
        raise LoopConfigError(f"{where}: {message}")

    if s.batch_size < 1:
        fail(f"[loop] batch_size must be at least 1, got {s.batch_size}")
    if s.budget < 1:
        fail(f"[loop] budget must be at least 1, got {s.budget}")
    if s.pre_annotate not in MODES:
        fail(f"[loop] pre_annotate must be one of {', '.join(MODES)}, got {s.pre_annotate!r}")
    if not 0.0 < s.confidence < 1.0:
        fail(f"[loop] confidence must be between 0 and 1 (e.g. 0.95), got {s.confidence}")
    if s.bootstrap < 0:
        fail(f"[loop] bootstrap must be 0 (no intervals) or a number of resamples, got {s.bootstrap}")
    if not 0.0 <= s.rules_min_precision <= 1.0:
        fail(f"[loop] rules_min_precision must be between 0 and 1, got {s.rules_min_precision}")
    if s.student.max_steps < 1:
        fail(f"[loop.student] max_steps must be at least 1, got {s.student.max_steps}")
    for label, path in (
        ("[loop] pool", s.pool),
        ("[loop] test", s.test),
        ("[loop.teacher] config", s.teacher.config),
        ("[loop.student] config", s.student.config),
        ("[loop.student] dev", s.student.dev),
        ("[loop] rules", s.rules),
        ("[loop] ceiling", s.ceiling),
    ):
        if path is not None and not Path(path).exists():
            fail(f"{label}: {path} not found")
    for name, overrides in (("loop.teacher", s.teacher.overrides), ("loop.student", s.student.overrides)):
        if not isinstance(overrides, dict):
            fail(f'[{name}] overrides must be a dict of dotted settings, e.g. {{"training.dropout": 0.2}}')
