"""`spacy-distill rules propose`: rules from the LLM and the corrections, judged by the data."""

from pathlib import Path
from typing import Optional

import typer
from spacy.cli._util import parse_config_overrides

from .cli_common import OVERRIDES, fail_cleanly

rules_app = typer.Typer(
    help="Rules first: propose patterns from the LLM and the corrections, keep those the data supports.",
    no_args_is_help=True,
)


@rules_app.command("propose", context_settings=OVERRIDES)
def rules_propose_cli(
    ctx: typer.Context,
    config: Path = typer.Argument(..., help="Teacher config (.cfg): its LLM proposes term lists, patterns and regexes"),
    corrections: Path = typer.Argument(..., help="Corrected gold docs: .spacy, or corrections that `import` reads"),
    output: Path = typer.Argument(..., help="Write the kept rules here: a patterns JSONL entity_ruler/span_ruler load"),
    dev: Optional[Path] = typer.Option(
        None, "--dev", help="Gold docs to report on (then all corrections select); default: half of the corrections"
    ),
    report: Optional[Path] = typer.Option(None, "--report", help="Write rules.md and rules.html into this folder"),
    seed_patterns: Optional[Path] = typer.Option(
        None, "--seed-patterns", help="Your own entity_ruler patterns (.jsonl), checked and scored like the others"
    ),
    no_llm: bool = typer.Option(False, "--no-llm", help="Only rules induced from the corrections (and seeds)"),
    min_precision: float = typer.Option(
        0.9, "--min-precision", help="Keep a rule only with at least this precision on the selection split"
    ),
    lang: str = typer.Option("en", "--lang", help="Language of the docs' tokenizer"),
    seed: int = typer.Option(0, "--seed", help="Random seed of the selection/report split of the corrections"),
    quiet: bool = typer.Option(False, "--quiet", help="No progress messages"),
):
    """Propose rules: candidates from the LLM, the corrections and your patterns, checked, scored, selected.

    Rules are selected on one split and reported on another. A teacher config takes overrides as
    `annotate` does.
    """
    from .rules.propose import propose_rules
    from .rules.report import print_summary

    overrides = parse_config_overrides(ctx.args)
    with fail_cleanly():
        stats = propose_rules(
            config,
            corrections,
            output,
            dev=dev,
            report_dir=report,
            seed_patterns=seed_patterns,
            no_llm=no_llm,
            min_precision=min_precision,
            lang=lang,
            overrides=overrides,
            seed=seed,
            show_progress=not quiet,
        )
    print_summary(stats)
