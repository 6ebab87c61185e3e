"""One round of the loop with a real tiny LLM teacher (SmolLM2-135M in-process) on real Reddit comments.

The teacher's prompts after the round carry corrected docs as few-shot examples, and every
answer (the rules' prompts too) is in the response store: a rerun sends no prompt again.
"""

import json
import sqlite3

import pytest
import spacy
import srsly
from llm_helpers import FASHION_EVAL, NER_EXAMPLES, ROOT
from spacy.tokens import DocBin
from spacy.util import load_config

from spacy_distill.rounds.loop import run_loop

pytestmark = pytest.mark.llm


def test_one_round_with_smollm2(tmp_path, test_data):
    rows = [
        r for r in srsly.read_jsonl(test_data / FASHION_EVAL) if 30 <= len(r["text"]) <= 160 and "\n" not in r["text"]
    ]
    with_brands = [r for r in rows if r["spans"]]
    without = [r for r in rows if not r["spans"]]
    pool, test = with_brands[:6] + without[:4], with_brands[6:12] + without[4:8]
    nlp = spacy.blank("en")
    for name, part in (("pool", pool), ("test", test)):
        docs = []
        for r in part:
            doc = nlp.make_doc(r["text"])
            doc.ents = [
                doc.char_span(s["start"], s["end"], "FASHION_BRAND", alignment_mode="expand") for s in r["spans"]
            ]
            docs.append(doc)
        DocBin(docs=docs).to_disk(tmp_path / f"{name}.spacy")
    config = load_config(ROOT / "configs" / "loop_ner.cfg", interpolate=False)
    config["paths"]["data"] = str(ROOT / "assets" / "fashion_brands")
    config["paths"]["teacher_config"] = str(ROOT / "configs" / "teacher_ner.cfg")
    config["paths"]["student_config"] = str(ROOT / "configs" / "student_ner.cfg")
    loop = config["loop"]
    loop.update(
        pool=str(tmp_path / "pool.spacy"),
        test=str(tmp_path / "test.spacy"),
        batch_size=5,
        budget=5,
        ceiling=None,
        rules=None,
    )
    loop["corrections"]["gold"] = str(tmp_path / "pool.spacy")
    loop["teacher"]["overrides"] = {
        "paths.examples": str(NER_EXAMPLES),
        "components.llm.model.model_path.name": "smollm2-135m-instruct",
    }
    loop["student"].update(dev=None, max_steps=30, eval_frequency=30)
    config.to_disk(tmp_path / "loop.cfg")

    summary = run_loop(tmp_path / "loop.cfg", tmp_path / "out", show_progress=False)
    assert summary["status"] == "done" and "budget" in summary["reason"]
    (entry,) = json.loads((tmp_path / "out" / "rounds.json").read_text())
    assert entry["n_corrected"] == 5 and 0.0 <= entry["teacher_f"] <= 1.0 and 0.0 <= entry["student_f"] <= 1.0
    assert entry["teacher_llm_calls"] > 0  # the test set with the corrected docs as examples: new prompts
    # Rules proposed from the corrections with the same LLM (its prompts in the same store), scored on test.
    assert entry["rules_llm_calls"] > 0 and "rules_f" in entry and "rules_kept" in entry
    assert (tmp_path / "out" / "round_001" / "rules_report" / "rules.md").exists()
    with sqlite3.connect(tmp_path / "out" / "responses.sqlite") as db:
        prompts = [row[0] for row in db.execute("SELECT prompt FROM responses")]
    corrected = [
        d.text for d in DocBin().from_disk(tmp_path / "out" / "round_001" / "corrections.spacy").get_docs(nlp.vocab)
    ]
    # After the round, the teacher's prompts show corrected docs as examples instead of the static ones.
    assert any(f"Text: {text}\nEntities:" in p for p in prompts for text in corrected)
    n_answers = len(prompts)
    again = run_loop(tmp_path / "loop.cfg", tmp_path / "out", show_progress=False)
    assert len(again["rounds"]) == 1
    with sqlite3.connect(tmp_path / "out" / "responses.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM responses").fetchone()[0] == n_answers
