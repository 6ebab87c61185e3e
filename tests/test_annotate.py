"""annotate() and `spacy-distill annotate`: outputs, provenance, cache, CLI errors."""

import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, Optional

import canned
import pytest
import spacy
import srsly
from spacy.tokens import DocBin
from spacy.util import load_config
from typer.testing import CliRunner

from spacy_distill.cli import app
from spacy_distill.errors import InputError
from spacy_distill.teacher.annotate import annotate
from spacy_distill.teacher.base import TeacherError
from spacy_distill.teacher.store import ResponseStore

ROOT = Path(__file__).parent.parent
LABEL = "FASHION_BRAND"
pytestmark = [
    pytest.mark.filterwarnings("ignore:.*Skipping unsupported user data 'spacy_distill"),
    pytest.mark.filterwarnings("ignore:Task supports sharding"),
]

ANSWERS = {
    "I love Zara and Gucci.": f"Gucci | {LABEL}\nZara | {LABEL}",
    "Dr. Martens boots from Zalando.": f"Dr. Martens | {LABEL}\nZalando | {LABEL}",
    "Nothing to see here.": "none",
    "Levi's 501 are the best jeans.": f"1. Levi's | True | {LABEL} | a jeans brand",
}
TEXTS = list(ANSWERS)


def write_config(path: Path, answers: Dict[str, str], responses: Optional[Path] = None) -> Path:
    """configs/teacher_ner.cfg with the canned model; its store stays at ${paths.responses}."""
    config = load_config(ROOT / "configs" / "teacher_ner.cfg", interpolate=False)
    config["paths"]["examples"] = str(ROOT / "assets" / "fashion_brands" / "ner_examples.yml")
    if responses is not None:
        config["paths"]["responses"] = str(responses)
    config["components"]["llm"]["model"] = {
        "@llm_models": "spacy_distill_test.Canned.v1",
        "answers": answers,
        "store": {"@llm_misc": "spacy_distill.ResponseStore.v1", "path": "${paths.responses}"},
    }
    config.to_disk(path)
    assert "path = ${paths.responses}" in path.read_text()
    return path


@pytest.fixture
def setup(tmp_path):
    config = write_config(tmp_path / "teacher.cfg", ANSWERS, tmp_path / "cache" / "responses.sqlite")
    lines = [
        {"text": TEXTS[0], "meta": {"id": "a", "source": "reddit"}},
        {"text": ""},
        {"text": TEXTS[1], "meta": {"id": "b"}},
        {"text": "   \t "},
        {"text": TEXTS[2]},
        {"text": TEXTS[3], "meta": {"id": "d", "nested": {"x": [1, 2]}}},
    ]
    input_path = tmp_path / "in.jsonl"
    srsly.write_jsonl(input_path, lines)
    return config, input_path, tmp_path


def run(config, input_path, output, **kwargs) -> Dict[str, Any]:
    return annotate(config, input_path, output, show_progress=False, **kwargs)


def read_docbin(path: Path):
    return list(DocBin().from_disk(path).get_docs(spacy.blank("en").vocab))


def test_jsonl_output_spans_meta_provenance(setup):
    config, input_path, tmp = setup
    out = tmp / "out" / "teacher.jsonl"
    stats = run(config, input_path, out, stats_path=tmp / "stats.json")
    assert stats["docs"] == 4 and stats["skipped_empty"] == 2
    assert stats["llm_calls"] == 4 and stats["cache_hits"] == 0
    assert stats["labels"] == {LABEL: 5}
    written = srsly.read_json(tmp / "stats.json")
    floats = {k for k, v in stats.items() if isinstance(v, float)}  # srsly's JSON may round 1.914 to 1.9139999
    assert {k: v for k, v in written.items() if k not in floats} == {k: v for k, v in stats.items() if k not in floats}
    assert {k: written[k] for k in floats} == pytest.approx({k: stats[k] for k in floats})

    tasks = list(srsly.read_jsonl(out))
    assert [t["text"] for t in tasks] == TEXTS
    assert [t["meta"] for t in tasks] == [
        {"id": "a", "source": "reddit"},
        {"id": "b"},
        {},
        {"id": "d", "nested": {"x": [1, 2]}},
    ]
    spans = {t["text"]: [(t["text"][s["start"] : s["end"]], s["label"]) for s in t["spans"]] for t in tasks}
    assert spans == {
        TEXTS[0]: [("Zara", LABEL), ("Gucci", LABEL)],
        TEXTS[1]: [("Dr. Martens", LABEL), ("Zalando", LABEL)],
        TEXTS[2]: [],
        TEXTS[3]: [("Levi's", LABEL)],
    }
    for task in tasks:
        tokens = task["tokens"]
        assert [t["id"] for t in tokens] == list(range(len(tokens)))
        assert "".join(t["text"] + (" " if t["ws"] else "") for t in tokens) == task["text"]
        assert all(task["text"][t["start"] : t["end"]] == t["text"] for t in tokens)
        for span in task["spans"]:  # token_end is inclusive
            assert tokens[span["token_start"]]["start"] == span["start"]
            assert tokens[span["token_end"]]["end"] == span["end"]
    dr_martens = tasks[1]["spans"][0]
    assert (dr_martens["token_start"], dr_martens["token_end"]) == (0, 1)  # "Dr." "Martens"
    assert [t["text"] for t in tasks[1]["tokens"][:2]] == ["Dr.", "Martens"]

    for task in tasks:
        teacher = task["_teacher"]
        assert teacher["model"] == "canned"
        assert teacher["identity"]["kind"] == "Canned"
        assert teacher["response"] == [ANSWERS[task["text"]]]
        [sha] = teacher["prompt_sha256"]
        assert len(sha) == 64
        assert teacher["parse_failure"] is False and teacher["dropped_spans"] == []
    assert len({t["_teacher"]["prompt_sha256"][0] for t in tasks}) == 4
    assert not list(out.parent.glob("*.partial"))


