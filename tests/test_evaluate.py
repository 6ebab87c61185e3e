"""`spacy-distill evaluate`: a real student trained here, a teacher (docs, and a config run on the
gold texts), rules; scores checked against spaCy's own evaluation and hand counts."""

import json
import re
from pathlib import Path

import canned
import pytest
import spacy
import srsly
from spacy.cli.train import train
from spacy.scorer import Scorer
from spacy.tokens import DocBin, Span
from spacy.training import Example
from spacy.util import load_config
from spacy_llm.registry import registry
from typer.testing import CliRunner

from spacy_distill.cli import app
from spacy_distill.corpus.corrections import import_corrections
from spacy_distill.evaluation import detect_task, evaluate
from spacy_distill.evaluation.verdicts import comparison

ROOT = Path(__file__).parent.parent
DATA = ROOT / "assets" / "fashion_brands"
LABEL = "FASHION_BRAND"
N_GOLD = 60
PATTERNS = [
    {"label": LABEL, "pattern": [{"lower": "uniqlo"}]},
    {"label": LABEL, "pattern": [{"lower": "zara"}]},
    {"label": LABEL, "pattern": [{"lower": "levi"}, {"lower": "'s"}]},
    {"label": LABEL, "pattern": "Nike"},
    {"label": LABEL, "pattern": [{"lower": "j"}, {"lower": "crew"}]},
    {"label": LABEL, "pattern": [{"lower": "h&m"}]},
]
pytestmark = [
    pytest.mark.filterwarnings("ignore:.*Skipping unsupported user data 'spacy_distill"),
    pytest.mark.filterwarnings("ignore:Task supports sharding"),
]


@registry.llm_models("spacy_distill_test.CannedOnDisk.v1")
def make_canned_on_disk(answers, model_path: str, default: str = "none", store=None):
    """The canned model pretending to be a local GGUF file (for the size column)."""
    model = canned.CannedModel(answers, default, store)
    model.model_path = Path(model_path)
    return model


def gold_rows():
    """Test texts on one line whose entity texts occur once each (so canned answers map to known spans)."""
    rows = []
    for row in srsly.read_jsonl(DATA / "test.jsonl"):
        text = row["text"]
        if "\n" not in text and all(text.lower().count(text[s["start"] : s["end"]].lower()) == 1 for s in row["spans"]):
            rows.append(row)
    return rows[:N_GOLD]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """Gold (.jsonl corrections and .spacy), a student really trained on 200 other docs, patterns."""
    tmp = tmp_path_factory.mktemp("evaluate")
    rows = gold_rows()
    srsly.write_jsonl(tmp / "gold.jsonl", rows)
    import_corrections(tmp / "gold.jsonl", tmp / "gold.spacy")
    srsly.write_jsonl(tmp / "train.jsonl", list(srsly.read_jsonl(DATA / "train.jsonl"))[:200])
    srsly.write_jsonl(tmp / "dev.jsonl", list(srsly.read_jsonl(DATA / "train.jsonl"))[200:230])
    overrides = {
        "paths.train": str(tmp / "train.jsonl"),
        "paths.dev": str(tmp / "dev.jsonl"),
        "training.max_steps": 120,
        "training.eval_frequency": 60,
        "training.optimizer.learn_rate": 0.005,
    }
    train(ROOT / "configs" / "student_ner.cfg", tmp / "student", overrides=overrides)
    srsly.write_jsonl(tmp / "patterns.jsonl", PATTERNS)
    gold = list(DocBin().from_disk(tmp / "gold.spacy").get_docs(spacy.blank("en").vocab))
    return tmp, gold


def spacy_scores(nlp, gold):
    """spaCy's own evaluation of a pipeline on the gold docs (independent of our code)."""
    scores = nlp.evaluate([Example(nlp.make_doc(doc.text), doc) for doc in gold])
    return scores["ents_p"], scores["ents_r"], scores["ents_f"], scores["ents_per_type"]


def check_scores(entry, p, r, f, per_label=None):
    assert (entry["p"], entry["r"], entry["f"]) == pytest.approx((p, r, f))
    if per_label is not None:
        assert set(entry["per_label"]) == set(per_label)
        for label, expected in per_label.items():
            assert {k: entry["per_label"][label][k] for k in expected} == pytest.approx(expected), label


def check_shape(metrics, names):
    assert set(metrics["systems"]) == set(names)
    for entry in metrics["systems"].values():
        for key in ("f", "p", "r", "per_label", "docs_per_second", "words_per_second", "size_mb"):
            assert key in entry
        assert 0.0 <= entry["f"] <= 1.0


