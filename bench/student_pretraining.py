"""Does the student learn more from fewer corrections when it also uses the raw texts?

For each dataset it cuts the same pool / dev / test samples as bench/distill_curve.py and trains the
student on N corrected docs (a seeded sample of the pool with gold labels, standing in for
corrections), for each N and seed, in these variants:

- plain: the student config of the task (configs/student_*.cfg);
- pretrained: its tok2vec pretrained on the pool's raw texts first (`spacy pretrain`, characters
  objective, then --paths.init_tok2vec); only for configs with a tok2vec;
- vectors: configs/student_*_vectors.cfg with floret vectors trained on the pool's raw texts
  (bench/raw_text_vectors.py); for text classification this is a bag-of-words + CNN ensemble;
- vectors_off: the same vectors config without the vectors (include_static_vectors = false): the
  architecture change alone (meant for text classification, where it differs from plain).

Only the pool's texts are used for pretraining and vectors, never the test texts. The ceiling is the
plain student trained on the whole pool. It prints, per dataset and N: F on the test sample per
variant (mean ± standard deviation over the seeds, and min-max), F as a share of the ceiling, and the
minutes pretraining and vectors took.

    python -m bench.student_pretraining                              # fashion_brands, 200 docs, 3 seeds
    python -m bench.student_pretraining --datasets fashion_brands toxic_spans --sizes 100 200 400
    python -m bench.student_pretraining --datasets banking77 --variants plain vectors vectors_off

Everything is written under --out (default training/bench_pretrain/); a rerun reuses the samples,
the pretrained weights, the vectors and every finished training.
"""

import argparse
import random
import statistics
import time
from pathlib import Path
from typing import List, Optional

import spacy
import srsly
from spacy.cli.init_config import fill_config
from spacy.cli.train import train
from spacy.tokens import DocBin
from spacy.training.pretrain import pretrain

from bench.common import ROOT
from bench.distill_curve import DATASETS, prepare
from bench.raw_text_vectors import train_vectors
from spacy_distill.scoring import score
from spacy_distill.student import best_model
from spacy_distill.task import detect_task

VARIANTS = ("plain", "pretrained", "vectors", "vectors_off")
STATIC_VECTORS = {  # the switch for static vectors in each vectors config
    "fashion_brands": "components.tok2vec.model.pretrained_vectors",
    "toxic_spans": "components.tok2vec.model.embed.include_static_vectors",
    "banking77": "components.textcat.model.tok2vec.embed.include_static_vectors",
}


def docs_of(path: Path) -> list:
    return list(DocBin().from_disk(path).get_docs(spacy.blank("en").vocab))


def vectors_config(name: str) -> Path:
    return ROOT / DATASETS[name]["student"].replace(".cfg", "_vectors.cfg")


def has_tok2vec(name: str) -> bool:
    return "tok2vec" in spacy.util.load_config(ROOT / DATASETS[name]["student"], interpolate=False)["nlp"]["pipeline"]


def cached_minutes(folder: Path, build) -> float:
    """Run build() once (it writes into folder) and keep its minutes in folder/minutes.json."""
    if (folder / "minutes.json").exists():
        return srsly.read_json(folder / "minutes.json")
    start = time.perf_counter()
    build()
    minutes = round((time.perf_counter() - start) / 60, 2)
    srsly.write_json(folder / "minutes.json", minutes)
    return minutes


def pretrained_weights(name: str, data: Path, out: Path, epochs: int) -> float:
    """`spacy pretrain` on the pool's texts into out/pretrain/ (model-last.bin); its minutes."""
    folder = out / "pretrain"
    folder.mkdir(parents=True, exist_ok=True)
    raw = out / "raw_texts.jsonl"
    srsly.write_jsonl(raw, [{"text": doc.text} for doc in docs_of(data / "pool.spacy")])
    overrides = {"paths.raw_text": str(raw), "pretraining.max_epochs": epochs}
    config = spacy.util.load_config(out / "pretrain.cfg", overrides=overrides, interpolate=True)
    return cached_minutes(folder, lambda: pretrain(config, folder, silent=True))


def floret_vectors(data: Path, out: Path) -> float:
    """floret vectors of the pool's texts as a pipeline in out/vectors/; their minutes (training + init)."""
    folder = out / "vectors"
    texts = [doc.text for doc in docs_of(data / "pool.spacy")]
    return cached_minutes(folder, lambda: train_vectors(texts, folder / "pipeline"))


