"""spacy_distill.OpenAICompatible.v1 against a real HTTP server on 127.0.0.1 (tests/openai_stub.py)."""

import json
import socket
import sqlite3
from pathlib import Path

import pytest
from openai_stub import StubServer, prompt_text

from spacy_distill.teacher.annotate import annotate, load_teacher
from spacy_distill.teacher.base import TeacherError
from spacy_distill.teacher.openai_compatible import OpenAICompatibleModel
from spacy_distill.teacher.store import ResponseStore

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "configs" / "teacher_ner.cfg"
EXAMPLES = ROOT / "assets" / "fashion_brands" / "ner_examples.yml"
TIMEOUT = 0.5  # seconds; the stub's "hang" fault sleeps longer
BRANDS = ("Levi's", "Uniqlo", "Dr. Martens")
TEXTS = [
    "I love my Levi's jeans.",
    "Nothing to see here.",
    "Uniqlo basics are fine for the price.",
    "My Dr. Martens lasted ten years.",
    "Both Uniqlo and Levi's have a sale.",
]


def brand_answer(prompt: str) -> str:
    """What a perfect teacher answers: 'brand | FASHION_BRAND' for each known brand in the text."""
    text = prompt_text(prompt)
    return "\n".join(f"{brand} | FASHION_BRAND" for brand in BRANDS if brand in text) or "none"


def echo(prompt: str) -> str:
    return f"answer to {prompt}"


@pytest.fixture
def stub():
    with StubServer(answer=echo) as server:
        yield server


@pytest.fixture
def connections(monkeypatch):
    """Every address connected to and every host name resolved in this process during the test."""
    seen = {"connect": [], "resolve": []}
    real_connect, real_getaddrinfo = socket.socket.connect, socket.getaddrinfo

    def connect(sock, address):
        seen["connect"].append(address)
        return real_connect(sock, address)

    def getaddrinfo(host, *args, **kwargs):
        seen["resolve"].append(host)
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return seen


def make_model(stub: StubServer, **kwargs) -> OpenAICompatibleModel:
    return OpenAICompatibleModel(base_url=stub.base_url, model="stub", **kwargs)


def teacher_overrides(stub: StubServer, store_path: Path, **model):
    return {
        "paths.examples": str(EXAMPLES),
        "components.llm.model": {
            "@llm_models": "spacy_distill.OpenAICompatible.v1",
            "base_url": stub.base_url,
            "model": "stub",
            "store": {"@llm_misc": "spacy_distill.ResponseStore.v1", "path": str(store_path)},
            **model,
        },
    }


def write_jsonl(path: Path, texts) -> Path:
    """One record per text; None writes a blank line (skipped, but it still counts as a line)."""
    path.write_text("".join("\n" if t is None else json.dumps({"text": t}) + "\n" for t in texts), encoding="utf8")
    return path


def stored_prompts(path: Path) -> set:
    with sqlite3.connect(str(path)) as conn:
        return {row[0] for row in conn.execute("SELECT prompt FROM responses")}


def output_spans(path: Path):
    tasks = [json.loads(line) for line in path.open(encoding="utf8")]
    return [sorted((t["text"][s["start"] : s["end"]], s["label"]) for s in t["spans"]) for t in tasks]


def expected_spans(texts):
    return [sorted((b, "FASHION_BRAND") for b in BRANDS if b in text) for text in texts]


@pytest.mark.parametrize("endpoint,path", [("chat", "/v1/chat/completions"), ("completions", "/v1/completions")])
def test_endpoints_answers_and_stats(stub, endpoint, path):
    prompts = ["first prompt", "the second prompt here"]
    model = make_model(stub, endpoint=endpoint)
    assert model([[p] for p in prompts]) == [[echo(p)] for p in prompts]
    assert [r["path"] for r in stub.requests] == [path, path]
    assert sorted(stub.prompts()) == sorted(prompts)
    assert all(r["body"]["model"] == "stub" for r in stub.requests)
    assert model.stats["llm_calls"] == 2 and model.stats["cache_hits"] == 0
    assert model.stats["prompt_tokens"] == sum(len(p.split()) for p in prompts)
    assert model.stats["completion_tokens"] == sum(len(echo(p).split()) for p in prompts)
    assert model.http_requests == 2


@pytest.mark.parametrize("concurrency", [1, 3, 8])
def test_document_order_and_requests_in_flight(stub, concurrency):
    prompts = [f"prompt {i}" for i in range(24)]
    stub.delay = lambda prompt: 0.1 if int(prompt.split()[1]) % 4 == 0 else 0.01
    shards = [prompts[0:1], prompts[1:4], prompts[4:5] + prompts[0:1], prompts[5:]]  # prompt 0 twice
    model = make_model(stub, concurrency=concurrency)
    assert model(shards) == [[echo(p) for p in shard] for shard in shards]
    assert sorted(stub.prompts()) == sorted(prompts)  # the duplicate is sent once
    assert model.stats["llm_calls"] == len(prompts)
    if concurrency == 1:
        assert stub.max_in_flight == 1
        assert stub.answered == prompts
    else:
        assert 1 < stub.max_in_flight <= concurrency
        assert stub.answered != prompts  # answers really arrived out of order


