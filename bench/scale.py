"""Scale: `apply` docs/s with 1 and 2 workers (processes, and Ray actors on a local cluster), and
`annotate --ray` against one vs two stub LLM servers with a fixed answer time.

apply runs a student built from configs/student_ner.cfg (initialized on 50 docs: its speed does not
depend on its weights) over the ~2,500 real texts of tests/apply_helpers.corpus_texts (fashion posts,
banking questions, toxic comments; about 107 characters each), COPIES times over, in every input
format. Each configuration runs REPEATS times; times are wall clock, start-up of the workers
included, and docs per CPU second of a worker (its rate on a core of its own, whatever else
runs on the machine: the number to plan with). The stub servers answer one request at a time (like a one-slot llama.cpp server) after
ANSWER_SECONDS, so a server, not the client, is the bottleneck.

Usage, from the repository root: python -m bench.scale [COPIES] [REPEATS] [ANSWER_SECONDS]
"""

import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import ray
import srsly
from spacy.training import Example
from spacy.util import load_config, load_model_from_config

from bench.common import ROOT
from spacy_distill.scale.annotate_ray import annotate_on_ray
from spacy_distill.scale.run import apply_pipeline
from tests.apply_helpers import corpus_texts, write_corpus
from tests.openai_stub import StubServer

FASHION = ROOT / "assets" / "fashion_brands"


def build_student(path: Path) -> Path:
    overrides = {"paths.train": str(FASHION / "train.jsonl"), "paths.dev": str(FASHION / "dev.jsonl")}
    nlp = load_model_from_config(load_config(ROOT / "configs" / "student_ner.cfg", overrides=overrides), auto_fill=True)
    rows = list(srsly.read_jsonl(FASHION / "train.jsonl"))[:50]
    spans = [[(s["start"], s["end"], s["label"]) for s in row["spans"]] for row in rows]
    examples = [Example.from_dict(nlp.make_doc(r["text"]), {"entities": s}) for r, s in zip(rows, spans)]
    nlp.initialize(lambda: examples)
    nlp.to_disk(path)
    return path


def one_slot(seconds: float):
    """A stub delay that answers one request at a time, each after `seconds`."""
    lock = threading.Lock()

    def delay(prompt: str) -> float:
        with lock:
            time.sleep(seconds)
        return 0.0

    return delay


def spread(values):
    return f"{statistics.median(values):.1f} ({min(values):.1f}-{max(values):.1f})"


def bench_apply(tmp: Path, copies: int, repeats: int) -> None:
    student = build_student(tmp / "student")
    corpus = write_corpus(tmp / "corpus", corpus_texts() * copies)
    runs = [("processes", None, 1), ("processes", None, 2), ("Ray actors", "local", 1), ("Ray actors", "local", 2)]
    rates = {}
    print(f"apply: median (min-max) of {repeats} runs; load average before: {os.getloadavg()[0]:.1f}")
    print(f"  {'workers':<21} {'docs/s (wall)':>22} {'docs per CPU second':>24}")
    for kind, ray_address, workers in runs:
        values, per_cpu = [], []
        for i in range(repeats):
            out = tmp / f"apply-{kind[0]}{workers}-{i}.jsonl"
            stats = apply_pipeline(
                student, corpus, out, ray=ray_address, workers=workers, shard_size=500, show_progress=False
            )
            values.append(stats["docs_per_second"])
            per_cpu.append(stats["docs_per_cpu_second"])
        rates[(kind, workers)] = values
        print(f"  {kind:<10} {workers} worker(s) {spread(values):>22} {spread(per_cpu):>24}   ({stats['docs']} docs)")
    for kind in ("processes", "Ray actors"):
        ratio = statistics.median(rates[(kind, 2)]) / statistics.median(rates[(kind, 1)])
        print(f"  {kind}: 2 workers / 1 worker = {ratio:.2f}x")


def bench_annotate(tmp: Path, answer_seconds: float) -> None:
    rows = list(srsly.read_jsonl(FASHION / "test.jsonl"))[:120]
    source = tmp / "texts.jsonl"
    source.write_text("".join(json.dumps({"text": r["text"]}) + "\n" for r in rows), encoding="utf8")
    print(
        f"annotate --ray, 2 actors, {len(rows)} docs, stub servers answering one request at a time in {answer_seconds}s"
    )
    rates = {}
    with StubServer(delay=one_slot(answer_seconds)) as a, StubServer(delay=one_slot(answer_seconds)) as b:
        for servers in ([a.base_url], [a.base_url, b.base_url]):
            overrides = {
                "paths.examples": str(FASHION / "ner_examples.yml"),
                "components.llm.model": {
                    "@llm_models": "spacy_distill.OpenAICompatible.v1",
                    "base_url": servers,
                    "model": "stub",
                    "concurrency": 4,
                    "store": {
                        "@llm_misc": "spacy_distill.ResponseStore.v1",
                        "path": str(tmp / f"{len(servers)}.sqlite"),
                    },
                },
            }
            out = tmp / f"annotate-{len(servers)}.spacy"
            stats = annotate_on_ray(
                ROOT / "configs" / "teacher_ner.cfg",
                source,
                out,
                ray="local",
                workers=2,
                overrides=overrides,
                shard_size=30,
                show_progress=False,
            )
            rates[len(servers)] = stats["docs_per_second"]
            print(
                f"  {len(servers)} server(s): {stats['docs_per_second']:6.2f} docs/s ({stats['llm_calls']} LLM calls)"
            )
    print(f"  2 servers / 1 server = {rates[2] / rates[1]:.2f}x (one run each); load average: {os.getloadavg()[0]:.1f}")


def main(copies: int, repeats: int, answer_seconds: float) -> None:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            bench_apply(Path(tmp), copies, repeats)
            bench_annotate(Path(tmp), answer_seconds)
    finally:
        ray.shutdown()


if __name__ == "__main__":
    args = sys.argv[1:]
    main(int(args[0]) if args else 3, int(args[1]) if len(args) > 1 else 3, float(args[2]) if len(args) > 2 else 0.25)
