"""`spacy-distill store list|purge`: the teacher's stored answers."""

from pathlib import Path
from typing import List, Optional

import typer

from .cli_common import fail_cleanly

store_app = typer.Typer(name="store", help="List and purge the teacher's stored answers.", no_args_is_help=True)
STORE_ARG = typer.Argument(..., help="Response store (.sqlite), e.g. cache/teacher_responses.sqlite")
MODEL_OPT = typer.Option(None, "--model", help="Only answers of this model (the name `store list` shows)")
DOCS_OPT = typer.Option(None, "--docs", help="Teacher docs (.spacy from `annotate`) for --parse-failures/--input-line")
FAILURES_OPT = typer.Option(False, "--parse-failures", help="Only answers the parser could not read (needs --docs)")
LINES_OPT = typer.Option(None, "--input-line", help="Only the answers for this input line (repeat; needs --docs)")


@store_app.command("list")
def store_list_cli(
    store: Path = STORE_ARG,
    model: Optional[str] = MODEL_OPT,
    docs: Optional[Path] = DOCS_OPT,
    parse_failures: bool = FAILURES_OPT,
    input_line: Optional[List[int]] = LINES_OPT,
    show: int = typer.Option(20, "--show", help="Show at most this many answers (0: only the counts)"),
):
    """Count the stored answers per model and show some (or those the filters select)."""
    from .teacher.store_admin import list_answers

    with fail_cleanly():
        list_answers(store, model=model, docs=docs, parse_failures=parse_failures, input_lines=input_line, show=show)


@store_app.command("purge")
def store_purge_cli(
    store: Path = STORE_ARG,
    model: Optional[str] = MODEL_OPT,
    docs: Optional[Path] = DOCS_OPT,
    parse_failures: bool = FAILURES_OPT,
    input_line: Optional[List[int]] = LINES_OPT,
    dry_run: bool = typer.Option(False, "--dry-run", help="Only say what would be removed"),
):
    """Remove stored answers so that the next `annotate` asks again. At least one filter: --model M,
    or --docs TEACHER.spacy with --parse-failures and/or --input-line N (all filters must match)."""
    from .teacher.store_admin import purge

    with fail_cleanly():
        purge(store, model=model, docs=docs, parse_failures=parse_failures, input_lines=input_line, dry_run=dry_run)