@pytest.mark.parametrize("endpoint,grammar_field", [("chat", "grammar"), ("completions", "guided_grammar")])
def test_options_and_grammar_pass_through(stub, endpoint, grammar_field):
    options = {
        "temperature": 0.0,
        "max_tokens": 64,
        "stop": ["\n\n"],
        "seed": 7,
        "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}},
    }
    grammar = 'root ::= "none\\n"'
    model = make_model(
        stub,
        endpoint=endpoint,
        options=options,
        grammar=grammar,
        grammar_field=grammar_field,
        system_prompt="Be brief.",
    )
    model([["hello"]])
    (body,) = [r["body"] for r in stub.requests]
    prompt_fields = {"messages"} if endpoint == "chat" else {"prompt"}
    assert set(body) == {"model", grammar_field, "logprobs"} | set(options) | prompt_fields
    assert {k: body[k] for k in options} == options
    assert body["logprobs"] == (True if endpoint == "chat" else 1)  # the answer tokens' own, for the confidence
    assert body[grammar_field] == grammar
    if endpoint == "chat":
        assert body["messages"] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hello"}]
    else:
        assert body["prompt"] == "hello"


def test_no_api_key_needed_and_openai_api_key_not_sent(stub, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-the-environment")
    make_model(stub)([["hi"]])
    assert "sk-from-the-environment" not in json.dumps(stub.requests)


def test_api_key_env_unset_is_a_clear_error(stub, monkeypatch):
    monkeypatch.delenv("SPACY_DISTILL_TEST_KEY", raising=False)
    with pytest.raises(ValueError, match="SPACY_DISTILL_TEST_KEY.*not set"):
        make_model(stub, api_key_env="SPACY_DISTILL_TEST_KEY")
    assert stub.requests == []


def test_api_key_env_is_sent_as_bearer_token(stub, monkeypatch):
    monkeypatch.setenv("SPACY_DISTILL_TEST_KEY", "sekrit")
    make_model(stub, api_key_env="SPACY_DISTILL_TEST_KEY")([["hi"]])
    assert stub.requests[0]["headers"]["authorization"] == "Bearer sekrit"


FAULTS = [
    (500, "HTTP 500"),
    (429, "HTTP 429"),
    ("hang", "no answer within the timeout of 0.5 s"),
    ("drop", "the server closed the connection without answering"),
]


@pytest.mark.parametrize("fault", [f for f, _ in FAULTS])
def test_transient_faults_are_retried_then_succeed(stub, fault):
    stub.fault, stub.fault_first, stub.hang_seconds = fault, 2, 2.0
    model = make_model(stub, max_retries=2, timeout=TIMEOUT)
    assert model([["hello"]]) == [[echo("hello")]]
    assert stub.prompts() == ["hello"] * 3
    assert model.http_requests == 3
    assert model.stats["llm_calls"] == 1


@pytest.mark.parametrize("fault,reason", FAULTS)
def test_permanent_faults_fail_clearly(stub, fault, reason):
    stub.fault, stub.fault_marker, stub.hang_seconds = fault, "BOOM", 2.0
    model = make_model(stub, max_retries=1, timeout=TIMEOUT)
    with pytest.raises(TeacherError) as info:
        model([["fine"], ["BOOM"]])
    message = str(info.value)
    assert stub.base_url in message and reason in message and "2 attempts: the first and 1 retry" in message
    assert info.value.doc_index == 1
    assert stub.prompts().count("BOOM") == 2
    assert model.http_requests == len(stub.requests)


def test_answers_before_a_failure_are_stored_and_a_rerun_sends_only_the_rest(stub, tmp_path):
    prompts = [f"prompt {i}" for i in range(8)]
    prompts[5] += " BOOM"
    store_path = tmp_path / "store.sqlite"
    stub.fault, stub.fault_marker = 500, "BOOM"
    with pytest.raises(TeacherError):
        make_model(stub, concurrency=4, max_retries=1, store=ResponseStore(store_path))([[p] for p in prompts])
    stored = stored_prompts(store_path)
    assert stored and prompts[5] not in stored and stored <= set(prompts)

    stub.fault = None
    sent_before = len(stub.requests)
    rerun = make_model(stub, concurrency=4, store=ResponseStore(store_path))
    assert rerun([[p] for p in prompts]) == [[echo(p)] for p in prompts]
    assert set(stub.prompts()[sent_before:]) == set(prompts) - stored
    assert rerun.stats["llm_calls"] == len(prompts) - len(stored)
    assert rerun.stats["cache_hits"] == len(stored)


def test_construction_contacts_no_host(stub, tmp_path, connections):
    make_model(stub)
    load_teacher(CONFIG, teacher_overrides(stub, tmp_path / "store.sqlite"))
    assert connections == {"connect": [], "resolve": []}
    assert stub.requests == []


def test_annotate_through_config_in_order_then_all_from_store(stub, tmp_path, connections):
    stub.answer = brand_answer
    stub.delay = lambda prompt: 0.1 if "Levi" in prompt_text(prompt) else 0.0
    texts = TEXTS * 2
    source = write_jsonl(tmp_path / "in.jsonl", texts)
    overrides = teacher_overrides(
        stub,
        tmp_path / "store.sqlite",
        concurrency=4,
        options={"temperature": 0.0, "max_tokens": 32},
        grammar={"@llm_misc": "spacy_distill.SpanGrammar.v1", "labels": ["FASHION_BRAND"]},
    )
    stats = annotate(CONFIG, source, tmp_path / "out.jsonl", overrides=overrides, show_progress=False)
    assert output_spans(tmp_path / "out.jsonl") == expected_spans(texts)
    assert stub.answered != stub.prompts()  # answers arrived out of order
    assert 1 < stub.max_in_flight <= 4
    unique = len(set(texts))
    assert (stats["docs"], stats["llm_calls"], stats["cache_hits"], stats["http_requests"]) == (
        len(texts),
        unique,
        len(texts) - unique,
        unique,
    )
    assert stats["prompt_tokens"] == sum(len(p.split()) for p in stub.prompts())
    assert stats["completion_tokens"] == sum(len(brand_answer(p).split()) for p in stub.prompts())
    for request in stub.requests:
        body, text = request["body"], prompt_text(request["body"]["messages"][-1]["content"])
        assert body["temperature"] == 0.0 and body["max_tokens"] == 32
        assert all((f'"{brand}"' in body["grammar"]) == (brand in text) for brand in BRANDS)

    sent = len(stub.requests)
    stats = annotate(CONFIG, source, tmp_path / "again.jsonl", overrides=overrides, show_progress=False)
    assert output_spans(tmp_path / "again.jsonl") == expected_spans(texts)
    assert (stats["llm_calls"], stats["cache_hits"], stats["http_requests"]) == (0, len(texts), 0)
    assert len(stub.requests) == sent
    assert connections["connect"] and all(address[:2] == stub.address for address in connections["connect"])
    assert set(connections["resolve"]) == {stub.address[0]}


def test_annotate_failure_names_server_file_and_line_then_resumes(stub, tmp_path):
    stub.answer = brand_answer
    texts = ["I love my Levi's jeans.", None, "Nothing here.", "BOOM Uniqlo basics.", "My Dr. Martens boots."]
    source = write_jsonl(tmp_path / "in.jsonl", texts)
    store_path = tmp_path / "store.sqlite"
    overrides = teacher_overrides(stub, store_path, concurrency=1, max_retries=1)
    stub.fault, stub.fault_marker = 500, "BOOM"
    with pytest.raises(TeacherError) as info:
        annotate(CONFIG, source, tmp_path / "out.jsonl", overrides=overrides, show_progress=False)
    assert stub.base_url in str(info.value) and f"{source}:4" in str(info.value)
    assert not (tmp_path / "out.jsonl").exists()
    stored = stored_prompts(store_path)
    assert {prompt_text(p) for p in stored} >= {texts[0], texts[2]}

    stub.fault = None
    sent_before = len(stub.requests)
    stats = annotate(CONFIG, source, tmp_path / "out.jsonl", overrides=overrides, show_progress=False)
    docs = [t for t in texts if t is not None]
    assert set(stub.prompts()[sent_before:]).isdisjoint(stored)
    assert (stats["docs"], stats["llm_calls"], stats["cache_hits"]) == (4, 4 - len(stored), len(stored))
    assert output_spans(tmp_path / "out.jsonl") == expected_spans(docs)


def test_dotted_grammar_field_nests_without_touching_options(stub):
    options = {"structured_outputs": {"backend": "xgrammar"}, "temperature": 0.0}
    model = make_model(stub, options=options, grammar='root ::= "x"', grammar_field="structured_outputs.grammar")
    model([["one"], ["two"]])
    bodies = [r["body"] for r in stub.requests]
    assert [b["structured_outputs"] for b in bodies] == [{"backend": "xgrammar", "grammar": 'root ::= "x"'}] * 2
    assert options == {"structured_outputs": {"backend": "xgrammar"}, "temperature": 0.0}
