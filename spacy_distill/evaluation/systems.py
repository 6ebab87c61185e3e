"""The systems under evaluation: each returns its docs for the gold texts and its numbers.

- teacher from a config: the LLM pipeline runs on the gold texts once (answers in its response
  store are reused and counted as cache hits, so a reader knows what the speed means);
- teacher from a .spacy DocBin: docs annotated before, matched to the gold by text (their speed
  is unknown: `annotate` keeps the run's time in its stats, not in the docs);
- student: a `spacy.load`-able pipeline directory;
- rules: EntityRuler / SpanRuler patterns (.jsonl) in a blank pipeline of the gold's language.
"""

import time
from collections import Counter
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import spacy
from spacy.language import Language
from spacy.tokens import Doc, DocBin
from tqdm import tqdm
from wasabi import msg

from ..errors import InputError
from ..rules.apply import add_rules_component, rules_pipeline
from ..task import Task
from .speed import run_pipe, size_mb, speed

Result = Tuple[List[Optional[Doc]], Dict[str, Any]]  # a doc per gold doc (None: the system has none)


def teacher_from_config(
    config: Path,
    overrides: Optional[Dict[str, Any]],
    gold: Sequence[Doc],
    n_words: int,
    batch_size: Optional[int] = None,
    show_progress: bool = False,
) -> Result:
    """Run the teacher pipeline once over the gold texts; its speed, tokens and cache hits."""
    from ..teacher.annotate import load_teacher
    from ..teacher.base import StoredModel
    from ..teacher.spacy_llm import llm_model, quiet_llm_warnings

    start = time.perf_counter()
    nlp = load_teacher(config, overrides)
    load_seconds = time.perf_counter() - start
    model = llm_model(nlp)
    if isinstance(model, StoredModel):
        model.reset_stats()
    texts = [doc.text for doc in gold]
    start = time.perf_counter()
    docs = []
    try:
        with tqdm(total=len(texts), desc="teacher", unit="doc", disable=not show_progress) as bar, quiet_llm_warnings():
            for doc in nlp.pipe(texts, batch_size=batch_size or nlp.batch_size):
                docs.append(doc)
                bar.update(1)
    finally:
        if isinstance(model, StoredModel):
            model.close()  # the run's answers are all in the store
    seconds = time.perf_counter() - start
    identity = getattr(model, "identity", {"kind": type(model).__name__})
    stats = dict(getattr(model, "stats", {}))
    if "llm_seconds" in stats:
        stats["llm_seconds"] = round(stats["llm_seconds"], 6)
    calls, hits = stats.get("llm_calls"), stats.get("cache_hits")
    llm = {
        "model": identity.get("model", identity.get("kind")),
        **stats,
        "speed_measured_on": _measured_on(calls, hits),
    }
    model_path = getattr(model, "model_path", None)
    entry = {
        "source": "config",
        "path": str(config),
        **speed(len(docs), n_words, seconds),
        "size_mb": size_mb(model_path) if model_path else None,
        "size_of": str(model_path) if model_path else None,
        "load_seconds": round(load_seconds, 3),
        "repeats": 1,
        "llm": llm,
    }
    return docs, entry


def _measured_on(calls: Optional[int], hits: Optional[int]) -> Optional[str]:
    if calls is None or hits is None:
        return None
    if hits == 0:
        return "llm calls"
    if calls == 0:
        return "response store (no LLM call was made: this is not the LLM's speed)"
    return f"mixed: {calls} llm calls, {hits} answers from the response store"


