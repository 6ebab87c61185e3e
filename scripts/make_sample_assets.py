"""Cut the licence-clean excerpt in assets/fashion_brands from the full dataset (run once, kept for provenance).

python scripts/make_sample_assets.py FASHION_BRANDS_DIR
"""

import json
import random
import shutil
import sys
from pathlib import Path

if len(sys.argv) != 2:
    sys.exit("usage: python scripts/make_sample_assets.py FASHION_BRANDS_DIR (the full dataset's folder)")
SRC = Path(sys.argv[1])
OUT = Path(__file__).resolve().parent.parent / "assets" / "fashion_brands"
PREFIX = "tutorials__ner_fashion_brands__assets__fashion_brands_"


def excerpt(name: str, start: int, stop: int, seed: int):
    records = [json.loads(line) for line in (SRC / f"{PREFIX}{name}.jsonl").open(encoding="utf8")]
    random.Random(seed).shuffle(records)
    picked = [r for r in records if len(r["text"]) <= 400][start:stop]
    return [
        {
            "text": r["text"],
            "meta": r.get("meta", {}),
            "spans": [{"start": s["start"], "end": s["end"], "label": s["label"]} for s in r.get("spans", [])],
            "answer": r["answer"],
        }
        for r in picked
    ]


OUT.mkdir(parents=True, exist_ok=True)
for name, start, stop, target in (
    ("training", 0, 600, OUT / "train.jsonl"),
    ("training", 600, 700, OUT / "dev.jsonl"),
    ("eval", 0, 200, OUT / "test.jsonl"),
):
    rows = excerpt(name, start, stop, seed=0)
    with target.open("w", encoding="utf8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(target, len(rows), "docs,", sum(bool(r["spans"]) for r in rows), "with brands")
shutil.copy(SRC / "LICENSE", OUT / "LICENSE")
shutil.copy(SRC / f"{PREFIX}patterns.jsonl", OUT / "patterns.jsonl")
