"""`rules propose` with no LLM: induced and seed rules, checks, selection on one split, the report."""

import json
import sys
import types
from pathlib import Path

import pytest
import spacy
from typer.testing import CliRunner

from spacy_distill import propose_rules
from spacy_distill.cli import app
from spacy_distill.rules.checks import Split, compile_rules, match_splits
from spacy_distill.rules.rule import Rule

CONFIG = "configs/teacher_ner.cfg"
REQUIRED = ("id", "label", "pattern", "source", "stats")


def jsonl_slice(source: Path, target: Path, n: int) -> Path:
    target.write_text("".join(source.read_text(encoding="utf8").splitlines(keepends=True)[:n]), encoding="utf8")
    return target


@pytest.fixture(scope="module")
def data(root, tmp_path_factory):
    folder = tmp_path_factory.mktemp("rules")
    brands = root / "assets" / "fashion_brands"
    return {
        "corrections": jsonl_slice(brands / "train.jsonl", folder / "train.jsonl", 200),
        "dev": jsonl_slice(brands / "test.jsonl", folder / "dev.jsonl", 100),
    }


def gold_texts(path: Path) -> set:
    texts = set()
    for line in path.read_text(encoding="utf8").splitlines():
        record = json.loads(line)
        texts.update(record["text"][s["start"] : s["end"]].lower() for s in record.get("spans", []))
    return texts


def read_lines(path: Path) -> list:
    return [json.loads(line) for line in path.read_text(encoding="utf8").splitlines()]


def propose(data, tmp_path, **options):
    options = {"dev": data["dev"], "no_llm": True, "show_progress": False, **options}
    stats = propose_rules(CONFIG, data["corrections"], tmp_path / "rules.jsonl", **options)
    return stats, read_lines(tmp_path / "rules.jsonl")


def test_output_loads_into_a_plain_entity_ruler_with_every_key(data, tmp_path):
    stats, lines = propose(data, tmp_path)
    assert lines and stats["kept"] == len(lines)
    for line in lines:
        assert all(key in line for key in REQUIRED)
        assert line["source"] == "induced"
        assert line["stats"]["precision"] >= 0.9 and line["stats"]["matches"] >= 1
    assert [(x["label"], -x["stats"]["precision"]) for x in lines] == sorted(
        (x["label"], -x["stats"]["precision"]) for x in lines
    )
    nlp = spacy.blank("en")
    nlp.add_pipe("entity_ruler", config={"validate": True}).add_patterns(lines)
    doc = nlp("I bought it at Uniqlo and J Crew.")
    assert any(ent.label_ == "FASHION_BRAND" for ent in doc.ents)
    assert stats["sources"]["induced"]["proposed"] >= stats["sources"]["induced"]["valid"] >= stats["kept"]
    assert 0 < stats["report_scores"]["f"] <= 1 and stats["splits"]["report"]["docs"] == 100
    assert stats["unjudged"] == {"rules": 0, "output": None} and not (tmp_path / "rules.unjudged.jsonl").exists()


def test_a_low_precision_rule_is_dropped_and_reported_with_its_reason(data, tmp_path):
    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text(
        '{"label": "FASHION_BRAND", "pattern": [{"lower": "the"}]}\n'
        '{"label": "FASHION_BRAND", "pattern": [{"lower": "uniqlo"}]}\n',
        encoding="utf8",
    )
    stats, lines = propose(data, tmp_path, seed_patterns=seeds, report_dir=tmp_path / "report")
    assert [x["pattern"] for x in lines if x["source"] == "seed"] == [[{"lower": "uniqlo"}]]
    assert stats["sources"]["seed"] == {"proposed": 2, "valid": 2, "kept": 1, "dropped": {"low_precision": 1}}
    assert stats["sources"]["induced"]["dropped"]["duplicate"] == 1  # "uniqlo" again, merged into the seed
    md = (tmp_path / "report" / "rules.md").read_text(encoding="utf8")
    row = next(line for line in md.splitlines() if '"the" (any case)' in line)
    assert "precision below the minimum: precision 0.00 < 0.90" in row and "✗" in row
    page = (tmp_path / "report" / "rules.html").read_text(encoding="utf8")
    assert "precision below the minimum" in page and "<mark class='fp'>" in page and "<script" not in page


