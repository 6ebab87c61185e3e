"""`rules propose` with the real bundled teacher LLM (Gemma-3-270M, in-process): end to end."""

import json
from pathlib import Path

import pytest
import srsly

from spacy_distill import propose_rules

ROOT = Path(__file__).parent.parent
DATA = ROOT / "assets" / "fashion_brands"


@pytest.mark.llm
def test_propose_keeps_rules_the_llm_proposed_and_a_rerun_asks_nothing(tmp_path):
    srsly.write_jsonl(tmp_path / "corrections.jsonl", list(srsly.read_jsonl(DATA / "train.jsonl"))[:60])
    srsly.write_jsonl(tmp_path / "dev.jsonl", list(srsly.read_jsonl(DATA / "dev.jsonl"))[:40])
    args = (ROOT / "configs" / "teacher_ner.cfg", tmp_path / "corrections.jsonl", tmp_path / "rules.jsonl")
    options = dict(
        dev=tmp_path / "dev.jsonl",
        report_dir=tmp_path / "report",
        overrides={"paths.examples": str(DATA / "ner_examples.yml"), "paths.responses": str(tmp_path / "r.sqlite")},
        show_progress=False,
    )
    stats = propose_rules(*args, **options)
    assert stats["llm"]["llm_calls"] > 0
    assert stats["sources"]["llm"]["proposed"] > 0 and stats["sources"]["llm"]["kept"] >= 1
    written = (tmp_path / "rules.jsonl").read_text()
    lines = [json.loads(line) for line in written.splitlines()]
    assert any(line["source"] == "llm" for line in lines)
    assert all(line["stats"]["precision"] >= 0.9 for line in lines)
    assert "llm" in (tmp_path / "report" / "rules.md").read_text()
    again = propose_rules(*args, **options)
    assert again["llm"]["llm_calls"] == 0  # every answer from the response store
    assert (tmp_path / "rules.jsonl").read_text() == written  # the same rules again
