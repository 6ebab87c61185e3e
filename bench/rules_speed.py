"""How fast are the rules, next to the trained student on the same texts?

Prints the words/s of the rules component alone in a blank pipeline (`rules_pipeline`, as
`evaluate --rules` runs it) and of the student (nlp.pipe over the texts), and their ratio, from one
run in the same process. Best of --repeats passes each; words are the tokenizer's tokens.

    python -m bench.rules_speed [MODEL_DIR] [TEXTS] [--rules PATTERNS] [--repeats 3]

MODEL_DIR, TEXTS: as bench/student_speed.py (default: training/model-best, else a tiny student
trained here). PATTERNS: default assets/fashion_brands/patterns.jsonl (100 token patterns).
"""

import argparse
from pathlib import Path

import spacy

from bench.student_speed import DATA, best_seconds, read_texts, run_with_student
from spacy_distill.rules.apply import rules_pipeline
from spacy_distill.task import Task


def main(model: Path, texts_path: Path, patterns: Path, repeats: int) -> None:
    student = spacy.load(model)
    rules, n_rules = rules_pipeline(patterns, student.lang, Task("ner"))
    texts = read_texts(texts_path)
    n_words = sum(len(student.make_doc(t)) for t in texts)
    student_seconds = best_seconds(lambda: list(student.pipe(texts)), repeats)
    rules_seconds = best_seconds(lambda: list(rules.pipe(texts)), repeats)
    print(f"student   {model} ({', '.join(student.pipe_names)})")
    print(f"rules     {patterns}: {n_rules} rules ({', '.join(rules.pipe_names)})")
    print(f"texts     {texts_path}: {len(texts)} docs, {n_words:,} words; best of {repeats} passes")
    print(f"{'':<10}{'words/s':>12}{'docs/s':>10}")
    print(f"{'rules':<10}{n_words / rules_seconds:>12,.0f}{len(texts) / rules_seconds:>10,.1f}")
    print(f"{'student':<10}{n_words / student_seconds:>12,.0f}{len(texts) / student_seconds:>10,.1f}")
    print(f"ratio     the rules run {student_seconds / rules_seconds:.1f}x the student's speed")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "model", nargs="?", type=Path, help="student pipeline dir (default: training/model-best or a tiny one)"
    )
    parser.add_argument("texts", nargs="?", type=Path, default=DATA / "test.jsonl", help="texts (.jsonl or .txt)")
    parser.add_argument("--rules", type=Path, default=DATA / "patterns.jsonl", help="patterns JSONL")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    run_with_student(args.model, lambda model: main(model, args.texts, args.rules, args.repeats))
