"""Static floret vectors trained only on the raw texts a user has (the pool), for the student's tok2vec.

The texts are tokenized with spaCy's tokenizer (one text per line, tokens separated by spaces), floret
(fastText with hashed subwords; `pip install floret`, or the `vectors` extra) trains CBOW vectors on
them, and `spacy init vectors --mode floret` turns them into a pipeline whose vectors
configs/student_*_vectors.cfg load with --paths.vectors. Every word gets a vector from its subwords,
so words the texts never had are covered too.

    python -m bench.raw_text_vectors assets/fashion_brands/train.jsonl training/vectors

Input: .jsonl / .txt / .csv (a `text` field) or .spacy. The settings below are fixed in advance (not
tuned on any test set): 100 dimensions, 20,000 hash buckets, 2 hashes per subword, subwords of 3 to 5
characters, 20 epochs, words seen at least twice.
"""

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, Iterable, List

import spacy
from spacy.tokens import DocBin

from spacy_distill.inputs import read_records

SETTINGS = {"dim": 100, "bucket": 20000, "hashCount": 2, "minn": 3, "maxn": 5, "epoch": 20, "minCount": 2}


def raw_texts(path: Path) -> List[str]:
    """The texts of a .spacy file, or of a .jsonl / .txt / .csv file (`text` field)."""
    if path.suffix == ".spacy":
        return [doc.text for doc in DocBin().from_disk(path).get_docs(spacy.blank("en").vocab)]
    return [record.text for record in read_records(path)]


def tokenized_lines(texts: Iterable[str], lang: str) -> List[str]:
    tokenizer = spacy.blank(lang).tokenizer
    lines = (" ".join(token.text for token in tokenizer(text) if not token.is_space) for text in texts)
    return [line for line in lines if line]


def train_vectors(texts: List[str], output: Path, lang: str = "en", threads: int = 2) -> Dict[str, float]:
    """floret vectors of the texts as a spaCy pipeline in `output`; the minutes of each step."""
    import floret  # optional dependency: the `vectors` extra

    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "texts.txt"
        corpus.write_text("\n".join(tokenized_lines(texts, lang)) + "\n", encoding="utf8")
        start = time.perf_counter()
        model = floret.train_unsupervised(
            str(corpus), model="cbow", mode="floret", thread=threads, verbose=0, **SETTINGS
        )
        floret_path = Path(tmp) / "vectors.floret"
        model.save_floret_vectors(str(floret_path))
        trained = time.perf_counter()
        init = [sys.executable, "-m", "spacy", "init", "vectors", lang, str(floret_path), str(output)]
        subprocess.run(init + ["--mode", "floret"], check=True, capture_output=True)
    done = time.perf_counter()
    return {"train_min": (trained - start) / 60, "init_min": (done - trained) / 60, "words": corpus_words(texts)}


def corpus_words(texts: List[str]) -> int:
    return sum(len(text.split()) for text in texts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("texts", type=Path, help="Raw texts: .jsonl / .txt / .csv (`text` field) or .spacy")
    parser.add_argument("output", type=Path, help="Folder for the pipeline with the vectors (for --paths.vectors)")
    parser.add_argument("--lang", default="en")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    texts = raw_texts(args.texts)
    cost = train_vectors(texts, args.output, args.lang, args.threads)
    print(
        f"{len(texts)} texts, {cost['words']} words: floret {cost['train_min']:.2f} min, "
        f"spacy init vectors {cost['init_min']:.2f} min -> {args.output}"
    )


if __name__ == "__main__":
    main()
