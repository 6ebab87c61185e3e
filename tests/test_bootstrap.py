"""Bootstrap intervals and paired comparisons in `evaluate`: per-doc counts that rescore exactly as
spaCy's scorer does, intervals, clear and unclear differences, seeds, options and the wording."""

import json
import random
from pathlib import Path

import numpy
import pytest
import spacy
import srsly
from spacy.tokens import DocBin, Span
from typer.testing import CliRunner

from spacy_distill.cli import app
from spacy_distill.corpus.gold import load_gold
from spacy_distill.evaluation import evaluate
from spacy_distill.evaluation.bootstrap import f_scores
from spacy_distill.evaluation.report import markdown
from spacy_distill.evaluation.verdicts import comparison, rules_verdicts
from spacy_distill.rules.apply import rules_pipeline
from spacy_distill.scoring import doc_counts, score
from spacy_distill.task import Task, detect_task

ROOT = Path(__file__).parent.parent
DATA = ROOT / "assets" / "fashion_brands"
pytestmark = pytest.mark.filterwarnings("ignore:.*Skipping unsupported user data 'spacy_distill")


def docs_to(path, docs):
    DocBin(docs=docs, store_user_data=True).to_disk(path)
    return path


def flat(text):
    return " ".join(text.split())


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    """The sample's 200 gold test docs, the bundled patterns and half of them, a pattern that never matches."""
    tmp = tmp_path_factory.mktemp("bootstrap")
    gold = load_gold(DATA / "test.jsonl", "en")
    docs_to(tmp / "gold.spacy", gold)
    patterns = list(srsly.read_jsonl(DATA / "patterns.jsonl"))
    srsly.write_jsonl(tmp / "half.jsonl", patterns[: len(patterns) // 2])
    srsly.write_jsonl(tmp / "nothing.jsonl", [{"label": "FASHION_BRAND", "pattern": "Qwzxv"}])
    return tmp, gold


def ner_cases(gold):
    nlp, _ = rules_pipeline(DATA / "patterns.jsonl", "en", Task("ner", labels=["FASHION_BRAND"]))
    rules = list(nlp.pipe([d.text for d in gold]))
    # Partly annotated gold: one entity, every other token missing; predictions there are ignored.
    vocab = gold[0].vocab
    partial = spacy.tokens.Doc(vocab, words=["Zara", "and", "Nike", "and", "Gap"])
    partial.set_ents([Span(partial, 0, 1, "FASHION_BRAND")], default="missing")
    guess = spacy.tokens.Doc(vocab, words=["Zara", "and", "Nike", "and", "Gap"])
    guess.set_ents([Span(guess, 0, 1, "FASHION_BRAND"), Span(guess, 2, 3, "OTHER")])
    return gold + [partial], rules + [guess]


def spans_case():
    nlp = spacy.blank("en")
    gold = [nlp("Rude idiot and total moron here"), nlp("Nothing toxic here"), nlp("You idiot")]
    gold[0].spans["sc"] = [Span(gold[0], s, e, label="TOXIC") for s, e in ((1, 2), (3, 5), (4, 5))]
    gold[1].spans["sc"] = []
    gold[2].spans["sc"] = [Span(gold[2], 1, 2, label="TOXIC")]
    pred = [nlp(d.text) for d in gold]
    pred[0].spans["sc"] = [
        Span(pred[0], s, e, label=lab) for s, e, lab in ((0, 1, "TOXIC"), (4, 5, "TOXIC"), (1, 2, "X"))
    ]
    pred[2].spans["sc"] = [Span(pred[2], 1, 2, label="TOXIC")]
    return gold, pred


def cats_case(exclusive):
    nlp = spacy.blank("en")
    rng = random.Random(3)
    gold, pred = [], []
    for i in range(30):
        g, p = nlp(f"text number {i}"), nlp(f"text number {i}")
        if exclusive:
            label = rng.choice("XYZ")
            g.cats = {c: float(c == label) for c in "XYZ"}
        else:
            g.cats = {c: float(rng.random() < 0.4) for c in "XYZ"}
        p.cats = {c: rng.random() for c in "XYZ"} if i % 7 else {c: 0.0 for c in "XYZ"}
        gold.append(g)
        pred.append(p if i != 5 else None)  # a doc the system has none for
    return gold, pred


@pytest.mark.parametrize("kind", ["ner", "spancat", "textcat", "textcat_multilabel"])
def test_resampled_counts_give_the_scores_spacy_gives_on_the_resampled_docs(sample, kind):
    """The bootstrap's shortcut (count once, sum the counts of a resample) equals rescoring that resample with spaCy."""
    _, sample_gold = sample
    gold, pred = {
        "ner": lambda: ner_cases(sample_gold[:60]),
        "spancat": spans_case,
        "textcat": lambda: cats_case(True),
        "textcat_multilabel": lambda: cats_case(False),
    }[kind]()
    task = detect_task(gold)
    assert task.kind == kind
    labels, counts = doc_counts(pred, gold, task)
    assert counts.shape == (len(gold), len(labels), 3)
    rng = numpy.random.default_rng(0)
    for draw in range(6):
        idx = numpy.arange(len(gold)) if draw == 0 else rng.integers(0, len(gold), len(gold))
        expected = score([pred[i] for i in idx], [gold[i] for i in idx], task)
        f, per_label = f_scores(counts[idx].sum(axis=0), macro=kind.startswith("textcat"))
        assert float(f) == pytest.approx(expected["f"], abs=1e-12)
        for label, scores in expected["per_label"].items():
            assert float(per_label[labels.index(label)]) == pytest.approx(scores["f"], abs=1e-12), label


def test_intervals_comparisons_and_seeds_on_the_sample(sample, tmp_path):
    tmp, _ = sample
    common = dict(teacher=tmp / "gold.spacy", rules=DATA / "patterns.jsonl", reference_rules=tmp / "half.jsonl")
    metrics = evaluate(tmp / "gold.spacy", output=tmp_path / "m.json", repeats=1, **common)
    written = json.loads((tmp_path / "m.json").read_text())
    assert written["bootstrap"] == {**metrics["bootstrap"], "resamples": 1000, "seed": 0, "confidence": 0.95}
    for name, entry in written["systems"].items():
        assert {"f", "p", "r", "per_label", "docs_per_second", "words_per_second", "size_mb"} <= set(entry)
        lo, hi = entry["f_ci"]
        assert lo <= entry["f"] <= hi, name
        label = entry["per_label"]["FASHION_BRAND"]
        assert label["f_ci"][0] <= label["f"] <= label["f_ci"][1]
    assert [(c["a"], c["b"]) for c in written["comparisons"]] == [
        ("teacher", "rules"),
        ("teacher", "reference_rules"),
        ("rules", "reference_rules"),
    ]
    for c in written["comparisons"]:
        assert {"a", "b", "delta_f", "ci", "p_value"} <= set(c)
        f_a, f_b = written["systems"][c["a"]]["f"], written["systems"][c["b"]]["f"]
        assert c["delta_f"] == pytest.approx(f_a - f_b) and c["ci"][0] <= c["delta_f"] <= c["ci"][1]
        assert 0 < c["p_value"] <= 1
    # gold as the teacher (F 1.0) against rules that find a quarter of the brands: clearly better
    clear = comparison(written, "teacher", "rules")
    assert clear["clear"] and clear["ci"][0] > 0 and clear["verdict"] == "teacher beats rules"
    assert clear["p_value"] == pytest.approx(2 / 1001, abs=1e-6)  # no resample where the rules did as well
    assert comparison(written, "rules", "teacher")["ci"] == [-clear["ci"][1], -clear["ci"][0]]
    # The same seed gives the same numbers; another seed other intervals around the same scores.
    again = evaluate(tmp / "gold.spacy", repeats=1, **common)
    assert again["comparisons"] == written["comparisons"]
    assert [e["f_ci"] for e in again["systems"].values()] == [e["f_ci"] for e in written["systems"].values()]
    other = evaluate(tmp / "gold.spacy", repeats=1, seed=1, confidence=0.8, **common)
    assert other["systems"]["rules"]["f"] == written["systems"]["rules"]["f"]
    assert other["systems"]["rules"]["f_ci"] != written["systems"]["rules"]["f_ci"]
    lo80, hi80 = other["systems"]["rules"]["f_ci"]
    lo95, hi95 = written["systems"]["rules"]["f_ci"]
    assert hi80 - lo80 < hi95 - lo95  # a lower confidence, a narrower interval


def test_identical_systems_no_clear_difference_and_the_report_says_so(sample, tmp_path):
    tmp, _ = sample
    metrics = evaluate(
        tmp / "gold.spacy",
        rules=DATA / "patterns.jsonl",
        reference_rules=DATA / "patterns.jsonl",
        teacher=tmp / "gold.spacy",
        repeats=1,
        report_dir=tmp_path / "report",
    )
    same = comparison(metrics, "rules", "reference_rules")
    assert (same["delta_f"], same["ci"], same["p_value"], same["clear"]) == (0.0, [0.0, 0.0], 1.0, False)
    md = (tmp_path / "report" / "report.md").read_text()
    assert "| rules | reference_rules | +0.000 | +0.000 to +0.000 | 1 | no clear difference |" in md
    assert "| teacher | rules |" in md and "teacher beats rules |" in md
    assert "Best: teacher, clearly ahead of every other system (95% paired intervals)." in md
    assert "no clear difference" in (tmp_path / "report" / "report.html").read_text()
    # Rules against gold as the only model: a model is needed, and the line gives the interval.
    (verdict,) = rules_verdicts(metrics)
    assert verdict.startswith(
        "A model is needed for FASHION_BRAND (rules F 0.419, teacher F 1.000; difference +0.581, 95% CI +"
    )


def test_cli_options_no_bootstrap_and_bad_values(sample, tmp_path):
    tmp, _ = sample
    runner = CliRunner()
    base = ["evaluate", str(tmp / "gold.spacy"), "--teacher", str(tmp / "gold.spacy"), "--repeats", "1"]
    base += [
        "--rules",
        str(tmp / "nothing.jsonl"),
        "--output",
        str(tmp_path / "m.json"),
        "--report",
        str(tmp_path / "r"),
    ]
    result = runner.invoke(app, base + ["--bootstrap", "200", "--seed", "7", "--confidence", "0.9"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert (metrics["bootstrap"]["resamples"], metrics["bootstrap"]["seed"], metrics["bootstrap"]["confidence"]) == (
        200,
        7,
        0.9,
    )
    (c,) = metrics["comparisons"]
    assert c["delta_f"] == 1.0 and c["ci"] == [1.0, 1.0] and c["verdict"] == "teacher beats rules"  # gold vs nothing
    assert "teacher beats rules" in flat(result.output) and "F 90% CI" in result.output

    result = runner.invoke(app, base + ["--bootstrap", "0"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert "comparisons" not in metrics and "bootstrap" not in metrics
    assert all("f_ci" not in e for e in metrics["systems"].values())
    md = (tmp_path / "r" / "report.md").read_text()
    assert "Best: teacher (no intervals: --bootstrap 0)." in md and "No intervals (--bootstrap 0)" in md

    for option, value, expected in (
        ("--confidence", "1.5", "--confidence must be between 0 and 1"),
        ("--bootstrap", "-1", "--bootstrap must be 0 (no intervals) or a number of resamples"),
    ):
        result = runner.invoke(app, base + [option, value])
        assert result.exit_code == 1 and expected in flat(result.output), result.output


def test_the_rules_verdicts_use_the_paired_intervals():
    def system(f_by_label, words_per_second=None):
        return {
            "f": 0.5,
            "p": 0.5,
            "r": 0.5,
            "per_label": {k: {"f": v} for k, v in f_by_label.items()},
            "words_per_second": words_per_second,
        }

    def versus(a, b, per_label):
        out = {}
        for label, (delta, lo, hi) in per_label.items():
            clear = lo > 0 or hi < 0
            out[label] = {"delta_f": delta, "ci": [lo, hi], "p_value": 0.01 if clear else 0.4, "clear": clear}
        return {
            "a": a,
            "b": b,
            "delta_f": 0.1,
            "ci": [-0.1, 0.2],
            "p_value": 0.3,
            "clear": False,
            "verdict": "no clear difference",
            "per_label": out,
        }

    metrics = {
        "task": {"labels": ["CODE", "BRAND", "SIZE"], "label_counts": {}},
        "systems": {
            "rules": system({"CODE": 0.95, "BRAND": 0.30, "SIZE": 0.50}, 150000),
            "student": system({"CODE": 0.90, "BRAND": 0.60, "SIZE": 0.58}),
        },
        "comparisons": [
            versus(
                "rules",
                "student",
                {"CODE": (0.05, -0.02, 0.11), "BRAND": (-0.3, -0.45, -0.12), "SIZE": (-0.08, -0.2, 0.03)},
            )
        ],
        "bootstrap": {"confidence": 0.95, "resamples": 1000, "seed": 0},
    }
    assert rules_verdicts(metrics) == [
        "Rules are enough for CODE (F 0.950, 150,000 words/s, no model).",
        "A model is needed for BRAND (rules F 0.300, student F 0.600; difference +0.300, 95% CI +0.120 to +0.450, p 0.01).",
        "Rules may be enough for SIZE: student is ahead (F 0.580 vs rules 0.500) but not clearly (difference +0.080, "
        "95% CI -0.030 to +0.200, p 0.4); more gold docs would tell.",
    ]
    page = markdown(
        {
            **metrics,
            "gold": {"n_docs": 10, "path": "g"},
            "task": {**metrics["task"], "kind": "ner", "score": "ents_f"},
            "machine": {},
        },
        "c.png",
    )
    assert "| BRAND |  | 0.300 | 0.600 | student |" in page
    assert "| SIZE |  | 0.500 | 0.580 | no clear winner: student, rules |" in page
    assert "SIZE: no clear winner between student, rules" in page
