"""Learning curves of the loop with the simulated expert: random vs disagreement selection.

For each dataset it cuts a pool, a dev set and a test set (seeded subsamples) of the
licensed excerpts in assets/ (fashion_brands: 600 train, 100 dev, 200 test docs; banking77,
six intents: 722 train, 240 test; toxic_spans, comments of at most 400 characters: 600 train,
200 test), or with --data DIR of the full datasets in DIR (one folder per dataset holding the
original files, named as in tests/data/*/SOURCE.md: fashion_brands, banking77, toxic_spans),
then runs `spacy-distill loop` (spacy_distill.rounds.run_loop) once per selection
strategy with the SIMULATED EXPERT (it corrects every suggestion from the gold annotations,
counting its edits), the tiny in-process teacher LLM (Gemma-3-270M, static few-shot examples,
so its answers are computed once and then come from the dataset's response store), and the
student config of the task, trained for at most --max-epochs passes (and --max-steps steps) per round,
the best model on the dev set kept. It prints one table:

- teacher F: the teacher on the test set after the last round (the same every round with static
  examples; with --similar-examples N the teacher's examples are the N corrected docs most similar
  to each text, and its F changes);
- docs ahead: corrected docs after which the student's F first exceeds the teacher's (point
  estimates alone, the rule before intervals);
- docs to clearly beat: corrected docs after which the student first clearly beats the teacher
  (`student_beats_teacher` in rounds.json: the lower end of the paired --confidence bootstrap
  interval of student F - teacher F on the test docs is above 0); rounds whose metrics predate the
  intervals (a rerun in an old --out) fall back to the point estimates, and the cell says so;
- student F at 100 / 200 / 400 corrected docs;
- edits per doc: from scratch (no pre-annotation), on the teacher's suggestions, and on the
  suggestions shown (pre_annotate = "fewest_edits": the source whose suggestions needed the
  fewest edits on the previous batch: teacher, student (from round 3), rules, their vote, or
  none). Spans: added + removed + relabelled + boundary fixes; exclusive classes: 1 if the
  suggested class is wrong or missing (picking the right one is one click);
- ceiling: a student trained on the whole pool with gold labels (same steps).

Run from the repository root:

    python -m bench.distill_curve                       # fashion_brands, banking77, toxic_spans
    python -m bench.distill_curve --quick               # smaller pools and budget
    python -m bench.distill_curve --datasets banking77 --strategies random --budget 200
    python -m bench.distill_curve --data path/to/full/datasets --out training/bench_full

Everything is written under --out (default training/bench/); rerunning continues finished
loops from their rounds (the loop is resumable) and reuses every stored teacher answer, and
reuses the pool/dev/test cut there: use another --out for other data (--data) or sizes.
--markdown PATH also writes the table as Markdown.
"""

import argparse
import ast
import csv
import json
import random
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import spacy
from spacy.tokens import Doc, DocBin
from spacy.util import load_config

from bench.common import ROOT, test_and_train, toxic_char_spans, unique
from spacy_distill.corpus.gold import load_gold
from spacy_distill.rounds.loop import run_loop

ASSETS = ROOT / "assets"

DATASETS = {
    "fashion_brands": {
        "task": "ner",
        "teacher": "configs/teacher_ner.cfg",
        "student": "configs/student_ner.cfg",
        "examples": "assets/fashion_brands/ner_examples.yml",
        "rules": str(ASSETS / "fashion_brands" / "patterns.jsonl"),  # the dataset's patterns file, unchanged
    },
    "banking77": {
        "task": "textcat",
        "teacher": "configs/teacher_textcat.cfg",
        "student": "configs/student_textcat.cfg",
        "examples": "assets/banking77/textcat_examples.yml",
        "rules": None,
    },
    "toxic_spans": {
        "task": "spancat",
        "teacher": "configs/teacher_spancat.cfg",
        "student": "configs/student_spancat.cfg",
        "examples": "assets/toxic_spans/spancat_examples.yml",
        "rules": None,
    },
}
STRATEGIES = {
    "random": {"@misc": "spacy_distill.RandomSelection.v1", "max_similarity": 0.5},
    "disagreement": {"@misc": "spacy_distill.Disagreement.v1", "max_similarity": 0.5, "n_candidates": 100},
}
CHECKPOINTS = (100, 200, 400)
NLP = spacy.blank("en")


# --- data ---------------------------------------------------------------------------------------


def fashion_brands(data: Optional[Path]) -> Dict[str, List[Doc]]:
    if data is None:  # assets/: Prodigy JSONL with character offsets
        folder = ASSETS / "fashion_brands"
        return {split: load_gold(folder / f"{split}.jsonl") for split in ("train", "dev", "test")}
    folder = data / "fashion_brands"
    train = load_gold(folder / "tutorials__ner_fashion_brands__assets__fashion_brands_training.jsonl")
    test = load_gold(folder / "tutorials__ner_fashion_brands__assets__fashion_brands_eval.jsonl")
    return {"train": train, "dev": [], "test": test}


