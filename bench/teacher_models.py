"""The bundled teacher's modes compared: generating annotations vs scoring candidates by log-probability.

For each dataset (the excerpts in assets/: fashion_brands NER, toxic_spans spans, banking77 six
intents) it takes a seeded test sample (--n-test, default 100) and a dev sample (--n-dev, default
50; fashion_brands: its dev split, the others: training docs not in the test sample), and runs
the bundled Gemma-3-270M in-process as teacher in three modes:

- none: no suggestions (the expert annotates from scratch);
- generative: the dataset's teacher config (configs/teacher_*.cfg, constrained decoding); for spans
  also with the suggestions below a confidence dropped (the probability of the answer line that
  named them, SpanParser.v2's min_confidence), at the threshold with the fewest edits on dev;
- scored: configs/teacher_*_scored.cfg (candidates scored yes/no, or every label scored); for spans
  two thresholds chosen on the dev sample (the fewest edits per doc; the best F), reported on test.

It prints (and with --markdown writes) per dataset and mode: P/R/F on the test sample, the simulated
expert's edits per doc (spacy_distill.rounds.simulate.count_edits) and docs/s of the annotation
(teacher answers computed anew: the response store starts empty per --out). Everything is kept under
--out (default training/bench_teacher/); a rerun reuses the stored answers (docs/s then measures the store).
--model picks the bundled model (the generative mode with SmolLM2 answers `none` to almost everything).

    python -m bench.teacher_models --n-test 100 --n-dev 50 --markdown training/bench_teacher/table.md
    python -m bench.teacher_models --datasets fashion_brands --model smollm2-135m-instruct --out training/bt_smollm2
    python -m bench.teacher_models --modes none generative   # the generative rows only
"""

import argparse
import json
import random
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import spacy
from spacy.tokens import Doc, DocBin
from spacy.util import load_config

from bench.common import ROOT, test_and_train
from bench.distill_curve import banking77, fashion_brands, toxic_spans
from spacy_distill.rounds.simulate import count_edits
from spacy_distill.scoring import empty_prediction, score
from spacy_distill.task import Task, detect_task
from spacy_distill.teacher.annotate import annotate
from spacy_distill.teacher.confidence import CANDIDATES_KEY, SPAN_SCORES_KEY, rethreshold, span_score_map

DATASETS = {
    "fashion_brands": ("configs/teacher_ner.cfg", "configs/teacher_ner_scored.cfg"),
    "toxic_spans": ("configs/teacher_spancat.cfg", "configs/teacher_spancat_scored.cfg"),
    "banking77": ("configs/teacher_textcat.cfg", "configs/teacher_textcat_scored.cfg"),
}
MODES = ("none", "generative", "scored")
THRESHOLDS = [round(0.05 * i, 2) for i in range(1, 20)] + [0.96, 0.97, 0.98, 0.99]
NLP = spacy.blank("en")


def samples(name: str, n_test: int, n_dev: int, seed: int) -> Tuple[List[Doc], List[Doc], List[Doc]]:
    """(dev, test, train) gold docs: seeded samples without shared texts."""
    if name == "fashion_brands":
        splits = fashion_brands(None)
    elif name == "toxic_spans":
        splits = toxic_spans(None)
    else:
        labels = load_config(ROOT / DATASETS[name][0], interpolate=False)["components"]["llm"]["task"]["labels"]
        splits = banking77(None, labels)
    rng = random.Random(seed)
    test, train = test_and_train(splits, n_test, rng)
    dev = [d for d in splits["dev"] if d.text not in {t.text for t in test}] if splits["dev"] else train
    dev = list(dev)
    rng.shuffle(dev)
    return dev[:n_dev], test, [d for d in train if d.text not in {d.text for d in dev[:n_dev]}]


def write_raw(docs: List[Doc], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps({"text": d.text}) + "\n" for d in docs), encoding="utf8")
    return path


def evaluate(predicted: List[Doc], gold: List[Doc], task: Task) -> Dict[str, Any]:
    edits = count_edits(predicted, {g.text: g for g in gold}, task)
    result = score(predicted, gold, task)
    return {**{k: result[k] or 0.0 for k in ("p", "r", "f")}, "edits_per_doc": edits["per_doc"]}


def run_teacher(config: str, docs: List[Doc], folder: Path, extra: Dict[str, Any]) -> Tuple[List[Doc], Dict]:
    """Annotate the docs' texts with the config; the teacher docs (in order) and annotate's stats."""
    out = folder / "teacher.spacy"
    stats_path = folder / "stats.json"
    stats = annotate(
        ROOT / config,
        write_raw(docs, folder / "raw.jsonl"),
        out,
        stats_path=stats_path,
        show_progress=True,
        overrides={"paths.responses": str(folder.parent / "responses.sqlite"), **extra},
    )
    predicted = list(DocBin().from_disk(out).get_docs(NLP.vocab))
    assert [d.text for d in predicted] == [d.text for d in docs]
    return predicted, stats


def confident_only(doc: Doc, threshold: float, spans_key: Optional[str]) -> Doc:
    """A copy of a generative teacher's doc without its suggestions less likely than threshold
    (what SpanParser.v2's min_confidence keeps)."""
    out = doc.copy()
    scores = span_score_map(doc)
    spans = list(out.ents) if spans_key is None else list(out.spans.get(spans_key, []))
    kept = [sp for sp in spans if (scores.get((sp.start_char, sp.end_char, sp.label_)) or 0.0) >= threshold]
    if spans_key is None:
        out.set_ents(kept, default="outside")
    else:
        out.spans[spans_key] = kept
    return out


