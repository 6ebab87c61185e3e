"""How long do evaluate's bootstrap intervals and paired comparisons take?

On the sample's gold test docs (assets/fashion_brands/test.jsonl, 200 docs) with 5 systems that
need no model: the gold itself, nothing, the bundled patterns, half of them, and the gold's first
entity per doc. Prints, from one process (best of --repeats passes each):

- counting: the per-doc tp/fp/fn of the 5 systems (`scoring.doc_counts`, once per evaluate);
- bootstrap: --resamples resamples of the docs, intervals for every system and label, and the 10
  paired comparisons (`evaluation.bootstrap.paired_bootstrap`, counting included);
- the baseline: one pass of spaCy's scorer over the 5 systems (`scoring.score`), and what
  rescoring every resample with it would take (resamples x that pass), as a ratio.

    python -m bench.bootstrap_speed [--resamples 1000] [--repeats 3]
"""

import argparse
import tempfile
from pathlib import Path
from typing import Dict, List, Optional

import srsly
from spacy.tokens import Doc, Span

from bench.common import best_seconds
from spacy_distill.corpus.gold import load_gold
from spacy_distill.evaluation.bootstrap import paired_bootstrap
from spacy_distill.rules.apply import rules_pipeline
from spacy_distill.scoring import doc_counts, score
from spacy_distill.task import detect_task

DATA = Path(__file__).resolve().parent.parent / "assets" / "fashion_brands"


def systems(gold: List[Doc], task, tmp: Path) -> Dict[str, List[Optional[Doc]]]:
    patterns = list(srsly.read_jsonl(DATA / "patterns.jsonl"))
    srsly.write_jsonl(tmp / "half.jsonl", patterns[: len(patterns) // 2])
    texts = [d.text for d in gold]
    rules, _ = rules_pipeline(DATA / "patterns.jsonl", "en", task)
    half, _ = rules_pipeline(tmp / "half.jsonl", "en", task)
    first = []
    for ref in gold:
        doc = Doc(ref.vocab, words=[t.text for t in ref], spaces=[bool(t.whitespace_) for t in ref])
        doc.ents = [Span(doc, e.start, e.end, label=e.label_) for e in ref.ents[:1]]
        first.append(doc)
    return {
        "gold": list(gold),
        "nothing": [None] * len(gold),
        "rules": list(rules.pipe(texts)),
        "half_rules": list(half.pipe(texts)),
        "first_entity": first,
    }


def main(resamples: int, repeats: int) -> None:
    gold = load_gold(DATA / "test.jsonl", "en")
    task = detect_task(gold)
    with tempfile.TemporaryDirectory() as tmp:
        docs = systems(gold, task, Path(tmp))
    results = {name: score(d, gold, task) for name, d in docs.items()}
    count = best_seconds(lambda: [doc_counts(d, gold, task) for d in docs.values()], repeats)
    scorer = best_seconds(lambda: [score(d, gold, task) for d in docs.values()], repeats)
    boot = best_seconds(lambda: paired_bootstrap(docs, gold, task, results, resamples, 0, 0.95), repeats)
    comparisons, _ = paired_bootstrap(docs, gold, task, results, resamples, 0, 0.95)
    print(f"gold      {DATA / 'test.jsonl'}: {len(gold)} docs; {len(docs)} systems: {', '.join(docs)}")
    print(f"counting  per-doc tp/fp/fn of the {len(docs)} systems: {count:.3f} s")
    print(
        f"bootstrap {resamples} resamples, intervals and {len(comparisons)} paired comparisons "
        f"(counting included): {boot:.3f} s"
    )
    print(f"baseline  spaCy's scorer, one pass over the {len(docs)} systems: {scorer:.3f} s")
    print(
        f"ratio     rescoring every resample with spaCy would take ~{resamples * scorer:.0f} s, "
        f"{resamples * scorer / boot:,.0f}x the bootstrap (best of {repeats} passes each)"
    )
    for name, entry in results.items():
        print(f"          {name:<13} F {entry['f']:.3f}  95% CI {entry['f_ci'][0]:.3f}-{entry['f_ci'][1]:.3f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    main(args.resamples, args.repeats)
