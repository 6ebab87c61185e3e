"""Does the teacher's confidence pick the docs where it errs? Uncertainty order vs random batches.

On the bundled fashion_brands dev split (assets/, 100 docs with gold), the teacher (--teacher-config,
default the scoring teacher configs/teacher_ner_scored.cfg, whose spans carry probabilities from the
model's log-probabilities; the generative configs once they carry them too) annotates every doc.
Per doc: the simulated expert's edits turning the teacher's suggestions into the gold
(`spacy_distill.rounds.simulate.count_edits`), and the teacher's confidence
(`spacy_distill.teacher.confidence.teacher_confidence`, the number `review --order uncertainty` and
`spacy_distill.Uncertainty.v2` rank by). For each batch size N it prints the edits per doc of:
the N least confident docs, the N most confident, and N random docs (--seeds draws: mean, sd,
min-max, and the share of draws with at least as many edits as the uncertainty batch), N random
docs among those with a confidence (a doc without one, e.g. one where the scoring teacher found no
candidate, comes last in the uncertainty order, so this separates the confidence's own merit
from "the teacher had something to say"), plus the
teacher's calibration table (`evaluate`'s). No timing is asserted; answers are kept in a response
store under --out, so a rerun asks the model nothing.

    nice -n 10 python -m bench.teacher_confidence --n 10,20,30 --seeds 50
    nice -n 10 python -m bench.teacher_confidence --teacher-config configs/teacher_ner.cfg --out training/bc_gen
"""

import argparse
import random
import statistics
from pathlib import Path
from typing import Dict, List, Optional

import srsly
from spacy.tokens import Doc, DocBin

from bench.common import ROOT
from spacy_distill.corpus.gold import load_gold
from spacy_distill.evaluation.calibration import calibration
from spacy_distill.rounds.simulate import count_edits
from spacy_distill.task import Task, detect_task
from spacy_distill.teacher.annotate import annotate
from spacy_distill.teacher.confidence import teacher_confidence


def teacher_docs(config: Path, gold: List[Doc], out: Path) -> List[Doc]:
    out.mkdir(parents=True, exist_ok=True)
    srsly.write_jsonl(out / "raw.jsonl", [{"text": d.text} for d in gold])
    overrides = {"paths.responses": str(out / "responses.sqlite")}
    annotate(config, out / "raw.jsonl", out / "teacher.spacy", overrides=overrides, show_progress=True)
    docs = list(DocBin().from_disk(out / "teacher.spacy").get_docs(gold[0].vocab))
    assert [d.text for d in docs] == [d.text for d in gold]
    return docs


def edits_per_doc(docs: List[Doc], gold: List[Doc], task: Task) -> List[int]:
    return [count_edits([d], {g.text: g}, task)["total"] for d, g in zip(docs, gold)]


def by_uncertainty(confidences: List[Optional[float]], rng: random.Random) -> List[int]:
    """Least confident first; docs without a confidence last, in random order."""
    tiebreak = [rng.random() for _ in confidences]
    return sorted(range(len(confidences)), key=lambda i: (confidences[i] is None, confidences[i] or 0.0, tiebreak[i]))


def mean(values: List[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def compare(edits: List[int], confidences: List[Optional[float]], n: int, seeds: int) -> Dict[str, float]:
    ranked = by_uncertainty(confidences, random.Random(0))
    known = [i for i in ranked if confidences[i] is not None]
    uncertain = mean([edits[i] for i in ranked[:n]])
    confident = mean([edits[i] for i in known[::-1][:n]])
    draws = [mean([edits[i] for i in random.Random(seed).sample(range(len(edits)), n)]) for seed in range(seeds)]
    scored = [mean([edits[i] for i in random.Random(seed).sample(known, min(n, len(known)))]) for seed in range(seeds)]
    return {
        "random_scored_mean": mean(scored),
        "random_scored_sd": statistics.pstdev(scored),
        "n": n,
        "uncertain": uncertain,
        "confident": confident,
        "random_mean": mean(draws),
        "random_sd": statistics.pstdev(draws),
        "random_min": min(draws),
        "random_max": max(draws),
        "share_random_at_least": sum(d >= uncertain for d in draws) / len(draws),
        "ratio": uncertain / mean(draws) if mean(draws) else float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--teacher-config", type=Path, default=ROOT / "configs" / "teacher_ner_scored.cfg")
    parser.add_argument("--gold", type=Path, default=ROOT / "assets" / "fashion_brands" / "dev.jsonl")
    parser.add_argument("--n", default="10,20,30", help="Batch sizes, comma-separated")
    parser.add_argument("--seeds", type=int, default=50, help="Random batches per size")
    parser.add_argument("--out", type=Path, default=ROOT / "training" / "bench_confidence")
    args = parser.parse_args()

    gold = load_gold(args.gold)
    task = detect_task(gold)
    docs = teacher_docs(args.teacher_config, gold, args.out)
    edits = edits_per_doc(docs, gold, task)
    confidences = [teacher_confidence(d, task) for d in docs]
    n_known = sum(c is not None for c in confidences)
    print(f"\n{args.gold.name}: {len(gold)} docs, teacher {args.teacher_config.name}")
    print(f"docs with a confidence: {n_known} of {len(docs)}; edits per doc over all docs: {mean(edits):.3f}")
    table = calibration(docs, gold, task)
    print(
        f"calibration: {table['n_scored']} scored {table['what']}, {table['n_unscored']} unscored, ECE {table['ece']}"
    )
    for b in table["bins"]:
        print(
            f"  {b['lo']:.1f}-{b['hi']:.1f}  n {b['n']:3d}  mean confidence {b['mean_confidence']}  precision {b['precision']}"
        )
    if not n_known:
        print("no confidences: nothing to rank by")
        return
    print("\nedits per doc of a batch of N docs (random: mean ± sd [min-max] over seeds)")
    print(
        "   N  least confident  most confident  random                        ratio  random >= uncertain  random of scored"
    )
    for n in (int(x) for x in args.n.split(",")):
        r = compare(edits, confidences, n, args.seeds)
        print(
            f"{n:4d}  {r['uncertain']:15.3f}  {r['confident']:14.3f}  {r['random_mean']:.3f} ± {r['random_sd']:.3f} "
            f"[{r['random_min']:.2f}-{r['random_max']:.2f}]   {r['ratio']:5.2f}  {r['share_random_at_least']:19.2f}  "
            f"{r['random_scored_mean']:.3f} ± {r['random_scored_sd']:.3f}"
        )


if __name__ == "__main__":
    main()
