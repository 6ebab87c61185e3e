"""`spacy-distill --help` explains every command and every argument and option."""

import pytest
import typer.main
from typer.testing import CliRunner

from spacy_distill.cli import app

COMMAND = typer.main.get_command(app)


def test_every_argument_and_option_has_help():
    missing = [
        f"{name} {param.name}"
        for name, command in COMMAND.commands.items()
        for param in command.params
        if not getattr(param, "help", None)
    ]
    assert missing == []


@pytest.mark.parametrize("name", sorted(COMMAND.commands))
def test_help_of_each_command(name):
    result = CliRunner().invoke(app, [name, "--help"], terminal_width=100)
    assert result.exit_code == 0, result.output
    assert COMMAND.commands[name].help.splitlines()[0].split(":")[0] in " ".join(result.output.split())
