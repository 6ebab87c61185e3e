"""Does pretraining the student's tok2vec on the raw texts help it learn from fewer corrections?

For each dataset it cuts the same pool / dev / test samples as bench/distill_curve.py, pretrains the
student config's tok2vec on the pool's raw texts (`spacy pretrain`, characters objective: the texts
a user has anyway, never the test texts), then trains the student on N corrected docs (a seeded
sample of the pool with gold labels, standing in for corrections) with and without the pretrained
weights (`--paths.init_tok2vec`), and on the whole pool (the fully supervised ceiling), for each
seed. It prints, per dataset and N: F on the test sample without and with pretraining (mean and
standard deviation over the seeds), F as a share of the ceiling, and the pretraining's cost in
minutes.

    python -m bench.student_pretraining                              # fashion_brands, 200 docs, 3 seeds
    python -m bench.student_pretraining --datasets fashion_brands toxic_spans --sizes 100 200 400
    python -m bench.student_pretraining --data path/to/full/datasets --out training/bench_pretrain_full

Everything is written under --out (default training/bench_pretrain/); a rerun reuses the samples,
the pretrained weights and every finished training.
"""

import argparse
import random
import statistics
import time
from pathlib import Path
from typing import Dict, List, Optional

import spacy
import srsly
from spacy.cli.init_config import fill_config
from spacy.cli.train import train
from spacy.tokens import DocBin
from spacy.training.pretrain import pretrain

from bench.common import ROOT
from bench.distill_curve import DATASETS, prepare
from spacy_distill.scoring import score
from spacy_distill.student import best_model
from spacy_distill.task import detect_task


def docs_of(path: Path) -> list:
    return list(DocBin().from_disk(path).get_docs(spacy.blank("en").vocab))


def pretrained_weights(name: str, data: Path, out: Path, epochs: int) -> Dict[str, object]:
    """The last weights of `spacy pretrain` on the pool's texts, and the minutes it took (0 if reused)."""
    folder = out / "pretrain"
    weights = folder / "model-last.bin"
    if weights.exists():
        return {"weights": weights, "minutes": srsly.read_json(folder / "minutes.json")}
    folder.mkdir(parents=True, exist_ok=True)
    raw = out / "raw_texts.jsonl"
    srsly.write_jsonl(raw, [{"text": doc.text} for doc in docs_of(data / "pool.spacy")])
    config = out / "pretrain.cfg"
    fill_config(config, ROOT / DATASETS[name]["student"], pretraining=True, silent=True)
    start = time.perf_counter()
    pretrain(
        spacy.util.load_config(
            config, overrides={"paths.raw_text": str(raw), "pretraining.max_epochs": epochs}, interpolate=True
        ),
        folder,
        silent=True,
    )
    minutes = round((time.perf_counter() - start) / 60, 2)
    srsly.write_json(folder / "minutes.json", minutes)
    return {"weights": weights, "minutes": minutes}


def student_f(
    name: str, data: Path, out: Path, size: Optional[int], seed: int, weights: Optional[Path], max_steps: int
) -> float:
    """Test F of a student trained on `size` pool docs (all with None) sampled with `seed`."""
    run = out / f"{'all' if size is None else size}_{'pretrained' if weights else 'plain'}_s{seed}"
    if (run / "f.json").exists():
        return srsly.read_json(run / "f.json")
    pool = docs_of(data / "pool.spacy")
    random.Random(seed).shuffle(pool)
    run.mkdir(parents=True, exist_ok=True)
    DocBin(docs=pool[:size] if size else pool, store_user_data=True).to_disk(run / "train.spacy")
    overrides = {
        "paths.train": str(run / "train.spacy"),
        "paths.dev": str(data / "dev.spacy"),
        "paths.init_tok2vec": str(weights) if weights else None,
        "system.seed": seed,
        "training.max_steps": max_steps,
        "training.patience": 0,
    }
    # the student config with a [pretraining] block (`out/pretrain.cfg`) for every variant: spaCy loads
    # init_tok2vec only when the config has one, and a config without it ignores the weights silently
    train(out / "pretrain.cfg", run / "model", overrides=overrides)
    nlp = spacy.load(best_model(run / "model", has_dev=True))
    gold = docs_of(data / "test.spacy")
    predicted = list(nlp.pipe(doc.text for doc in gold))
    f = score(predicted, gold, detect_task(gold))["f"]
    srsly.write_json(run / "f.json", f)
    return f


def mean_sd(values: List[float]) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.3f} ± {sd:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=["fashion_brands"], choices=sorted(DATASETS))
    parser.add_argument("--sizes", nargs="+", type=int, default=[200])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--max-steps", type=int, default=1000)
    parser.add_argument("--pretrain-epochs", type=int, default=20)
    parser.add_argument("--n-pool", type=int, default=600)
    parser.add_argument("--data", type=Path, default=None, help="Folder of the full datasets (default: assets/)")
    parser.add_argument("--out", type=Path, default=ROOT / "training" / "bench_pretrain")
    args = parser.parse_args()
    rows = []
    for name in args.datasets:
        pipeline = spacy.util.load_config(ROOT / DATASETS[name]["student"], interpolate=False)["nlp"]["pipeline"]
        if "tok2vec" not in pipeline:  # e.g. the bag-of-words textcat: no embedding layer to pretrain
            rows.append([name, "–", "–", "–", "–", "–", f"n/a: no tok2vec in {DATASETS[name]['student']}"])
            continue
        out = args.out / name
        data = out / "data"
        sizes = prepare(name, data, args.n_pool, 100, 200, seed=0, data=args.data)
        cost = pretrained_weights(name, data, out, args.pretrain_epochs)  # writes out/pretrain.cfg
        ceiling = [student_f(name, data, out, None, s, None, args.max_steps) for s in args.seeds]
        for size in args.sizes:
            plain = [student_f(name, data, out, size, s, None, args.max_steps) for s in args.seeds]
            pre = [student_f(name, data, out, size, s, cost["weights"], args.max_steps) for s in args.seeds]
            ceiling_f = statistics.mean(ceiling)
            rows.append(
                [
                    name,
                    str(size),
                    mean_sd(plain),
                    mean_sd(pre),
                    f"{statistics.mean(plain) / ceiling_f:.2f} / {statistics.mean(pre) / ceiling_f:.2f}",
                    f"{mean_sd(ceiling)} ({sizes['pool']} docs)",
                    f"{cost['minutes']:.1f}",
                ]
            )
    header = ["dataset", "docs", "F plain", "F pretrained", "share of ceiling", "ceiling F", "pretrain min"]
    print(f"seeds {args.seeds}, {args.max_steps} steps, {args.pretrain_epochs} pretraining epochs on the pool's texts")
    print("| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
