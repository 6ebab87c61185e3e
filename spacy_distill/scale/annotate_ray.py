"""annotate --ray: the input cut into shards, each annotated by a Ray actor calling the public `annotate`.

The model block may give `base_url` as a list of servers: shard i goes to server i mod n (the same
server on every rerun, because the server's URL is part of the model's identity and so of the
store's keys). The response store on a cluster: each shard writes its answers to its own SQLite
file, `OUTPUT.parts/responses/shard-NNNNNN.sqlite` (one writer per file, so shared storage such as
NFS is safe), and reads that file first, then a read-only snapshot of the config's store. When every
shard is done the shards' answers are merged into the config's store and the parts are removed. A
killed run, rerun, skips finished shards and sends only the prompts no shard store holds.
"""

import shutil
import sqlite3
import time
from collections import Counter
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Set, Tuple
from urllib.parse import quote

from spacy_llm.registry import registry

from ..errors import DistillError, InputError
from ..files import atomic_path, read_docs, read_json, write_docs_atomic, write_json_atomic
from ..inputs import Record, read_records
from ..teacher.store import COLUMNS, ResponseStore, has_logprobs, lookup
from .ray_runner import map_on_actors, use_driver_directory
from .run import check_or_start

SHARD_STORE = "spacy_distill.ShardResponseStore.v1"
OUTPUT_COUNTS = ("docs", "skipped_empty", "parse_failures", "unparsed_lines", "dropped_spans")  # all shards'
RUN_COUNTS = (
    "llm_calls",
    "cache_hits",
    "http_requests",
    "prompt_tokens",
    "completion_tokens",
    "llm_seconds",
    "retries",
    "refused_answers",
    "timeouts",
)  # this run's


class ShardResponseStore(ResponseStore):
    """A shard's own store, falling back to a read-only snapshot of the run's main store (`base`)."""

    def __init__(self, path: str, base: Optional[str] = None):
        super().__init__(path)
        self._base = None
        if base and Path(base).exists():  # immutable: no locks, no writes (the driver checkpointed it)
            self._base = sqlite3.connect(f"file:{quote(str(base))}?immutable=1", uri=True, check_same_thread=False)
            self._base_has_logprobs = has_logprobs(self._base)

    def get(self, key: str) -> Optional[Dict[str, Any]]:
        found = super().get(key)
        if found is None and self._base is not None:
            with self._lock:
                found = lookup(self._base, key, self._base_has_logprobs)
        return found

    def close(self) -> None:
        super().close()
        if self._base is not None:
            self._base.close()


@registry.llm_misc(SHARD_STORE)
def make_shard_response_store(path: str, base: Optional[str] = None) -> ShardResponseStore:
    """A shard's response store on a cluster: writes to `path`, reads `path` then `base` (read-only)."""
    return ShardResponseStore(path, base)


