"""`spacy-distill apply` on this machine: a really trained pipeline over real texts in every input format,
one record per input record, the same output with more workers, malformed records named, resume by shard."""

import csv
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import spacy
import srsly
from apply_helpers import corpus_texts, train_tiny_pipeline, write_corpus
from typer.testing import CliRunner

import spacy_distill
from spacy_distill.cli import app
from spacy_distill.errors import InputError
from spacy_distill.scale import worker as worker_module

N_TEXTS = 400


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("apply")
    model = train_tiny_pipeline(tmp / "model")
    texts = corpus_texts()[::6][:N_TEXTS]  # some of each dataset
    return tmp, model, texts, write_corpus(tmp / "corpus", texts)


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text(encoding="utf8").splitlines()]


def one_line(output):
    """CLI output with wasabi's line wrapping undone."""
    return " ".join(output.split())


def test_one_record_per_input_record_in_every_format(setup, tmp_path):
    _, model, texts, corpus = setup
    stats = spacy_distill.apply(model, corpus, tmp_path / "out.jsonl", shard_size=37, show_progress=False)
    records = read_jsonl(tmp_path / "out.jsonl")
    assert stats["docs"] == len(records) == N_TEXTS and stats["rejected"] == 0 and stats["shards_resumed"] == 0
    assert stats["cpu_seconds"] > 0 and stats["docs_per_cpu_second"] == pytest.approx(
        N_TEXTS / stats["cpu_seconds"],
        rel=0.01,  # cpu_seconds is rounded to ms
    )
    assert not (tmp_path / "out.jsonl.parts").exists()
    quarter = N_TEXTS // 4
    names = ["a.jsonl"] * quarter + ["b.csv"] * quarter + ["c.txt"] * quarter + ["d.parquet"] * quarter
    lines = list(range(1, quarter + 1)) + list(range(2, quarter + 2)) + list(range(1, quarter + 1)) * 2
    assert [r["id"] for r in records] == [f"{name}:{line}" for name, line in zip(names, lines)]
    assert records[3]["meta"] == {"n": 3} and records[quarter]["meta"] == {"source": "csv"}
    assert records[-1]["meta"] == {"row": quarter - 1} and records[2 * quarter]["meta"] == {}
    assert [r["text"] for r in records[:quarter]] == texts[:quarter]

    nlp = spacy.load(model)  # spaCy itself on each text gives the same annotations
    for record in records[::7]:
        doc = nlp(record["text"])
        assert record["ents"] == [{"start": e.start_char, "end": e.end_char, "label": e.label_} for e in doc.ents]
        assert [(s["start"], s["end"]) for s in record["spans"]] == [
            (s.start_char, s.end_char) for s in doc.spans["sc"]
        ]
        assert record["cats"] == pytest.approx(doc.cats, abs=1e-6)
    assert sum(len(r["ents"]) for r in records) > 10 and sum(len(r["spans"]) for r in records) > 10
    assert all(0 < s["score"] <= 1 and s["key"] == "sc" for r in records for s in r["spans"])
    assert all(sum(r["cats"].values()) == pytest.approx(1, abs=1e-4) for r in records)

    spacy_distill.apply(model, corpus, tmp_path / "out.parquet", shard_size=37, show_progress=False)
    rows = pq.read_table(tmp_path / "out.parquet").to_pylist()
    for row in rows:
        row.update(meta=json.loads(row["meta"]), cats=dict(row["cats"]))
    assert rows == records


def test_more_workers_give_the_same_bytes(setup, tmp_path):
    _, model, _, corpus = setup
    spacy_distill.apply(model, corpus, tmp_path / "one.jsonl", shard_size=50, show_progress=False)
    stats = spacy_distill.apply(model, corpus, tmp_path / "two.jsonl", shard_size=50, workers=2, show_progress=False)
    assert stats["workers"] == 2 and stats["shards"] == 9  # the CSV has a header line
    assert (tmp_path / "one.jsonl").read_bytes() == (tmp_path / "two.jsonl").read_bytes()


