"""The teacher client against the real llama.cpp server behind a proxy that injects faults into
about 30% of the requests (seeded; tests/fault_proxy.py): 500, 429, stalls longer than the
client's timeout, dropped connections, garbage bodies, empty choices, 200 errors and bogus
completion texts (an HTML 502 page, "", null).

Done when: every doc is annotated or listed as failed, nothing bogus is in the store, no
duplicates, and every answered doc is the same as in a clean run against the server itself.
"""

import json
import math
from pathlib import Path
from typing import Dict

import pytest
from fault_proxy import KINDS, FaultProxy
from llm_helpers import (
    LABEL,
    NER_EXAMPLES,
    TEACHER_NER_CFG,
    LlamaServer,
    fashion_texts,
    grammar_violations,
    store_rows,
    write_txt,
)
from test_llm_integration import load_docs

from spacy_distill.teacher.annotate import annotate
from spacy_distill.teacher.bundled import bundled_model_path

pytestmark = pytest.mark.llm

TIMEOUT = 20.0  # seconds per request: two short prompts in the server's queue fit; a stall does not
SEED = 3  # 8 faults (one of each kind) before the 20th request that gets through


def overrides(base_url: str, store: Path) -> Dict:
    return {
        "paths.examples": str(NER_EXAMPLES),
        "paths.responses": str(store),
        "components.llm.model": {
            "@llm_models": "spacy_distill.OpenAICompatible.v1",
            "base_url": base_url,
            "model": "tiny-teacher",
            "endpoint": "completions",
            "options": {"temperature": 0, "max_tokens": 128, "stop": ["\n\n"]},
            "grammar": {"@llm_misc": "spacy_distill.SpanGrammar.v2", "labels": [LABEL], "max_spans": 4},
            "concurrency": 2,
            "max_retries": 8,
            "timeout": TIMEOUT,
            "store": {"@llm_misc": "spacy_distill.ResponseStore.v1", "path": str(store)},
        },
    }


def run(base_url: str, input_path: Path, out: Path, store: Path, **kwargs) -> Dict:
    return annotate(
        TEACHER_NER_CFG, input_path, out, overrides=overrides(base_url, store), show_progress=False, **kwargs
    )


def test_faults_injected_into_30_percent_of_requests(tmp_path, test_data):
    texts = fashion_texts(test_data, n_with_brands=10, n_without=10, max_chars=140)
    input_path = write_txt(tmp_path / "texts.txt", texts)
    server = LlamaServer(bundled_model_path("gemma3-270m"), tmp_path / "server.log", alias="tiny-teacher")
    try:
        clean = run(server.base_url, input_path, tmp_path / "clean.spacy", tmp_path / "clean.sqlite")
        assert clean["docs"] == len(texts) and clean["retries"] == 0
        with FaultProxy(server.base_url, rate=0.3, seed=SEED, stall_seconds=TIMEOUT + 5) as proxy:
            stats = run(
                proxy.base_url,
                input_path,
                tmp_path / "faulty.spacy",
                tmp_path / "faulty.sqlite",
                on_error="skip",
                stats_path=tmp_path / "stats.json",
            )
    finally:
        server.stop()

    assert set(proxy.injected) == set(KINDS), proxy.injected  # every kind of fault happened
    assert 0.2 <= sum(proxy.injected.values()) / proxy.requests <= 0.4
    assert stats == json.loads((tmp_path / "stats.json").read_text())
    # Every doc is annotated or listed as failed, with its input line.
    answered = load_docs(tmp_path / "faulty.spacy")
    failed_lines = [f["line"] for f in stats["failed"]]
    assert len(answered) + len(failed_lines) == len(texts)
    assert sorted([d.user_data["source"]["line"] for d in answered] + failed_lines) == list(range(1, len(texts) + 1))
    # Every faulted request was refused and retried; stalls timed out and lowered the concurrency.
    assert stats["http_requests"] == proxy.requests
    assert stats["refused_answers"] >= sum(proxy.injected.values())
    assert stats["timeouts"] >= proxy.injected["stall"] and stats["concurrency_lowered_to"] == 1
    # Nothing bogus in the store, no duplicates: one grammar-conforming answer per answered doc.
    rows = store_rows(tmp_path / "faulty.sqlite")
    assert len(rows) == len({row["prompt"] for row in rows}) == len(answered)
    by_text = {row["prompt"].rsplit("\nText: ", 1)[1].rsplit("\nEntities:", 1)[0]: row for row in rows}
    for doc in answered:
        assert not grammar_violations(by_text[doc.text]["response"], doc.text), by_text[doc.text]["response"]
    # Every answered doc is what the clean run made of it.
    clean_docs = {d.text: d for d in load_docs(tmp_path / "clean.spacy")}
    for doc in answered:
        before = clean_docs[doc.text]
        assert doc.user_data["teacher"]["response"] == before.user_data["teacher"]["response"]
        assert [(e.start_char, e.end_char, e.label_) for e in doc.ents] == [
            (e.start_char, e.end_char, e.label_) for e in before.ents
        ]
        record, clean_record = dict(doc.user_data["spacy_distill"]), dict(before.user_data["spacy_distill"])
        confidence, clean_confidence = record.pop("confidence"), clean_record.pop("confidence")
        assert record == clean_record
        # the same answer's probability, as the server computed it in another batch of requests: close, not equal
        assert abs(math.log(confidence) - math.log(clean_confidence)) < 0.5, (confidence, clean_confidence)
