"""The package's error types, and how the CLI shows them: `print_error`, the message alone, its
lines whole. Any other exception is a bug and keeps its traceback."""

import sys

from wasabi import color


class DistillError(Exception):
    """A problem the user can fix; the message says what and where."""


class InputError(DistillError, ValueError):
    """Bad input data, options or config; the message names the file and line."""


class ConfigError(InputError):
    """A setting in a config or an option is wrong; the message says which and what is allowed."""


def print_error(error: Exception) -> None:
    """An error as `✘ message`, its lines kept whole (no wrapping: a long path stays on one line)."""
    first, *rest = str(error).split("\n")
    print(color(f"\u2718 {first}", fg="red", bold=True), *rest, sep="\n", file=sys.stdout, flush=True)
