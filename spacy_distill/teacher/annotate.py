"""annotate(): raw texts -> teacher docs, with provenance and honest stats.

The pipeline is an ordinary spaCy config with spacy-llm's `llm` component. Our
models write every answer to the response store as it arrives, so a killed
run loses nothing: rerun it and only unanswered prompts are sent.
"""

import hashlib
import time
from collections import Counter
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Optional, Tuple

from spacy.language import Language
from spacy.tokens import Doc
from tqdm import tqdm
from wasabi import msg

from ..errors import InputError
from ..files import atomic_path, write_docs_atomic, write_json_atomic
from ..formats import prodigy
from ..inputs import Record, read_records
from ..task import teacher_task
from .base import StoredModel, TeacherError
from .parsing import USER_DATA_KEY, diagnostics
from .spacy_llm import assemble_pipeline, llm_component_name, llm_io, llm_model, quiet_llm_warnings

OUTPUT_SUFFIXES = (".spacy", ".jsonl")


def load_teacher(config_path: Path, overrides: Optional[Dict[str, Any]] = None) -> Language:
    """The teacher pipeline from a config file (spaCy-style dotted overrides)."""
    config_path = Path(config_path)
    if not config_path.exists():
        raise InputError(f"{config_path}: config file not found")
    return assemble_pipeline(config_path, overrides)


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
) -> Dict[str, Any]:
    """Annotate INPUT with the teacher in CONFIG, write OUTPUT (.spacy or .jsonl); return the stats.

    limit: annotate only the first `limit` non-empty records (to try a teacher on a sample).
    batch_size: docs handed to the model at once; it bounds the requests in flight, so the
        default is 4 x the model's concurrency (at least 8), small enough for a smooth progress bar.
    """
    output_path = Path(output_path)
    if output_path.suffix not in OUTPUT_SUFFIXES:
        raise InputError(f"{output_path}: output must end in .spacy or .jsonl")
    start = time.perf_counter()
    records, n_empty = _nonempty_records(Path(input_path), text_field)
    records = records[:limit] if limit is not None else records
    nlp = load_teacher(config_path, overrides)
    model = llm_model(nlp)
    if isinstance(model, StoredModel):
        model.reset_stats()
    batch_size = batch_size or max(8, 4 * getattr(model, "concurrency", 1))

    docs: List[Doc] = []
    bar = tqdm(total=len(records), desc="annotate", unit="doc", disable=not show_progress)
    try:
        with quiet_llm_warnings():
            for doc in teacher_pipe(nlp, records, input_path, batch_size):
                docs.append(doc)
                bar.update(1)
    except TeacherError as e:
        failed = records[len(docs) + e.prompt_index]
        raise TeacherError(
            f"{e} -- while annotating {input_path}:{failed.line}. "
            f"{len(docs)} docs were done before it; every answer received is in the response store, "
            f"so rerunning continues from there.",
            e.prompt_index,
        ) from e
    finally:
        bar.close()
        if isinstance(model, StoredModel):
            model.close()  # the run's answers are all in the store

    _write_output(docs, output_path)
    stats = collect_stats(docs, model, n_empty, time.perf_counter() - start)
    if stats_path is not None:
        write_json_atomic(Path(stats_path), stats, ensure_ascii=True)
    return stats


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
    }
    diagnostics(doc)


def _write_output(docs: List[Doc], output_path: Path) -> None:
    """A .spacy DocBin or Prodigy JSONL, written whole or not at all."""
    if output_path.suffix == ".spacy":
        write_docs_atomic(output_path, docs)
    else:
        with atomic_path(output_path) as tmp:
            prodigy.write(docs, tmp, teacher_task(docs))


def collect_stats(docs: List[Doc], model: Any, n_empty: int, seconds: float) -> Dict[str, Any]:
    """The run's numbers: docs, LLM calls, cache hits, parse failures, dropped spans, tokens, time."""
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
    return {
        "docs": len(docs),
        "skipped_empty": n_empty,
        "llm_calls": model_stats.get("llm_calls"),
        "cache_hits": model_stats.get("cache_hits"),
        "http_requests": getattr(model, "http_requests", None),
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


def print_summary(stats: Dict[str, Any], output_path: Path) -> None:
    msg.good(f"Annotated {stats['docs']} docs -> {output_path} in {stats['seconds']:.1f}s")
    rows = [
        ("LLM calls sent", stats["llm_calls"]),
        ("answers from the store", stats["cache_hits"]),
        ("empty texts skipped", stats["skipped_empty"]),
        ("unreadable answers", stats["parse_failures"]),
        ("spans dropped", f"{stats['dropped_spans']} {stats['dropped_by_reason'] or ''}"),
        ("prompt / completion tokens", f"{stats['prompt_tokens']} / {stats['completion_tokens']}"),
        ("labels", stats["labels"]),
    ]
    msg.table(rows)