def choose_threshold(
    predicted: List[Doc], gold: List[Doc], task: Task, goal: str, keep: Callable = rethreshold
) -> Tuple[float, Dict[str, Any]]:
    """The threshold with the fewest edits per doc on dev, then the best F (goal "edits"), or the reverse ("f")."""
    best: Optional[Tuple[float, Dict[str, Any]]] = None

    def rank(result: Dict[str, Any]) -> Tuple[float, float]:
        edits_first = (result["edits_per_doc"], -result["f"])
        return edits_first if goal == "edits" else edits_first[::-1]

    for threshold in THRESHOLDS:
        result = evaluate([keep(d, threshold, task.span_key) for d in predicted], gold, task)
        if best is None or rank(result) < rank(best[1]):
            best = (threshold, result)
    assert best is not None
    return best


def bench_dataset(
    name: str, out: Path, n_test: int, n_dev: int, seed: int, model: str, modes: List[str]
) -> List[Dict[str, Any]]:
    dev, test, train = samples(name, n_test, n_dev, seed)
    extra = {"components.llm.model.model_path.name": model}
    task = detect_task(test)
    generative, scored = DATASETS[name]
    rows = []
    if "none" in modes:
        empty = [empty_prediction(d, task) for d in test]
        rows.append({"dataset": name, "mode": "none", "docs": len(test), **evaluate(empty, test, task)})
    if "generative" in modes:
        rows.extend(generative_rows(name, generative, dev, test, task, out, extra))
    if "scored" in modes:
        if name == "fashion_brands":  # the raw texts of the project (its train split) tell common words
            extra["paths.texts"] = str(write_raw(train, out / name / "train_texts.jsonl"))
        rows.extend(scored_rows(name, scored, dev, test, task, out, extra))
    return rows


def generative_rows(name, config, dev, test, task, out, extra) -> List[Dict[str, Any]]:
    predicted, stats = run_teacher(config, test, out / name / "generative" / "test", extra)
    row = {"dataset": name, "mode": "generative", "docs": len(test), "docs_per_second": stats["docs_per_second"]}
    scores = [p for d in predicted for *_, p in d.user_data.get(SPAN_SCORES_KEY, [])]
    row["scored_suggestions"] = f"{sum(p is not None for p in scores)}/{len(scores)}"
    rows = [{**row, **evaluate(predicted, test, task)}]
    if not task.has_spans:
        return rows
    dev_predicted, _ = run_teacher(config, dev, out / name / "generative" / "dev", extra)
    threshold, on_dev = choose_threshold(dev_predicted, dev, task, "edits", keep=confident_only)
    at_threshold = [confident_only(d, threshold, task.span_key) for d in predicted]
    rows.append({**row, "mode": "generative, min_confidence", "threshold": threshold,
                 "dev_edits_per_doc": on_dev["edits_per_doc"], "dev_f": on_dev["f"], "dev_docs": len(dev),
                 **evaluate(at_threshold, test, task)})  # fmt: skip
    return rows


def scored_rows(name, config, dev, test, task, out, extra) -> List[Dict[str, Any]]:
    predicted, stats = run_teacher(config, test, out / name / "scored" / "test", extra)
    row = {"dataset": name, "mode": "scored", "docs": len(test), "docs_per_second": stats["docs_per_second"]}
    if not task.has_spans:
        return [{**row, **evaluate(predicted, test, task)}]
    dev_predicted, _ = run_teacher(config, dev, out / name / "scored" / "dev", extra)
    n_candidates = sum(len(d.user_data.get(CANDIDATES_KEY, [])) for d in predicted)
    row["candidates_per_doc"] = round(n_candidates / len(test), 1)
    rows = []
    for goal in ("edits", "f"):
        threshold, on_dev = choose_threshold(dev_predicted, dev, task, goal)
        at_threshold = [rethreshold(d, threshold, task.span_key) for d in predicted]
        rows.append({**row, "mode": "scored, fewest edits" if goal == "edits" else "scored, best F",
                     "threshold": threshold, "dev_edits_per_doc": on_dev["edits_per_doc"], "dev_f": on_dev["f"],
                     "dev_docs": len(dev), **evaluate(at_threshold, test, task)})  # fmt: skip
    return rows


def markdown(rows: List[Dict[str, Any]]) -> str:
    lines = [
        "| dataset | mode | test docs | P | R | F | edits/doc | docs/s | threshold (dev: edits/doc, F) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        threshold = "-"
        if "threshold" in r:
            threshold = f"{r['threshold']} ({r['dev_edits_per_doc']:.2f}, {r['dev_f']:.3f} on {r['dev_docs']})"
        speed = f"{r['docs_per_second']:.2f}" if r.get("docs_per_second") else "-"
        lines.append(
            f"| {r['dataset']} | {r['mode']} | {r['docs']} | {r['p']:.3f} | {r['r']:.3f} | {r['f']:.3f} | "
            f"{r['edits_per_doc']:.2f} | {speed} | {threshold} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--n-test", type=int, default=100)
    parser.add_argument("--n-dev", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", default="gemma3-270m", help="bundled model: gemma3-270m, smollm2-135m-instruct")
    parser.add_argument("--out", type=Path, default=ROOT / "training" / "bench_teacher")
    parser.add_argument("--markdown", type=Path, default=None)
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES))
    args = parser.parse_args()
    rows: List[Dict[str, Any]] = []
    for name in args.datasets:
        rows.extend(bench_dataset(name, args.out, args.n_test, args.n_dev, args.seed, args.model, args.modes))
        print(markdown(rows), flush=True)
    (args.out / "rows.json").write_text(json.dumps(rows, indent=1), encoding="utf8")
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(markdown(rows), encoding="utf8")


if __name__ == "__main__":
    main()
