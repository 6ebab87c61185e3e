"""The registered reader in spaCy configs, `spacy train` / `spacy debug data` from corrections, and the CLI."""

import csv
import json
import subprocess
import sys

import pytest
import spacy
import srsly
from corrections_helpers import NLP, accept_all, spans_of, teacher_doc, write_docs
from spacy.cli.train import train
from typer.testing import CliRunner

from spacy_distill.cli import app
from spacy_distill.corpus.reader import create_corrections_reader


def run(*args, cwd=None):
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=cwd, timeout=300)


def corrections_file(root, tmp_path, n=50):
    """n accepted docs of the sample data, plus two rejects and an ignore."""
    rows = list(srsly.read_jsonl(root / "assets" / "fashion_brands" / "train.jsonl"))
    extra = [
        dict(rows[n], answer="reject", spans=[{"start": 0, "end": 1, "label": "FASHION_BRAND"}]),
        dict(rows[n + 1], answer="ignore"),
    ]
    extra[0]["text"] = "A " + extra[0]["text"]
    path = tmp_path / "corrections.jsonl"
    srsly.write_jsonl(path, rows[:n] + extra)
    return path


def test_reader_resolves_from_entry_point_in_a_fresh_process(root):
    code = (
        "from spacy.util import load_config, registry; "
        f"config = load_config({str(root / 'configs' / 'student_ner.cfg')!r}, overrides={{'paths.train': 'a.jsonl', 'paths.dev': 'b.jsonl'}}); "
        "corpora = registry.resolve(config['corpora']); "
        "print(type(corpora['train']).__module__)"
    )
    result = run("-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "spacy_distill.corpus.reader"


def test_spacy_train_and_debug_data_read_corrections(root, tmp_path):
    train = corrections_file(root, tmp_path)
    dev = tmp_path / "dev.jsonl"
    srsly.write_jsonl(dev, list(srsly.read_jsonl(root / "assets" / "fashion_brands" / "test.jsonl"))[:20])
    config = root / "configs" / "student_ner.cfg"
    paths = ["--paths.train", str(train), "--paths.dev", str(dev)]
    result = run(
        "-m",
        "spacy",
        "train",
        str(config),
        *paths,
        "--training.max_steps",
        "20",
        "--training.eval_frequency",
        "10",
        "--output",
        str(tmp_path / "out"),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "51 docs (50 complete, 1 partial)" in result.stdout
    nlp = spacy.load(tmp_path / "out" / "model-last")
    assert nlp.pipe_names == ["tok2vec", "ner"] and "FASHION_BRAND" in nlp.get_pipe("ner").labels
    result = run("-m", "spacy", "debug", "data", str(config), *paths)
    assert "Corpus is loadable" in result.stdout and "51 training docs" in result.stdout, result.stdout[-3000:]


def test_reader_options(tmp_path):
    records = [
        {"text": "Levi's rocks", "spans": [{"start": 0, "end": 4, "label": "BRAND"}], "answer": "accept"},
        {"text": "Zara rocks", "spans": [{"start": 0, "end": 4, "label": "BRAND"}], "answer": "reject"},
    ]
    srsly.write_jsonl(tmp_path / "a.jsonl", records)
    write_docs([teacher_doc("Gold doc", ents=[(0, 4, "X")])], tmp_path / "b.spacy")
    reader = create_corrections_reader(f"{tmp_path / 'a.jsonl'},{tmp_path / 'b.spacy'}")
    examples = list(reader(NLP))
    assert [e.reference.text for e in examples] == ["Gold doc", "Levi's rocks", "Zara rocks"]
    assert spans_of(examples[2].reference, "incorrect_spans") == [(0, 4, "BRAND")]
    assert examples[1].get_aligned_ner() == ["U-BRAND", "O", "O"]
    reader = create_corrections_reader(str(tmp_path / "a.jsonl"), include_partial=False, span_key="sc")
    examples = list(reader(NLP))
    assert len(examples) == 1 and spans_of(examples[0].reference, "sc") == [(0, 4, "BRAND")]
    assert len(list(create_corrections_reader([str(tmp_path / "a.jsonl")], limit=1)(NLP))) == 1


def test_cli_export_and_import(tmp_path):
    runner = CliRunner()
    write_docs([teacher_doc("Levi's and Zara", ents=[(0, 4, "BRAND")])], tmp_path / "teacher.spacy")
    result = runner.invoke(
        app,
        [
            "export",
            str(tmp_path / "teacher.spacy"),
            str(tmp_path / "tasks.json"),
            "--to",
            "labelstudio",
            "--labels",
            "BRAND,SHOP",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "Exported 1 docs with 1 suggested spans" in result.output and (tmp_path / "tasks.label_config.xml").exists()
    accept_all("labelstudio", tmp_path / "tasks.json")
    stats_json = tmp_path / "stats.json"
    args = [
        "import",
        str(tmp_path / "tasks.json"),
        str(tmp_path / "gold.spacy"),
        "--labels",
        "BRAND",
        "--stats-json",
        str(stats_json),
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "Imported 1 docs from 1 records" in result.output
    assert json.loads(stats_json.read_text())["spans"] == {"BRAND": 1}


def test_cli_errors_name_file_and_line_without_traceback(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "ok", "answer": "accept"}\n{"text": "cut off", "sp', encoding="utf8")
    result = run("-m", "spacy_distill", "import", str(bad), str(tmp_path / "out.spacy"))
    assert result.returncode == 1 and "Traceback" not in result.stdout + result.stderr
    assert f"{bad}:2: not valid JSON (Unterminated string" in flat(result.stdout)
    runner = CliRunner()
    result = runner.invoke(app, ["export", str(bad), str(tmp_path / "t.jsonl"), "--to", "prodigy"])
    assert result.exit_code == 1 and f"{bad}: not a .spacy DocBin" in flat(result.output)
    result = runner.invoke(app, ["import", str(bad), str(tmp_path / "o.spacy"), "--policy", "vote"])
    assert result.exit_code == 1 and "Unknown merge policy 'vote'" in flat(result.output)
    result = runner.invoke(app, ["export", str(tmp_path / "missing.spacy"), str(tmp_path / "t.jsonl"), "--to", "excel"])
    assert result.exit_code == 1 and "Unknown export format 'excel'" in flat(result.output)


def flat(text):
    """Console output without wasabi's line wrapping."""
    return " ".join(text.split())


def csv_rows(path, out, start, step, n):
    """The header and every step-th of the first rows of a CSV file, from row start."""
    with path.open(encoding="utf8", newline="") as f:
        rows = list(csv.reader(f))
    with out.open("w", encoding="utf8", newline="") as f:
        csv.writer(f).writerows([rows[0]] + rows[1 + start :: step][:n])
    return out


TEXTCAT_CSV = {"paths.format": "csv", "corpora.train.label_column": "category", "corpora.dev.label_column": "category"}
SPANS_CSV = {"paths.format": "csv", "corpora.train.spans_column": "spans", "corpora.dev.spans_column": "spans"}
SPANS_CSV.update(
    {"corpora.train.span_label": "toxic", "corpora.dev.span_label": "toxic", "corpora.train.alignment": "expand"}
)


@pytest.mark.parametrize(
    "config, data, overrides",
    [
        ("student_textcat.cfg", "banking77/banking_data__train.csv", TEXTCAT_CSV),
        ("student_textcat_multilabel.cfg", "banking77/banking_data__train.csv", TEXTCAT_CSV),
        ("student_spancat.cfg", "toxic_spans/SemEval2021__data__tsd_trial.csv", SPANS_CSV),
    ],
)
def test_other_students_train_from_csv(root, test_data, tmp_path, capsys, config, data, overrides):
    step = 8 if "banking" in data else 5  # banking77 is sorted by intent: rows from all over the file
    train_csv = csv_rows(test_data / data, tmp_path / "train.csv", 0, step, 60)
    dev_csv = csv_rows(test_data / data, tmp_path / "dev.csv", step // 2 + 1, step, 20)
    paths = {
        "paths.train": str(train_csv),
        "paths.dev": str(dev_csv),
        "training.max_steps": 10,
        "training.eval_frequency": 5,
    }
    train(root / "configs" / config, tmp_path / "out", overrides={**paths, **overrides})
    assert "60 docs (60 complete, 0 partial)" in flat(capsys.readouterr().out)
    assert (tmp_path / "out" / "model-last" / "meta.json").exists()


def test_load_gold_from_several_files(tmp_path):
    from spacy_distill.corpus.gold import load_gold
    from spacy_distill.errors import InputError

    a = write_docs([teacher_doc("Zara and Uniqlo", ents=[(0, 4, "BRAND")])], tmp_path / "a.spacy")
    b = write_docs([teacher_doc("Zara again", ents=[(0, 4, "BRAND")])], tmp_path / "b.spacy")
    srsly.write_jsonl(tmp_path / "c.jsonl", [{"text": "Uniqlo", "spans": [{"start": 0, "end": 6, "label": "BRAND"}]}])
    docs = load_gold([a, b, tmp_path / "c.jsonl"])
    assert [(d.text, spans_of(d)) for d in docs] == [
        ("Zara and Uniqlo", [(0, 4, "BRAND")]),
        ("Zara again", [(0, 4, "BRAND")]),
        ("Uniqlo", [(0, 6, "BRAND")]),
    ]
    assert [d.text for d in load_gold(a)] == ["Zara and Uniqlo"]  # one path, as before
    with pytest.raises(InputError, match="missing.spacy: gold file not found"):
        load_gold([a, tmp_path / "missing.spacy"])


def test_load_gold_says_when_the_tasks_are_not_annotated_yet(tmp_path):
    from spacy_distill.corpus.gold import load_gold
    from spacy_distill.errors import InputError

    task = {"text": "Zara", "spans": [{"start": 0, "end": 4, "label": "BRAND"}], "_input_hash": 1, "_task_hash": 2}
    srsly.write_jsonl(tmp_path / "tasks.jsonl", [task, {**task, "text": "Zara!"}])
    with pytest.raises(InputError, match=r"no gold docs \(2 of 2 records have no answer: tasks not annotated yet\)"):
        load_gold(tmp_path / "tasks.jsonl")