def teacher_from_docbin(path: Path, gold: Sequence[Doc], n_words: int, task: Task) -> Result:
    """Teacher docs annotated before, matched to the gold docs by text; their speed is unknown (None)."""
    try:
        found = list(DocBin().from_disk(path).get_docs(gold[0].vocab))
    except Exception as e:
        raise InputError(f"{path}: not a readable .spacy DocBin ({e})") from None
    by_text: Dict[str, Doc] = {}
    for doc in found:
        by_text.setdefault(doc.text, doc)
    docs: List[Optional[Doc]] = [by_text.get(ref.text) for ref in gold]
    missing = sum(doc is None for doc in docs)
    if missing:
        msg.warn(f"{missing} of {len(gold)} gold texts are not in {path}; they count as predicting nothing")
    found_docs = [d for d in docs if d is not None]
    provenance = [d.user_data.get("teacher", {}) for d in found_docs if isinstance(d.user_data.get("teacher"), dict)]
    models = Counter(str(p.get("model")) for p in provenance if p.get("model"))
    entry = {
        "source": "docbin",
        "path": str(path),
        **speed(len(docs), n_words, None),
        "size_mb": None,
        "n_missing": missing,
    }
    if models:
        entry["llm"] = {"model": models.most_common(1)[0][0]}
    return docs, entry


def student(
    model_dir: Path, gold: Sequence[Doc], n_words: int, repeats: int, batch_size: Optional[int] = None
) -> Result:
    """The student pipeline over the gold texts, best of `repeats` passes."""
    start = time.perf_counter()
    nlp = load_student(model_dir)
    load_seconds = time.perf_counter() - start
    docs, seconds = run_pipe(nlp, [d.text for d in gold], repeats, batch_size)
    entry = {
        "source": "pipeline",
        "path": str(model_dir),
        "pipeline": nlp.pipe_names,
        **speed(len(docs), n_words, min(seconds)),
        "size_mb": size_mb(model_dir),
        "load_seconds": round(load_seconds, 3),
        "repeats": len(seconds),
    }
    return docs, entry


def student_with_rules(
    model_dir: Path,
    patterns_path: Path,
    gold: Sequence[Doc],
    n_words: int,
    task: Task,
    repeats: int,
    batch_size: Optional[int] = None,
) -> Result:
    """The student with the rules component added: before its ner (the model fills in), or after
    its spancat (the rules' spans added to the model's)."""
    nlp = load_student(model_dir)
    add_rules_component(nlp, patterns_path, task)
    docs, seconds = run_pipe(nlp, [d.text for d in gold], repeats, batch_size)
    entry = {
        "source": "pipeline+rules",
        "path": str(model_dir),
        "rules_path": str(patterns_path),
        "pipeline": nlp.pipe_names,
        **speed(len(docs), n_words, min(seconds)),
        "size_mb": size_mb(model_dir) + size_mb(patterns_path),
        "repeats": len(seconds),
    }
    return docs, entry


def load_student(model_dir: Path) -> Language:
    try:
        return spacy.load(model_dir)
    except (OSError, ValueError) as e:
        raise InputError(f"{model_dir}: cannot load the student pipeline ({e})") from None


def rules(patterns_path: Path, gold: Sequence[Doc], n_words: int, task: Task, repeats: int) -> Result:
    """An EntityRuler (NER) or SpanRuler (spans) with the patterns, in a blank pipeline."""
    nlp, n_patterns = rules_pipeline(patterns_path, gold[0].lang_, task)
    docs, seconds = run_pipe(nlp, [d.text for d in gold], repeats)
    entry = {
        "source": "rules",
        "path": str(patterns_path),
        "n_patterns": n_patterns,
        **speed(len(docs), n_words, min(seconds)),
        "size_mb": size_mb(patterns_path),
        "repeats": len(seconds),
    }
    return docs, entry


def n_predicted(docs: Sequence[Optional[Doc]], task: Task) -> int:
    """How many spans (or positive categories) a system predicted: 0 hints at a task mismatch."""
    docs = [d for d in docs if d is not None]
    if task.kind == "ner":
        return sum(len(d.ents) for d in docs)
    if task.kind == "spancat":
        return sum(len(d.spans.get(task.span_key, [])) for d in docs)
    return sum(score >= 0.5 for d in docs for score in d.cats.values())