def annotate_on_ray(
    config_path: Path,
    input_path: Path,
    output_path: Path,
    *,
    ray: str,
    workers: int = 2,
    overrides: Optional[Dict[str, Any]] = None,
    text_field: str = "text",
    batch_size: Optional[int] = None,
    limit: Optional[int] = None,
    shard_size: int = 1000,
    stats_path: Optional[Path] = None,
    show_progress: bool = True,
) -> Dict[str, Any]:
    """`annotate` with the input's shards spread over `workers` Ray actors (and the model's servers)."""
    from tqdm import tqdm

    start = time.perf_counter()
    output_path, overrides = Path(output_path), dict(overrides or {})
    if output_path.suffix not in (".spacy", ".jsonl"):
        raise InputError(f"{output_path}: output must end in .spacy or .jsonl")
    config, llm_name = _config(config_path, overrides)
    model_block = config["components"][llm_name]["model"]
    servers = model_block.get("base_url")
    servers = list(servers) if isinstance(servers, (list, tuple)) else [servers]
    main_store = (model_block.get("store") or {}).get("path")
    shards = _shards(_records(Path(input_path), text_field, limit), shard_size)
    parts_dir = output_path.with_name(output_path.name + ".parts")
    source = Path(input_path).resolve()
    plan = {"config": str(Path(config_path).resolve()), "input": [str(source), source.stat().st_size], "limit": limit}
    plan.update(text_field=text_field, shard_size=shard_size, servers=servers, batch_size=batch_size)
    plan.update(overrides=repr(sorted(overrides.items())), records=[len(s) for s in shards])
    check_or_start(parts_dir, plan)
    if main_store:
        _checkpoint(Path(main_store))

    tasks = []
    for index, records in enumerate(shards):
        if not _finished(parts_dir, index):
            settings = {"base_url": servers[index % len(servers)]} if servers != [None] else {}
            if main_store:
                shard_store = str(parts_dir / "responses" / f"shard-{index:06d}.sqlite")
                settings["store"] = {"@llm_misc": SHARD_STORE, "path": shard_store, "base": str(main_store)}
            tasks.append(_task(parts_dir, index, records, _with_model(overrides, llm_name, settings)))
    bar = tqdm(
        total=sum(len(shards[t["index"]]) for t in tasks), desc="annotate", unit="rec", disable=not show_progress
    )
    failed = []
    try:
        for index, error in _run(tasks, str(config_path), workers, ray, text_field, batch_size):
            bar.update(len(shards[index]))
            if error:
                failed.append((index, error))
    finally:
        bar.close()
    if failed:
        index, error = min(failed)
        lines = f"{input_path}:{shards[index][0].line}-{shards[index][-1].line}"
        raise DistillError(
            f"{len(failed)} of {len(tasks)} shards failed; the first (the records on {lines}): {error} -- "
            f"the finished shards and the answers are kept in {parts_dir}: rerun to continue"
        )

    run_now = {task["index"] for task in tasks}
    stats = _merge(parts_dir, shards, run_now, config["nlp"]["lang"], Path(input_path), output_path, main_store)
    shutil.rmtree(parts_dir)
    seconds = time.perf_counter() - start
    stats.update(seconds=round(seconds, 3), docs_per_second=round(stats["docs"] / seconds, 3) if seconds else None)
    stats.update(shards=len(shards), shards_resumed=len(shards) - len(tasks), servers=len(servers), workers=workers)
    if stats_path is not None:
        write_json_atomic(Path(stats_path), stats, ensure_ascii=True)
    return stats


def _config(config_path: Path, overrides: Dict[str, Any]) -> Tuple[Any, str]:
    from spacy.util import load_config

    if not Path(config_path).exists():
        raise InputError(f"{config_path}: config file not found")
    config = load_config(config_path, overrides=overrides, interpolate=True)
    names = [n for n, block in config["components"].items() if block.get("factory") == "llm"]
    if not names:
        raise InputError(f"{config_path}: no spacy-llm `llm` component")
    return config, names[0]


def _records(path: Path, text_field: str, limit: Optional[int]) -> List[Record]:
    """The input's records (malformed ones fail as in `annotate`), up to `limit` non-empty ones."""
    records, n_texts = [], 0
    for record in read_records(path, text_field):
        if limit is not None and n_texts == limit and record.text.strip():
            break
        records.append(record)
        n_texts += bool(record.text.strip())
    return records


def _shards(records: List[Record], shard_size: int) -> List[List[Record]]:
    if shard_size < 1:
        raise InputError(f"shard size must be at least 1, got {shard_size}")
    return [records[i : i + shard_size] for i in range(0, len(records), shard_size)]


def _with_model(overrides: Dict[str, Any], llm_name: str, settings: Dict[str, Any]) -> Dict[str, Any]:
    """The overrides with the model block's `settings` changed (inside a whole-block override if there is one)."""
    key = f"components.{llm_name}.model"
    if isinstance(overrides.get(key), dict):
        return {**overrides, key: {**overrides[key], **settings}}
    flat = {f"{key}.{name}": value for name, value in settings.items() if name != "store"}
    flat.update({f"{key}.store.{name}": value for name, value in settings.get("store", {}).items()})
    return {**overrides, **flat}


def _finished(parts_dir: Path, index: int) -> bool:
    """Whether the shard was annotated: its docs were written (annotate writes stats for failed runs too)."""
    stats = parts_dir / f"shard-{index:06d}.stats.json"
    return (
        (parts_dir / f"shard-{index:06d}.spacy").exists()
        and stats.exists()
        and read_json(stats).get("status") != "failed"
    )


def _task(parts_dir: Path, index: int, records: List[Record], overrides: Dict[str, Any]) -> Dict[str, Any]:
    """The shard's texts as a JSONL file and what its actor needs to annotate it."""
    import json

    shard_input = parts_dir / "inputs" / f"shard-{index:06d}.jsonl"
    with atomic_path(shard_input) as tmp:
        lines = [json.dumps({"text": r.text, "meta": r.meta}, ensure_ascii=False) + "\n" for r in records]
        tmp.write_text("".join(lines), encoding="utf8")
    return {
        "index": index,
        "input": str(shard_input),
        "output": str(parts_dir / f"shard-{index:06d}.spacy"),
        "stats": str(parts_dir / f"shard-{index:06d}.stats.json"),
        "overrides": json.dumps(overrides),
    }


