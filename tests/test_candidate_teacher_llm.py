"""The scoring teacher with the real tiny model (Gemma-3-270M): in-process, and behind llama.cpp's own server."""

import json
from pathlib import Path
from typing import Dict, List

import pytest
import srsly
from llm_helpers import ROOT, LlamaServer

from spacy_distill.teacher.annotate import annotate
from spacy_distill.teacher.bundled import bundled_model_path

NER_CFG = ROOT / "configs" / "teacher_ner_scored.cfg"
TEXTCAT_CFG = ROOT / "configs" / "teacher_textcat_scored.cfg"
SERVER_MODEL = """[components.llm.model]
@llm_models = "spacy_distill.OpenAIScorer.v1"
base_url = "{base_url}"
model = "gemma3-270m"
"""


@pytest.fixture(scope="module")
def fashion_texts(tmp_path_factory) -> Path:
    """Four sentences of the sample's test split that name brands."""
    rows = [r for r in srsly.read_jsonl(ROOT / "assets" / "fashion_brands" / "test.jsonl") if r["spans"]]
    rows = [r for r in rows if len(r["text"]) < 200][:4]
    path = tmp_path_factory.mktemp("texts") / "fashion.jsonl"
    srsly.write_jsonl(path, [{"text": r["text"]} for r in rows])
    return path


def run(config: Path, texts: Path, out: Path, store: Path, **overrides) -> Dict:
    overrides = {"paths.responses": str(store), "components.llm.task.threshold": 0.0, **overrides}
    return annotate(config, texts, out, overrides=overrides, show_progress=False)


def span_scores(jsonl: Path) -> List[List[float]]:
    return [[span["score"] for span in row["spans"]] for row in srsly.read_jsonl(jsonl)]


def check_scores(per_doc: List[List[float]]) -> List[float]:
    scores = [s for doc in per_doc for s in doc]
    assert scores, "no spans at threshold 0"
    assert all(0.0 < s < 1.0 for s in scores), scores
    assert len(set(scores)) > 1, scores
    return scores


def test_in_process_scores_candidates_and_a_rerun_asks_nothing(fashion_texts, tmp_path):
    store = tmp_path / "store.sqlite"
    stats = run(NER_CFG, fashion_texts, tmp_path / "out.jsonl", store)
    check_scores(span_scores(tmp_path / "out.jsonl"))
    assert stats["docs"] == 4 and stats["llm_calls"] > 4  # one call per candidate and label
    rows = list(srsly.read_jsonl(tmp_path / "out.jsonl"))
    for row in rows:  # overlaps resolved: every token in at most one span
        ends = [(s["token_start"], s["token_end"]) for s in row["spans"]]
        assert all(a[1] < b[0] for a, b in zip(ends, ends[1:]))

    again = run(NER_CFG, fashion_texts, tmp_path / "again.jsonl", store)
    assert again["llm_calls"] == 0 and again["cache_hits"] == stats["llm_calls"]
    assert span_scores(tmp_path / "again.jsonl") == span_scores(tmp_path / "out.jsonl")

    # the stored answers are the two answers' log-probabilities, not text
    import sqlite3

    responses = [json.loads(r) for (r,) in sqlite3.connect(store).execute("SELECT response FROM responses")]
    assert all(set(r) == {" yes", " no"} and all(v < 0 for v in r.values()) for r in responses)


