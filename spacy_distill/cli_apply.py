"""`spacy-distill apply`: a trained pipeline over a corpus, on this machine or a Ray cluster."""

from pathlib import Path
from typing import Optional

import typer

from .cli_common import fail_cleanly


def apply_cli(
    pipeline: Path = typer.Argument(
        ..., help="Trained pipeline folder (student, rules or both), e.g. training/model-best"
    ),
    input: Path = typer.Argument(
        ..., help="Texts: a .jsonl, .txt, .csv or .parquet file, or a folder of them (shards)"
    ),
    output: Path = typer.Argument(..., help="Annotations: .jsonl or .parquet, one record per input record"),
    ray: Optional[str] = typer.Option(
        None, "--ray", help="Run on Ray: local (a cluster on this machine), auto (this node's cluster) or an address"
    ),
    workers: int = typer.Option(1, "--workers", help="Processes (or with --ray, actors) each running the pipeline"),
    batch_size: int = typer.Option(256, "--batch-size", help="Texts per nlp.pipe batch"),
    shard_size: int = typer.Option(
        10_000, "--shard-size", help="Lines (Parquet: rows) per shard: the unit of work and of resuming"
    ),
    text_field: str = typer.Option("text", "--text-field", help="Field (JSONL), column (CSV, Parquet) of the text"),
    stats_json: Optional[Path] = typer.Option(None, "--stats-json", help="Write the run's counts and speed here"),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar"),
):
    """Run a trained pipeline over a corpus: entities, spans (with scores) and categories per record.

    Finished shards are kept in OUTPUT.parts/ until the end, so a killed run
    continues where it stopped when rerun with the same settings. Malformed
    records are skipped, counted and listed (file, line, error) in OUTPUT's stem
    + .rejected.jsonl. The output does not depend on --workers or --ray.
    """
    from .scale.run import apply_pipeline, print_summary

    with fail_cleanly():
        stats = apply_pipeline(
            pipeline,
            input,
            output,
            ray=ray,
            workers=workers,
            batch_size=batch_size,
            shard_size=shard_size,
            text_field=text_field,
            stats_path=stats_json,
            show_progress=not quiet,
        )
    print_summary(stats, output)