def test_malformed_records_are_skipped_counted_and_named(setup, tmp_path):
    _, model, _, _ = setup
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.jsonl").write_text('{"text": "Zara and Uniqlo"}\n{"text": "broken"\n\n{"text": 5}\n{"text": "ok"}\n')
    with (folder / "b.csv").open("w", newline="") as f:
        csv.writer(f).writerows([["text"], ["fine"], ["too", "many"], ["multi\nline"], ["last"]])
    pq.write_table(pa.table({"text": ["x", None, "y"]}), folder / "c.parquet")
    stats = spacy_distill.apply(model, folder, tmp_path / "out.jsonl", shard_size=2, show_progress=False)
    ids = [r["id"] for r in read_jsonl(tmp_path / "out.jsonl")]
    assert ids == ["a.jsonl:1", "a.jsonl:5", "b.csv:2", "b.csv:4", "b.csv:6", "c.parquet:1", "c.parquet:3"]
    rejected = read_jsonl(tmp_path / "out.rejected.jsonl")
    assert [(r["file"], r["line"]) for r in rejected] == [
        ("a.jsonl", 2),
        ("a.jsonl", 4),
        ("b.csv", 3),
        ("c.parquet", 2),
    ]
    assert f"{folder / 'a.jsonl'}:2: not valid JSON" in rejected[0]["error"]
    assert "field 'text' must be a string, got int" in rejected[1]["error"]
    assert "more fields than the header" in rejected[2]["error"]
    assert stats["rejected"] == 4 and stats["rejected_path"] == str(tmp_path / "out.rejected.jsonl")

    result = CliRunner().invoke(app, ["apply", str(model), str(folder), str(tmp_path / "cli.jsonl"), "--quiet"])
    assert result.exit_code == 0 and "4 malformed records skipped" in one_line(result.output)


def test_a_failed_run_keeps_its_finished_shards_and_a_rerun_adds_the_rest(setup, tmp_path, monkeypatch):
    _, model, _, corpus = setup
    reference = tmp_path / "reference.jsonl"
    spacy_distill.apply(model, corpus, reference, shard_size=30, show_progress=False)
    run, done = worker_module.ShardWorker.run, []

    def fail_after_five(self, shard):
        if len(done) == 5:
            raise RuntimeError("injected failure")
        done.append(shard["index"])
        return run(self, shard)

    monkeypatch.setattr(worker_module.ShardWorker, "run", fail_after_five)
    output = tmp_path / "out.jsonl"
    with pytest.raises(RuntimeError, match="injected failure"):
        spacy_distill.apply(model, corpus, output, shard_size=30, show_progress=False)
    assert not output.exists() and len(list((tmp_path / "out.jsonl.parts").glob("shard-*.jsonl"))) == 5

    with pytest.raises(InputError, match=r"out.jsonl.parts holds the parts of an unfinished run .*\(shard_size differ"):
        spacy_distill.apply(model, corpus, output, shard_size=31, show_progress=False)
    monkeypatch.setattr(worker_module.ShardWorker, "run", run)
    stats = spacy_distill.apply(model, corpus, output, shard_size=30, show_progress=False)
    assert stats["shards_resumed"] == 5 and stats["docs"] == N_TEXTS
    assert output.read_bytes() == reference.read_bytes()
    assert not (tmp_path / "out.jsonl.parts").exists()


@pytest.mark.parametrize(
    "args,message",
    [
        (["{corpus}", "{tmp}/out.csv"], "output must end in .jsonl or .parquet"),
        (["{tmp}/missing.jsonl", "{tmp}/out.jsonl"], "missing.jsonl: file or folder not found"),
        (["{tmp}/empty", "{tmp}/out.jsonl"], "empty: no .jsonl, .txt, .csv, .parquet files in this folder"),
        (["{tmp}/model", "{tmp}/out.jsonl"], "no record could be read: all 100 were malformed, e.g."),
    ],
)
def test_bad_arguments_fail_cleanly(setup, tmp_path, args, message):
    tmp, model, _, corpus = setup
    (tmp / "empty").mkdir(exist_ok=True)
    args = [a.format(corpus=corpus, tmp=tmp) for a in args]
    result = CliRunner().invoke(app, ["apply", str(model), *args, "--quiet"])
    assert result.exit_code == 1 and message in one_line(result.output), result.output


def test_unknown_pipeline_fails_cleanly(tmp_path):
    srsly.write_jsonl(tmp_path / "in.jsonl", [{"text": "hi"}])
    result = CliRunner().invoke(
        app, ["apply", "no_such_pipeline", str(tmp_path / "in.jsonl"), str(tmp_path / "o.jsonl")]
    )
    assert result.exit_code == 1
    assert "no_such_pipeline: no pipeline folder or installed pipeline package" in one_line(result.output)