def cats_doc(text: str, category: str, labels: List[str]) -> Doc:
    doc = NLP.make_doc(text.strip())
    doc.cats = {label: float(label == category) for label in labels}
    return doc


def banking77(data: Optional[Path], labels: List[str]) -> Dict[str, List[Doc]]:
    def read_assets(name: str) -> List[Doc]:  # one intent per query, in "accept"
        rows = [
            json.loads(line) for line in (ASSETS / "banking77" / f"{name}.jsonl").open(encoding="utf8") if line.strip()
        ]
        return [cats_doc(r["text"], r["accept"][0], labels) for r in rows if r["accept"][0] in labels]

    def read_csv(name: str) -> List[Doc]:
        with (data / "banking77" / f"banking_data__{name}.csv").open(encoding="utf8", newline="") as f:
            return [
                cats_doc(row["text"], row["category"], labels) for row in csv.DictReader(f) if row["category"] in labels
            ]

    read = read_assets if data is None else read_csv
    return {"train": read("train"), "dev": [], "test": read("test")}


def spans_doc(text: str, spans: List[Dict]) -> Doc:
    doc = NLP.make_doc(text)
    found = [doc.char_span(s["start"], s["end"], "TOXIC", alignment_mode="expand") for s in spans]
    doc.spans["sc"] = [span for span in found if span is not None]
    return doc


def toxic_spans(data: Optional[Path], max_chars: int = 400) -> Dict[str, List[Doc]]:
    """SemEval-2021 toxic spans: each run of consecutive character offsets is one TOXIC span (as assets/toxic_spans)."""

    def read_assets(name: str) -> List[Doc]:  # spans already cut from the offsets, texts of at most 400 characters
        rows = [
            json.loads(line)
            for line in (ASSETS / "toxic_spans" / f"{name}.jsonl").open(encoding="utf8")
            if line.strip()
        ]
        return [spans_doc(r["text"], r["spans"]) for r in rows if len(r["text"]) <= max_chars and r["text"].strip()]

    def read_csv(name: str) -> List[Doc]:
        with (data / "toxic_spans" / f"SemEval2021__data__tsd_{name}.csv").open(encoding="utf8", newline="") as f:
            return [
                spans_doc(row["text"], toxic_char_spans(row["text"], ast.literal_eval(row["spans"])))
                for row in csv.DictReader(f)
                if len(row["text"]) <= max_chars and row["text"].strip()
            ]

    if data is None:
        return {"train": read_assets("train"), "dev": [], "test": read_assets("test")}
    return {"train": read_csv("train"), "dev": read_csv("trial"), "test": read_csv("test")}


