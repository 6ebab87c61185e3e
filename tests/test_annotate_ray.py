"""`spacy-distill annotate --ray`: shards annotated by Ray actors calling `annotate`, requests spread over
several servers (local stub servers, and llama.cpp's real server), per-shard stores merged, a failed run
rerun sending only the prompts never answered."""

import json
import sqlite3

import pytest
import spacy
from llm_helpers import LABEL, NER_EXAMPLES, TEACHER_NER_CFG, LlamaServer, fashion_texts, grammar_violations
from openai_stub import StubServer, prompt_text
from spacy.tokens import DocBin
from typer.testing import CliRunner

from spacy_distill.cli import app
from spacy_distill.errors import DistillError
from spacy_distill.scale.annotate_ray import annotate_on_ray
from spacy_distill.teacher.annotate import annotate
from spacy_distill.teacher.bundled import bundled_model_path

BRANDS = ["Zara", "Uniqlo", "Levi's", "Nike", "J Crew", "Gucci"]
pytestmark = pytest.mark.filterwarnings("ignore:.*Skipping unsupported user data 'spacy_distill")


def brand_answer(prompt: str) -> str:
    text = prompt_text(prompt)
    return "\n".join(f"{brand} | FASHION_BRAND" for brand in BRANDS if brand in text) or "none"


@pytest.fixture(scope="module")
def texts(test_data):
    return fashion_texts(test_data, 14, 14)


def overrides(base_url, store, **model):
    return {
        "paths.examples": str(NER_EXAMPLES),
        "components.llm.model": {
            "@llm_models": "spacy_distill.OpenAICompatible.v1",
            "base_url": base_url,
            "model": "stub",
            "concurrency": 2,
            "store": {"@llm_misc": "spacy_distill.ResponseStore.v1", "path": str(store)},
            **model,
        },
    }


def server_config(path, base_urls, store):
    """teacher_ner.cfg with its model block swapped for the servers' (as configs/models/ shows)."""
    text = TEACHER_NER_CFG.read_text(encoding="utf8")
    text = text[: text.index("\n[components.llm.model]\n") + 1].replace(
        'examples = "assets/fashion_brands/ner_examples.yml"', f"examples = {json.dumps(str(NER_EXAMPLES))}"
    )
    text += (
        "[components.llm.model]\n"
        '@llm_models = "spacy_distill.OpenAICompatible.v1"\n'
        f"base_url = {json.dumps(base_urls)}\n"
        'model = "stub"\n'
        "concurrency = 2\n\n"
        "[components.llm.model.store]\n"
        '@llm_misc = "spacy_distill.ResponseStore.v1"\n'
        f"path = {json.dumps(str(store))}\n"
    )
    path.write_text(text, encoding="utf8")
    return path


def write_input(path, texts):
    lines = [json.dumps({"text": t, "meta": {"i": i}}) for i, t in enumerate(texts)]
    lines.insert(5, json.dumps({"text": "   "}))  # an empty text: skipped and counted, its line kept
    path.write_text("\n".join(lines) + "\n", encoding="utf8")
    return path


def comparable(path):
    docs = DocBin().from_disk(path).get_docs(spacy.blank("en").vocab)
    return [
        (d.text, [(e.start_char, e.end_char, e.label_) for e in d.ents], d.user_data["source"], d.user_data["meta"])
        for d in docs
    ]


def stored_keys(path):
    with sqlite3.connect(str(path)) as conn:
        return [row[0] for row in conn.execute("SELECT key FROM responses")]


def test_shards_over_two_servers_give_the_single_process_docs(ray_cluster, texts, tmp_path):
    source = write_input(tmp_path / "in.jsonl", texts)
    store = tmp_path / "store.sqlite"
    with StubServer(answer=brand_answer) as a, StubServer(answer=brand_answer) as b:
        one = overrides(a.base_url, tmp_path / "one.sqlite")
        reference = annotate(TEACHER_NER_CFG, source, tmp_path / "one.spacy", overrides=one, show_progress=False)
        a.requests.clear()
        run = overrides([a.base_url, b.base_url], store)
        stats = annotate_on_ray(
            TEACHER_NER_CFG, source, tmp_path / "ray.spacy", ray="local", workers=2, overrides=run, shard_size=5
        )
        assert len(a.requests) > 0 and len(b.requests) > 0
        assert len(a.requests) + len(b.requests) == len(texts) == stats["llm_calls"] == stats["http_requests"]

        # Rerun through the CLI with a config listing both servers: every answer comes from the merged store.
        config = server_config(tmp_path / "teacher.cfg", [a.base_url, b.base_url], store)
        args = ["annotate", str(config), str(source), str(tmp_path / "again.spacy"), "--ray", "local", "--workers", "2"]
        result = CliRunner().invoke(
            app, [*args, "--shard-size", "5", "--quiet", "--stats-json", str(tmp_path / "again.json")]
        )
        assert result.exit_code == 0, result.output
        assert len(a.requests) + len(b.requests) == len(texts), "a prompt was sent again"
    assert stats["docs"] == reference["docs"] == len(texts) and stats["skipped_empty"] == 1
    assert stats["shards"] == 6 and stats["servers"] == 2 and stats["labels"] == reference["labels"]
    assert comparable(tmp_path / "ray.spacy") == comparable(tmp_path / "one.spacy")
    assert len(set(stored_keys(store))) == len(stored_keys(store)) == len(texts)
    assert not (tmp_path / "ray.spacy.parts").exists()
    again = json.loads((tmp_path / "again.json").read_text())
    assert again["cache_hits"] == len(texts) and again["llm_calls"] == 0 and again["shards"] == 6
    assert comparable(tmp_path / "again.spacy") == comparable(tmp_path / "one.spacy")


