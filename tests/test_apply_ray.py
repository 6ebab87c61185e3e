"""`spacy-distill apply --ray` on a local Ray cluster this module starts: the same records as without Ray
on ~2,500 real texts, a killed run resumed on Ray without duplicates, malformed records named."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from apply_helpers import corpus_texts, train_tiny_pipeline, write_corpus
from llm_helpers import cli_command
from typer.testing import CliRunner

import spacy_distill
from spacy_distill.cli import app

ROOT_ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A trained pipeline, the corpus in every input format, and the single-process output (the reference)."""
    tmp = tmp_path_factory.mktemp("apply_ray")
    model = train_tiny_pipeline(tmp / "model")
    corpus = write_corpus(tmp / "corpus", corpus_texts())
    reference = tmp / "reference.jsonl"
    spacy_distill.apply(model, corpus, reference, shard_size=200, show_progress=False)
    return tmp, model, corpus, reference


def ids(path):
    return [json.loads(line)["id"] for line in path.read_text(encoding="utf8").splitlines()]


def test_ray_gives_exactly_the_records_of_the_single_process_run(ray_cluster, setup, tmp_path):
    _, model, corpus, reference = setup
    output = tmp_path / "ray.jsonl"
    args = ["apply", str(model), str(corpus), str(output), "--ray", "local", "--workers", "2", "--shard-size", "200"]
    result = CliRunner().invoke(app, [*args, "--quiet", "--stats-json", str(tmp_path / "stats.json")])
    assert result.exit_code == 0, result.output
    stats = json.loads((tmp_path / "stats.json").read_text())
    assert stats["docs"] > 2000 and stats["ray"] == "local" and stats["workers"] == 2 and stats["rejected"] == 0
    assert output.read_bytes() == reference.read_bytes()
    assert len(set(ids(output))) == stats["docs"]


def test_a_killed_run_resumes_on_ray_without_duplicates(ray_cluster, setup, tmp_path):
    _, model, corpus, reference = setup
    output = tmp_path / "out.jsonl"
    parts = tmp_path / "out.jsonl.parts"
    args = ["apply", str(model), str(corpus), str(output), "--workers", "2", "--shard-size", "50", "--quiet"]
    process = subprocess.Popen(
        cli_command(*args), env=ROOT_ENV, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 120
    while len(list(parts.glob("shard-*.jsonl"))) < 3 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    os.killpg(process.pid, signal.SIGKILL)  # the run and its worker processes
    process.wait()
    finished = len(list(parts.glob("shard-*.jsonl")))
    assert process.returncode == -signal.SIGKILL and finished >= 3, process.stderr.read()
    assert not output.exists()

    stats = spacy_distill.apply(model, corpus, output, ray="local", workers=2, shard_size=50, show_progress=False)
    assert stats["shards_resumed"] >= finished and stats["shards_resumed"] < stats["shards"]
    assert output.read_bytes() == reference.read_bytes()
    assert len(set(ids(output))) == len(ids(output)) == stats["docs"]
    assert not parts.exists()


def test_a_malformed_record_on_ray_names_its_file_and_line(ray_cluster, setup, tmp_path):
    _, model, _, _ = setup
    lines = [json.dumps({"text": f"I wore Zara shoes on day {i}."}) for i in range(30)]
    lines[16] = '{"text": "an unfinished record'
    (tmp_path / "in.jsonl").write_text("\n".join(lines) + "\n")
    stats = spacy_distill.apply(
        model, tmp_path / "in.jsonl", tmp_path / "out.jsonl", ray="local", workers=2, shard_size=8, show_progress=False
    )
    assert stats["docs"] == 29 and stats["rejected"] == 1 and stats["shards"] == 4
    rejected = [json.loads(line) for line in (tmp_path / "out.rejected.jsonl").read_text().splitlines()]
    assert [(r["file"], r["line"]) for r in rejected] == [("in.jsonl", 17)]
    assert rejected[0]["error"].startswith(f"{tmp_path / 'in.jsonl'}:17: not valid JSON")
    assert "in.jsonl:17" not in ids(tmp_path / "out.jsonl") and len(ids(tmp_path / "out.jsonl")) == 29


def test_a_file_without_the_text_column_on_ray_fails_cleanly(ray_cluster, setup, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    _, model, _, _ = setup
    pq.write_table(pa.table({"body": ["no text column here"]}), tmp_path / "in.parquet")
    args = ["apply", str(model), str(tmp_path / "in.parquet"), str(tmp_path / "out.jsonl"), "--ray", "local", "--quiet"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1, result.output
    assert f"{tmp_path / 'in.parquet'}: no column 'text' (columns: ['body'])" in " ".join(result.output.split())
