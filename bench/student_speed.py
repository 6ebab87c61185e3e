"""How fast is the student, next to spaCy's tokenizer alone on the same texts?

Prints the student's words/s (nlp.pipe over the texts), the tokenizer-only
words/s (nlp.make_doc over the same texts) and their ratio: the share of the
time the student's own model (tok2vec + ner, ...) costs. Best of --repeats passes
each; words are the tokenizer's tokens.

    python bench/student_speed.py [MODEL_DIR] [TEXTS] [--repeats 3]

MODEL_DIR: a spacy.load-able pipeline. Default: training/model-best if it exists,
else a tiny NER student trained here in a temporary folder with
configs/student_ner.cfg on 200 docs of assets/fashion_brands/train.jsonl for 150 steps
(10-30 s; its accuracy is irrelevant to its speed).
TEXTS: .jsonl with a "text" field, or .txt with one text per line.
Default: assets/fashion_brands/test.jsonl (200 Reddit comments).
"""

import argparse
import json
import tempfile
from pathlib import Path
from typing import Callable, List, Optional

import spacy

from bench.common import best_seconds

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "assets" / "fashion_brands"


def read_texts(path: Path) -> List[str]:
    if path.suffix == ".jsonl":
        return [json.loads(line)["text"] for line in path.open(encoding="utf8") if line.strip()]
    return [line.rstrip("\n") for line in path.open(encoding="utf8") if line.strip()]


def train_tiny_student(tmp: Path) -> Path:
    from spacy.cli.train import train

    rows = DATA.joinpath("train.jsonl").read_text(encoding="utf8").splitlines()
    (tmp / "train.jsonl").write_text("\n".join(rows[:200]) + "\n", encoding="utf8")
    (tmp / "dev.jsonl").write_text("\n".join(rows[200:230]) + "\n", encoding="utf8")
    overrides = {
        "paths.train": str(tmp / "train.jsonl"),
        "paths.dev": str(tmp / "dev.jsonl"),
        "training.max_steps": 150,
        "training.eval_frequency": 150,
    }
    train(ROOT / "configs" / "student_ner.cfg", tmp / "student", overrides=overrides)
    return tmp / "student" / "model-last"


def run_with_student(model: Optional[Path], run: Callable[[Path], None]) -> None:
    """run(a student dir): the given one, else training/model-best, else a tiny student trained here."""
    if model is not None:
        run(model)
    elif (ROOT / "training" / "model-best").exists():
        run(ROOT / "training" / "model-best")
    else:
        with tempfile.TemporaryDirectory() as tmp:
            print("No model given and no training/model-best: training a tiny student first ...")
            run(train_tiny_student(Path(tmp)))


def main(model: Path, texts_path: Path, repeats: int) -> None:
    nlp = spacy.load(model)
    texts = read_texts(texts_path)
    n_words = sum(len(nlp.make_doc(t)) for t in texts)
    tokenizer = best_seconds(lambda: [nlp.make_doc(t) for t in texts], repeats)
    student = best_seconds(lambda: list(nlp.pipe(texts)), repeats)
    print(f"model     {model} ({', '.join(nlp.pipe_names)})")
    print(f"texts     {texts_path}: {len(texts)} docs, {n_words:,} words; best of {repeats} passes")
    print(f"{'':<16}{'words/s':>12}{'docs/s':>10}")
    print(f"{'student':<16}{n_words / student:>12,.0f}{len(texts) / student:>10,.1f}")
    print(f"{'tokenizer only':<16}{n_words / tokenizer:>12,.0f}{len(texts) / tokenizer:>10,.1f}")
    print(
        f"ratio     the student runs at {tokenizer / student:.1%} of the tokenizer's speed "
        f"(tokenizer {student / tokenizer:.1f}x faster)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "model", nargs="?", type=Path, help="student pipeline dir (default: training/model-best or a tiny one)"
    )
    parser.add_argument("texts", nargs="?", type=Path, default=DATA / "test.jsonl", help="texts (.jsonl or .txt)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    run_with_student(args.model, lambda model: main(model, args.texts, args.repeats))