def student_f(name: str, data: Path, out: Path, size: Optional[int], seed: int, variant: str, max_steps: int) -> float:
    """Test F of a student of `variant` trained on `size` pool docs (all with None) sampled with `seed`."""
    run = out / f"{'all' if size is None else size}_{variant}_s{seed}"
    if (run / "f.json").exists():
        return srsly.read_json(run / "f.json")
    pool = docs_of(data / "pool.spacy")
    random.Random(seed).shuffle(pool)
    run.mkdir(parents=True, exist_ok=True)
    DocBin(docs=pool[:size] if size else pool, store_user_data=True).to_disk(run / "train.spacy")
    overrides = {
        "paths.train": str(run / "train.spacy"),
        "paths.dev": str(data / "dev.spacy"),
        "system.seed": seed,
        "training.max_steps": max_steps,
        "training.patience": 0,
    }
    # plain and pretrained train from the student config with a [pretraining] block (out/pretrain.cfg):
    # spaCy loads init_tok2vec only when the config has one, and ignores the weights silently without it
    config = out / "pretrain.cfg"
    if variant == "pretrained":
        overrides["paths.init_tok2vec"] = str(out / "pretrain" / "model-last.bin")
    elif variant == "vectors":
        config = vectors_config(name)
        overrides["paths.vectors"] = str(out / "vectors" / "pipeline")
    elif variant == "vectors_off":
        config = vectors_config(name)
        overrides.update({STATIC_VECTORS[name]: False, "paths.vectors": None})
    start = time.perf_counter()
    train(config, run / "model", overrides=overrides)
    srsly.write_json(run / "train_minutes.json", round((time.perf_counter() - start) / 60, 2))
    nlp = spacy.load(best_model(run / "model", has_dev=True))
    gold = docs_of(data / "test.spacy")
    predicted = list(nlp.pipe(doc.text for doc in gold))
    f = score(predicted, gold, detect_task(gold))["f"]
    srsly.write_json(run / "f.json", f)
    return f


def spread(values: List[float]) -> str:
    """mean ± sd (min-max)."""
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.3f} ± {sd:.3f} ({min(values):.3f}-{max(values):.3f})"


def dataset_rows(name: str, args: argparse.Namespace) -> List[List[str]]:
    out = args.out / name
    data = out / "data"
    sizes = prepare(name, data, args.n_pool, 100, 200, seed=0, data=args.data)
    variants = [v for v in args.variants if v != "pretrained" or has_tok2vec(name)]
    fill_config(out / "pretrain.cfg", ROOT / DATASETS[name]["student"], pretraining=True, silent=True)
    cost = {"pretrained": "–", "vectors": "–"}
    if "pretrained" in variants:
        cost["pretrained"] = f"{pretrained_weights(name, data, out, args.pretrain_epochs):.1f}"
    if "vectors" in variants:
        cost["vectors"] = f"{floret_vectors(data, out):.2f}"
    ceiling = [student_f(name, data, out, None, s, "plain", args.max_steps) for s in args.seeds]
    ceiling_f = statistics.mean(ceiling)
    rows = []
    for size in args.sizes:
        if size > sizes["pool"]:
            print(f"{name}: the pool has {sizes['pool']} docs, fewer than {size}: skipped")
            continue
        f = {v: [student_f(name, data, out, size, s, v, args.max_steps) for s in args.seeds] for v in variants}
        cells = [spread(f[v]) if v in f else "–" for v in VARIANTS if v in args.variants]
        shares = " / ".join(f"{statistics.mean(f[v]) / ceiling_f:.2f}" for v in variants)
        rows.append(
            [name, str(size), *cells, shares, f"{spread(ceiling)} ({sizes['pool']} docs)"]
            + [cost["pretrained"], cost["vectors"]]
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=["fashion_brands"], choices=sorted(DATASETS))
    parser.add_argument("--sizes", nargs="+", type=int, default=[200])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--variants", nargs="+", default=["plain", "pretrained", "vectors"], choices=VARIANTS)
    parser.add_argument("--max-steps", type=int, default=1000)
    parser.add_argument("--pretrain-epochs", type=int, default=20)
    parser.add_argument("--n-pool", type=int, default=600)
    parser.add_argument("--data", type=Path, default=None, help="Folder of the full datasets (default: assets/)")
    parser.add_argument("--out", type=Path, default=ROOT / "training" / "bench_pretrain")
    args = parser.parse_args()
    rows = [row for name in args.datasets for row in dataset_rows(name, args)]
    columns = [f"F {v}" for v in VARIANTS if v in args.variants]
    header = ["dataset", "docs", *columns, "share of ceiling", "ceiling F", "pretrain min", "vectors min"]
    print(f"seeds {args.seeds}, {args.max_steps} steps, {args.pretrain_epochs} pretraining epochs on the pool's texts")
    print("| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
