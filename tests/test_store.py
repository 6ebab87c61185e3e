"""The response store: keys, durability, threads, WAL."""

import hashlib
import sqlite3
import threading
from pathlib import Path

import pytest
from spacy.util import load_config
from spacy_llm.util import assemble_from_config

from spacy_distill.teacher.store import ResponseStore, make_response_store, prompt_key

ROOT = Path(__file__).parent.parent
EXAMPLES = ROOT / "assets" / "fashion_brands" / "ner_examples.yml"
pytestmark = [
    pytest.mark.filterwarnings("ignore:.*Skipping unsupported user data 'spacy_distill"),
    pytest.mark.filterwarnings("ignore:Task supports sharding"),
]


@pytest.fixture
def store(tmp_path):
    s = ResponseStore(tmp_path / "sub" / "dir" / "store.sqlite")
    yield s
    s.close()


def test_put_get_roundtrip(store):
    key = prompt_key({"model": "m"}, "prompt")
    assert store.get(key) is None
    store.put(key, "m", "prompt", "Zara | BRAND\nünïcode 👗", 12, 3)
    expected = {"response": "Zara | BRAND\nünïcode 👗", "prompt_tokens": 12, "completion_tokens": 3}
    assert store.get(key) == {**expected, "token_logprobs": None}
    assert len(store) == 1
    store.put(key, "m", "prompt", "changed", None, None)  # replaces, never duplicates
    assert store.get(key) == {
        "response": "changed",
        "prompt_tokens": None,
        "completion_tokens": None,
        "token_logprobs": None,
    }
    assert len(store) == 1


def test_key_depends_on_model_identity_and_prompt():
    identity = {"kind": "OpenAICompatible", "model": "m", "temperature": 0.0}
    base = prompt_key(identity, "prompt")
    assert base == prompt_key(dict(reversed(list(identity.items()))), "prompt")  # key order does not matter
    assert len(base) == 64
    assert prompt_key({**identity, "model": "m2"}, "prompt") != base
    assert prompt_key({**identity, "temperature": 0.7}, "prompt") != base
    assert prompt_key(identity, "prompt ") != base
    assert prompt_key(identity, "Prompt") != base


def prompts_for(labels, examples):
    """The prompt the NER teacher sends for one text, given labels and examples."""
    config = load_config(ROOT / "configs" / "teacher_ner.cfg", interpolate=False)
    config["components"]["llm"]["model"] = {"@llm_models": "spacy_distill_test.Canned.v1", "answers": {}}
    config["components"]["llm"]["task"]["labels"] = labels
    del config["components"]["llm"]["task"]["label_definitions"]
    if examples:
        config["paths"]["examples"] = str(EXAMPLES)
    else:
        del config["components"]["llm"]["task"]["examples"]
    nlp = assemble_from_config(config)
    model = nlp.get_pipe("llm")._model
    doc = nlp("I love Zara.")
    [prompt] = doc.user_data["llm_io"]["llm"]["prompt"]
    return model, prompt


def test_key_changes_when_labels_or_examples_change_the_prompt():
    model, base = prompts_for(["FASHION_BRAND"], examples=True)
    _, other_labels = prompts_for(["FASHION_BRAND", "SHOP"], examples=True)
    _, no_examples = prompts_for(["FASHION_BRAND"], examples=False)
    assert len({base, other_labels, no_examples}) == 3
    assert len({model.key(base), model.key(other_labels), model.key(no_examples)}) == 3
    assert model.key(base) == prompt_key(model.identity, base)


def test_durable_across_a_new_connection(tmp_path):
    path = tmp_path / "store.sqlite"
    first = ResponseStore(path)
    first.put("k1", "m", "p1", "r1", 1, 2)
    # Not closed: a new connection (as after kill -9) already sees the committed answer.
    second = ResponseStore(path)
    assert second.get("k1") == {"response": "r1", "prompt_tokens": 1, "completion_tokens": 2, "token_logprobs": None}
    first.close()
    second.close()
    raw = sqlite3.connect(str(path))
    assert raw.execute("SELECT key, model, prompt, response FROM responses").fetchall() == [("k1", "m", "p1", "r1")]
    raw.close()
    assert len(ResponseStore(path)) == 1


