"""Docs longer than the model's context: spacy-llm cuts them into shards, parses each shard's
answer and joins the shards; our parse records (unparsed lines, dropped spans) survive the join
and are counted (spaCy's W102 used to drop them)."""

import json
import warnings
from pathlib import Path

import pytest
import spacy
from spacy.util import load_config

from spacy_distill.files import read_docs
from spacy_distill.teacher.annotate import annotate, load_teacher
from spacy_distill.teacher.spacy_llm import llm_model

ROOT = Path(__file__).parent.parent
CONFIG = ROOT / "configs" / "teacher_ner.cfg"
EXAMPLES = ROOT / "assets" / "fashion_brands" / "ner_examples.yml"
LABEL = "FASHION_BRAND"
SHORT = "I love Zara."
LONG = " ".join(f"Sentence {i} talks about Zara coats and rainy weather in town." for i in range(40))
# Every shard's answer: one span found (Zara), one dropped (Gucci is not in the text), one junk line.
ANSWER = f"Zara | {LABEL}\nGucci | {LABEL}\nHere are the brands:"


def write_config(tmp_path: Path, context_length: int) -> Path:
    config = load_config(CONFIG, interpolate=False)
    config["paths"]["examples"] = str(EXAMPLES)
    config["paths"]["responses"] = str(tmp_path / "store.sqlite")
    config["components"]["llm"]["model"] = {
        "@llm_models": "spacy_distill_test.Canned.v1",
        "answers": {},
        "default": ANSWER,
        "context_length": context_length,
    }
    path = tmp_path / "teacher.cfg"
    config.to_disk(path)
    return path


def test_parse_records_of_shards_are_merged_and_counted(tmp_path):
    config = write_config(tmp_path, context_length=350)
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"text": SHORT}) + "\n" + json.dumps({"text": LONG}) + "\n", encoding="utf8")
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=r".*W102")  # nothing of ours is skipped on merge
        stats = annotate(config, source, tmp_path / "out.spacy", show_progress=False)
    short, long = read_docs(tmp_path / "out.spacy", spacy.blank("en").vocab)
    n_shards = len(long.user_data["teacher"]["response"])
    assert n_shards > 2, "the long doc should have been sharded"
    record = long.user_data["spacy_distill"]
    assert record["shards"] == n_shards
    assert list(record["unparsed_lines"]) == ["Here are the brands:"] * n_shards
    assert [d["reason"] for d in record["dropped_spans"]] == ["not in text"] * n_shards
    assert record["parse_failure"] is False
    assert len([e for e in long.ents if e.text == "Zara"]) == 40  # every shard's spans are kept
    assert "shards" not in short.user_data["spacy_distill"]
    assert (stats["unparsed_lines"], stats["dropped_spans"]) == (n_shards + 1, n_shards + 1)


@pytest.mark.llm
def test_real_model_long_doc_is_sharded_and_keeps_its_records(tmp_path):
    """The in-process Gemma teacher with a small context: the long doc is cut and answered shard by shard."""
    nlp = load_teacher(CONFIG, {"paths.examples": str(EXAMPLES), "paths.responses": str(tmp_path / "store.sqlite")})
    model = llm_model(nlp)
    model.context_length = 250  # words, as spacy-llm estimates: the template alone is about 135
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=r".*W102")
        doc = nlp(LONG[:1200])
    responses = doc.user_data["llm_io"]["llm"]["response"]
    assert len(responses) > 1
    record = doc.user_data["spacy_distill"]
    assert record["shards"] == len(responses)
    assert set(record) == {"parse_failure", "unparsed_lines", "dropped_spans", "shards", "confidence"}
    # every shard's span scores, moved to where its text is in the joined doc
    scores = [(s, e, label) for s, e, label, _ in doc.user_data["span_scores"]]
    assert scores == [(e.start_char, e.end_char, e.label_) for e in doc.ents]
    assert all(0.0 < p <= 1.0 for *_, p in doc.user_data["span_scores"])
    assert 0.0 < record["confidence"] <= 1.0
