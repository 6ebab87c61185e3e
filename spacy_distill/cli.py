"""The `spacy-distill` command line. Each command parses arguments and calls one function."""

from pathlib import Path
from typing import Optional

import typer
from spacy.cli._util import parse_config_overrides
from wasabi import msg

from .cli_apply import apply_cli
from .cli_common import OVERRIDES, fail_cleanly
from .cli_rules import rules_app
from .cli_store import store_app
from .formats import exporters, readers

TOOLS = ", ".join(exporters())  # the registered formats (formats/): adding one adds it here
app = typer.Typer(
    name="spacy-distill",
    help="Distil an LLM's annotations, corrected by your experts, into a small spaCy pipeline.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


@app.callback()
def _group() -> None:
    """Annotate with an LLM teacher, correct, train a student, evaluate."""


@app.command("annotate", context_settings=OVERRIDES)
def annotate_cli(
    ctx: typer.Context,
    config: Path = typer.Argument(..., help="Teacher config (.cfg), e.g. configs/teacher_ner.cfg", exists=True),
    input: Path = typer.Argument(..., help="Raw texts: .jsonl (one object per line), .txt (one doc per line) or .csv"),
    output: Path = typer.Argument(..., help="Teacher docs: .spacy (DocBin with provenance) or Prodigy-style .jsonl"),
    stats_json: Optional[Path] = typer.Option(
        None, "--stats-json", help="Write the run's stats (calls, cache hits, drops, tokens) here"
    ),
    text_field: str = typer.Option("text", "--text-field", help="Field (JSONL) or column (CSV) holding the text"),
    batch_size: Optional[int] = typer.Option(
        None, "--batch-size", help="Docs per batch handed to the model (default: 4 x its concurrency, at least 8)"
    ),
    limit: Optional[int] = typer.Option(
        None, "--limit", help="Annotate only the first N texts (try a teacher on a sample)"
    ),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar"),
    on_error: str = typer.Option(
        "fail",
        "--on-error",
        help="A doc the teacher cannot answer (after retries): 'fail' stops the run; "
        "'skip' annotates the others and lists the failed docs with their input lines",
    ),
    ray: Optional[str] = typer.Option(
        None, "--ray", help="Shards on Ray actors: local (a cluster here), auto (this node's cluster) or an address"
    ),
    workers: int = typer.Option(1, "--workers", help="With --ray: actors, each annotating one shard at a time"),
    shard_size: int = typer.Option(1000, "--shard-size", help="With --ray: records per shard (the unit of resuming)"),
):
    """Pre-annotate raw texts with the LLM teacher in CONFIG.

    Every answer is checked and stored the moment it arrives (see the config's
    store), so a killed or failed run can simply be rerun. While a run works, an
    older OUTPUT waits as OUTPUT.previous (deleted when the run succeeds). Config
    overrides work as in `spacy train`, e.g. --paths.responses cache/other.sqlite
    --components.llm.model.concurrency 8

    With --ray the model's base_url may list several servers, e.g.
    --components.llm.model.base_url '["http://a:8080/v1","http://b:8080/v1"]'
    (docs/scale.md: how the store works on a cluster); a shard that fails is
    reported with its input lines, and a rerun asks only what was never answered.
    """
    from .teacher.annotate import annotate, print_summary

    overrides = parse_config_overrides(ctx.args)
    if ray is None and workers != 1:
        msg.fail("--workers needs --ray; on one machine raise the model's concurrency instead", exits=1)
    if ray is not None and on_error != "fail":
        msg.fail(
            "--on-error skip works on one machine; with --ray a failed shard is reported and a rerun retries it",
            exits=1,
        )
    if ray is not None:
        from .scale.annotate_ray import annotate_on_ray

        with fail_cleanly():
            stats = annotate_on_ray(
                config,
                input,
                output,
                ray=ray,
                workers=workers,
                overrides=overrides,
                text_field=text_field,
                batch_size=batch_size,
                limit=limit,
                shard_size=shard_size,
                stats_path=stats_json,
                show_progress=not quiet,
            )
        print_summary(stats, output)
        return
    with fail_cleanly():
        stats = annotate(
            config,
            input,
            output,
            stats_path=stats_json,
            overrides=overrides,
            text_field=text_field,
            batch_size=batch_size,
            limit=limit,
            show_progress=not quiet,
            on_error=on_error,
        )
    print_summary(stats, output, input)


@app.command("export")
def export_cli(
    input: Path = typer.Argument(..., help="Teacher docs (.spacy from `annotate`)"),
    output: Path = typer.Argument(
        ..., help="Tasks file (.jsonl for prodigy/doccano, .json for labelstudio) or folder (argilla)"
    ),
    to: str = typer.Option(..., "--to", help=f"The tool: {TOOLS}"),
    labels: Optional[str] = typer.Option(
        None, "--labels", help="Comma-separated labels to offer even if the teacher never used them"
    ),
):
    """Write teacher docs as review tasks, the teacher's output as suggestions to correct.

    labelstudio also writes OUTPUT's stem + .label_config.xml; argilla writes a
    folder for rg.Dataset.from_disk.
    """
    from .formats import export_docs

    with fail_cleanly():
        stats = export_docs(input, output, to=to, labels=labels.split(",") if labels else None)
    msg.good(f"Exported {stats['docs']} docs with {stats['spans']} suggested spans -> {', '.join(stats['written'])}")
    msg.text(f"span labels: {stats['span_labels'] or '-'}; categories: {stats['cat_labels'] or '-'}")


@app.command("import")
def import_cli(
    input: str = typer.Argument(..., help="Corrections: a file, a folder, or comma-separated paths (merged)"),
    output: Path = typer.Argument(..., help="Gold docs (.spacy)"),
    fmt: str = typer.Option("auto", "--from", help=f"Format: auto (detected from the file), {', '.join(readers())}"),
    lang: str = typer.Option("en", "--lang", help="Language of the tokenizer for texts without tokens"),
    policy: str = typer.Option("latest", "--policy", help="When annotators disagree: latest, majority or fail"),
    align: str = typer.Option(
        "strict", "--align", help="Spans off token boundaries: strict (drop and report), expand or contract (snap)"
    ),
    labels: Optional[str] = typer.Option(
        None, "--labels", help="Comma-separated label set; other labels are dropped and counted"
    ),
    span_key: Optional[str] = typer.Option(
        None, "--span-key", help="Put spans in doc.spans[KEY] (spancat) instead of doc.ents"
    ),
    text_column: str = typer.Option(
        "text", "--text-column", help="CSV/TSV: text column (name, or 0-based index if no header)"
    ),
    label_column: Optional[str] = typer.Option(None, "--label-column", help="CSV/TSV: category column"),
    spans_column: Optional[str] = typer.Option(None, "--spans-column", help="CSV/TSV: column of character offsets"),
    span_label: str = typer.Option("SPAN", "--span-label", help="CSV/TSV: label of the spans in --spans-column"),
    stats_json: Optional[Path] = typer.Option(
        None, "--stats-json", help="Write the import's counts (and every skipped record with its reason) here"
    ),
    on_error: str = typer.Option(
        "fail",
        "--on-error",
        help="Bad records: fail (import nothing, list them all) or skip (import the others, list and count the bad)",
    ),
    skip: int = typer.Option(
        0, "--skip", help="Leave out the first N docs (e.g. those of a dev split made with --limit)"
    ),
    limit: int = typer.Option(0, "--limit", help="Keep at most N docs (0: all); with --skip, e.g. a dev split"),
):
    """Turn corrections from an annotation tool (or a CoNLL/CSV corpus) into gold docs for `spacy train`.

    Tasks nobody answered count as not annotated, never gold. A dev split without sed:
    `import all.jsonl dev.spacy --limit 100` and `import all.jsonl train.spacy --skip 100`.
    """
    from .corpus.corrections import import_corrections
    from .corpus.summary import print_summary
    from .errors import DistillError, print_error

    try:
        stats = import_corrections(
            input,
            output,
            fmt=fmt,
            lang=lang,
            policy=policy,
            align=align,
            labels=labels.split(",") if labels else None,
            span_key=span_key,
            stats_path=stats_json,
            text_column=text_column,
            label_column=label_column,
            spans_column=spans_column,
            span_label=span_label,
            on_error=on_error,
            skip=skip,
            limit=limit,
        )
    except DistillError as e:  # its message may list many bad records: lines kept whole
        print_error(e)
        raise typer.Exit(1) from None
    print_summary(stats, output)


@app.command("evaluate", context_settings=OVERRIDES)
def evaluate_cli(
    ctx: typer.Context,
    gold: Path = typer.Argument(..., help="Gold docs: .spacy DocBin, or corrections that `import` reads"),
    teacher: Optional[Path] = typer.Option(
        None, "--teacher", help="Teacher config (.cfg, run on the gold texts) or teacher docs (.spacy, matched by text)"
    ),
    student: Optional[Path] = typer.Option(
        None, "--student", help="Student pipeline directory, e.g. training/model-best"
    ),
    rules: Optional[Path] = typer.Option(
        None,
        "--rules",
        help="Patterns (.jsonl, e.g. from `rules propose`); with --student also scored as student+rules",
    ),
    reference_rules: Optional[Path] = typer.Option(
        None, "--reference-rules", help="Another patterns file to compare with (e.g. hand-written ones)"
    ),
    output: Path = typer.Option(..., "--output", help="Write the metrics here (metrics.json)"),
    report: Optional[Path] = typer.Option(
        None, "--report", help="Write report.md, report.html and chart.png into this folder"
    ),
    lang: str = typer.Option("en", "--lang", help="Language of the gold docs' vocab/tokenizer"),
    repeats: int = typer.Option(
        3, "--repeats", help="Passes over the texts for student and rules (best counts); the LLM runs once"
    ),
    task: Optional[str] = typer.Option(
        None, "--task", help="ner, spancat, textcat or textcat_multilabel (default: read off the gold)"
    ),
    span_key: Optional[str] = typer.Option(None, "--span-key", help="doc.spans key to score (default: the gold's)"),
    bootstrap: int = typer.Option(
        1000, "--bootstrap", help="Resamples of the gold docs for the F intervals and paired comparisons (0: none)"
    ),
    seed: int = typer.Option(0, "--seed", help="Random seed of the resamples (same seed, same intervals)"),
    confidence: float = typer.Option(0.95, "--confidence", help="Confidence level of the intervals"),
    calibration_bins: int = typer.Option(
        5, "--calibration-bins", min=1, help="Bins of the teacher's confidence in the calibration table"
    ),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar"),
):
    """Teacher vs. student (vs. rules) on the same gold docs: P/R/F per label, speed, size, LLM tokens.

    Every F gets a bootstrap interval over the gold docs, and every pair of systems a paired
    comparison on the same resampled docs: "A beats B" only when the interval of F(A) - F(B)
    excludes 0, else "no clear difference". A teacher config takes overrides as `annotate` does.
    The teacher's suggestions with a probability are binned by it against their precision on gold
    (calibration table, expected calibration error).

    E.g. --paths.responses cache/teacher.sqlite reuses stored answers (reported as cache hits).
    """
    from .evaluation import evaluate, print_summary

    overrides = parse_config_overrides(ctx.args)
    with fail_cleanly():
        metrics = evaluate(
            gold,
            teacher=teacher,
            student=student,
            rules=rules,
            reference_rules=reference_rules,
            output=output,
            report_dir=report,
            overrides=overrides,
            lang=lang,
            repeats=repeats,
            task=task,
            span_key=span_key,
            show_progress=not quiet,
            bootstrap=bootstrap,
            seed=seed,
            confidence=confidence,
            calibration_bins=calibration_bins,
        )
    print_summary(metrics, output)


@app.command("simulate")
def simulate_cli(
    teacher: Path = typer.Argument(..., help="Teacher docs (.spacy from `annotate`)"),
    gold: Path = typer.Argument(
        ..., help="Gold docs (.spacy, e.g. from `import`), matched to the teacher docs by text"
    ),
    output: Path = typer.Argument(
        ..., help="Corrections as the review tool exports a person's accepted work (default Prodigy .jsonl)"
    ),
    to: str = typer.Option("prodigy", "--to", help=f"The tool: {TOOLS}"),
    stats_json: Optional[Path] = typer.Option(None, "--stats-json", help="Write the edit counts here"),
):
    """Stand in for the expert: correct the teacher's docs from gold annotations, counting the edits.

    For demos and benchmarks only: a real project has a person do this step
    (`review`, or Prodigy / Label Studio / doccano / Argilla).
    """
    from .rounds.simulate import simulate_corrections

    with fail_cleanly():
        stats = simulate_corrections(teacher, gold, output, to=to, stats_path=stats_json)
    msg.good(f"Simulated expert corrected {stats['docs']} docs -> {output} (a stand-in for a person)")
    msg.table(
        [(kind, n) for kind, n in stats["edits"].items()]
        + [
            ("edits per doc", stats["edits_per_doc"]),
            ("docs accepted unchanged", stats["docs_accepted_unchanged"]),
            ("teacher docs without gold", stats["docs_without_gold"]),
        ]
    )


@app.command("review")
def review_cli(
    input: Optional[Path] = typer.Argument(None, help="Teacher docs (.spacy from `annotate`); not with --rules"),
    db: Path = typer.Option(..., "--db", help="Review database (SQLite; created if missing, continued if not)"),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on; any but loopback needs --token"),
    port: int = typer.Option(8080, "--port", help="Port to listen on (0: any free port)"),
    order: str = typer.Option("as-is", "--order", help="as-is, disagreement (needs --student) or uncertainty"),
    student: Optional[Path] = typer.Option(
        None, "--student", help="Student pipeline for --order disagreement, e.g. training/model-best"
    ),
    annotator: Optional[str] = typer.Option(
        None, "--annotator", help="Default annotator name (else the page asks, or ?annotator=NAME)"
    ),
    token: Optional[str] = typer.Option(
        None, "--token", envvar="SPACY_DISTILL_REVIEW_TOKEN", help="Access token every request must carry"
    ),
    overlap: bool = typer.Option(
        False, "--overlap", help="Every annotator answers every doc (default: each doc is answered once)"
    ),
    labels: Optional[str] = typer.Option(
        None, "--labels", help="Comma-separated labels to offer even if the teacher never used them"
    ),
    rules: Optional[Path] = typer.Option(
        None, "--rules", help="Review these rules (patterns JSONL, e.g. from `rules propose`) instead of docs"
    ),
    texts: Optional[Path] = typer.Option(
        None, "--texts", help="With --rules: texts to show the matches in (.spacy, corrections, .jsonl/.txt/.csv)"
    ),
    lang: str = typer.Option("en", "--lang", help="With --rules: the language of the texts"),
    export: Optional[Path] = typer.Option(
        None, "--export", help="Write the accepted rules in DB (edited where edited) to this JSONL, and stop"
    ),
):
    """Serve a web page where experts correct the teacher's suggestions, one doc at a time
    (or, with --rules and --texts, accept, edit or reject rules one at a time).

    Every answer is in DB the moment it is given; `import DB gold.spacy` or a
    training config (`--paths.train DB`) reads it; `--export` writes the accepted rules.
    """
    from .review_app.server import serve

    if export is not None:
        from .review_app.rules_server import export_accepted

        with fail_cleanly():
            count = export_accepted(db, export)
        msg.good(f"Wrote {count} accepted rules -> {export}")
        return
    with fail_cleanly():
        serve(
            input,
            db_path=db,
            host=host,
            port=port,
            order=order,
            student=student,
            annotator=annotator,
            token=token,
            overlap=overlap,
            labels=labels.split(",") if labels else None,
            rules=rules,
            texts=texts,
            lang=lang,
        )


@app.command("loop", context_settings=OVERRIDES)
def loop_cli(
    ctx: typer.Context,
    config: Path = typer.Argument(..., help="Loop config (.cfg), e.g. configs/loop_ner.cfg", exists=True),
    output: Path = typer.Option(..., "--output", help="Folder of the rounds: rounds.json, round_NNN/, report/"),
    code: Optional[Path] = typer.Option(None, "--code", help="Python file with registered functions to import first"),
    margin: Optional[float] = typer.Option(
        None,
        "--margin",
        help="Stop when student F - teacher F is clearly above this (default: margin in the config)",
    ),
    confidence: Optional[float] = typer.Option(
        None,
        "--confidence",
        help="Clearly: the lower end of the paired interval at this level (default: confidence in the config)",
    ),
    quiet: bool = typer.Option(False, "--quiet", help="Only the final summary"),
):
    """Rounds of select -> teacher pre-annotates -> corrections -> train -> evaluate, until the student wins.

    Stops when the student clearly beats the teacher (the paired bootstrap interval of student F -
    teacher F on the test docs lies above the margin) or the budget is spent.

    Rerun the same command after an interruption: it continues from the last finished round.

    Overrides as in `spacy train`, e.g. --loop.batch_size 20 --loop.budget 200
    """
    from spacy.cli._util import import_code

    from .rounds.loop import run_loop
    from .rounds.report import print_summary

    import_code(code)
    overrides = parse_config_overrides(ctx.args)
    overrides.update({f"loop.{k}": v for k, v in (("margin", margin), ("confidence", confidence)) if v is not None})
    with fail_cleanly():
        summary = run_loop(config, output, overrides=overrides, show_progress=not quiet)
    print_summary(summary)


app.command("apply")(apply_cli)
app.add_typer(store_app, name="store")
app.add_typer(rules_app, name="rules")


def main() -> None:
    app()
