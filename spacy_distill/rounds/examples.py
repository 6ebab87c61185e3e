"""The loop's teacher learns from the corrections: its config with the task wrapped in
`spacy_distill.SimilarExamples.v1` (see `spacy_distill.teacher.similar_examples`), so the
corrected docs most similar to each text become that prompt's few-shot examples.
"""

from pathlib import Path
from typing import Any, Dict, List

from spacy.util import load_config
from thinc.api import Config

from ..errors import ConfigError
from .settings import LoopConfigError, TeacherSettings


def round_teacher_config(teacher: TeacherSettings, store: Path, examples: List[str]) -> Config:
    """The teacher's config (uninterpolated) with the [loop.teacher] overrides, the loop's response
    store, and (with similar_examples) the corrections files `examples` as its few-shot examples."""
    base = load_config(teacher.config, interpolate=False)
    overrides = dict(teacher.overrides)
    if "responses" in base.get("paths", {}):
        overrides["paths.responses"] = str(store)
    try:
        config = load_config(teacher.config, overrides=overrides, interpolate=False)
    except Exception as e:
        raise LoopConfigError(f"{teacher.config}: cannot apply [loop.teacher] overrides {overrides}: {e}") from None
    if teacher.similar_examples > 0:
        config = wrap_teacher_config(
            config, examples, teacher.similar_examples, teacher.keep_static_examples, teacher.max_example_chars
        )
    return config


def wrap_teacher_config(
    config: Dict[str, Any], examples: List[str], n: int, keep_static: bool, max_chars: int
) -> Dict[str, Any]:
    """The teacher config (uninterpolated) with its llm task wrapped in SimilarExamples.v1.

    References to the task's settings elsewhere (`${components.llm.task.labels}` in a grammar)
    are pointed at the wrapped task's section.
    """
    llm_names = [name for name, comp in config["components"].items() if comp.get("factory") == "llm"]
    if not llm_names:
        raise ConfigError("The teacher config has no spacy-llm `llm` component")
    name = llm_names[0]
    prefix = f"${{components.{name}.task."
    _rewrite_refs(config, prefix, f"${{components.{name}.task.task.")
    inner = config["components"][name]["task"]
    config["components"][name]["task"] = {
        "@llm_tasks": "spacy_distill.SimilarExamples.v1",
        "examples": examples,
        "n": n,
        "keep_static": keep_static,
        "max_chars": max_chars,
        "lang": config.get("nlp", {}).get("lang", "en"),
        "task": inner,
    }
    return config


def _rewrite_refs(node: Any, old: str, new: str) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(value, str) and old in value:
                node[key] = value.replace(old, new)
            else:
                _rewrite_refs(value, old, new)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            if isinstance(value, str) and old in value:
                node[i] = value.replace(old, new)
            else:
                _rewrite_refs(value, old, new)
