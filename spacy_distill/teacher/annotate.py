"""annotate(): raw texts -> teacher docs, with provenance and honest stats.

The pipeline is an ordinary spaCy config with spacy-llm's `llm` component. Our
models write every answer to the response store as it arrives, so a killed
run loses nothing: rerun it and only unanswered prompts are sent.
"""

import glob
import hashlib
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Optional, Tuple

from spacy.language import Language
from spacy.tokens import Doc
from tqdm import tqdm
from wasabi import msg

from ..errors import ConfigError, InputError
from ..files import atomic_path, write_docs_atomic, write_json_atomic
from ..formats import prodigy
from ..inputs import Record, read_records
from ..task import teacher_task
from .answer_scores import merge_cat_scores, merge_span_scores
from .base import ON_ERROR, StoredModel, TeacherError
from .confidence import CAT_SCORES_KEY, SPAN_SCORES_KEY
from .parsing import USER_DATA_KEY, diagnostics, merge_records
from .spacy_llm import (
    assemble_pipeline,
    keep_user_data_on_merge,
    llm_component_name,
    llm_io,
    llm_model,
    llm_saves_io,
    quiet_llm_warnings,
)

OUTPUT_SUFFIXES = (".spacy", ".jsonl")


def load_teacher(config_path: Path, overrides: Optional[Dict[str, Any]] = None) -> Language:
    """The teacher pipeline from a config file (spaCy-style dotted overrides)."""
    config_path = Path(config_path)
    if not config_path.exists():
        raise InputError(f"{config_path}: config file not found")
    nlp = assemble_pipeline(config_path, overrides)
    merges = {USER_DATA_KEY: merge_records, SPAN_SCORES_KEY: merge_span_scores, CAT_SCORES_KEY: merge_cat_scores}
    keep_user_data_on_merge(nlp, merges)
    return nlp


def teacher_pipe(
    nlp: Language, records: Iterable[Record], input_path: Path, batch_size: Optional[int] = None
) -> Iterator[Doc]:
    """The teacher's docs for the records, in order, each with its provenance (`add_provenance`).

    Run it inside `quiet_llm_warnings()` (or a stricter filter): spacy-llm warns while it works.
    """
    name = llm_component_name(nlp)
    model = llm_model(nlp, name)
    stream = ((record.text, record) for record in records)
    for doc, record in nlp.pipe(stream, as_tuples=True, batch_size=batch_size or nlp.batch_size):
        add_provenance(doc, record, model, name, input_path)
        yield doc


def annotate(
    config_path: Path,
    input_path: Path,
    output_path: Path,
    *,
    stats_path: Optional[Path] = None,
    overrides: Optional[Dict[str, Any]] = None,
    text_field: str = "text",
    batch_size: Optional[int] = None,
    limit: Optional[int] = None,
    show_progress: bool = True,
    on_error: str = "fail",
) -> Dict[str, Any]:
    """Annotate INPUT with the teacher in CONFIG, write OUTPUT (.spacy or .jsonl); return the stats.

    limit: annotate only the first `limit` non-empty records (to try a teacher on a sample).
    batch_size: docs handed to the model at once; it bounds the requests in flight, so the
        default is 4 x the model's concurrency (at least 8), small enough for a smooth progress bar.
    on_error: "fail" stops at the first doc the teacher cannot answer (after its retries);
        "skip" annotates the others and lists the failed docs (stats "failed", not in OUTPUT).
    While the run works, an older OUTPUT is kept as OUTPUT.previous: a run that fails or is killed
    never leaves an older output looking current. The stats are written for a failed run too.
    """
    output_path = Path(output_path)
    if output_path.suffix not in OUTPUT_SUFFIXES:
        raise InputError(f"{output_path}: output must end in .spacy or .jsonl")
    if on_error not in ON_ERROR:
        raise ConfigError(f"on_error must be one of {', '.join(ON_ERROR)}, got {on_error!r}")
    start = time.perf_counter()
    records, n_empty = _nonempty_records(Path(input_path), text_field)
    records = records[:limit] if limit is not None else records
    nlp = load_teacher(config_path, overrides)
    name = llm_component_name(nlp)
    model = llm_model(nlp, name)
    if isinstance(model, StoredModel):
        model.reset_stats()
        model.on_error = on_error
    elif on_error == "skip":
        raise ConfigError("--on-error skip works with spacy-distill's models (spacy_distill.LlamaCpp.v1, ...) only")
    if on_error == "skip" and not llm_saves_io(nlp, name):
        raise ConfigError("--on-error skip needs `save_io = true` in the teacher config's [components.llm]")
    batch_size = batch_size or max(8, 4 * getattr(model, "concurrency", 1))
    remove_leftover_partials(output_path)
    previous = set_aside(output_path)

    docs: List[Doc] = []
    failed: List[Dict[str, Any]] = []
    bar = tqdm(total=len(records), desc="annotate", unit="doc", disable=not show_progress)
    try:
        with quiet_llm_warnings():
            for doc in teacher_pipe(nlp, records, input_path, batch_size):
                why = failure_of(doc, model, name)
                if why:
                    failed.append({"line": doc.user_data["source"]["line"], "reason": why})
                else:
                    docs.append(doc)
                bar.update(1)
    except TeacherError as e:
        done = len(docs) + len(failed)
        failed += [{"line": records[done + i].line, "reason": why} for i, why in e.failures]
        stats = collect_stats(docs, model, n_empty, time.perf_counter() - start, failed, "failed")
        if stats_path is not None:
            write_json_atomic(Path(stats_path), stats, ensure_ascii=True)
        raise TeacherError(
            failure_message(input_path, failed, done + e.answered_docs, len(records), previous, stats_path),
            e.failures,
            done + e.answered_docs,
        ) from None
    finally:
        bar.close()
        if isinstance(model, StoredModel):
            model.close()  # the run's answers are all in the store

    _write_output(docs, output_path)
    output_path.with_name(output_path.name + ".previous").unlink(missing_ok=True)  # outdated now
    stats = collect_stats(docs, model, n_empty, time.perf_counter() - start, failed, "done")
    if stats_path is not None:
        write_json_atomic(Path(stats_path), stats, ensure_ascii=True)
    return stats