def test_selection_never_uses_the_report_split(data, tmp_path):
    only_in_dev = sorted(t for t in gold_texts(data["dev"]) - gold_texts(data["corrections"]) if t.isalpha())[0]
    corrections_text = data["corrections"].read_text(encoding="utf8").lower()
    assert only_in_dev not in corrections_text  # it helps on the report split only
    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text(json.dumps({"label": "FASHION_BRAND", "pattern": [{"lower": only_in_dev}]}) + "\n")
    stats, lines = propose(data, tmp_path, seed_patterns=seeds)
    assert stats["sources"]["seed"]["dropped"] == {"no_matches": 1}
    # the data cannot judge it: it waits for an expert in rules.unjudged.jsonl, which a ruler loads
    unjudged = tmp_path / "rules.unjudged.jsonl"
    assert stats["unjudged"] == {"rules": 1, "output": str(unjudged)}
    [line] = read_lines(unjudged)
    assert line["pattern"] == [{"lower": only_in_dev}] and line["source"] == "seed" and line["stats"]["matches"] == 0
    spacy.blank("en").add_pipe("entity_ruler", config={"validate": True}).add_patterns([line])
    propose(data, tmp_path)  # a rerun with nothing unjudged leaves no stale file behind
    assert not unjudged.exists()
    induced = {" ".join(t["lower"] for t in x["pattern"]) for x in lines if all("lower" in t for t in x["pattern"])}
    assert induced <= gold_texts(data["corrections"])  # phrases come from the selection data only


def test_without_dev_rules_are_induced_on_one_half_and_reported_on_the_other(data, tmp_path, monkeypatch):
    import spacy_distill.rules.propose as propose_module

    induced_from = []
    real = propose_module.induced_candidates
    monkeypatch.setattr(
        propose_module, "induced_candidates", lambda docs, task: induced_from.extend(docs) or real(docs, task)
    )
    stats, _ = propose(data, tmp_path, dev=None, seed=3)
    selection, report = stats["splits"]["selection"]["docs"], stats["splits"]["report"]["docs"]
    assert selection + report == 200 and abs(selection - report) <= 1
    assert len(induced_from) == selection


def test_garbage_from_the_llm_is_counted_not_fatal(data, tmp_path, monkeypatch):
    proposed = [
        Rule(id="llm-1", label="FASHION_BRAND", pattern=[{"NOT_AN_ATTR": "x"}], source="llm"),
        Rule(id="llm-2", label="FASHION_BRAND", regex="(unclosed", source="llm"),
        Rule(id="llm-3", label="FASHION_BRAND", pattern=[{"lower": "uniqlo"}], source="llm"),
        Rule(id="llm-4", label="FASHION_BRAND", pattern=[{"lower": "zzzz-no-such-brand"}], source="llm"),
    ]
    fake = types.ModuleType("spacy_distill.rules.llm")
    fake.llm_candidates = lambda *args, **kwargs: (
        [Rule(**vars(r)) for r in proposed],
        {"proposed": 5, "unparseable": 1},
    )
    monkeypatch.setitem(sys.modules, "spacy_distill.rules.llm", fake)
    stats, lines = propose(data, tmp_path, no_llm=False, report_dir=tmp_path / "report")
    assert stats["llm"] == {"proposed": 5, "unparseable": 1}
    assert stats["sources"]["llm"] == {
        "proposed": 4,
        "valid": 2,
        "kept": 1,
        "dropped": {"invalid": 2, "no_matches": 1},
    }
    assert [x["id"] for x in lines if x["source"] == "llm"] == ["llm-3"]
    md = (tmp_path / "report" / "rules.md").read_text(encoding="utf8")
    assert "rule llm-2: invalid regex" in md and "rule llm-1: invalid token pattern" in md


def test_a_regex_that_hangs_on_a_doc_is_dropped_naming_the_doc():
    nlp = spacy.blank("en")
    docs = [nlp("Nike and Zara"), nlp("x" * 5000)]
    split = Split("selection", docs, [set(), set()], {})
    rules = [
        Rule(id="slow", label="X", regex="(x+x+)+y", source="llm"),
        Rule(id="fine", label="X", pattern=[{"lower": "nike"}], source="induced"),
    ]
    matcher, invalid = compile_rules(nlp, rules, regex_timeout=0.2)
    matcher, timed_out = match_splits(nlp, matcher, [split])
    assert not invalid and [d.rule.id for d in timed_out] == ["slow"]
    assert "selection doc 2" in timed_out[0].detail
    assert list(matcher.rules) == ["fine"] and split.matches["fine"] == {0: [(0, 1, "X")]}


def test_cli_runs_end_to_end_and_explains_itself(data, tmp_path):
    output, report = tmp_path / "out" / "rules.jsonl", tmp_path / "report"
    args = ["rules", "propose", CONFIG, str(data["corrections"]), str(output), "--dev", str(data["dev"])]
    result = CliRunner().invoke(app, [*args, "--no-llm", "--report", str(report), "--quiet"])
    assert result.exit_code == 0, result.output
    assert read_lines(output) and (report / "rules.md").exists() and (report / "rules.html").exists()
    assert "kept rules on the report split" in " ".join(result.output.split())
    result = CliRunner().invoke(app, [*args, "--no-llm", "--min-precision", "2"])
    assert result.exit_code == 1 and "--min-precision" in result.output
    result = CliRunner().invoke(app, ["rules", "propose", "--help"], terminal_width=100)
    assert result.exit_code == 0 and "--seed-patterns" in result.output