class _AnnotateMapper:
    """A Ray Data actor: annotates the batch's shards (one per batch) with the public `annotate`."""

    def __init__(self, config_path: str, text_field: str, batch_size: Optional[int], cwd: str):
        use_driver_directory(cwd)
        self.config_path, self.text_field, self.batch_size = config_path, text_field, batch_size

    def __call__(self, batch: Dict[str, Any]) -> Dict[str, List[Any]]:
        import json

        from ..teacher.annotate import annotate

        done, errors = [], []
        for task in map(json.loads, batch["task"]):
            try:
                annotate(
                    self.config_path,
                    task["input"],
                    task["output"],
                    stats_path=task["stats"],
                    overrides=json.loads(task["overrides"]),
                    text_field=self.text_field,
                    batch_size=self.batch_size,
                    show_progress=False,
                )
                errors.append("")
            except DistillError as e:  # a server down, a bad config: reported by the driver, other shards go on
                errors.append(str(e))
            done.append(task["index"])
        return {"index": done, "error": errors}


def _run(tasks, config_path: str, workers: int, address: str, text_field: str, batch_size) -> Iterator[Tuple[int, str]]:
    """The index of each shard as its actor finishes it, and its error ("" if none)."""
    import json

    if not tasks:
        return
    items = [{"task": json.dumps(task)} for task in tasks]
    kwargs = {"config_path": config_path, "text_field": text_field, "batch_size": batch_size}
    for row in map_on_actors(_AnnotateMapper, items, kwargs, address, workers):
        yield int(row["index"]), row["error"]


def _checkpoint(store: Path) -> None:
    """Fold the store's write-ahead log into its file, so that shards can read it as an immutable snapshot."""
    if store.exists():
        ResponseStore(store).close()  # the last connection to close checkpoints the WAL


def _merge(
    parts_dir: Path,
    shards: List[List[Record]],
    run_now: Set[int],
    lang: str,
    input_path: Path,
    output_path: Path,
    store: Optional[str],
) -> Dict[str, Any]:
    """The shards' docs (their source file and line set back to the input's) in OUTPUT; their answers in the store.

    The stats count the docs of all shards, the LLM calls and cache hits of the shards run now (`run_now`)."""
    import spacy

    from ..formats import prodigy
    from ..task import teacher_task

    vocab, docs, stats = spacy.blank(lang).vocab, [], Counter()
    dropped, labels = Counter(), Counter()
    for index, records in enumerate(shards):
        shard_docs = read_docs(parts_dir / f"shard-{index:06d}.spacy", vocab)
        for doc, record in zip(shard_docs, [r for r in records if r.text.strip()]):
            doc.user_data["source"] = {"path": str(input_path), "line": record.line}
        docs.extend(shard_docs)
        shard_stats = read_json(parts_dir / f"shard-{index:06d}.stats.json")
        counted = OUTPUT_COUNTS + (RUN_COUNTS if index in run_now else ())
        stats.update({k: shard_stats.get(k) or 0 for k in counted})
        dropped.update(shard_stats["dropped_by_reason"])
        labels.update(shard_stats["labels"])
    if output_path.suffix == ".spacy":
        write_docs_atomic(output_path, docs)
    else:
        with atomic_path(output_path) as tmp:
            prodigy.write(docs, tmp, teacher_task(docs))
    if store:
        _merge_stores(sorted((parts_dir / "responses").glob("shard-*.sqlite")), Path(store))
    stats = dict(
        {k: 0 for k in OUTPUT_COUNTS + RUN_COUNTS},
        **stats,
        dropped_by_reason=dict(dropped),
        labels=dict(labels),
        failed=[],  # a shard with a failed doc fails whole, named with its input lines
        failed_docs=0,
    )
    stats["llm_seconds"] = round(stats["llm_seconds"], 3)
    return stats


def _merge_stores(shard_stores: List[Path], store: Path) -> None:
    ResponseStore(store).close()  # created with its table if new
    with sqlite3.connect(str(store), isolation_level=None) as conn:
        for path in shard_stores:
            conn.execute("ATTACH DATABASE ? AS shard", (str(path),))
            conn.execute(f"INSERT OR IGNORE INTO responses ({COLUMNS}) SELECT {COLUMNS} FROM shard.responses")
            conn.execute("DETACH DATABASE shard")
    conn.close()