def test_jsonl_spans_token_end_inclusive_for_multi_token_span(setup):
    config, input_path, tmp = setup
    out = tmp / "out.jsonl"
    run(config, input_path, out)
    task = list(srsly.read_jsonl(out))[1]
    span = task["spans"][0]
    covered = task["tokens"][span["token_start"] : span["token_end"] + 1]
    assert task["text"][covered[0]["start"] : covered[-1]["end"]] == "Dr. Martens"
    assert len(covered) >= 2


def test_spacy_output_with_provenance(setup):
    config, input_path, tmp = setup
    out = tmp / "teacher.spacy"
    run(config, input_path, out)
    docs = read_docbin(out)
    assert [d.text for d in docs] == TEXTS
    assert [[e.text for e in d.ents] for d in docs] == [["Zara", "Gucci"], ["Dr. Martens", "Zalando"], [], ["Levi's"]]
    assert docs[0].user_data["meta"] == {"id": "a", "source": "reddit"}
    assert [d.user_data["source"]["line"] for d in docs] == [1, 3, 5, 6]
    assert docs[0].user_data["source"]["path"] == str(input_path)
    for doc in docs:
        teacher = doc.user_data["teacher"]
        [prompt] = doc.user_data["llm_io"]["llm"]["prompt"]
        assert prompt.rstrip().endswith(f"Text: {doc.text}\nEntities:")
        assert list(teacher["prompt_sha256"]) == [hashlib.sha256(prompt.encode("utf8")).hexdigest()]
        assert list(teacher["response"]) == [ANSWERS[doc.text]]
        assert teacher["model"] == "canned"
        assert doc.user_data["spacy_distill"]["parse_failure"] is False


def test_second_run_is_all_cache_hits_with_identical_output(setup, monkeypatch):
    config, input_path, tmp = setup
    first = run(config, input_path, tmp / "first.jsonl")
    run(config, input_path, tmp / "first.spacy")
    assert first["llm_calls"] == 4

    def no_llm(self, prompt):
        raise AssertionError("the second run must not call the model")

    monkeypatch.setattr(canned.CannedModel, "complete", no_llm)
    second = run(config, input_path, tmp / "second.jsonl")
    run(config, input_path, tmp / "second.spacy")
    assert second["llm_calls"] == 0 and second["cache_hits"] == 4
    assert (tmp / "first.jsonl").read_bytes() == (tmp / "second.jsonl").read_bytes()
    a, b = read_docbin(tmp / "first.spacy"), read_docbin(tmp / "second.spacy")
    assert [d.to_json() for d in a] == [d.to_json() for d in b]
    assert [d.user_data["teacher"] for d in a] == [d.user_data["teacher"] for d in b]


def test_changed_answers_config_is_a_new_model_identity(setup):
    config, input_path, tmp = setup
    run(config, input_path, tmp / "a.jsonl")
    other = write_config(
        tmp / "other.cfg", {**ANSWERS, TEXTS[2]: f"Nothing | {LABEL}"}, tmp / "cache" / "responses.sqlite"
    )
    stats = run(other, input_path, tmp / "b.jsonl")
    assert stats["cache_hits"] == 0 and stats["llm_calls"] == 4


def test_csv_meta_carried_through(tmp_path):
    config = write_config(tmp_path / "t.cfg", ANSWERS, tmp_path / "r.sqlite")
    input_path = tmp_path / "in.csv"
    input_path.write_text(f'id,text,user\n1,"{TEXTS[0]}",ann\n2,,bob\n3,"{TEXTS[3]}",\n', encoding="utf8")
    stats = run(config, input_path, tmp_path / "out.jsonl")
    assert stats["skipped_empty"] == 1
    tasks = list(srsly.read_jsonl(tmp_path / "out.jsonl"))
    assert [t["meta"] for t in tasks] == [{"id": "1", "user": "ann"}, {"id": "3"}]


