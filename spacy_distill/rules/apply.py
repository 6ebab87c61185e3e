"""The rules component: EntityRuler (entities) or SpanRuler (span groups) patterns in a blank pipeline.

The loop's rule suggestions and `evaluate --rules` run the same pipeline, built here.
"""

from pathlib import Path
from typing import Any, Dict, List, Tuple

import spacy
from spacy.language import Language

from ..errors import InputError
from ..formats.common import read_jsonl
from ..task import Task


def read_patterns(path: Path) -> List[Dict[str, Any]]:
    """EntityRuler/SpanRuler patterns from JSONL; errors name the file and line."""
    patterns = []
    for i, pattern in read_jsonl(Path(path)):
        if "label" not in pattern or "pattern" not in pattern:
            raise InputError(f'{path}:{i}: a pattern needs "label" and "pattern"')
        patterns.append(pattern)
    return patterns


def rules_pipeline(patterns_path: Path, lang: str, task: Task) -> Tuple[Language, int]:
    """A blank `lang` pipeline with the patterns in an entity_ruler (an entity task) or a span_ruler
    writing to the task's span key (a span task), and the number of patterns. Patterns are validated."""
    if task.kind not in ("ner", "spancat"):
        raise InputError(f"--rules needs an entity or span task; the gold is {task.kind}")
    patterns = read_patterns(patterns_path)
    nlp = spacy.blank(lang)
    if task.kind == "ner":
        ruler = nlp.add_pipe("entity_ruler", config={"validate": True})
    else:
        ruler = nlp.add_pipe("span_ruler", config={"spans_key": task.span_key, "validate": True})
    try:
        ruler.add_patterns(patterns)
    except ValueError as e:
        raise InputError(f"{patterns_path}: invalid patterns ({e})") from None
    return nlp, len(patterns)
