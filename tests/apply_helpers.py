"""A small trained pipeline (rules, ner, spancat, textcat on a shared tok2vec) and a corpus of real texts in
every input format, for the `apply` tests and bench/scale.py."""

import csv
import random
from pathlib import Path
from typing import List

import spacy
import srsly
from spacy.training import Example
from thinc.api import Config

from spacy_distill.rules.rule import read_rules

ROOT = Path(__file__).resolve().parent.parent
ASSETS = ROOT / "assets"
CONFIG = """
[nlp]
lang = "en"
pipeline = ["tok2vec","spacy_distill_rules","ner","spancat","textcat"]
[components]
[components.spacy_distill_rules]
factory = "spacy_distill_rules"
[components.tok2vec]
factory = "tok2vec"
[components.tok2vec.model]
@architectures = "spacy.HashEmbedCNN.v2"
pretrained_vectors = null
width = 32
depth = 1
embed_size = 1000
window_size = 1
maxout_pieces = 2
subword_features = true
[components.ner]
factory = "ner"
[components.ner.model]
@architectures = "spacy.TransitionBasedParser.v2"
state_type = "ner"
hidden_width = 32
maxout_pieces = 2
use_upper = true
[components.ner.model.tok2vec]
@architectures = "spacy.Tok2VecListener.v1"
width = 32
[components.spancat]
factory = "spancat"
spans_key = "sc"
threshold = 0.3
[components.spancat.suggester]
@misc = "spacy.ngram_suggester.v1"
sizes = [1, 2]
[components.spancat.model]
@architectures = "spacy.SpanCategorizer.v1"
[components.spancat.model.reducer]
@layers = "spacy.mean_max_reducer.v1"
hidden_size = 32
[components.spancat.model.scorer]
@layers = "spacy.LinearLogistic.v1"
[components.spancat.model.tok2vec]
@architectures = "spacy.Tok2VecListener.v1"
width = 32
[components.textcat]
factory = "textcat"
[components.textcat.model]
@architectures = "spacy.TextCatBOW.v3"
exclusive_classes = true
ngram_size = 1
no_output_layer = false
"""


def train_tiny_pipeline(path: Path, n_train: int = 200, epochs: int = 8) -> Path:
    """Rules from the fashion_brands patterns before a ner, a spancat and a textcat (the post's subreddit),
    really trained (seconds) on fashion_brands posts, saved to `path`."""
    rows = list(srsly.read_jsonl(ASSETS / "fashion_brands" / "train.jsonl"))[:n_train]
    nlp = spacy.util.load_model_from_config(Config().from_str(CONFIG), auto_fill=True)
    sections = sorted({row["meta"]["section"] for row in rows})
    examples = []
    for row in rows:
        doc = nlp.make_doc(row["text"])
        spans = [doc.char_span(s["start"], s["end"], s["label"], alignment_mode="expand") for s in row["spans"]]
        spans = [(s.start_char, s.end_char, s.label_) for s in spacy.util.filter_spans([s for s in spans if s])]
        cats = {c: float(c == row["meta"]["section"]) for c in sections}
        examples.append(Example.from_dict(doc, {"entities": spans, "spans": {"sc": spans}, "cats": cats}))
    nlp.initialize(lambda: examples)
    nlp.get_pipe("spacy_distill_rules").set_rules(read_rules(ASSETS / "fashion_brands" / "patterns.jsonl"))
    rng = random.Random(0)
    for _ in range(epochs):
        rng.shuffle(examples)
        for i in range(0, len(examples), 16):
            nlp.update(examples[i : i + 16], drop=0.1)
    nlp.to_disk(path)
    return path


def corpus_texts() -> List[str]:
    """About 2,700 real texts: fashion_brands posts, banking77 questions, toxic_spans comments."""
    texts = []
    for name in ("fashion_brands/train", "fashion_brands/dev", "fashion_brands/test", "banking77/train"):
        texts.extend(row["text"] for row in srsly.read_jsonl(ASSETS / f"{name}.jsonl"))
    texts.extend(row["text"] for row in srsly.read_jsonl(ASSETS / "banking77" / "test.jsonl"))
    texts.extend(row["text"] for row in srsly.read_jsonl(ASSETS / "toxic_spans" / "train.jsonl"))
    return texts


def write_corpus(folder: Path, texts: List[str]) -> Path:
    """The texts as a folder of shards in every input format: JSONL (with meta), CSV, TXT, Parquet."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    quarter = len(texts) // 4
    parts = [texts[:quarter], texts[quarter : 2 * quarter], texts[2 * quarter : 3 * quarter], texts[3 * quarter :]]
    srsly.write_jsonl(folder / "a.jsonl", [{"text": t, "meta": {"n": i}} for i, t in enumerate(parts[0])])
    with (folder / "b.csv").open("w", encoding="utf8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "source"])
        writer.writerows([t, "csv"] for t in parts[1])
    lines = [" ".join(t.split()) for t in parts[2]]  # one doc per line
    (folder / "c.txt").write_text("".join(line + "\n" for line in lines), encoding="utf8")
    table = pa.table({"text": parts[3], "row": list(range(len(parts[3])))})
    pq.write_table(table, folder / "d.parquet", row_group_size=100)
    return folder
