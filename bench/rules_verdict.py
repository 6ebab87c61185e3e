"""Rules first: are rules enough, or is a model needed? Per label, teacher-free, on held-out gold.

For each span dataset it takes the gold train split as the CORRECTIONS (a stand-in for
corrected docs: every doc fully and correctly annotated), and from them:

- proposes rules with `spacy_distill.rules.propose.propose_rules` (the teacher's LLM terms and
  regexes with --llm, the bundled tiny Gemma-3-270M in-process, ~1 min per label on 2 cores;
  plus patterns induced from the corrections), checked and selected on the corrections;
- trains a student on the same corrections (`spacy_distill.student.train_student`, the
  dataset's student config, --max-steps steps, no dev set: model-last), once per seed;
- evaluates on the test split, with no teacher: rules, student, student+rules, and the
  dataset's hand-written patterns where it has some (`spacy_distill.evaluate`), then prints a
  table (F, P, R, words/s per system), the verdict per label
  (`spacy_distill.evaluation.report.rules_verdicts`, against the first seed's student) and the
  rules' words/s as a ratio of the student's on the same texts, from the same run and process
  (best of --repeats passes each).

The quality numbers rest on one run per seed; with --seeds N the student is trained N times
(seeds 0..N-1) and the spread (min-max) of its F is shown. The rules are proposed once (seed 0).

Datasets: toxic_spans (spans, TOXIC) and fashion_brands (NER, FASHION_BRAND, with hand-written
patterns as the reference) from assets/; with --data DIR also ncbi_disease (NER, Disease; rules from the
corrections only, no LLM: no teacher config for it ships; the CoNLL files DIR/ncbi_disease/conll__train.tsv and conll__test.tsv, as named in
tests/data/ncbi_disease/SOURCE.md). Subsamples (seeded): --n-train corrected docs, --n-test test docs.

    python -m bench.rules_verdict                        # assets/, with the LLM
    python -m bench.rules_verdict --no-llm --seeds 3
    python -m bench.rules_verdict --data path/to/datasets --datasets ncbi_disease --no-llm

Everything is written under --out (default training/bench_rules/): per dataset the cut
(train.spacy, test.spacy), rules.jsonl and its report, the students, metrics.json and the
evaluation report. The LLM's answers are stored there (responses.sqlite) and reused on reruns.
--markdown PATH also writes the tables as Markdown.
"""

import argparse
import random
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

from spacy.tokens import Doc, DocBin

from bench.common import ROOT, test_and_train
from spacy_distill.corpus.gold import load_gold
from spacy_distill.evaluation import evaluate
from spacy_distill.evaluation.report import rules_verdicts
from spacy_distill.rules.propose import propose_rules
from spacy_distill.student import StudentSettings, best_model, train_student

ASSETS = ROOT / "assets"

DATASETS: Dict[str, Dict[str, Any]] = {
    "toxic_spans": {
        "kind": "spans",
        "teacher": "configs/teacher_spancat.cfg",
        "overrides": {"paths.examples": str(ASSETS / "toxic_spans" / "spancat_examples.yml")},
        "student": "configs/student_spancat.cfg",
        "reference": None,
        "needs_data": False,
    },
    "fashion_brands": {
        "kind": "NER",
        "teacher": "configs/teacher_ner.cfg",
        "overrides": {"paths.examples": str(ASSETS / "fashion_brands" / "ner_examples.yml")},
        "student": "configs/student_ner.cfg",
        "reference": ASSETS / "fashion_brands" / "patterns.jsonl",  # hand-written, shipped with the dataset
        "needs_data": False,
    },
    "ncbi_disease": {
        "kind": "NER",
        "teacher": "configs/teacher_ner.cfg",
        # no few-shot examples or teacher config for diseases ship: its rules come from the corrections only
        "overrides": {},
        "llm": False,
        "student": "configs/student_ner.cfg",
        "reference": None,
        "needs_data": True,
    },
}
SYSTEMS = ("rules", "student", "student+rules", "reference_rules")


# --- data ---------------------------------------------------------------------------------------