def test_student_rules_and_teacher_docs(setup):
    tmp, gold = setup
    n_words = sum(len(d) for d in gold)
    # Teacher docs with known counts: every doc keeps only its first gold entity, docs without
    # entities get their first token as a wrong entity, one gold doc is missing, one extra doc is not gold.
    nlp = spacy.blank("en")
    teacher_docs, tp, fp, fn = [], 0, 0, 0
    for i, ref in enumerate(gold):
        if i == 5:
            fn += len(ref.ents)
            continue
        doc = nlp(ref.text)
        if ref.ents:
            first = ref.ents[0]
            doc.set_ents([doc.char_span(first.start_char, first.end_char, label=LABEL)], default="outside")
            tp, fn = tp + 1, fn + len(ref.ents) - 1
        else:
            doc.set_ents([Span(doc, 0, 1, label=LABEL)], default="outside")
            fp += 1
        teacher_docs.append(doc)
    teacher_docs.append(nlp("A text the gold does not have, with Gucci."))
    DocBin(docs=teacher_docs, store_user_data=True).to_disk(tmp / "teacher.spacy")

    metrics = evaluate(
        tmp / "gold.spacy",
        teacher=tmp / "teacher.spacy",
        student=tmp / "student" / "model-last",
        rules=tmp / "patterns.jsonl",
        reference_rules=tmp / "patterns.jsonl",
        output=tmp / "metrics.json",
        report_dir=tmp / "report",
        repeats=2,
    )
    written = json.loads((tmp / "metrics.json").read_text())
    assert written == metrics
    check_shape(written, ["teacher", "student", "rules", "student+rules", "reference_rules"])
    assert written["gold"] == {"path": str(tmp / "gold.spacy"), "n_docs": N_GOLD, "n_words": n_words, "lang": "en"}
    assert written["task"]["kind"] == "ner" and written["task"]["score"] == "ents_f"
    assert written["task"]["label_counts"] == {LABEL: sum(len(d.ents) for d in gold)}

    teacher = written["systems"]["teacher"]
    p, r = tp / (tp + fp), tp / (tp + fn)
    check_scores(teacher, p, r, 2 * p * r / (p + r), {LABEL: {"p": p, "r": r, "f": 2 * p * r / (p + r)}})
    assert teacher["n_missing"] == 1 and teacher["docs_per_second"] is None and teacher["size_mb"] is None

    student = written["systems"]["student"]
    check_scores(student, *spacy_scores(spacy.load(tmp / "student" / "model-last"), gold))
    assert student["f"] > 0, "the student learnt nothing: a weak test"
    size = sum(p.stat().st_size for p in (tmp / "student" / "model-last").rglob("*") if p.is_file())
    assert student["size_mb"] == pytest.approx(size / 1e6)
    assert student["words_per_second"] == pytest.approx(student["docs_per_second"] * n_words / N_GOLD, rel=1e-3)
    assert student["repeats"] == 2 and student["words_per_second"] > 100

    ruler = spacy.blank("en")
    ruler.add_pipe("entity_ruler").add_patterns(PATTERNS)
    check_scores(written["systems"]["rules"], *spacy_scores(ruler, gold))
    assert written["systems"]["rules"]["size_mb"] == pytest.approx((tmp / "patterns.jsonl").stat().st_size / 1e6)
    assert written["systems"]["rules"]["words_per_second"] > student["words_per_second"]
    assert written["systems"]["reference_rules"]["f"] == written["systems"]["rules"]["f"]
    # student+rules: the rules before the student's ner, as an entity_ruler there would be.
    both = spacy.load(tmp / "student" / "model-last")
    both.add_pipe("entity_ruler", before="ner").add_patterns(PATTERNS)
    check_scores(written["systems"]["student+rules"], *spacy_scores(both, gold))
    assert written["systems"]["student+rules"]["pipeline"] == ["tok2vec", "spacy_distill_rules", "ner"]

    # The same gold read straight from the corrections file scores the same.
    again = evaluate(tmp / "gold.jsonl", teacher=tmp / "teacher.spacy", repeats=1)
    assert again["gold"]["n_docs"] == N_GOLD and again["systems"]["teacher"]["f"] == pytest.approx(teacher["f"])

    files = written["report"]
    assert [Path(f).name for f in files] == ["report.md", "report.html", "chart.png"]
    md, page = (tmp / "report" / "report.md").read_text(), (tmp / "report" / "report.html").read_text()
    for name in ("teacher", "student", "rules", "student+rules", "reference_rules"):
        assert f"| {name} |" in md and f"{name}</td>" in page
    # The first question of a project, answered per label from the same numbers.
    # A model is needed only where one clearly beats the rules (its paired interval above 0).
    f = {name: e["per_label"][LABEL]["f"] for name, e in written["systems"].items()}
    models = ("teacher", "student", "student+rules")
    clearly = [n for n in models if (c := comparison(written, n, "rules", LABEL))["clear"] and c["delta_f"] > 0]
    if clearly:
        verdict = f"A model is needed for {LABEL}"
    else:
        verdict = f"Rules {'are' if f['rules'] >= max(f[n] for n in models) else 'may be'} enough for {LABEL}"
    assert verdict in md and verdict in page
    # Intervals: every F inside its own; the same rules twice: no difference at all.
    for entry in written["systems"].values():
        assert entry["f_ci"][0] <= entry["f"] <= entry["f_ci"][1]
        assert (
            entry["per_label"][LABEL]["f_ci"][0]
            <= entry["per_label"][LABEL]["f"]
            <= entry["per_label"][LABEL]["f_ci"][1]
        )
    assert len(written["comparisons"]) == 10 and written["bootstrap"]["resamples"] == 1000
    same = comparison(written, "rules", "reference_rules")
    assert (same["delta_f"], same["ci"], same["p_value"], same["verdict"]) == (
        0.0,
        [0.0, 0.0],
        1.0,
        "no clear difference",
    )
    assert "| rules | reference_rules | +0.000 | +0.000 to +0.000 | 1 | no clear difference |" in md
    assert f"| {LABEL} | {written['task']['label_counts'][LABEL]} |" in md
    assert "data:image/png;base64," in page and "<link" not in page and "http" not in page
    assert (tmp / "report" / "chart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def canned_answers(gold):
    """Answers with known counts: a third of the docs with entities answer none, the others give
    every entity; two docs without entities name a word that is no brand."""
    answers, tp, fp, fn, wrong = {}, 0, 0, 0, 0
    for i, doc in enumerate(gold):
        if doc.ents and i % 3 == 0:
            answers[doc.text], fn = "none", fn + len(doc.ents)
        elif doc.ents:
            answers[doc.text], tp = "\n".join(f"{e.text} | {LABEL}" for e in reversed(doc.ents)), tp + len(doc.ents)
        elif wrong < 2:
            words = [t.text for t in doc if t.is_alpha and len(t) >= 5 and doc.text.lower().count(t.lower_) == 1]
            if words:
                answers[doc.text], fp, wrong = f"{words[0]} | {LABEL}", fp + 1, wrong + 1
    return answers, tp, fp, fn


def teacher_config(tmp, answers, model=None):
    config = load_config(ROOT / "configs" / "teacher_ner.cfg", interpolate=False)
    config["components"]["llm"]["model"] = model or {"@llm_models": "spacy_distill_test.Canned.v1", "answers": answers}
    config["components"]["llm"]["model"]["store"] = {
        "@llm_misc": "spacy_distill.ResponseStore.v1",
        "path": "${paths.responses}",
    }
    config.to_disk(tmp / "teacher.cfg")
    return tmp / "teacher.cfg"


def test_cli_teacher_config_runs_on_the_gold_and_reports_llm_stats(setup):
    tmp, gold = setup
    answers, tp, fp, fn = canned_answers(gold)
    config = teacher_config(tmp, answers)
    store = tmp / "responses.sqlite"
    args = [
        "evaluate",
        str(tmp / "gold.spacy"),
        "--teacher",
        str(config),
        "--student",
        str(tmp / "student" / "model-last"),
        "--output",
        str(tmp / "cfg" / "metrics.json"),
        "--report",
        str(tmp / "cfg" / "report"),
        "--repeats",
        "1",
        "--quiet",
        "--paths.examples",
        str(DATA / "ner_examples.yml"),
        "--paths.responses",
        str(store),
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp / "cfg" / "metrics.json").read_text())
    check_shape(metrics, ["teacher", "student"])
    teacher = metrics["systems"]["teacher"]
    p, r = tp / (tp + fp), tp / (tp + fn)
    check_scores(teacher, p, r, 2 * p * r / (p + r))
    assert teacher["n_predicted"] == tp + fp and teacher["source"] == "config"
    llm = teacher["llm"]
    assert (llm["model"], llm["llm_calls"], llm["cache_hits"], llm["speed_measured_on"]) == (
        "canned",
        N_GOLD,
        0,
        "llm calls",
    )
    assert llm["prompt_tokens"] > N_GOLD * 50 and llm["completion_tokens"] == 3 * N_GOLD
    assert teacher["docs_per_second"] > 0 and teacher["words_per_second"] > teacher["docs_per_second"]
    assert teacher["size_mb"] is None
    md = (tmp / "cfg" / "report" / "report.md").read_text()
    assert re.search(r"The student is [\d.,]+x (faster|slower) \([\d,.]+ vs [\d,.]+ words/s\)", md), md
    assert f"The teacher made {N_GOLD} LLM calls" in md
    assert "teacher" in result.output and "student" in result.output

    # Again with the same store: every answer is a cache hit, and the report says the speed is not the LLM's.
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    again = json.loads((tmp / "cfg" / "metrics.json").read_text())["systems"]["teacher"]
    assert (again["llm"]["llm_calls"], again["llm"]["cache_hits"]) == (0, N_GOLD) and again["f"] == teacher["f"]
    assert "response store" in again["llm"]["speed_measured_on"]
    assert "not the LLM's speed" in (tmp / "cfg" / "report" / "report.md").read_text()

    # A local model file: its size is the teacher's size, and the student is so many times smaller.
    gguf = tmp / "fake.gguf"
    gguf.write_bytes(b"\0" * 3_000_000)
    config = teacher_config(
        tmp, answers, {"@llm_models": "spacy_distill_test.CannedOnDisk.v1", "answers": answers, "model_path": str(gguf)}
    )
    metrics = evaluate(
        tmp / "gold.spacy",
        teacher=config,
        student=tmp / "student" / "model-last",
        repeats=1,
        overrides={"paths.examples": str(DATA / "ner_examples.yml"), "paths.responses": str(tmp / "r2.sqlite")},
    )
    assert metrics["systems"]["teacher"]["size_mb"] == pytest.approx(3.0)


