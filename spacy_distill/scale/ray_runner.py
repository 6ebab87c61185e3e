"""The shards through a Ray Data pipeline: one block per shard, `map_batches` on a pool of actors
that each load the pipeline once, the results streamed back to the driver as shards finish.

The actors read the input files themselves, so on a cluster of several machines the input must be
at the same path on every node (a shared file system); the driver writes the output.
"""

import logging
import os
from typing import Any, Dict, Iterator, List

from ..errors import DistillError, InputError
from .io import Shard
from .worker import ShardWorker


def connect(address: str, workers: int) -> bool:
    """Join the cluster at `address` ("local": start one here, "auto": this machine's); True if we started Ray."""
    try:
        import ray
    except ImportError:
        raise InputError("--ray needs Ray: pip install 'spacy-distill[ray]'") from None
    if ray.is_initialized():
        return False
    if address == "local":
        ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False, configure_logging=False)
    else:
        try:
            ray.init(address=address, log_to_driver=False, configure_logging=False)
        except ConnectionError as e:
            raise InputError(
                f"--ray {address}: no Ray cluster there ({e}); start one with `ray start --head`"
            ) from None
    return True


def use_driver_directory(cwd: str) -> None:
    """Work in the driver's directory where this node sees it (shared storage), so relative paths mean the same."""
    if os.path.isdir(cwd):
        os.chdir(cwd)


class _ShardMapper:
    """A Ray Data actor: the batch's shards (one per batch) through its ShardWorker."""

    def __init__(self, pipeline: str, text_field: str, batch_size: int, cwd: str):
        use_driver_directory(cwd)
        self.worker = ShardWorker(pipeline, text_field, batch_size)

    def __call__(self, batch: Dict[str, Any]) -> Dict[str, List[Any]]:
        import json

        results = []
        for shard in map(json.loads, batch["shard"]):
            try:
                results.append(self.worker.run(shard))
            except DistillError as e:  # a file the user can fix: a clean message in the driver, not Ray's traceback
                results.append({"index": shard["index"], "error": str(e)})
        return {"result": [json.dumps(result, ensure_ascii=False) for result in results]}


def map_on_actors(
    mapper: type, items: List[Dict[str, Any]], kwargs: Dict[str, Any], address: str, workers: int
) -> Iterator[Dict[str, Any]]:
    """Each item (one block each) through `mapper` on a pool of `workers` actors (constructed once with
    `kwargs` and the driver's directory); their output rows in the order they finish."""
    import ray
    import ray.data

    started = connect(address, workers)
    try:
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False  # the driver shows its own
        context.print_on_execution_start = False
        logging.getLogger("ray.data").setLevel(logging.ERROR)
        dataset = ray.data.from_items(items, override_num_blocks=len(items)).map_batches(
            mapper,
            fn_constructor_kwargs={**kwargs, "cwd": os.getcwd()},
            compute=ray.data.ActorPoolStrategy(size=min(workers, len(items))),
            batch_size=1,
            num_cpus=1,
        )
        yield from dataset.iter_rows()
    finally:
        if started:
            ray.shutdown()


def run_on_ray(
    shards: List[Shard], pipeline: str, address: str, workers: int, text_field: str, batch_size: int
) -> Iterator[Dict[str, Any]]:
    """Each shard's result (as ShardWorker.run gives it), in the order they finish."""
    import json

    items = [{"shard": json.dumps(shard.to_dict())} for shard in shards]
    kwargs = {"pipeline": pipeline, "text_field": text_field, "batch_size": batch_size}
    for row in map_on_actors(_ShardMapper, items, kwargs, address, workers):
        result = json.loads(row["result"])
        if "error" in result:
            raise InputError(result["error"])
        yield result
