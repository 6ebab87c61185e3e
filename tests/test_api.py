"""The Python API: each CLI command is one function importable from spacy_distill, options by keyword."""

import inspect
import subprocess
import sys

import pytest
from typer.testing import CliRunner

import spacy_distill
from spacy_distill.cli import app

POSITIONAL = {  # the paths a command takes as arguments; everything else is keyword-only
    "annotate": 3,
    "export": 2,
    "import_corrections": 2,
    "simulate": 3,
    "evaluate": 1,
    "review": 1,
    "loop": 2,
    "apply": 3,
}


@pytest.mark.parametrize("name", sorted(POSITIONAL))
def test_each_command_is_a_function_with_keyword_only_options(name):
    function = getattr(spacy_distill, name)
    assert callable(function) and function.__doc__
    params = list(inspect.signature(function).parameters.values())
    n = POSITIONAL[name]
    assert all(p.kind == p.POSITIONAL_OR_KEYWORD for p in params[:n])
    assert all(p.kind in (p.KEYWORD_ONLY, p.VAR_KEYWORD) for p in params[n:]), [str(p) for p in params[n:]]


def test_from_spacy_distill_import_and_lazy_imports():
    code = (
        "import sys, spacy_distill; assert 'spacy' not in sys.modules, 'import spacy_distill loads spaCy'; "
        "from spacy_distill import annotate, export, import_corrections, simulate, evaluate, review, loop; "
        "print(evaluate.__module__, loop.__module__, review.__module__)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "spacy_distill.evaluation",
        "spacy_distill.rounds.loop",
        "spacy_distill.review_app.server",
    ]
    with pytest.raises(AttributeError):
        spacy_distill.train  # noqa: B018


def test_cli_shows_the_packages_errors_in_one_line_and_bugs_with_their_traceback(tmp_path, monkeypatch):
    import spacy_distill.formats as formats
    from spacy_distill.errors import InputError

    args = ["export", str(tmp_path / "in.spacy"), str(tmp_path / "out.jsonl"), "--to", "prodigy"]

    def user_error(*args, **kwargs):
        raise InputError("in.spacy:3: something the user can fix")

    def bug(*args, **kwargs):
        raise ValueError("a bug in the package")

    monkeypatch.setattr(formats, "export_docs", user_error)
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1 and "in.spacy:3: something the user can fix" in result.output
    monkeypatch.setattr(formats, "export_docs", bug)
    result = CliRunner().invoke(app, args)
    assert isinstance(result.exception, ValueError) and str(result.exception) == "a bug in the package"
