"""Slices of real datasets in their original formats (tests/data) import with counts computed here from the raw files."""

import csv
import json
from collections import Counter

import pytest
from corrections_helpers import NLP

from spacy_distill.corpus.corrections import Options, load_corrections


def raw_lines(path):
    return path.read_bytes().splitlines(keepends=True)


def raw_jsonl(path):
    return [json.loads(line) for line in path.read_text(encoding="utf8").splitlines() if line.strip()]


@pytest.mark.parametrize("split", ["training", "eval"])
def test_fashion_brands_prodigy(test_data, split):
    path = test_data / "fashion_brands" / f"tutorials__ner_fashion_brands__assets__fashion_brands_{split}.jsonl"
    raw = raw_jsonl(path)
    answers = Counter(r["answer"] for r in raw)
    kept = [r for r in raw if r["answer"] == "accept"]
    docs, stats = load_corrections(path, NLP)
    assert stats.records == len(raw) and dict(stats.answers) == dict(answers)
    assert stats.docs == len({r["text"] for r in raw if r["answer"] != "ignore"})
    assert stats.spans == Counter(s["label"] for r in kept for s in r["spans"])
    assert stats.negative == sum(not r["spans"] for r in kept)
    assert (stats.dropped, stats.conflicts, stats.complete) == ({}, 0, len(kept))
    for doc, r in zip(docs, raw):  # Prodigy's own tokens are kept
        assert [t.text for t in doc] == [t["text"] for t in r["tokens"]]
        assert [(e.start, e.end - 1) for e in doc.ents] == [(s["token_start"], s["token_end"]) for s in r["spans"]]


@pytest.mark.parametrize("split", ["training", "eval"])
def test_docs_issues_binary_textcat(test_data, split):
    path = test_data / "docs_issues" / f"tutorials__textcat_docs_issues__assets__docs_issues_{split}.jsonl"
    raw = raw_jsonl(path)
    docs, stats = load_corrections(path, NLP)
    assert stats.docs == len(raw) and stats.partial == len(raw)  # binary answers: one label each
    assert stats.answers == Counter(r["answer"] for r in raw) and set(stats.answers) == {"accept", "reject"}
    assert stats.categories == Counter(r["label"] for r in raw if r["answer"] == "accept")
    assert [d.cats for d in docs] == [{r["label"]: float(r["answer"] == "accept")} for r in raw]


def conll_counts(path):
    """(sentences, entities per label) read straight from the BIO lines."""
    sentences, entities, previous, in_sentence = 0, Counter(), "O", False
    for line in path.read_text(encoding="utf8").splitlines():
        if not line.strip():
            in_sentence, previous = False, "O"
            continue
        sentences += not in_sentence
        in_sentence = True
        tag = line.split()[-1]
        if tag.startswith("B-") or (tag.startswith("I-") and previous[2:] != tag[2:]):
            entities[tag[2:]] += 1
        previous = tag
    return sentences, entities


@pytest.mark.parametrize("name", ["wnut17/emerging.dev.conll", "ncbi_disease/conll__devel.tsv"])
def test_conll_bio(test_data, name):
    path = test_data / name
    sentences, entities = conll_counts(path)
    _docs, stats = load_corrections(path, NLP)  # .conll and .tsv files with IOB tags are detected as CoNLL
    assert (stats.docs, stats.spans, stats.dropped) == (sentences, entities, {})


def test_banking77_csv_crlf(test_data):
    path = test_data / "banking77" / "banking_data__test.csv"
    with path.open(encoding="utf8", newline="") as f:
        rows = list(csv.DictReader(f))
    docs, stats = load_corrections(path, NLP, "csv", label_column="category")
    assert stats.docs == len(rows) and stats.conflicts == 0
    assert raw_lines(path)[0].endswith(b"\r\n")  # the CRLF line endings of the original are there
    assert stats.categories == Counter(r["category"] for r in rows)
    assert all(len(d.cats) == 77 and sum(d.cats.values()) == 1.0 for d in docs)


def test_germeval2018_tsv(test_data):
    path = test_data / "germeval2018" / "germeval2018.test.txt"
    rows = [line.split("\t") for line in path.read_text(encoding="utf8").splitlines()]
    _docs, stats = load_corrections(path, NLP, "tsv", text_column="0", label_column="1")
    assert stats.records == len(rows)
    assert stats.docs == len(rows) and stats.categories == Counter(r[1] for r in rows)


def test_toxic_spans_character_offsets(test_data):
    path = test_data / "toxic_spans" / "SemEval2021__data__tsd_trial.csv"
    with path.open(encoding="utf8", newline="") as f:
        rows = list(csv.DictReader(f))
    runs = 0
    for r in rows:
        offsets = sorted(set(json.loads(r["spans"])))
        runs += sum(1 for i, o in enumerate(offsets) if i == 0 or offsets[i - 1] != o - 1)
    options = Options(span_key="sc")
    _docs, stats = load_corrections(path, NLP, "csv", options, spans_column="spans", span_label="toxic")
    assert stats.docs == len(rows) and runs > 0
    assert stats.spans["toxic"] + stats.dropped["not on token boundaries"] == runs  # nothing lost uncounted
    options.alignment = "expand"
    _docs, stats = load_corrections(path, NLP, "csv", options, spans_column="spans", span_label="toxic")
    assert stats.dropped == {} and stats.spans["toxic"] + 0 <= runs and stats.snapped > 0
