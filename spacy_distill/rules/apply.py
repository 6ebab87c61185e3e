"""The rules in a pipeline: the `spacy_distill_rules` component (token, phrase and regex rules) in a
blank pipeline, or added to a student.

The loop's rule suggestions and `evaluate --rules` run the same pipeline, built here.
"""

from pathlib import Path
from typing import Tuple

import spacy
from spacy.language import Language

from ..errors import InputError
from ..task import Task
from .component import RulesComponent
from .matching import RuleError
from .rule import iter_rules

RULES_COMPONENT = "spacy_distill_rules"


def rules_pipeline(patterns_path: Path, lang: str, task: Task) -> Tuple[Language, int]:
    """A blank `lang` pipeline with the patterns in the rules component, writing entities (an entity
    task) or the task's span key (a span task), and the number of patterns. Patterns are validated."""
    nlp = spacy.blank(lang)
    rules = add_rules_component(nlp, patterns_path, task)
    return nlp, len(rules.rules)


def add_rules_component(nlp: Language, patterns_path: Path, task: Task) -> RulesComponent:
    """Add the rules component with the patterns to nlp: before its ner if it has one (the model fills
    in around the rules' entities), else last (after a spancat: the rules' spans join the model's).
    Invalid patterns raise InputError naming the file and line."""
    if task.kind not in ("ner", "spancat"):
        raise InputError(f"--rules needs an entity or span task; the gold is {task.kind}")
    spans_key = task.span_key if task.kind == "spancat" else None
    where = {"before": "ner"} if task.kind == "ner" and "ner" in nlp.pipe_names else {}
    component = nlp.add_pipe(RULES_COMPONENT, config={"spans_key": spans_key}, **where)
    for i, rule in iter_rules(Path(patterns_path)):
        try:
            component.add_rules([rule])
        except RuleError as e:
            raise InputError(f"{patterns_path}:{i}: invalid pattern ({e})") from None
    return component
