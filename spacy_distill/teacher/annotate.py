"""annotate(): raw texts -> teacher docs, with provenance and honest stats.

The pipeline is an ordinary spaCy config with spacy-llm's `llm` component. Our
models write every answer to the response store as it arrives, so a killed
run loses nothing: rerun it and only unanswered prompts are sent.
"""
import hashlib
import json
import os
import time
import warnings
from collections import Counter
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

from spacy.language import Language
from spacy.tokens import Doc, DocBin
from spacy_llm.util import assemble
from tqdm import tqdm
from wasabi import msg

from ..formats import prodigy
from ..formats.common import schema_of
from ..inputs import InputError, Record, read_records
from .base import StoredModel, TeacherError
from .parsing import USER_DATA_KEY, diagnostics

OUTPUT_SUFFIXES = (".spacy", ".jsonl")
# spacy-llm merges our per-doc parse records back after Doc.from_docs warns it skips them.
warnings.filterwarnings("ignore", message=r"\[W102\] Skipping unsupported user data 'spacy_distill")
# Our models fail with a clear message naming the doc when a prompt exceeds the context.
warnings.filterwarnings("ignore", message="Task supports sharding, but model does not provide context length")


def load_teacher(config_path: Path, overrides: Optional[Dict[str, Any]] = None) -> Language:
    """The teacher pipeline from a config file (spaCy-style dotted overrides)."""
    config_path = Path(config_path)
    if not config_path.exists():
        raise InputError(f"{config_path}: config file not found")
    return assemble(config_path, overrides=overrides or {})


def llm_component_name(nlp: Language) -> str:
    names = [name for name, pipe in nlp.pipeline if type(pipe).__name__ == "LLMWrapper"]
    if not names:
        raise ValueError("The teacher config has no spacy-llm `llm` component")
    return names[0]


def annotate(
    config_path: Path,
    input_path: Path,
    output_path: Path,
    stats_path: Optional[Path] = None,
    overrides: Optional[Dict[str, Any]] = None,
    text_field: str = "text",
    batch_size: Optional[int] = None,
    show_progress: bool = True,
    limit: Optional[int] = None,
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
    llm_name = llm_component_name(nlp)
    model = nlp.get_pipe(llm_name)._model
    if isinstance(model, StoredModel):
        model.reset_stats()
    batch_size = batch_size or max(8, 4 * getattr(model, "concurrency", 1))

    docs: List[Doc] = []
    stream = ((record.text, record) for record in records)
    bar = tqdm(total=len(records), desc="annotate", unit="doc", disable=not show_progress)
    try:
        for doc, record in nlp.pipe(stream, as_tuples=True, batch_size=batch_size):
            _add_provenance(doc, record, model, llm_name, input_path)
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

    _write_output(docs, output_path)
    stats = collect_stats(docs, model, n_empty, time.perf_counter() - start)
    if stats_path is not None:
        Path(stats_path).parent.mkdir(parents=True, exist_ok=True)
        # json, not srsly: srsly's ujson writes 1.914 as 1.9139999
        Path(stats_path).write_text(json.dumps(stats, indent=2) + "\n", encoding="utf8")
    return stats


def _nonempty_records(path: Path, text_field: str) -> Tuple[List[Record], int]:
    records, n_empty = [], 0
    for record in read_records(path, text_field):
        if record.text.strip():
            records.append(record)
        else:
            n_empty += 1
    return records, n_empty


def _add_provenance(doc: Doc, record: Record, model: Any, llm_name: str, input_path: Path) -> None:
    io = doc.user_data.get("llm_io", {}).get(llm_name, {})
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
    """Write all docs to a temporary file, then move it into place (never a half file)."""
    output_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = output_path.with_name(output_path.name + ".partial")
    if output_path.suffix == ".spacy":
        DocBin(docs=docs, store_user_data=True).to_disk(tmp)
    else:
        prodigy.write(docs, tmp, schema_of(docs))
    os.replace(tmp, output_path)


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
