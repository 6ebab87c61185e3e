"""Throughput of OpenAICompatible.v1 at concurrency 1 vs 8 against a stub server with a fixed delay.

After a one-doc warm-up run (first imports), each run annotates the same docs
with a fresh response store, so every doc is an HTTP request; times are
annotate()'s wall clock, pipeline assembly included.
Usage, from the repository root: python -m bench.teacher_concurrency [N_DOCS] [DELAY_SECONDS]
"""

import json
import sys
import tempfile
from pathlib import Path

from bench.common import ROOT
from spacy_distill.teacher.annotate import annotate
from tests.openai_stub import StubServer

CONFIG = ROOT / "configs" / "teacher_ner.cfg"
TEXTS = ROOT / "assets" / "fashion_brands" / "test.jsonl"
EXAMPLES = ROOT / "assets" / "fashion_brands" / "ner_examples.yml"


def overrides(stub: StubServer, tmp: str, concurrency: int, store: str) -> dict:
    return {
        "paths.examples": str(EXAMPLES),
        "components.llm.model": {
            "@llm_models": "spacy_distill.OpenAICompatible.v1",
            "base_url": stub.base_url,
            "model": "stub",
            "concurrency": concurrency,
            "store": {"@llm_misc": "spacy_distill.ResponseStore.v1", "path": f"{tmp}/{store}.sqlite"},
        },
    }


def main(n_docs: int, delay: float) -> None:
    rows = [json.loads(line) for line in TEXTS.open(encoding="utf8")][:n_docs]
    with tempfile.TemporaryDirectory() as tmp, StubServer(delay=delay) as stub:
        source = Path(tmp) / "in.jsonl"
        source.write_text("".join(json.dumps({"text": r["text"]}) + "\n" for r in rows), encoding="utf8")
        print(f"{len(rows)} docs, stub answers after {delay:.2f} s each\n")
        print(
            f"{'concurrency':>11} {'seconds':>8} {'docs/s':>7} {'LLM calls':>9} {'from store':>10} {'max in flight':>13}"
        )
        warm_up = Path(tmp) / "warm-up.jsonl"
        warm_up.write_text(json.dumps({"text": rows[0]["text"]}) + "\n", encoding="utf8")
        annotate(
            CONFIG,
            warm_up,
            Path(tmp) / "warm-up-out.jsonl",
            overrides=overrides(stub, tmp, 1, "warm-up"),
            show_progress=False,
        )
        rates = {}
        for concurrency in (1, 8):
            stub.max_in_flight = 0
            run = overrides(stub, tmp, concurrency, f"store-{concurrency}")
            stats = annotate(CONFIG, source, Path(tmp) / f"out-{concurrency}.jsonl", overrides=run, show_progress=False)
            rates[concurrency] = stats["docs"] / stats["seconds"]
            print(
                f"{concurrency:>11} {stats['seconds']:>8.2f} {rates[concurrency]:>7.2f} {stats['llm_calls']:>9} "
                f"{stats['cache_hits']:>10} {stub.max_in_flight:>13}"
            )
        print(f"\nspeed-up, concurrency 8 vs 1: {rates[8] / rates[1]:.2f}x")


if __name__ == "__main__":
    if any(arg in ("-h", "--help") for arg in sys.argv[1:]):
        print(__doc__)
        sys.exit(0)
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 40, float(sys.argv[2]) if len(sys.argv) > 2 else 0.2)