def failure_of(doc: Doc, model: Any, llm_name: str) -> Optional[str]:
    """Why the teacher gave no answer for the doc (with --on-error skip), or None."""
    failures = getattr(model, "failures", None)
    if not failures:
        return None
    reasons = [failures.get(model.key(p)) for p in llm_io(doc, llm_name).get("prompt", [])]
    return next((why for why in reasons if why), None)


def failure_message(
    input_path: Path,
    failed: List[Dict[str, Any]],
    answered: int,
    total: int,
    previous: Optional[Path],
    stats_path: Optional[Path],
) -> str:
    """What went wrong, where (every failed input line), and what is left on disk."""
    first, *others = failed
    lines = [f"{first['reason']} -- while annotating {input_path}:{first['line']}."]
    if others:
        lines.append(f"Also failed: line{'s' if len(others) > 1 else ''} {_line_list(others)}.")
    lines.append(
        f"{answered} of {total} docs have their answers in the response store: rerunning continues from there "
        f"(--on-error skip finishes the other docs)."
    )
    if previous is not None:
        lines.append(f"The older output was moved to {previous}, so that it is not taken for this run's.")
    if stats_path is not None:
        lines.append(f"The run's stats are in {stats_path}.")
    return " ".join(lines)


def _line_list(failed: List[Dict[str, Any]], most: int = 20) -> str:
    shown = ", ".join(str(f["line"]) for f in failed[:most])
    return shown + (f" and {len(failed) - most} more" if len(failed) > most else "")


def set_aside(output_path: Path) -> Optional[Path]:
    """Move an older output to OUTPUT.previous while the run works; None if there is none."""
    if not output_path.exists():
        return None
    previous = output_path.with_name(output_path.name + ".previous")
    os.replace(output_path, previous)
    return previous


def remove_leftover_partials(output_path: Path) -> None:
    """Remove OUTPUT.partial-PID files of killed runs (their process is gone)."""
    for partial in output_path.parent.glob(f"{glob.escape(output_path.name)}.partial-*"):
        pid = partial.name.rsplit("-", 1)[1]
        if pid.isdigit() and not _process_exists(int(pid)):
            partial.unlink(missing_ok=True)


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _nonempty_records(path: Path, text_field: str) -> Tuple[List[Record], int]:
    records, n_empty = [], 0
    for record in read_records(path, text_field):
        if record.text.strip():
            records.append(record)
        else:
            n_empty += 1
    return records, n_empty


