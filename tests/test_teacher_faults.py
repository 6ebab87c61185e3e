"""The OpenAI-compatible client against replies that are not answers (tests/openai_stub.py).

Each fault is a real HTTP reply from a real server on 127.0.0.1: malformed and bogus 200s
are refused, retried like 5xx, never stored, and reported in words.
"""

import logging
import re

import pytest
from openai_stub import BAD_200, HTML_502, StubServer, prompt_text
from test_openai_compatible import (
    CONFIG,
    brand_answer,
    echo,
    make_model,
    stored_prompts,
    teacher_overrides,
    write_jsonl,
)

from spacy_distill.errors import ConfigError
from spacy_distill.teacher.annotate import annotate
from spacy_distill.teacher.base import TeacherError
from spacy_distill.teacher.grammars import SpanGrammar
from spacy_distill.teacher.openai_compatible import OpenAICompatibleModel
from spacy_distill.teacher.store import ResponseStore

RETRIED_200 = sorted(set(BAD_200) - {"length"})
PYTHON_INTERNALS = re.compile(r"\b\w+(Error|Exception)\b|object has no attribute|list index")


@pytest.fixture
def stub():
    with StubServer(answer=echo) as server:
        yield server


@pytest.mark.parametrize("fault", RETRIED_200)
def test_bad_200_is_retried_and_never_stored(stub, tmp_path, fault):
    stub.fault, stub.fault_first = fault, 2
    model = make_model(stub, max_retries=2, store=ResponseStore(tmp_path / "s.sqlite"))
    assert model([["hello"]]) == [[echo("hello")]]
    assert stub.prompts() == ["hello"] * 3
    assert (model.stats["refused_answers"], model.stats["retries"], model.stats["llm_calls"]) == (2, 2, 1)
    model.close()
    assert stored_prompts(tmp_path / "s.sqlite") == {"hello"}


@pytest.mark.parametrize("fault", RETRIED_200)
def test_bad_200_for_good_fails_in_words_and_stores_nothing(stub, tmp_path, fault):
    stub.fault, stub.fault_marker = fault, "BOOM"
    store = tmp_path / "s.sqlite"
    model = make_model(stub, max_retries=1, store=ResponseStore(store))
    with pytest.raises(TeacherError) as info:
        model([["fine"], ["BOOM"]])
    message = str(info.value)
    assert "2 attempts: the first and 1 retry" in message and stub.base_url in message
    assert not PYTHON_INTERNALS.search(message), message
    assert stub.prompts().count("BOOM") == 2
    model.close()
    assert "BOOM" not in stored_prompts(store)


def test_bad_200_messages_say_what_happened(stub):
    expected = {
        "garbage": "was not JSON",
        "bad_utf8": "was not valid UTF-8",
        "empty_choices": "had no answer (no choices)",
        "error_200": "was an error: {'message': 'model overloaded'",
        "null_text": "the answer had no text (null)",
        "empty_text": "the answer was empty",
        "html_text": "the answer is an HTML page",
    }
    assert set(expected) == set(RETRIED_200)
    for fault, words in expected.items():
        stub.fault, stub.fault_marker = fault, "BOOM"
        with pytest.raises(TeacherError, match=re.escape(words)):
            make_model(stub, max_retries=0)([["BOOM"]])


def test_truncated_answer_is_reported_not_retried(stub):
    stub.fault, stub.fault_marker = "length", "BOOM"
    with pytest.raises(TeacherError, match=r"cut off at the token limit .*raise max_tokens \(not retried\)"):
        make_model(stub, max_retries=3)([["BOOM"]])
    assert stub.prompts() == ["BOOM"]


def test_client_error_is_not_retried(stub):
    stub.fault, stub.fault_marker = 400, "BOOM"
    with pytest.raises(TeacherError, match=r"HTTP 400 Bad Request.*the server refused the request\) \(not retried\)"):
        make_model(stub, max_retries=3)([["BOOM"]])
    assert stub.prompts() == ["BOOM"]