def test_cli_errors(setup, tmp_path):
    tmp, _ = setup
    runner = CliRunner()

    def invoke(*args):
        result = runner.invoke(app, ["evaluate", *map(str, args), "--output", str(tmp_path / "m.json")])
        return result.exit_code, " ".join(result.output.split())  # without wasabi's line wrapping

    code, output = invoke(tmp_path / "missing.spacy", "--rules", tmp / "patterns.jsonl")
    assert code == 1 and "missing.spacy: gold file not found" in output and "Traceback" not in output
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"label": "X", "pattern": "x"}\n{"label": "X"}\n', encoding="utf8")
    code, output = invoke(tmp / "gold.spacy", "--rules", bad)
    assert code == 1 and 'bad.jsonl:2: a pattern needs "label" and "pattern"' in output
    code, output = invoke(tmp / "gold.spacy", "--student", tmp_path)
    assert code == 1 and "cannot load the student pipeline" in output
    code, output = invoke(tmp / "gold.spacy")
    assert code == 1 and "Nothing to evaluate" in output
    code, output = invoke(tmp / "gold.spacy", "--rules", tmp / "patterns.jsonl", "--task", "parser")
    assert code == 1 and "Unknown task 'parser'" in output
    assert not (tmp_path / "m.json").exists()


def docs_to(path, docs):
    DocBin(docs=docs, store_user_data=True).to_disk(path)
    return path