def test_a_threshold_keeps_fewer_spans(fashion_texts, tmp_path):
    store = tmp_path / "store.sqlite"
    everything = check_scores(span_scores_of(run, fashion_texts, tmp_path, store, 0.0))
    cut = sorted(everything)[len(everything) // 2]
    kept = [s for doc in span_scores_of(run, fashion_texts, tmp_path, store, cut) for s in doc]
    assert kept and min(kept) >= cut and len(kept) < len(everything)


def span_scores_of(runner, texts, folder, store, threshold):
    out = folder / f"out_{threshold}.jsonl"
    runner(NER_CFG, texts, out, store, **{"components.llm.task.threshold": threshold})
    return span_scores(out)


def test_behind_llama_cpp_server_same_scores_as_in_process(fashion_texts, tmp_path):
    """One doc ("Goddamn ... Careful, ... Nike shirt"), three candidates: llama_cpp.server (logits_all) copies
    every prompt token's logits, slow on 2 cores."""
    one_doc = tmp_path / "one.jsonl"
    one_doc.write_text(fashion_texts.read_text(encoding="utf8").splitlines()[2] + "\n", encoding="utf8")
    few = {"components.llm.task.candidates.max_candidates": 3}
    local = run(NER_CFG, one_doc, tmp_path / "local.jsonl", tmp_path / "local.sqlite", **few)
    server = LlamaServer(bundled_model_path("gemma3-270m"), tmp_path / "server.log", alias="gemma3-270m")
    try:
        config = NER_CFG.read_text(encoding="utf8")
        head = config.split("\n[components.llm.model]\n")[0] + "\n"
        store_block = (
            '\n[components.llm.model.store]\n@llm_misc = "spacy_distill.ResponseStore.v1"\npath = ${paths.responses}\n'
        )
        config_path = tmp_path / "teacher_server.cfg"
        config_path.write_text(head + SERVER_MODEL.format(base_url=server.base_url) + store_block, encoding="utf8")
        store = tmp_path / "server.sqlite"
        stats = run(config_path, one_doc, tmp_path / "server.jsonl", store, **few)
        assert stats["llm_calls"] == local["llm_calls"]
        assert stats["http_requests"] == stats["llm_calls"]  # " yes" and " no" are among the top 20 next tokens
        remote_scores = check_scores(span_scores(tmp_path / "server.jsonl"))
        local_scores = [s for doc in span_scores(tmp_path / "local.jsonl") for s in doc]
        assert remote_scores == pytest.approx(local_scores, abs=1e-3)
        again = run(config_path, one_doc, tmp_path / "again.jsonl", store, **few)
        assert again["llm_calls"] == 0 and again["http_requests"] == 0
    finally:
        server.stop()


def test_text_categories_scored_by_log_probability(test_data, tmp_path):
    texts = tmp_path / "bank.jsonl"
    rows = list(srsly.read_jsonl(ROOT / "assets" / "banking77" / "test.jsonl"))[:3]
    srsly.write_jsonl(texts, [{"text": r["text"]} for r in rows])
    out = tmp_path / "out.spacy"
    stats = annotate(
        TEXTCAT_CFG, texts, out, overrides={"paths.responses": str(tmp_path / "s.sqlite")}, show_progress=False
    )
    assert stats["llm_calls"] == 3
    import spacy
    from spacy.tokens import DocBin

    docs = list(DocBin().from_disk(out).get_docs(spacy.blank("en").vocab))
    for doc in docs:
        assert sum(doc.cats.values()) == pytest.approx(1.0)
        assert all(0.0 < p < 1.0 for p in doc.cats.values()) and len(set(doc.cats.values())) > 1


def test_reusing_the_cached_prefix_gives_the_scores_of_a_fresh_evaluation():
    from spacy_distill.teacher.confidence import yes_probability
    from spacy_distill.teacher.logprob_models import LlamaCppScorerModel

    model = LlamaCppScorerModel(str(bundled_model_path("gemma3-270m")))
    prefix = "Text: I bought Levi's jeans and a Uniqlo shirt in Boston.\n"
    questions = [prefix + f'Is "{phrase}" a fashion brand here?' for phrase in ("Levi", "Uniqlo", "Boston")]
    cached = [model.answer_log_probs(q, [" yes", " no"])[0] for q in questions]
    fresh = []
    for q in questions:
        model.llm.n_tokens = 0  # forget the KV cache: evaluate the whole prompt again
        fresh.append(model.answer_log_probs(q, [" yes", " no"])[0])
    # equal up to llama.cpp's numerical differences between batch shapes (a few hundredths of a nat);
    # a stale cache would answer another question
    for a, b in zip(cached, fresh):
        assert a == pytest.approx(b, abs=0.1)
        assert yes_probability(a, " yes", " no") == pytest.approx(yes_probability(b, " yes", " no"), abs=0.01)
    assert len({round(c[" yes"], 4) for c in cached}) == 3  # the questions differ, and so do their answers