def add_provenance(doc: Doc, record: Record, model: Any, llm_name: str, input_path: Path) -> None:
    """Where the doc came from (file and line, the record's meta) and which model answered which prompt."""
    io = llm_io(doc, llm_name)
    prompts = io.get("prompt", [])
    identity = getattr(model, "identity", {"kind": type(model).__name__})
    doc.user_data["meta"] = record.meta
    doc.user_data["source"] = {"path": str(input_path), "line": record.line}
    doc.user_data["teacher"] = {
        "model": identity.get("model", identity.get("kind")),
        "identity": identity,
        "prompt_sha256": [hashlib.sha256(p.encode("utf8")).hexdigest() for p in prompts],
        "response": io.get("response", []),
        "confidence": diagnostics(doc).get("confidence"),
    }


def _write_output(docs: List[Doc], output_path: Path) -> None:
    """A .spacy DocBin or Prodigy JSONL, written whole or not at all."""
    if output_path.suffix == ".spacy":
        write_docs_atomic(output_path, docs)
    else:
        with atomic_path(output_path) as tmp:
            prodigy.write(docs, tmp, teacher_task(docs))


def collect_stats(
    docs: List[Doc],
    model: Any,
    n_empty: int,
    seconds: float,
    failed: Optional[List[Dict[str, Any]]] = None,
    status: str = "done",
) -> Dict[str, Any]:
    """The run's numbers: docs, failed docs, LLM calls, retries, cache hits, parse failures, drops, tokens, time."""
    dropped = Counter()
    labels = Counter()
    parse_failures = unparsed_lines = 0
    for doc in docs:
        record = doc.user_data.get(USER_DATA_KEY, {})
        parse_failures += bool(record.get("parse_failure"))
        unparsed_lines += len(record.get("unparsed_lines", []))
        dropped.update(d["reason"] for d in record.get("dropped_spans", []))
        labels.update(span.label_ for span in _all_spans(doc))
        labels.update(label for label, score in doc.cats.items() if score >= 0.5)
    model_stats = getattr(model, "stats", {})
    failed = failed or []
    return {
        "status": status,
        "docs": len(docs),
        "failed_docs": len(failed),
        "failed": failed,
        "skipped_empty": n_empty,
        "llm_calls": model_stats.get("llm_calls"),
        "cache_hits": model_stats.get("cache_hits"),
        "http_requests": getattr(model, "http_requests", None),
        "retries": model_stats.get("retries"),
        "refused_answers": model_stats.get("refused_answers"),
        "timeouts": model_stats.get("timeouts"),
        "concurrency_lowered_to": model_stats.get("concurrency_lowered_to"),
        "parse_failures": parse_failures,
        "unparsed_lines": unparsed_lines,
        "dropped_spans": sum(dropped.values()),
        "dropped_by_reason": dict(dropped),
        "labels": dict(labels),
        "prompt_tokens": model_stats.get("prompt_tokens"),
        "completion_tokens": model_stats.get("completion_tokens"),
        "llm_seconds": round(model_stats.get("llm_seconds", 0.0), 3),
        "seconds": round(seconds, 3),
        "docs_per_second": round(len(docs) / seconds, 3) if seconds else None,
    }


def _all_spans(doc: Doc) -> Iterator:
    yield from doc.ents
    for group in doc.spans.values():
        yield from group


def print_summary(stats: Dict[str, Any], output_path: Path, input_path: Optional[Path] = None) -> None:
    msg.good(f"Annotated {stats['docs']} docs -> {output_path} in {stats['seconds']:.1f}s")
    if stats["failed"]:
        msg.warn(f"{stats['failed_docs']} docs got no usable answer and are not in the output (rerun to retry them):")
        for failure in stats["failed"][:20]:
            print(f"  {input_path or 'line'}:{failure['line']}: {failure['reason']}")
        if stats["failed_docs"] > 20:
            print(f"  ... and {stats['failed_docs'] - 20} more (all in the stats JSON)")
    lowered = stats.get("concurrency_lowered_to")
    rows = [
        ("LLM calls sent", stats["llm_calls"]),
        ("answers from the store", stats["cache_hits"]),
        ("retries (answers refused)", f"{stats['retries']} ({stats['refused_answers']})"),
        ("timeouts", f"{stats['timeouts']}" + (f" (concurrency lowered to {lowered})" if lowered else "")),
        ("empty texts skipped", stats["skipped_empty"]),
        ("unreadable answers", stats["parse_failures"]),
        ("spans dropped", f"{stats['dropped_spans']} {stats['dropped_by_reason'] or ''}"),
        ("prompt / completion tokens", f"{stats['prompt_tokens']} / {stats['completion_tokens']}"),
        ("labels", stats["labels"]),
    ]
    msg.table(rows)
