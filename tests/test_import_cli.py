"""`spacy-distill import` with bad input: every bad record named, --on-error skip, --skip/--limit, and
the same short message through `spacy train` with the Corrections.v1 reader."""

import json
import subprocess
import sys

import srsly
from corrections_helpers import export, teacher_doc
from typer.testing import CliRunner

from spacy_distill.cli import app

GOOD = {"text": "Zara is ok", "spans": [{"start": 0, "end": 4, "label": "BRAND"}], "answer": "accept"}


def bad_file(tmp_path):
    path = tmp_path / "answers.jsonl"
    lines = [
        json.dumps(GOOD),
        '{"text": "cut',
        json.dumps({**GOOD, "text": "Nike"}),
        json.dumps({**GOOD, "spans": None}),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf8")
    return path


def test_every_bad_record_is_named_and_nothing_is_written(tmp_path):
    path = bad_file(tmp_path)
    result = CliRunner().invoke(app, ["import", str(path), str(tmp_path / "gold.spacy")])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "2 bad records (nothing imported" in result.output
    assert f"{path}:2: not valid JSON" in result.output and f"{path}:4: field 'spans' is null" in result.output
    assert not (tmp_path / "gold.spacy").exists()


def test_on_error_skip_imports_the_others_and_lists_the_skipped(tmp_path):
    path = bad_file(tmp_path)
    args = ["import", str(path), str(tmp_path / "gold.spacy"), "--on-error", "skip"]
    result = CliRunner().invoke(app, [*args, "--stats-json", str(tmp_path / "stats.json")])
    assert result.exit_code == 0, result.output
    stats = srsly.read_json(tmp_path / "stats.json")
    assert stats["docs"] == 2 and stats["records"] == 4 and stats["skipped"] == 2
    assert [r["source"] for r in stats["skipped_records"]] == [f"{path}:2", f"{path}:4"]
    assert "Skipped 2 bad records" in result.output and f"{path}:4: field 'spans' is null" in result.output


def test_skip_and_limit_split_the_docs(tmp_path):
    path = tmp_path / "all.jsonl"
    srsly.write_jsonl(path, [{**GOOD, "text": f"Zara {i}"} for i in range(10)])
    runner = CliRunner()
    dev = runner.invoke(app, ["import", str(path), str(tmp_path / "dev.spacy"), "--limit", "4"])
    train = runner.invoke(app, ["import", str(path), str(tmp_path / "train.spacy"), "--skip", "4"])
    assert dev.exit_code == train.exit_code == 0, dev.output + train.output
    assert "Imported 4 docs" in dev.output and "Imported 6 docs" in train.output
    assert "--skip" in runner.invoke(app, ["import", "--help"]).output


def test_exported_prodigy_tasks_say_they_are_not_annotated(tmp_path):
    tasks = export([teacher_doc("Zara is ok", ents=[(0, 4, "BRAND")])], tmp_path, "prodigy")
    result = CliRunner().invoke(app, ["import", str(tasks), str(tmp_path / "gold.spacy")])
    assert result.exit_code == 0, result.output
    assert "Imported 0 docs" in result.output and "1 of 1 records have no answer (not annotated" in result.output


def test_spacy_train_shows_the_message_not_a_traceback(root, tmp_path):
    path = bad_file(tmp_path)
    config = root / "configs" / "student_ner.cfg"
    args = [sys.executable, "-m", "spacy", "train", str(config), "--paths.train", str(path), "--paths.dev", str(path)]
    result = subprocess.run(args, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 1 and "Traceback" not in output, output
    assert f"{path}:2: not valid JSON" in output and f"{path}:4: field 'spans' is null" in output
    assert len(output.strip().splitlines()) < 12
