"""What every `spacy-distill` command shares: config overrides after the arguments, and clean failures."""

from contextlib import contextmanager

import typer

OVERRIDES = {"allow_extra_args": True, "ignore_unknown_options": True}


@contextmanager
def fail_cleanly():
    """The package's own errors (bad input, config, server) as a one-line failure with exit code 1.

    Any other exception is a bug and keeps its traceback.
    """
    from .errors import DistillError, print_error

    try:
        yield
    except DistillError as e:
        print_error(e)  # whole lines: a long path is never wrapped away from its line number
        raise typer.Exit(1) from None
