"""spacy-distill: human-in-the-loop distillation of LLM annotations into small spaCy pipelines.

The Python API: one function per CLI command, with the command's options as keyword arguments.

    from spacy_distill import annotate, evaluate

    stats = annotate("configs/teacher_ner.cfg", "texts.jsonl", "corpus/teacher.spacy", limit=50)
    metrics = evaluate("corpus/gold.spacy", teacher="corpus/teacher.spacy", student="training/model-best")

annotate           raw texts -> teacher docs             (teacher/annotate.py)
export             teacher docs -> an annotation tool's tasks (formats/)
import_corrections the tool's answers -> gold docs       (corpus/corrections.py)
simulate           a stand-in expert corrects from gold  (rounds/simulate.py)
evaluate           teacher vs. student vs. rules on gold (evaluation/)
review             the review page                       (review_app/server.py)
loop               rounds until the student wins         (rounds/loop.py)
propose_rules      rules from the LLM and the corrections (rules/propose.py)
apply              a trained pipeline over a corpus, here or on Ray (scale/run.py)

Imports stay lazy: `import spacy_distill` loads none of them.
"""

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_API = {
    "annotate": ("spacy_distill.teacher.annotate", "annotate"),
    "export": ("spacy_distill.formats", "export_docs"),
    "import_corrections": ("spacy_distill.corpus.corrections", "import_corrections"),
    "simulate": ("spacy_distill.rounds.simulate", "simulate_corrections"),
    "evaluate": ("spacy_distill.evaluation", "evaluate"),
    "review": ("spacy_distill.review_app.server", "serve"),
    "loop": ("spacy_distill.rounds.loop", "run_loop"),
    "propose_rules": ("spacy_distill.rules.propose", "propose_rules"),
    "apply": ("spacy_distill.scale.run", "apply_pipeline"),
}
__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    if name not in _API:
        raise AttributeError(f"module 'spacy_distill' has no attribute {name!r}")
    module, function = _API[name]
    value = getattr(import_module(module), function)
    globals()[name] = value
    return value


def __dir__():
    return sorted(__all__)