# --- output safety --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["out.json", "out.txt", "out", "out.spacy.tmp"])
def test_bad_output_suffix_is_a_clear_error(setup, name):
    config, input_path, tmp = setup
    with pytest.raises(InputError, match=r"output must end in \.spacy or \.jsonl"):
        run(config, input_path, tmp / name)
    assert not (tmp / name).exists()
    assert not (tmp / "cache" / "responses.sqlite").exists()  # fails before any LLM work


def test_output_is_written_to_partial_then_renamed(setup, monkeypatch):
    config, input_path, tmp = setup
    out = tmp / "out.jsonl"
    moves = []
    real_replace = os.replace

    def spy(src, dst):
        assert Path(src).exists() and not Path(dst).exists()
        moves.append((Path(src).name, Path(dst).name))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    run(config, input_path, out)
    assert moves == [(f"out.jsonl.partial-{os.getpid()}", "out.jsonl")]
    assert not list(tmp.glob("out.jsonl.partial*"))


def test_failed_write_moves_previous_output_aside(setup, monkeypatch):
    """A failed run never leaves an older output looking current: it waits as OUTPUT.previous."""
    config, input_path, tmp = setup
    out = tmp / "out.jsonl"
    out.write_text("previous complete output\n")
    from spacy_distill.formats import prodigy

    real = prodigy.doc_to_task
    calls = []

    def fail_on_third(doc, schema):
        calls.append(doc.text)
        if len(calls) == 3:
            raise OSError("disk full")
        return real(doc, schema)

    monkeypatch.setattr(prodigy, "doc_to_task", fail_on_third)
    with pytest.raises(OSError, match="disk full"):
        run(config, input_path, out)
    assert not out.exists()
    assert (tmp / "out.jsonl.previous").read_text() == "previous complete output\n"
    assert not list(tmp.glob("out.jsonl.partial*"))
    monkeypatch.setattr(prodigy, "doc_to_task", real)
    run(config, input_path, out)  # a run that succeeds replaces it
    assert len(out.read_text().splitlines()) == 4 and not (tmp / "out.jsonl.previous").exists()


def test_leftover_partial_of_a_killed_run_is_removed(setup):
    config, input_path, tmp = setup
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    leftover = tmp / f"out.spacy.partial-{dead.stdout.strip()}"
    leftover.write_bytes(b"")  # a kill -9 during the final write
    live = tmp / f"out.spacy.partial-{os.getppid()}"  # a running process's file is not ours to remove
    live.write_bytes(b"")
    run(config, input_path, tmp / "out.spacy")
    assert not leftover.exists() and live.exists()
    assert len(read_docbin(tmp / "out.spacy")) == 4


def fail_on_levis(monkeypatch, reason: str = "server went away"):
    real = canned.CannedModel.complete

    def complete(self, prompt):
        if "Text: Levi's" in prompt:
            raise ConnectionError(reason)
        return real(self, prompt)

    monkeypatch.setattr(canned.CannedModel, "complete", complete)
    return real


def test_teacher_failure_names_input_line_and_writes_nothing(setup, monkeypatch):
    config, input_path, tmp = setup
    out = tmp / "out.jsonl"
    out.write_text("an older run's output\n")
    real = fail_on_levis(monkeypatch)
    with pytest.raises(TeacherError) as e:
        run(config, input_path, out, batch_size=2, stats_path=tmp / "stats.json")
    message = str(e.value)
    assert f"{input_path}:6" in message  # the Levi's record is on line 6 (after two empty ones)
    assert "canned model failed: server went away" in message
    # docs are counted, not batches: the failing batch's other doc was answered too
    assert "3 of 4 docs have their answers in the response store" in message
    assert f"moved to {out}.previous" in message and f"stats are in {tmp / 'stats.json'}" in message
    assert not out.exists()
    stats = srsly.read_json(tmp / "stats.json")
    assert (stats["status"], stats["docs"], stats["failed_docs"], stats["failed"][0]["line"]) == ("failed", 2, 1, 6)
    # The answers that did arrive are in the store: a rerun only asks for the missing one.
    monkeypatch.setattr(canned.CannedModel, "complete", real)
    stats = run(config, input_path, out, batch_size=2)
    assert stats["llm_calls"] == 1 and stats["cache_hits"] == 3
    assert len(list(srsly.read_jsonl(out))) == 4