def test_multilabel_textcat_is_macro_f_and_rules_are_refused(tmp_path):
    nlp = spacy.blank("en")
    gold_cats = [{"A": 1.0, "B": 0.0}, {"A": 0.0, "B": 1.0}, {"A": 1.0, "B": 1.0}]
    pred_cats = [{"A": 0.9, "B": 0.1}, {"A": 0.8, "B": 0.2}, {"A": 1.0, "B": 0.7}]
    texts = ["one text", "two texts", "three texts here"]
    gold = [nlp(t) for t in texts]
    pred = [nlp(t) for t in texts]
    for doc, cats in zip(gold, gold_cats):
        doc.cats = cats
    for doc, cats in zip(pred, pred_cats):
        doc.cats = cats
    metrics = evaluate(
        docs_to(tmp_path / "gold.spacy", gold),
        teacher=docs_to(tmp_path / "pred.spacy", pred),
        output=tmp_path / "m.json",
    )
    assert metrics["task"]["kind"] == "textcat_multilabel" and metrics["task"]["score"] == "cats_macro_f"
    # A: tp 2 (docs 1, 3), fp 1 (doc 2); B: tp 1 (doc 3), fn 1 (doc 2)
    a, b = {"p": 2 / 3, "r": 1.0, "f": 0.8}, {"p": 1.0, "r": 0.5, "f": 2 / 3}
    check_scores(
        metrics["systems"]["teacher"],
        (a["p"] + b["p"]) / 2,
        (a["r"] + b["r"]) / 2,
        (a["f"] + b["f"]) / 2,
        {"A": a, "B": b},
    )
    with pytest.raises(ValueError, match="--rules needs an entity or span task"):
        evaluate(tmp_path / "gold.spacy", rules=tmp_path / "p.jsonl")