def test_workers_without_ray_is_refused(tmp_path):
    args = ["annotate", str(TEACHER_NER_CFG), str(tmp_path / "in.jsonl"), str(tmp_path / "out.spacy"), "--workers", "2"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1 and "--workers needs --ray" in result.output


def test_a_failed_run_resent_only_the_prompts_never_answered(ray_cluster, texts, tmp_path):
    source = write_input(tmp_path / "in.jsonl", texts)
    marker = texts[20][:30]  # one text the server fails on, in the fifth shard
    store = tmp_path / "store.sqlite"
    with StubServer(answer=brand_answer, fault=500, fault_marker=marker) as a, StubServer(answer=brand_answer) as b:
        run = overrides([a.base_url, b.base_url], store, max_retries=0)
        with pytest.raises(
            DistillError,
            match=r"1 of 6 shards failed; the first \(the records on .*in.jsonl:21-25\): .*HTTP 500.* rerun to continue",
        ):
            annotate_on_ray(
                TEACHER_NER_CFG, source, tmp_path / "out.spacy", ray="local", workers=2, overrides=run, shard_size=5
            )
        parts = tmp_path / "out.spacy.parts"
        # the failed shard wrote its stats ("status": "failed") but no docs: it is not finished
        assert 0 < len(list(parts.glob("shard-*.spacy"))) < len(list(parts.glob("shard-*.stats.json"))) == 6
        assert not (tmp_path / "out.spacy").exists()
        answered_first = a.answered + b.answered
        a.fault_marker = None
        stats = annotate_on_ray(
            TEACHER_NER_CFG, source, tmp_path / "out.spacy", ray="local", workers=2, overrides=run, shard_size=5
        )
        answered_all = a.answered + b.answered
    assert stats["docs"] == len(texts)
    assert len(answered_first) < len(texts) and sorted(answered_all) == sorted(set(answered_all))
    assert len(answered_all) == len(texts) == len(stored_keys(store))
    # The other shards finished in the first run; the failed one's answers came from its shard store.
    assert stats["shards_resumed"] == 5 and stats["llm_calls"] == len(texts) - len(answered_first) > 0
    assert stats["cache_hits"] + stats["llm_calls"] == 5 and stats["cache_hits"] > 0


@pytest.mark.llm
def test_shards_behind_the_real_llama_cpp_server(ray_cluster, test_data, tmp_path):
    """The tiny teacher behind llama.cpp's OpenAI-compatible server: Ray shards give the docs one process gives."""
    source = write_input(tmp_path / "in.jsonl", fashion_texts(test_data, 4, 4))
    server = LlamaServer(bundled_model_path("gemma3-270m"), tmp_path / "server.log", alias="tiny-teacher")
    try:

        def server_overrides(store):
            return overrides(
                server.base_url,
                store,
                model="tiny-teacher",
                endpoint="completions",
                options={"temperature": 0, "max_tokens": 64, "stop": ["\n\n"]},
                grammar={"@llm_misc": "spacy_distill.SpanGrammar.v1", "labels": [LABEL]},
                concurrency=1,
            )

        one = annotate(
            TEACHER_NER_CFG, source, tmp_path / "one.spacy", overrides=server_overrides(tmp_path / "one.sqlite")
        )
        run = server_overrides(tmp_path / "ray.sqlite")
        stats = annotate_on_ray(
            TEACHER_NER_CFG, source, tmp_path / "ray.spacy", ray="local", workers=2, overrides=run, shard_size=3
        )
    finally:
        server.stop()
    assert stats["http_requests"] == stats["llm_calls"] == one["llm_calls"] == 8, server.log_tail()
    assert comparable(tmp_path / "ray.spacy") == comparable(tmp_path / "one.spacy")
    docs = list(DocBin().from_disk(tmp_path / "ray.spacy").get_docs(spacy.blank("en").vocab))
    assert sum(len(d.ents) for d in docs) > 0, "the teacher found nothing: a weak test"
    assert all(not grammar_violations(r, d.text) for d in docs for r in d.user_data["teacher"]["response"])
    assert len(stored_keys(tmp_path / "ray.sqlite")) == 8