def test_answer_breaking_the_span_grammar_is_refused(stub, tmp_path):
    """A server that ignores the grammar field: its free answers are retried, then reported, never stored."""
    stub.answer = lambda prompt: "Gucci | FASHION_BRAND"  # not in the text
    grammar = SpanGrammar(["FASHION_BRAND"])
    store = tmp_path / "s.sqlite"
    model = make_model(stub, max_retries=1, grammar=grammar, store=ResponseStore(store))
    prompt = "Find brands.\nText: I love Zara.\nEntities:"
    with pytest.raises(TeacherError, match=r"breaks the grammar sent .*'Gucci \| FASHION_BRAND'.*field 'grammar'"):
        model([[prompt]])
    stub.answer = lambda prompt: "Zara | FASHION_BRAND\n"
    assert model([[prompt]]) == [["Zara | FASHION_BRAND\n"]]
    model.close()
    assert stored_prompts(store) == {prompt}


def test_skip_answers_the_others_and_records_the_failures(stub):
    stub.fault, stub.fault_marker = "html_text", "BOOM"
    model = make_model(stub, max_retries=1, concurrency=2)
    model.on_error = "skip"
    assert model([["one"], ["BOOM"], ["two"]]) == [[echo("one")], [""], [echo("two")]]
    assert list(model.failures.values()) == [model.failures[model.key("BOOM")]]
    assert HTML_502[:20] in model.failures[model.key("BOOM")]


def test_model_name_checked_against_the_servers_list(stub):
    stub.models = ["gemma3-270m", "qwen2.5:latest"]
    with pytest.raises(ConfigError, match=r"does not serve the model 'stub'; it lists 'gemma3-270m', 'qwen2.5:latest'"):
        make_model(stub)([["hi"]])
    assert stub.requests == []  # nothing was sent
    assert named_model(stub, "gemma3-270m")([["hi"]]) == [[echo("hi")]]
    assert named_model(stub, "qwen2.5")([["hi"]]) == [[echo("hi")]]  # Ollama's implicit :latest
    stub.models = None  # 404: a server without a list is fine
    assert make_model(stub)([["hi"]]) == [[echo("hi")]]


def named_model(stub, name):
    return OpenAICompatibleModel(base_url=stub.base_url, model=name)


def test_concurrency_backs_off_when_a_one_slot_server_times_out(caplog):
    """4 requests in flight at a server that works on one at a time: queued requests time out,
    the client halves its concurrency (and says so) until every prompt is answered."""
    with StubServer(answer=echo, delay=0.25, slots=1) as stub:
        model = make_model(stub, concurrency=4, max_retries=6, timeout=0.6)
        prompts = [f"prompt {i}" for i in range(8)]
        with caplog.at_level(logging.WARNING, logger="spacy_distill"):
            assert model([[p] for p in prompts]) == [[echo(p)] for p in prompts]
    assert model.stats["timeouts"] >= 1
    assert model.stats["concurrency_lowered_to"] in (1, 2)
    assert model.limit.limit == model.stats["concurrency_lowered_to"]
    assert "sending at most" in caplog.text and "fewer slots" in caplog.text
    assert model.stats["llm_calls"] == len(prompts)


def test_annotate_skip_lists_failed_lines_and_writes_the_rest(stub, tmp_path):
    stub.answer = brand_answer
    stub.fault, stub.fault_marker = "empty_text", "BOOM"
    texts = ["I love my Levi's jeans.", None, "BOOM Uniqlo basics.", "My Dr. Martens boots.", "BOOM again."]
    source = write_jsonl(tmp_path / "in.jsonl", texts)
    store = tmp_path / "store.sqlite"
    overrides = teacher_overrides(stub, store, concurrency=2, max_retries=1)
    stats = annotate(
        CONFIG,
        source,
        tmp_path / "out.jsonl",
        overrides=overrides,
        show_progress=False,
        on_error="skip",
        stats_path=tmp_path / "stats.json",
    )
    assert (stats["status"], stats["docs"], stats["failed_docs"]) == ("done", 2, 2)
    assert [f["line"] for f in stats["failed"]] == [3, 5]  # line 2 is blank
    assert all("the answer was empty (2 attempts" in f["reason"] for f in stats["failed"])
    assert len((tmp_path / "out.jsonl").read_text().splitlines()) == 2
    assert {prompt_text(p) for p in stored_prompts(store)} == {texts[0], texts[3]}
