"""apply(): a trained pipeline over a corpus, on this machine or a Ray cluster, resumable shard by shard.

Each finished shard is written whole (atomically) to `OUTPUT.parts/shard-NNNNNN.jsonl` the moment
it is done; when every shard is done the parts are joined into OUTPUT in input order and the folder
is removed. A killed run, rerun with the same settings, redoes only the shards without a part, so
no record is written twice. Every shard runs through `nlp.pipe` in the same batches whatever runs
it, so the output does not depend on the number of workers or on Ray.
"""

import json
import shutil
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

from tqdm import tqdm
from wasabi import msg

from ..errors import InputError
from ..files import atomic_path, read_json, write_json_atomic
from .io import OUTPUT_SUFFIXES, Shard, input_files, plan_shards, write_output
from .worker import ShardWorker, init_pool_worker, load_pipeline, run_in_pool


def apply_pipeline(
    pipeline: Path,
    input_path: Path,
    output_path: Path,
    *,
    ray: Optional[str] = None,
    workers: int = 1,
    batch_size: int = 256,
    shard_size: int = 10_000,
    text_field: str = "text",
    stats_path: Optional[Path] = None,
    show_progress: bool = True,
) -> Dict[str, Any]:
    """Run PIPELINE over INPUT (a .jsonl/.txt/.csv/.parquet file or a folder of them), write OUTPUT.

    OUTPUT (.jsonl or .parquet) has one record per input record: id (`FILE:LINE`), text, meta,
    ents, spans (with scores where the component gives them) and cats, in input order. Malformed
    records go to OUTPUT's stem + `.rejected.jsonl` with their file, line and error, and are counted.
    ray: None (this machine; `workers` processes), "local" (a Ray cluster on this machine), "auto"
    (the cluster this machine belongs to) or a cluster address; `workers` Ray actors then run the shards.
    """
    start = time.perf_counter()
    output_path = Path(output_path)
    if output_path.suffix not in OUTPUT_SUFFIXES:
        raise InputError(f"{output_path}: output must end in {' or '.join(OUTPUT_SUFFIXES)}")
    if workers < 1 or batch_size < 1:
        raise InputError(f"--workers and --batch-size must be at least 1 (got {workers} and {batch_size})")
    pipeline = str(Path(pipeline).resolve()) if Path(pipeline).exists() else str(pipeline)
    shards = plan_shards(input_path, shard_size)
    parts_dir = output_path.with_name(output_path.name + ".parts")
    plan = _plan(pipeline, input_path, shard_size, batch_size, text_field)
    check_or_start(parts_dir, plan)
    pending = [s for s in shards if not _part_path(parts_dir, s.index).exists()]

    bar = tqdm(total=sum(s.stop - s.start for s in pending), desc="apply", unit="line", disable=not show_progress)
    by_index = {s.index: s for s in pending}
    try:
        for result in _results(pending, pipeline, ray, workers, text_field, batch_size):
            _write_part(parts_dir, result)
            shard = by_index[result["index"]]
            bar.update(shard.stop - shard.start)
    finally:
        bar.close()

    parts = [_part_path(parts_dir, s.index) for s in shards]
    summaries = [_part_summary(part) for part in parts]
    rejected = [r for summary in summaries for r in summary["rejected"]]
    cpu_seconds = sum(summary["cpu_seconds"] for summary in summaries)
    n_docs = write_output(parts, output_path)
    rejected_path = output_path.with_name(output_path.stem + ".rejected.jsonl")
    if rejected:
        with atomic_path(rejected_path) as tmp:
            tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rejected), encoding="utf8")
    elif rejected_path.exists():
        rejected_path.unlink()
    shutil.rmtree(parts_dir)
    if rejected and not n_docs:
        raise InputError(
            f"no record could be read: all {len(rejected)} were malformed, e.g. {rejected[0]['error']} "
            f"(all are listed in {rejected_path})"
        )
    seconds = time.perf_counter() - start
    stats = {
        "docs": n_docs,
        "rejected": len(rejected),
        "rejected_path": str(rejected_path) if rejected else None,
        "shards": len(shards),
        "shards_resumed": len(shards) - len(pending),
        "workers": workers,
        "ray": ray,
        "seconds": round(seconds, 3),
        "docs_per_second": round(n_docs / seconds, 3) if seconds else None,
        "cpu_seconds": round(cpu_seconds, 3),
        "docs_per_cpu_second": round(n_docs / cpu_seconds, 3) if cpu_seconds else None,
    }
    if stats_path is not None:
        write_json_atomic(Path(stats_path), stats)
    return stats