def prepare(
    name: str, folder: Path, n_pool: int, n_dev: int, n_test: int, seed: int, data: Optional[Path] = None
) -> Dict[str, Any]:
    """pool.spacy, dev.spacy, test.spacy: seeded subsamples without shared texts."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {split: folder / f"{split}.spacy" for split in ("pool", "dev", "test")}
    if all(p.exists() for p in paths.values()):
        return {split: len(DocBin().from_disk(p)) for split, p in paths.items()}
    if name == "fashion_brands":
        splits = fashion_brands(data)
    elif name == "banking77":
        splits = banking77(
            data,
            load_config(ROOT / DATASETS[name]["teacher"], interpolate=False)["components"]["llm"]["task"]["labels"],
        )
    else:
        splits = toxic_spans(data)
    rng = random.Random(seed)
    test, train = test_and_train(splits, n_test, rng)
    test_texts = {d.text for d in test}
    dev = [d for d in unique(splits["dev"]) if d.text not in test_texts]
    rng.shuffle(dev)
    if len(dev) < n_dev:  # no dev split: cut it from the training data
        dev, train = train[:n_dev], train[n_dev:]
    pool = train[:n_pool]
    dev_texts = {d.text for d in dev[:n_dev]}
    pool = [d for d in pool if d.text not in dev_texts]
    for split, docs in (("pool", pool), ("dev", dev[:n_dev]), ("test", test)):
        DocBin(docs=docs, store_user_data=True).to_disk(paths[split])
    return {"pool": len(pool), "dev": len(dev[:n_dev]), "test": len(test)}


# --- one loop -----------------------------------------------------------------------------------


def loop_config(
    name: str, strategy: str, data: Path, out: Path, args: argparse.Namespace, ceiling: bool, seed: int = 0
) -> Path:
    spec = DATASETS[name]
    config = load_config(ROOT / "configs" / "loop_ner.cfg", interpolate=False)
    config["paths"] = {}
    loop = config["loop"]
    loop.update(
        pool=str(data / "pool.spacy"),
        test=str(data / "test.spacy"),
        batch_size=args.batch_size,
        budget=args.budget,
        margin=0.0,
        confidence=args.confidence,
        bootstrap=args.bootstrap,
        stop_when_beaten=False,
        seed=seed,
        pre_annotate="fewest_edits",
        rules=spec["rules"],
        ceiling=str(data / "pool.spacy") if ceiling else None,
        target_f=None,
    )
    loop["strategy"] = dict(STRATEGIES[strategy])
    loop["corrections"] = {
        "@misc": "spacy_distill.SimulatedExpert.v1",
        "gold": str(data / "pool.spacy"),
        "to": "prodigy",
    }
    overrides = {"paths.examples": str(ROOT / spec["examples"])}
    if args.teacher_model != "gemma3-270m":
        overrides["components.llm.model.model_path.name"] = args.teacher_model
    loop["teacher"] = {
        "config": str(ROOT / spec["teacher"]),
        "responses": str(data.parent / "responses.sqlite"),
        "similar_examples": args.similar_examples,
        "keep_static_examples": False,
        "max_example_chars": 400,
        "overrides": overrides,
    }
    loop["student"] = {
        "config": str(ROOT / spec["student"]),
        "dev": str(data / "dev.spacy"),
        "max_steps": args.max_steps,
        "max_epochs": args.max_epochs,
        "eval_frequency": args.eval_frequency,
        "patience": 0,
        "overrides": {},
    }
    path = out / f"loop_{run_name(strategy, args, seed)}.cfg"
    path.parent.mkdir(parents=True, exist_ok=True)
    config.to_disk(path)
    return path


def run_name(strategy: str, args: argparse.Namespace, seed: int) -> str:
    """random, random_similar3, random_s1, ...: one folder per strategy, teacher setting and loop seed."""
    return (
        strategy + (f"_similar{args.similar_examples}" if args.similar_examples else "") + (f"_s{seed}" if seed else "")
    )


def weighted_edits(rounds: List[Dict[str, Any]], source: str) -> Optional[float]:
    rows = [e for e in rounds if e["edits_per_doc_by_source"].get(source) is not None]
    docs = sum(e["n_batch"] for e in rows)
    return sum(e["edits_per_doc_by_source"][source] * e["n_batch"] for e in rows) / docs if docs else None


def summarise(name: str, strategy: str, summary: Dict[str, Any], out: Path) -> Dict[str, Any]:
    rounds = summary["rounds"]
    ahead = next((e["n_corrected"] for e in rounds if e.get("student_ahead", e["student_beats_teacher"])), None)
    beat = next((e["n_corrected"] for e in rounds if e["student_beats_teacher"]), None)
    at = {n: next((e["student_f"] for e in rounds if e["n_corrected"] == n), None) for n in CHECKPOINTS}
    shown_docs = sum(e["n_batch"] for e in rounds)
    ceiling = next(
        iter(sorted(out.parent.glob("*/ceiling/metrics.json"))), out / "ceiling" / "metrics.json"
    )  # one per dataset
    return {
        "dataset": name,
        "task": DATASETS[name]["task"],
        "strategy": strategy,
        "teacher_f": rounds[-1]["teacher_f"] if rounds else None,
        "docs_ahead_of_teacher": ahead,
        "docs_to_beat_teacher": beat,
        "beat_rule": "+".join(sorted({e.get("stop_rule", "point estimates") for e in rounds})),
        "f_at": at,
        "final_n": rounds[-1]["n_corrected"] if rounds else 0,
        "final_f": rounds[-1]["student_f"] if rounds else None,
        "edits_none": weighted_edits(rounds, "none"),
        "edits_teacher": weighted_edits(rounds, "teacher"),
        "edits_shown": sum(e["edits_per_doc"] * e["n_batch"] for e in rounds) / shown_docs if shown_docs else None,
        "shown": sorted({e["suggested_by"] for e in rounds}),
        "ceiling_f": json.loads(ceiling.read_text())["systems"]["student"]["f"] if ceiling.exists() else None,
        "seconds": round(sum(e["seconds"]["total"] for e in rounds), 1),
        "llm_calls": sum(e.get("teacher_llm_calls") or 0 for e in rounds),
    }


def fmt(value: Optional[float], digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def table(rows: List[Dict[str, Any]], checkpoints=CHECKPOINTS) -> List[List[str]]:
    header = ["dataset", "strategy", "teacher F", "docs ahead of teacher", "docs to clearly beat teacher"]
    header += [f"F@{n}" for n in checkpoints]
    header += ["edits/doc none", "edits/doc teacher", "edits/doc shown", "shown", "ceiling F", "loop s"]
    body = []
    for r in rows:
        ahead, beat = (
            str(r[k]) if r[k] is not None else f"> {r['final_n']}"
            for k in ("docs_ahead_of_teacher", "docs_to_beat_teacher")
        )
        if "point estimates" in r["beat_rule"]:  # some rounds without intervals
            beat += " (point estimates)"
        body.append(
            [f"{r['dataset']} ({r['task']})", r["strategy"], fmt(r["teacher_f"]), ahead, beat]
            + [fmt(r["f_at"].get(n)) for n in checkpoints]
            + [
                fmt(r["edits_none"], 2),
                fmt(r["edits_teacher"], 2),
                fmt(r["edits_shown"], 2),
                "+".join(r["shown"]),
                fmt(r["ceiling_f"]),
                f"{r['seconds']:.0f}",
            ]
        )
    return [header] + body


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument(
        "--data",
        type=Path,
        default=None,
        help="folder of the full datasets (one folder per dataset, original file names); "
        "default: the excerpts in assets/",
    )
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    parser.add_argument("--n-pool", type=int, default=600)
    parser.add_argument("--n-dev", type=int, default=100)
    parser.add_argument("--n-test", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--budget", type=int, default=400)
    parser.add_argument("--max-steps", type=int, default=1000, help="training steps per round at most")
    parser.add_argument(
        "--max-epochs", type=int, default=6, help="passes over the corrections per round at most (0: no limit)"
    )
    parser.add_argument("--eval-frequency", type=int, default=50, help="steps between dev evaluations (model-best)")
    parser.add_argument(
        "--confidence", type=float, default=0.95, help="level of the paired interval that makes a clear win"
    )
    parser.add_argument("--bootstrap", type=int, default=1000, help="resamples of the test docs (0: point estimates)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the pool/dev/test subsamples")
    parser.add_argument(
        "--loop-seeds",
        default="0",
        help="comma-separated seeds of the loop (random batches, tie breaks); "
        "one run per seed and strategy on the same data, so teacher answers are shared",
    )
    parser.add_argument(
        "--teacher-model", default="gemma3-270m", help="bundled model: gemma3-270m or smollm2-135m-instruct"
    )
    parser.add_argument(
        "--similar-examples",
        type=int,
        default=0,
        help="the teacher learns: its few-shot examples are the n most similar corrected docs (costly: "
        "new prompts every round); 0: static examples",
    )
    parser.add_argument("--quick", action="store_true", help="--n-pool 300 --n-test 100 --budget 200 --max-steps 400")
    parser.add_argument("--out", type=Path, default=ROOT / "training" / "bench")
    parser.add_argument("--markdown", type=Path, default=None)
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.n_pool, args.n_test, args.budget, args.max_steps = 300, 100, 200, 400
    checkpoints = tuple(n for n in CHECKPOINTS if n <= args.budget)
    rows = []
    for name in args.datasets.split(","):
        folder = args.out / name
        sizes = prepare(name, folder / "data", args.n_pool, args.n_dev, args.n_test, args.seed, args.data)
        print(f"== {name}: {sizes}", flush=True)
        runs = [
            (seed, strategy) for seed in map(int, args.loop_seeds.split(",")) for strategy in args.strategies.split(",")
        ]
        for i, (seed, strategy) in enumerate(runs):
            label = run_name(strategy, args, seed)
            out = folder / label
            config = loop_config(name, strategy, folder / "data", folder, args, ceiling=(i == 0), seed=seed)
            start = time.perf_counter()
            summary = run_loop(config, out, show_progress=args.verbose)
            row = summarise(name, label, summary, out)
            rows.append(row)
            print(
                f"   {label}: {len(summary['rounds'])} rounds, final F {fmt(row['final_f'])} at {row['final_n']} docs, "
                f"{time.perf_counter() - start:.0f}s this run",
                flush=True,
            )
            (args.out / "results.json").write_text(json.dumps(rows, indent=2) + "\n", encoding="utf8")
    lines = table(rows, checkpoints)
    widths = [max(len(row[i]) for row in lines) for i in range(len(lines[0]))]
    print()
    for j, row in enumerate(lines):
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)))
        if j == 0:
            print("  ".join("-" * w for w in widths))
    if args.markdown:
        md = ["| " + " | ".join(lines[0]) + " |", "|" + "---|" * len(lines[0])]
        md += ["| " + " | ".join(row) + " |" for row in lines[1:]]
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text("\n".join(md) + "\n", encoding="utf8")


if __name__ == "__main__":
    main()