def load_splits(name: str, data: Optional[Path]) -> Dict[str, List[Doc]]:
    if name == "toxic_spans":
        from bench.distill_curve import toxic_spans

        splits = toxic_spans(None)  # assets/: spans cut from the offsets, comments of at most 400 characters
        return {"train": splits["train"], "test": splits["test"]}
    if name == "fashion_brands":
        folder = ASSETS / "fashion_brands"
        return {split: load_gold(folder / f"{split}.jsonl") for split in ("train", "test")}
    if name == "ncbi_disease":
        if data is None:
            raise SystemExit("ncbi_disease needs --data DIR (DIR/ncbi_disease/conll__train.tsv, conll__test.tsv)")
        folder = data / "ncbi_disease"
        return {split: load_gold(folder / f"conll__{split}.tsv") for split in ("train", "test")}
    raise SystemExit(f"Unknown dataset {name!r}; choose from {', '.join(DATASETS)}")


def cut(name: str, folder: Path, data: Optional[Path], n_train: int, n_test: int, seed: int) -> Dict[str, int]:
    """train.spacy (the corrections) and test.spacy: seeded subsamples without shared texts (reused if there)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {split: folder / f"{split}.spacy" for split in ("train", "test")}
    if not all(p.exists() for p in paths.values()):
        splits = load_splits(name, data)
        test, train = test_and_train(splits, n_test, random.Random(seed))
        for split, docs in (("train", train[:n_train]), ("test", test)):
            DocBin(docs=docs, store_user_data=True).to_disk(paths[split])
    return {split: len(DocBin().from_disk(p)) for split, p in paths.items()}


# --- one dataset --------------------------------------------------------------------------------


def run_dataset(name: str, out: Path, args: argparse.Namespace) -> Dict[str, Any]:
    spec = DATASETS[name]
    folder = out / name
    start = time.perf_counter()
    sizes = cut(name, folder, args.data, args.n_train, args.n_test, args.seed)
    print(f"\n== {name} ({spec['kind']}): {sizes['train']} corrected docs (gold train), {sizes['test']} test docs")

    llm = args.llm and spec.get("llm", True)
    rules_path = folder / ("rules_llm.jsonl" if llm else "rules_nollm.jsonl")
    overrides = {**spec["overrides"], "paths.responses": str(out / "responses.sqlite")}
    t0 = time.perf_counter()
    proposed = propose_rules(
        ROOT / spec["teacher"],
        folder / "train.spacy",
        rules_path,
        report_dir=folder / (rules_path.stem + "_report"),
        no_llm=not llm,
        min_precision=args.min_precision,
        overrides=overrides,
        seed=0,
        show_progress=False,
    )
    propose_seconds = time.perf_counter() - t0
    sources = proposed["sources"]
    print(
        f"rules     {proposed['kept']} kept ("
        + ", ".join(f"{s}: {c['kept']} of {c['proposed']} proposed" for s, c in sources.items() if c["proposed"])
        + f"); LLM {'on' if llm else 'off'}; {propose_seconds:.0f} s"
    )

    students = []
    t0 = time.perf_counter()
    for seed in range(args.seeds):
        settings = StudentSettings(
            config=ROOT / spec["student"],
            dev=None,
            max_steps=args.max_steps,
            eval_frequency=args.max_steps,
            overrides={"system.seed": seed},
        )
        student_dir = folder / f"student_seed{seed}_{args.max_steps}"
        if not (student_dir / "model-last" / "meta.json").exists():
            train_student(settings, [str(folder / "train.spacy")], student_dir, folder / f"train_seed{seed}.log")
        students.append(best_model(student_dir, has_dev=False))
    train_seconds = time.perf_counter() - t0

    metrics = evaluate(
        folder / "test.spacy",
        student=students[0],
        rules=rules_path,
        reference_rules=spec["reference"],
        output=folder / "metrics.json",
        report_dir=folder / "report",
        repeats=args.repeats,
    )
    student_fs = [metrics["systems"]["student"]["f"]]
    for model in students[1:]:
        student_fs.append(evaluate(folder / "test.spacy", student=model, repeats=1)["systems"]["student"]["f"])
    systems = metrics["systems"]
    return {
        "name": name,
        "kind": spec["kind"],
        "sizes": sizes,
        "llm": llm,
        "proposed": proposed,
        "metrics": metrics,
        "verdicts": rules_verdicts(metrics),
        "student_fs": student_fs,
        "ratio": systems["rules"]["words_per_second"] / systems["student"]["words_per_second"],
        "seconds": {
            "propose": propose_seconds,
            "train": train_seconds,
            "total": time.perf_counter() - start,
        },
    }


# --- output -------------------------------------------------------------------------------------


def table(result: Dict[str, Any]) -> List[List[str]]:
    systems = result["metrics"]["systems"]
    rows = []
    for name in SYSTEMS:
        if name not in systems:
            continue
        e = systems[name]
        label = {"reference_rules": "hand-written rules", "rules": "proposed rules"}.get(name, name)
        if name == "rules":
            label += f" ({e.get('n_patterns')})"
        if name == "reference_rules":
            label += f" ({e.get('n_patterns')})"
        f = f"{e['f']:.3f}"
        if name == "student" and len(result["student_fs"]) > 1:
            fs = result["student_fs"]
            f += f" ({min(fs):.3f}-{max(fs):.3f}, {len(fs)} seeds)"
        rows.append([label, f, f"{e['p']:.3f}", f"{e['r']:.3f}", f"{e['words_per_second']:,.0f}"])
    return rows


def source_line(result: Dict[str, Any]) -> str:
    sources = result["proposed"]["sources"]
    parts = [
        f"{s}: {c['kept']} kept of {c['proposed']} proposed ({c['valid']} valid)"
        for s, c in sources.items()
        if c["proposed"]
    ]
    return "; ".join(parts)


def report(results: List[Dict[str, Any]], args: argparse.Namespace) -> str:
    lines = []
    header = ["system", "F", "P", "R", "words/s"]
    for r in results:
        gold = r["metrics"]["gold"]
        lines.append(
            f"### {r['name']} ({r['kind']}; {r['sizes']['train']} corrections, "
            f"{gold['n_docs']} test docs, {gold['n_words']:,} words; LLM {'on' if r['llm'] else 'off'})"
        )
        lines.append("")
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|")
        for row in table(r):
            lines.append("| " + " | ".join(row) + " |")
        lines.append("")
        lines.append(f"Rules by source: {source_line(r)}.")
        lines.append("")
        for verdict in r["verdicts"]:
            lines.append(f"- {verdict}")
        lines.append("")
        lines.append(
            f"Speed: the rules component runs at {r['ratio']:.1f}x the student's words/s on the same texts "
            f"(one run, same process, best of {args.repeats} passes each)."
        )
        s = r["seconds"]
        lines.append(
            f"Time: {s['total']:.0f} s (proposing rules {s['propose']:.0f} s, "
            f"training {len(r['student_fs'])} student(s) {s['train']:.0f} s)."
        )
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=None, help="folder of full datasets (adds ncbi_disease)")
    parser.add_argument(
        "--datasets", nargs="*", default=None, help="default: toxic_spans fashion_brands (+ncbi_disease)"
    )
    parser.add_argument("--llm", action=argparse.BooleanOptionalAction, default=True, help="LLM-proposed rules too")
    parser.add_argument("--seeds", type=int, default=1, help="students trained per dataset (seeds 0..N-1)")
    parser.add_argument("--n-train", type=int, default=300, help="corrected docs (gold train subsample)")
    parser.add_argument("--n-test", type=int, default=200, help="test docs")
    parser.add_argument("--max-steps", type=int, default=300, help="student training steps")
    parser.add_argument("--min-precision", type=float, default=0.9)
    parser.add_argument("--repeats", type=int, default=3, help="passes over the test texts for the speeds")
    parser.add_argument("--seed", type=int, default=0, help="seed of the subsamples")
    parser.add_argument("--out", type=Path, default=ROOT / "training" / "bench_rules")
    parser.add_argument("--markdown", type=Path, default=None, help="also write the tables here")
    args = parser.parse_args()
    names = args.datasets or [n for n, s in DATASETS.items() if not s["needs_data"] or args.data is not None]
    start = time.perf_counter()
    results = [run_dataset(name, args.out, args) for name in names]
    text = report(results, args)
    print("\n" + text)
    print(f"Total: {time.perf_counter() - start:.0f} s. Quality numbers rest on one run per seed.")
    if args.markdown is not None:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(text + "\n", encoding="utf8")


if __name__ == "__main__":
    main()
