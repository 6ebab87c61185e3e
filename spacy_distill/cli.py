"""The `spacy-distill` command line. Each command parses arguments and calls one function."""
from pathlib import Path
from typing import Optional

import typer
from spacy.cli._util import parse_config_overrides
from wasabi import msg

app = typer.Typer(
    name="spacy-distill",
    help="Distil an LLM's annotations, corrected by your experts, into a small spaCy pipeline.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
OVERRIDES = {"allow_extra_args": True, "ignore_unknown_options": True}


@app.callback()
def _group() -> None:
    """Annotate with an LLM teacher, correct, train a student, evaluate."""


@app.command("annotate", context_settings=OVERRIDES)
def annotate_cli(
    ctx: typer.Context,
    config: Path = typer.Argument(..., help="Teacher config (.cfg), e.g. configs/teacher_ner.cfg", exists=True),
    input: Path = typer.Argument(..., help="Raw texts: .jsonl (one object per line), .txt (one doc per line) or .csv"),
    output: Path = typer.Argument(..., help="Teacher docs: .spacy (DocBin with provenance) or Prodigy-style .jsonl"),
    stats_json: Optional[Path] = typer.Option(None, "--stats-json", help="Write the run's stats (calls, cache hits, drops, tokens) here"),
    text_field: str = typer.Option("text", "--text-field", help="Field (JSONL) or column (CSV) holding the text"),
    batch_size: int = typer.Option(32, "--batch-size", help="Docs per batch handed to the model"),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar"),
):
    """Pre-annotate raw texts with the LLM teacher in CONFIG.

    Every answer is stored the moment it arrives (see the config's store), so a
    killed run can simply be rerun. Config overrides work as in `spacy train`,
    e.g. --paths.responses cache/other.sqlite --components.llm.model.concurrency 8
    """
    from .inputs import InputError
    from .teacher.annotate import annotate, print_summary
    from .teacher.base import TeacherError

    overrides = parse_config_overrides(ctx.args)
    try:
        stats = annotate(config, input, output, stats_json, overrides, text_field, batch_size, not quiet)
    except (InputError, TeacherError, ValueError) as e:
        msg.fail(str(e), exits=1)
    print_summary(stats, output)


def main() -> None:
    app()
