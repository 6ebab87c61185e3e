"""Cut the licence-clean excerpts in assets/toxic_spans and assets/banking77 from the full datasets.

Run once, kept for provenance (like make_sample_assets.py):

    python -m scripts.make_task_assets DATASETS_DIR   (from the repository root)

toxic_spans (CC0): SemEval-2021 Task 5 comments with the character offsets of their
toxic parts; each run of consecutive offsets becomes one span labelled TOXIC.
banking77 (CC-BY 4.0): the queries of six of the 77 intents, labels unchanged.
Few-shot examples are texts of the training files, with their gold answers.
"""

import ast
import csv
import json
import random
import shutil
import sys
from pathlib import Path
from typing import Dict, List

import srsly

from bench.common import TOXIC_LABEL, toxic_char_spans

if len(sys.argv) != 2:
    sys.exit("usage: python -m scripts.make_task_assets DATASETS_DIR (the folder of the full datasets)")
SHARED = Path(sys.argv[1])
ASSETS = Path(__file__).resolve().parent.parent / "assets"
SEED = 0

# ---------------------------------------------------------------- toxic_spans
TOXIC_MAX_CHARS = 400
TOXIC_N = {"train": 600, "test": 200}
# (text of a tsd_train.csv row, reason per gold span); the spans are the gold ones. spacy-llm
# drops a few-shot example without spans, so the example without toxic spans lists a negative
# one (is_entity false, label ==NONE==), which the span_compact template shows as "none".
TOXIC_EXAMPLES = [
    ("Tax dollars for art. Utterly stupid", {"stupid": "an insult"}),
    (
        "You just had to spread your racist crap today, didn't you, little man?",
        {"racist crap": "an insulting phrase aimed at the reader"},
    ),
    ("Come on. Just cut to the chase. The guy's a complete moron.", {"moron": "an insult"}),
    ("This ia a silly article about silly people doing a silly thing.", {}),
]
TOXIC_NEGATIVE = {
    "This ia a silly article about silly people doing a silly thing.": ("silly", "mild criticism, not toxic")
}

# ---------------------------------------------------------------- banking77
INTENTS = [
    "card_arrival",
    "change_pin",
    "exchange_rate",
    "lost_or_stolen_card",
    "terminate_account",
    "top_up_failed",
]
# One training query per intent (the textcat few-shot examples) ...
BANKING_EXAMPLES = [
    ("Where is my card?", "card_arrival"),
    ("Can you tell me how to change my PIN?", "change_pin"),
    ("Where do you get those exchange rates?", "exchange_rate"),
    ("Someone stole my card!", "lost_or_stolen_card"),
    ("How do I delete my account now", "terminate_account"),
    ("The top-up did not go through.", "top_up_failed"),
]
# ... and for the multi-label teacher one query of another intent (age_limit), answered ==NONE==.
BANKING_NONE_EXAMPLE = ("Is there a certain age I need to be?", "age_limit")


def read_toxic(name: str) -> List[Dict]:
    path = SHARED / "toxic_spans" / f"SemEval2021__data__tsd_{name}.csv"
    with path.open(encoding="utf8", newline="") as f:
        rows = list(csv.DictReader(f))
    return [
        {"text": row["text"], "spans": toxic_char_spans(row["text"], ast.literal_eval(row["spans"])), "row": i}
        for i, row in enumerate(rows, start=1)
    ]


def make_toxic_spans() -> None:
    out = ASSETS / "toxic_spans"
    out.mkdir(parents=True, exist_ok=True)
    train_rows = read_toxic("train")
    for name, n in TOXIC_N.items():
        rows = train_rows if name == "train" else read_toxic(name)
        rows = list(rows)
        random.Random(SEED).shuffle(rows)
        picked = [r for r in rows if len(r["text"]) <= TOXIC_MAX_CHARS][:n]
        target = out / f"{name}.jsonl"
        srsly.write_jsonl(
            target,
            (
                {"text": r["text"], "meta": {"file": f"tsd_{name}.csv", "row": r["row"]}, "spans": r["spans"]}
                for r in picked
            ),
        )
        print(target, len(picked), "docs,", sum(bool(r["spans"]) for r in picked), "with toxic spans")

    by_text = {r["text"]: r for r in train_rows}
    examples = []
    for text, reasons in TOXIC_EXAMPLES:
        gold = [text[s["start"] : s["end"]] for s in by_text[text]["spans"]]
        assert sorted(gold) == sorted(reasons), (text, gold)
        spans = [{"text": span, "is_entity": True, "label": TOXIC_LABEL, "reason": reasons[span]} for span in gold]
        if text in TOXIC_NEGATIVE:
            phrase, reason = TOXIC_NEGATIVE[text]
            spans.append({"text": phrase, "is_entity": False, "label": "==NONE==", "reason": reason})
        examples.append({"text": text, "spans": spans})
    srsly.write_yaml(out / "spancat_examples.yml", examples)
    shutil.copyfile(SHARED / "toxic_spans" / "LICENSE", out / "LICENSE")


def read_banking(name: str) -> List[Dict]:
    path = SHARED / "banking77" / f"banking_data__{name}.csv"
    with path.open(encoding="utf8", newline="") as f:
        return [
            {"text": row["text"], "category": row["category"], "row": i}
            for i, row in enumerate(csv.DictReader(f), start=1)
        ]


def make_banking77() -> None:
    out = ASSETS / "banking77"
    out.mkdir(parents=True, exist_ok=True)
    train_rows = read_banking("train")
    for name in ("train", "test"):
        rows = [r for r in (train_rows if name == "train" else read_banking(name)) if r["category"] in INTENTS]
        random.Random(SEED).shuffle(rows)
        target = out / f"{name}.jsonl"
        srsly.write_jsonl(
            target,
            (
                {
                    "text": r["text"],
                    "meta": {"file": f"{name}.csv", "row": r["row"]},
                    "accept": [r["category"]],
                    "answer": "accept",
                }
                for r in rows
            ),
        )
        print(target, len(rows), "docs")

    train_labels = {r["text"]: r["category"] for r in train_rows}
    for text, label in [*BANKING_EXAMPLES, BANKING_NONE_EXAMPLE]:
        assert train_labels.get(text) == label, (text, label)
    exclusive = [{"text": text, "answer": label} for text, label in BANKING_EXAMPLES]
    srsly.write_yaml(out / "textcat_examples.yml", exclusive)
    srsly.write_yaml(
        out / "textcat_multilabel_examples.yml",
        [{"text": BANKING_NONE_EXAMPLE[0], "answer": "==NONE=="}, *exclusive],
    )
    shutil.copyfile(SHARED / "banking77" / "LICENSE", out / "LICENSE")


if __name__ == "__main__":
    make_toxic_spans()
    make_banking77()
    print(json.dumps({"intents": INTENTS, "toxic_label": TOXIC_LABEL}))
