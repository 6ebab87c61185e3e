"""The package's error types. The CLI shows these as a one-line message; any other exception
is a bug and keeps its traceback."""


class DistillError(Exception):
    """A problem the user can fix; the message says what and where."""


class InputError(DistillError, ValueError):
    """Bad input data, options or config; the message names the file and line."""


class ConfigError(InputError):
    """A setting in a config or an option is wrong; the message says which and what is allowed."""