def test_empty_answer_is_never_stored(setup):
    _, input_path, tmp = setup
    empty = write_config(tmp / "empty.cfg", {**ANSWERS, TEXTS[1]: "  \n"}, tmp / "cache" / "responses.sqlite")
    with pytest.raises(
        TeacherError, match=f"canned model gave no usable answer: the answer was empty .*{input_path}:3"
    ):
        run(empty, input_path, tmp / "out.spacy")
    rows = list(ResponseStore(tmp / "cache" / "responses.sqlite").rows())
    assert rows and all(row["response"].strip() for row in rows)


def test_skip_finishes_the_other_docs(setup, monkeypatch):
    config, input_path, tmp = setup
    fail_on_levis(monkeypatch)
    stats = run(config, input_path, tmp / "out.spacy", on_error="skip", stats_path=tmp / "stats.json")
    assert [d.text for d in read_docbin(tmp / "out.spacy")] == TEXTS[:3]
    assert stats["failed"] == [{"line": 6, "reason": "canned model failed: server went away"}]
    assert srsly.read_json(tmp / "stats.json")["failed_docs"] == 1


# --- the CLI -----------------------------------------------------------------------------------------


def cli(*args):
    return CliRunner().invoke(app, ["annotate", *map(str, args)])


def flat(output: str) -> str:
    """CLI output without colours and line wrapping (wasabi never breaks inside a path)."""
    return " ".join(re.sub(r"\x1b\[[0-9;]*m", "", output).split())


def test_cli_annotate_with_config_override(setup):
    config, input_path, tmp = setup
    other_store = tmp / "elsewhere" / "other.sqlite"
    out = tmp / "out.spacy"
    result = cli(config, input_path, out, "--paths.responses", other_store, "--quiet", "--stats-json", tmp / "s.json")
    assert result.exit_code == 0, result.output
    assert "Annotated 4 docs" in result.output
    assert other_store.exists()
    assert not (tmp / "cache" / "responses.sqlite").exists()
    assert len(read_docbin(out)) == 4
    assert srsly.read_json(tmp / "s.json")["llm_calls"] == 4
    # Same override again: everything comes from that store.
    result = cli(config, input_path, out, "--paths.responses", other_store, "--quiet", "--stats-json", tmp / "s.json")
    assert result.exit_code == 0, result.output
    assert srsly.read_json(tmp / "s.json")["cache_hits"] == 4


def test_cli_bad_input_exit_1_names_file_and_line(setup):
    config, _, tmp = setup
    bad = tmp / "bad.jsonl"
    bad.write_text('{"text": "ok"}\n{"text": "broken"\n', encoding="utf8")
    result = cli(config, bad, tmp / "out.jsonl", "--quiet")
    assert result.exit_code == 1
    assert f"{bad}:2: not valid JSON" in flat(result.output)
    assert "Traceback" not in result.output
    assert not (tmp / "out.jsonl").exists()


def test_cli_on_error_skip_lists_failed_docs(setup, monkeypatch):
    config, input_path, tmp = setup
    fail_on_levis(monkeypatch, "no route to host")
    result = cli(config, input_path, tmp / "out.jsonl", "--quiet", "--on-error", "skip")
    assert result.exit_code == 0, result.output
    text = flat(result.output)
    assert "1 docs got no usable answer" in text and f"{input_path}:6: canned model failed: no route to host" in text
    result = cli(config, input_path, tmp / "out.jsonl", "--quiet", "--on-error", "maybe")
    assert result.exit_code == 1 and "on_error must be one of fail, skip" in flat(result.output)


def test_cli_bad_output_suffix(setup):
    config, input_path, tmp = setup
    result = cli(config, input_path, tmp / "out.csv", "--quiet")
    assert result.exit_code == 1
    assert f"{tmp / 'out.csv'}: output must end in .spacy or .jsonl" in flat(result.output)


def test_cli_missing_input_file(setup):
    config, _, tmp = setup
    result = cli(config, tmp / "nope.jsonl", tmp / "out.jsonl", "--quiet")
    assert result.exit_code == 1
    assert f"{tmp / 'nope.jsonl'}: file not found" in flat(result.output)


def test_real_command_bad_input_no_traceback(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "fine"}\n\n{"text": 3}\n', encoding="utf8")
    exe = Path(sys.executable).parent / "spacy-distill"
    result = subprocess.run(
        [str(exe), "annotate", str(ROOT / "configs" / "teacher_ner.cfg"), str(bad), str(tmp_path / "out.jsonl")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert f"{bad}:3: field 'text' must be a string, got int" in flat(output)
    assert "Traceback" not in output
    assert not (tmp_path / "out.jsonl").exists()


def test_limit_annotates_only_the_first_texts(setup):
    config, input_path, tmp = setup
    stats = run(config, input_path, tmp / "first2.spacy", limit=2)
    assert (stats["docs"], stats["llm_calls"]) == (2, 2)
    assert [d.text for d in read_docbin(tmp / "first2.spacy")] == TEXTS[:2]
