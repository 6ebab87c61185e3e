"""The distillation loop: rounds, selection strategies, simulated annotator, report.

Nothing heavy at import time: `run_loop` imports the machinery when called.
"""
from typing import Any


def run_loop(*args: Any, **kwargs: Any):
    """See `spacy_distill.loop.rounds.run_loop`."""
    from .rounds import run_loop as _run_loop

    return _run_loop(*args, **kwargs)
