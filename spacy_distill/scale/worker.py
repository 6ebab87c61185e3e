"""One shard through the pipeline: what every worker (the process itself, a process pool, a Ray actor) runs."""

import json
import time
from pathlib import Path
from typing import Any, Dict, Union

from ..errors import InputError
from .io import Shard, doc_record, read_shard


def load_pipeline(pipeline: Union[str, Path]):
    """The trained pipeline (a folder such as training/model-best, or an installed package)."""
    import spacy

    if not Path(pipeline).exists() and not spacy.util.is_package(str(pipeline)):
        raise InputError(f"{pipeline}: no pipeline folder or installed pipeline package of that name")
    return spacy.load(pipeline)


class ShardWorker:
    """Loads the pipeline once; `run(shard)` annotates a shard and returns its output lines and summary."""

    def __init__(self, pipeline: str, text_field: str, batch_size: int):
        self.nlp = load_pipeline(pipeline)
        self.text_field = text_field
        self.batch_size = batch_size

    def run(self, shard: Dict[str, Any]) -> Dict[str, Any]:
        shard, cpu_start = Shard(**shard), time.process_time()
        records, rejected = read_shard(shard, self.text_field)
        docs = self.nlp.pipe((r.text for r in records), batch_size=self.batch_size)
        lines = [
            json.dumps(doc_record(doc, f"{shard.name}:{r.line}", r.meta), ensure_ascii=False, default=str)
            for doc, r in zip(docs, records)
        ]
        cpu_seconds = time.process_time() - cpu_start  # this worker's CPU, whatever else runs on the machine
        return {"index": shard.index, "lines": lines, "rejected": rejected, "cpu_seconds": cpu_seconds}


_worker = None  # the process pool's worker, one per process


def init_pool_worker(pipeline: str, text_field: str, batch_size: int) -> None:
    global _worker
    _worker = ShardWorker(pipeline, text_field, batch_size)


def run_in_pool(shard: Dict[str, Any]) -> Dict[str, Any]:
    return _worker.run(shard)
