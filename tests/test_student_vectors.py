"""The student configs with static vectors (configs/student_*_vectors.cfg) train on floret vectors of raw texts."""

from pathlib import Path

import numpy
import pytest
import spacy
import srsly
from spacy.cli.train import train

from bench.raw_text_vectors import raw_texts, train_vectors

pytest.importorskip("floret", reason="the `vectors` extra (floret) is not installed")

ROOT = Path(__file__).parent.parent


@pytest.fixture(scope="module")
def vectors(tmp_path_factory):
    output = tmp_path_factory.mktemp("vectors") / "pipeline"
    cost = train_vectors(raw_texts(ROOT / "assets" / "fashion_brands" / "train.jsonl")[:300], output, threads=1)
    return output, cost


def test_floret_vectors_cover_unseen_words(vectors):
    output, cost = vectors
    assert cost["train_min"] >= 0 and cost["words"] > 1000
    table = spacy.load(output).vocab.vectors
    assert table.mode == "floret" and table.shape == (20000, 100)
    seen, unseen = table.get_batch(["Nike", "Zzyzxqwv"])
    assert numpy.linalg.norm(seen) > 0 and numpy.linalg.norm(unseen) > 0
    assert not numpy.allclose(seen, unseen)


@pytest.mark.parametrize(
    "config,data,pipe",
    [
        ("student_ner_vectors.cfg", "fashion_brands", "tok2vec"),
        ("student_spancat_vectors.cfg", "toxic_spans", "tok2vec"),
        ("student_textcat_vectors.cfg", "banking77", "textcat"),
    ],
)
def test_vectors_config_trains_with_the_vectors(vectors, tmp_path, config, data, pipe):
    train_file = tmp_path / "train.jsonl"
    srsly.write_jsonl(train_file, list(srsly.read_jsonl(ROOT / "assets" / data / "train.jsonl"))[:40])
    overrides = {
        "paths.vectors": str(vectors[0]),
        "paths.train": str(train_file),
        "paths.dev": str(train_file),
        "training.max_steps": 4,
        "training.eval_frequency": 2,
    }
    train(ROOT / "configs" / config, tmp_path / "out", overrides=overrides)
    nlp = spacy.load(tmp_path / "out" / "model-last")
    assert nlp.vocab.vectors.mode == "floret" and nlp.vocab.vectors.shape == (20000, 100)
    assert any(node.name == "static_vectors" for node in nlp.get_pipe(pipe).model.walk())
    nlp("Is my new Nike card on its way?")


def test_vectors_config_without_vectors_names_the_missing_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the default, training/vectors, does not exist here
    srsly.write_jsonl(
        tmp_path / "train.jsonl", list(srsly.read_jsonl(ROOT / "assets" / "banking77" / "train.jsonl"))[:5]
    )
    paths = {"paths.train": str(tmp_path / "train.jsonl"), "paths.dev": str(tmp_path / "train.jsonl")}
    with pytest.raises(OSError, match="training/vectors"):
        train(ROOT / "configs" / "student_textcat_vectors.cfg", tmp_path / "out", overrides=paths)