def test_exclusive_textcat_no_answer_and_missing_doc_predict_no_class(tmp_path):
    nlp = spacy.blank("en")
    gold = [nlp(t) for t in ("a b", "c d", "e f", "g h")]
    for doc, label in zip(gold, "XYXY"):
        doc.cats = {"X": float(label == "X"), "Y": float(label == "Y")}
    pred = [nlp("a b"), nlp("c d"), nlp("g h")]  # "e f" is missing
    pred[0].cats, pred[1].cats, pred[2].cats = {"X": 0.9, "Y": 0.1}, {"X": 0.6, "Y": 0.4}, {"X": 0.0, "Y": 0.0}
    metrics = evaluate(docs_to(tmp_path / "gold.spacy", gold), teacher=docs_to(tmp_path / "pred.spacy", pred))
    assert metrics["task"]["kind"] == "textcat" and metrics["task"]["score"] == "cats_macro_f"
    teacher = metrics["systems"]["teacher"]
    assert teacher["n_missing"] == 1
    # X: tp 1 (a b), fp 1 (c d), fn 1 (e f, missing); Y: fn 2 (c d; g h answered no class)
    x, y = {"p": 0.5, "r": 0.5, "f": 0.5}, {"p": 0.0, "r": 0.0, "f": 0.0}
    check_scores(teacher, 0.25, 0.25, 0.25, {"X": x, "Y": y})
    # Where every doc has a top class, the numbers are spaCy's exclusive scoring.
    metrics = evaluate(docs_to(tmp_path / "gold2.spacy", gold[:2]), teacher=tmp_path / "pred.spacy")
    spacy_scores = Scorer.score_cats(
        [Example(p, g) for p, g in zip(pred[:2], gold[:2])], "cats", labels=["X", "Y"], multi_label=False
    )
    check_scores(
        metrics["systems"]["teacher"],
        spacy_scores["cats_macro_p"],
        spacy_scores["cats_macro_r"],
        spacy_scores["cats_score"],
        spacy_scores["cats_f_per_type"],
    )


def test_spans_task_and_span_ruler(tmp_path):
    nlp = spacy.blank("en")
    gold = [nlp("Rude idiot and total moron here"), nlp("Nothing toxic here"), nlp("You idiot")]
    gold[0].spans["sc"] = [Span(gold[0], s, e, label="TOXIC") for s, e in ((1, 2), (3, 5), (4, 5))]
    gold[1].spans["sc"] = []
    gold[2].spans["sc"] = [Span(gold[2], 1, 2, label="TOXIC")]
    task = detect_task(gold)
    assert (task.kind, task.span_key, task.score_name, task.label_counts) == (
        "spancat",
        "sc",
        "spans_sc_f",
        {"TOXIC": 4},
    )
    srsly.write_jsonl(
        tmp_path / "p.jsonl", [{"label": "TOXIC", "pattern": [{"lower": {"IN": ["idiot", "moron", "rude"]}}]}]
    )
    metrics = evaluate(docs_to(tmp_path / "gold.spacy", gold), rules=tmp_path / "p.jsonl", repeats=1)
    # predicted: Rude (fp), idiot, moron, idiot: tp 3 of 4 gold, fp 1
    check_scores(metrics["systems"]["rules"], 0.75, 0.75, 0.75)
    assert metrics["systems"]["rules"]["n_predicted"] == 4


def test_rules_verdict_per_label_in_plain_words():
    from spacy_distill.evaluation.report import rules_verdicts

    def system(f_by_label, words_per_second):
        return {
            "f": 0.5,
            "per_label": {k: {"f": v} for k, v in f_by_label.items()},
            "words_per_second": words_per_second,
        }

    metrics = {
        "task": {"labels": ["CODE", "BRAND"], "label_counts": {}},
        "systems": {
            "rules": system({"CODE": 0.95, "BRAND": 0.30}, 150000),
            "student": system({"CODE": 0.90, "BRAND": 0.60}, 20000),
            "student+rules": system({"CODE": 0.93, "BRAND": 0.65}, 19000),
        },
    }
    assert rules_verdicts(metrics) == [
        "Rules are enough for CODE (F 0.950, 150,000 words/s, no model).",
        "A model is needed for BRAND (rules F 0.300, student+rules F 0.650).",
    ]
    del metrics["systems"]["student"], metrics["systems"]["student+rules"]
    assert rules_verdicts(metrics) == []  # nothing to compare the rules with
