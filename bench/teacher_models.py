"""Compare the bundled tiny LLMs as NER teachers on the sample test set.

Prints, per model: P/R/F against the gold spans (spaCy's Scorer), docs/s and
what the parser dropped. Usage, from the repository root: python -m bench.teacher_models [N_DOCS]
(or python bench/teacher_models.py [N_DOCS])
"""

import json
import sys
import tempfile
import time
from pathlib import Path

import spacy
from spacy.scorer import Scorer
from spacy.tokens import DocBin
from spacy.training import Example

from spacy_distill.teacher.annotate import annotate

ROOT = Path(__file__).resolve().parent.parent
TEST = ROOT / "assets" / "fashion_brands" / "test.jsonl"
CONFIG = ROOT / "configs" / "teacher_ner.cfg"


def main(n_docs: int) -> None:
    nlp = spacy.blank("en")
    rows = [json.loads(line) for line in TEST.open(encoding="utf8")][:n_docs]
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.jsonl"
        raw.write_text("".join(json.dumps({"text": r["text"]}) + "\n" for r in rows), encoding="utf8")
        print(f"{'model':<24} {'endpoint':<12} {'P':>6} {'R':>6} {'F':>6} {'docs/s':>7} dropped")
        for model in ("smollm2-135m-instruct", "gemma3-270m"):
            for endpoint in ("completions",):
                out = Path(tmp) / f"{model}.spacy"
                start = time.perf_counter()
                stats = annotate(
                    CONFIG,
                    raw,
                    out,
                    show_progress=False,
                    overrides={
                        "paths.examples": str(ROOT / "assets/fashion_brands/ner_examples.yml"),
                        "paths.responses": str(Path(tmp) / "store.sqlite"),
                        "components.llm.model.model_path.name": model,
                        "components.llm.model.endpoint": endpoint,
                    },
                )
                seconds = time.perf_counter() - start
                predicted = list(DocBin().from_disk(out).get_docs(nlp.vocab))
                examples = []
                for row, pred in zip(rows, predicted):
                    gold = nlp.make_doc(row["text"])
                    gold.ents = [
                        gold.char_span(s["start"], s["end"], s["label"], alignment_mode="expand") for s in row["spans"]
                    ]
                    examples.append(Example(pred, gold))
                scores = Scorer.score_spans(examples, "ents")
                print(
                    f"{model:<24} {endpoint:<12} {scores['ents_p']:6.3f} {scores['ents_r']:6.3f} {scores['ents_f']:6.3f} "
                    f"{len(rows) / seconds:7.2f} {stats['dropped_by_reason']}"
                )


if __name__ == "__main__":
    if any(arg in ("-h", "--help") for arg in sys.argv[1:]):
        print(__doc__)
        sys.exit(0)
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100)