def _results(
    shards: List[Shard], pipeline: str, ray: Optional[str], workers: int, text_field: str, batch_size: int
) -> Iterator[Dict[str, Any]]:
    """Each shard's result, in the order they finish."""
    if not shards:
        return
    if ray is not None:
        from .ray_runner import run_on_ray

        yield from run_on_ray(shards, pipeline, ray, workers, text_field, batch_size)
    elif workers == 1:
        worker = ShardWorker(pipeline, text_field, batch_size)
        for shard in shards:
            yield worker.run(shard.to_dict())
    else:
        load_pipeline(pipeline)  # a clear error here rather than in every worker
        context = get_context("spawn")  # no fork of a process that may hold threads (Ray, tqdm)
        with ProcessPoolExecutor(workers, context, init_pool_worker, (pipeline, text_field, batch_size)) as pool:
            futures = [pool.submit(run_in_pool, shard.to_dict()) for shard in shards]
            try:
                for future in as_completed(futures):
                    yield future.result()
            finally:
                for future in futures:
                    future.cancel()


def _plan(pipeline: str, input_path: Path, shard_size: int, batch_size: int, text_field: str) -> Dict[str, Any]:
    """What a rerun must share with the killed run to reuse its parts."""
    files = [[name, path.stat().st_size, path.stat().st_mtime_ns] for path, name in input_files(input_path)]
    return {
        "pipeline": pipeline,
        "input": str(Path(input_path).resolve()),
        "files": files,
        "shard_size": shard_size,
        "batch_size": batch_size,
        "text_field": text_field,
    }


def check_or_start(parts_dir: Path, plan: Dict[str, Any]) -> None:
    """Start PARTS_DIR with the run's plan, or check that the unfinished run in it had the same plan."""
    plan_path = parts_dir / "plan.json"
    if plan_path.exists():
        before = read_json(plan_path)
        if before != plan:
            changed = sorted(k for k in plan if before.get(k) != plan[k])
            raise InputError(
                f"{parts_dir} holds the parts of an unfinished run with other settings ({', '.join(changed)} "
                f"differ): rerun it as it was, or delete the folder to start again"
            )
        msg.info(f"Resuming the unfinished run in {parts_dir}")
    else:
        write_json_atomic(plan_path, plan)


def _part_path(parts_dir: Path, index: int) -> Path:
    return parts_dir / f"shard-{index:06d}.jsonl"


def _write_part(parts_dir: Path, result: Dict[str, Any]) -> None:
    """A shard's summary line, then its records: whole or not at all."""
    summary = {key: result[key] for key in ("index", "rejected", "cpu_seconds")}
    summary["docs"] = len(result["lines"])
    with atomic_path(_part_path(parts_dir, result["index"])) as tmp, tmp.open("w", encoding="utf8") as f:
        f.write(json.dumps(summary, ensure_ascii=False) + "\n")
        for line in result["lines"]:
            f.write(line + "\n")


def _part_summary(part: Path) -> Dict[str, Any]:
    with part.open(encoding="utf8") as f:
        return json.loads(next(f))


def print_summary(stats: Dict[str, Any], output_path: Path) -> None:
    where = f"Ray ({stats['ray']})" if stats["ray"] else "this machine"
    msg.good(
        f"Applied the pipeline to {stats['docs']} records -> {output_path} in {stats['seconds']:.1f}s "
        f"({stats['docs_per_second']} docs/s, {stats['workers']} workers on {where}; "
        f"{stats['docs_per_cpu_second']} docs per CPU second of a worker)"
    )
    if stats["shards_resumed"]:
        msg.info(f"{stats['shards_resumed']} of {stats['shards']} shards were kept from the interrupted run")
    if stats["rejected"]:
        msg.warn(f"{stats['rejected']} malformed records skipped; file, line and error in {stats['rejected_path']}")