def test_concurrent_puts_lose_nothing(store):
    n_threads, per_thread = 8, 50
    barrier = threading.Barrier(n_threads)
    errors = []

    def worker(t):
        try:
            barrier.wait()
            for i in range(per_thread):
                store.put(f"{t}-{i}", "m", f"prompt {t} {i}", f"answer {t} {i}")
                assert store.get(f"{t}-{i}")["response"] == f"answer {t} {i}"
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(n_threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(store) == n_threads * per_thread
    reopened = ResponseStore(store.path)
    assert all(
        reopened.get(f"{t}-{i}")["response"] == f"answer {t} {i}" for t in range(n_threads) for i in range(per_thread)
    )
    reopened.close()


def test_wal_mode_is_on(store):
    store.put("k", "m", "p", "r")
    raw = sqlite3.connect(str(store.path))
    assert raw.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal"
    raw.close()
    assert Path(str(store.path) + "-wal").exists()


def test_registered_factory_makes_a_store(tmp_path):
    store = make_response_store(str(tmp_path / "x.sqlite"))
    assert isinstance(store, ResponseStore)
    store.close()


# --- list and purge (`spacy-distill store`) ----------------------------------------------------------


def test_select_and_purge_by_model_and_prompt(tmp_path):
    from spacy_distill.teacher.store import purge_answers, select_answers

    store = ResponseStore(tmp_path / "s.sqlite")
    for model, prompt in [("a", "p1"), ("a", "p2"), ("b", "p1")]:
        store.put(prompt_key({"model": model}, prompt), model, prompt, f"{model}:{prompt}")
    assert [r["response"] for r in select_answers(store, model="a")] == ["a:p1", "a:p2"]
    by_prompt = select_answers(store, prompt_sha256={hashlib.sha256(b"p1").hexdigest()})
    assert sorted(r["response"] for r in by_prompt) == ["a:p1", "b:p1"]
    assert purge_answers(store, select_answers(store, model="a")) == 2
    assert [r["response"] for r in store.rows()] == ["b:p1"]
    assert store.get(prompt_key({"model": "a"}, "p1")) is None
    store.close()


def annotated(tmp_path):
    """Teacher docs of 3 texts (the canned model; one answer unreadable) and their store."""
    import json

    from test_annotate import write_config

    from spacy_distill.teacher.annotate import annotate

    answers = {"I love Zara.": "Zara | FASHION_BRAND", "Plain text.": "none", "Junk here.": "I cannot answer that."}
    store = tmp_path / "store.sqlite"
    config = write_config(tmp_path / "teacher.cfg", answers, store)
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"text": t}) + "\n" for t in answers), encoding="utf8")
    stats = annotate(config, source, tmp_path / "out.spacy", show_progress=False)
    assert (stats["llm_calls"], stats["parse_failures"]) == (3, 1)
    return config, source, store, lambda: annotate(config, source, tmp_path / "again.spacy", show_progress=False)


def store_cli(*args):
    from typer.testing import CliRunner

    from spacy_distill.cli import app

    result = CliRunner().invoke(app, ["store", *map(str, args)])
    return result.exit_code, " ".join(result.output.split())


def test_cli_list_and_purge_by_input_line_and_parse_failure(tmp_path):
    _, _, store, rerun = annotated(tmp_path)
    docs = tmp_path / "out.spacy"
    code, out = store_cli("list", store)
    assert code == 0 and "3 answers stored, 3 selected" in out and "canned 3" in out
    code, out = store_cli("list", store, "--docs", docs, "--parse-failures")
    assert code == 0 and "1 selected" in out and "I cannot answer that." in out

    code, out = store_cli("purge", store, "--docs", docs, "--parse-failures", "--dry-run")
    assert code == 0 and "would remove 1 answers" in out and len(ResponseStore(store)) == 3
    code, out = store_cli("purge", store, "--docs", docs, "--parse-failures")
    assert code == 0 and "removed 1 answers" in out
    assert {r["response"] for r in ResponseStore(store).rows()} == {"Zara | FASHION_BRAND", "none"}
    assert rerun()["llm_calls"] == 1  # only the purged prompt is asked again

    code, out = store_cli("purge", store, "--docs", docs, "--input-line", 1, "--input-line", 2)
    assert code == 0 and "removed 2 answers" in out
    assert rerun()["llm_calls"] == 2
    code, out = store_cli("purge", store, "--model", "canned")
    assert code == 0 and "removed 3 answers" in out and len(ResponseStore(store)) == 0


def test_cli_purge_needs_a_filter_and_an_existing_store(tmp_path):
    code, out = store_cli("purge", tmp_path / "nope.sqlite", "--model", "m")
    assert code == 1 and f"{tmp_path / 'nope.sqlite'}: response store not found" in out
    assert not (tmp_path / "nope.sqlite").exists()
    ResponseStore(tmp_path / "s.sqlite").close()
    code, out = store_cli("purge", tmp_path / "s.sqlite")
    assert code == 1 and "say which answers to purge" in out
    code, out = store_cli("purge", tmp_path / "s.sqlite", "--parse-failures")
    assert code == 1 and "need --docs" in out


def test_token_logprobs_are_kept_with_the_answer(store):
    store.put("k", "m", "p", "Zara | BRAND", 5, 4, [[0, -0.25], [4, -0.01], [6, 0.0]])
    assert store.get("k")["token_logprobs"] == [[0, -0.25], [4, -0.01], [6, 0.0]]


def test_a_store_written_before_logprobs_were_kept_is_upgraded(tmp_path):
    """An older store (no token_logprobs column) opens: its answers read back without log-probabilities
    (so without confidences, never invented ones), and new answers keep theirs."""
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE responses (key TEXT PRIMARY KEY, model TEXT NOT NULL, prompt TEXT NOT NULL, "
            "response TEXT NOT NULL, prompt_tokens INTEGER, completion_tokens INTEGER, created REAL NOT NULL)"
        )
        conn.execute("INSERT INTO responses VALUES ('old', 'm', 'p', 'none', 3, 1, 0.0)")
    conn.close()
    store = ResponseStore(path)
    assert store.get("old") == {"response": "none", "prompt_tokens": 3, "completion_tokens": 1, "token_logprobs": None}
    store.put("new", "m", "p2", "none", 3, 1, [[0, -0.1]])
    assert store.get("new")["token_logprobs"] == [[0, -0.1]]
    assert len(store) == 2
    store.close()
