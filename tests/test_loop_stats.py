"""The loop's stopping rule: the student beats the teacher only when the paired bootstrap interval
of student F - teacher F lies above the margin, not when its F is higher by chance."""

import re

import pytest
import srsly
from spacy.tokens import Doc, Span
from test_loop import DATA, make_project, plain
from typer.testing import CliRunner

from spacy_distill.cli import app
from spacy_distill.evaluation.bootstrap import paired_bootstrap
from spacy_distill.rounds.layout import student_vs_teacher
from spacy_distill.rounds.loop import Loop, run_loop
from spacy_distill.rounds.projection import projection
from spacy_distill.rounds.report import findings, projection_end, target_of
from spacy_distill.rounds.settings import read_settings
from spacy_distill.scoring import score


def finding(gold, keep):
    """Copies of the gold docs that keep the entities of the docs in `keep` and find nothing in the others."""
    out = []
    for i, ref in enumerate(gold):
        doc = Doc(ref.vocab, words=[t.text for t in ref], spaces=[bool(t.whitespace_) for t in ref])
        if i in keep:
            doc.ents = [Span(doc, e.start, e.end, label=e.label_) for e in ref.ents]
        out.append(doc)
    return out


def noisy_split(gold):
    """Docs whose brands the teacher finds and others whose brands the student finds, a few more in all."""
    with_ents = sorted((i for i, d in enumerate(gold) if d.ents), key=lambda i: len(gold[i].ents))
    teacher, student = set(with_ents[0::2]), set(with_ents[1::2])
    while sum(len(gold[i].ents) for i in student) <= sum(len(gold[i].ents) for i in teacher):
        student.add(min(teacher - student, key=lambda i: len(gold[i].ents)))
    return teacher, student


def metrics_of(gold, task, teacher_keeps, student_keeps, settings):
    docs = {"teacher": finding(gold, teacher_keeps), "student": finding(gold, student_keeps)}
    systems = {name: score(d, gold, task) for name, d in docs.items()}
    options = settings.evaluation()
    comparisons, info = paired_bootstrap(
        docs, gold, task, systems, options["bootstrap"], options["seed"], options["confidence"]
    )
    return {"systems": systems, "comparisons": comparisons, "bootstrap": info}


@pytest.fixture(scope="module")
def loop(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("loop_stats")
    config = make_project(tmp, stop_when_beaten=True, budget=400)
    return Loop(read_settings(config), tmp / "out", show_progress=False)


def entry(metrics, margin, n_corrected=40):
    systems = metrics["systems"]
    return {
        "round": 1,
        "n_corrected": n_corrected,
        "teacher_f": systems["teacher"]["f"],
        "student_f": systems["student"]["f"],
        **student_vs_teacher(metrics, margin),
    }


def test_a_noisy_win_does_not_stop_the_loop_a_clear_one_does(loop):
    gold, task = loop.gold_test, loop.task
    with_ents = [i for i, d in enumerate(gold) if d.ents]
    assert len(with_ents) == 20
    # Noisy: the teacher finds the brands of half the docs, the student those of the other half and a few more.
    noisy = metrics_of(gold, task, *noisy_split(gold), loop.s)
    e = entry(noisy, loop.s.margin)
    assert e["student_f"] > e["teacher_f"] and e["student_ahead"], "the construction: the student is ahead"
    assert e["delta_ci"][0] < 0 < e["delta_ci"][1] and not e["student_beats_teacher"]
    assert e["stop_rule"] == "paired 95% interval" and e["student_f_ci"][0] <= e["student_f"] <= e["student_f_ci"][1]
    loop.rounds = [e]
    assert loop.stop_reason() == ""  # the loop goes on
    text = " ".join(
        findings(
            [{**e, "teacher_f_before_corrections": None, "suggested_by": "teacher"}],
            loop.s,
            None,
            None,
            {"note": "-"},
            True,
        )
    )
    assert "has not clearly beaten the teacher" in text and "ahead but not clearly in round 1" in text

    # Clear: the student finds the brands of every doc, the teacher of 8.
    clear = metrics_of(gold, task, set(with_ents[:8]), set(with_ents), loop.s)
    e = entry(clear, loop.s.margin)
    assert e["delta_ci"][0] > 0 and e["student_beats_teacher"]
    loop.rounds = [e]
    reason = loop.stop_reason()
    assert reason.startswith("the student beats the teacher: F 1.000 vs ") and "95% CI +" in reason
    # The same win with a margin above the interval's lower end: not enough.
    e = entry(clear, margin=e["delta_ci"][0] + 0.01)
    assert e["student_ahead"] and not e["student_beats_teacher"]


def test_without_intervals_the_point_estimates_decide(loop):
    gold, task = loop.gold_test, loop.task
    noisy = metrics_of(gold, task, *noisy_split(gold), loop.s)
    point = {"systems": noisy["systems"]}  # bootstrap = 0: no comparisons
    e = entry(point, 0.0)
    assert e["student_beats_teacher"] and e["stop_rule"] == "point estimates" and "delta_ci" not in e
    assert not entry(point, 0.2)["student_beats_teacher"]


def test_a_real_loop_goes_on_after_a_noisy_win(tmp_path):
    """A teacher that finds nothing, and a test set where the student, trained on the first batch, finds
    the brand of one doc in ten (Uniqlo, frequent in the pool) and misses the rarer ones: its F is higher
    than the teacher's, but resamples without that doc are no win at all, so the loop does not stop."""
    config = make_project(
        tmp_path,
        teacher_every=0,
        budget=60,
        batch_size=30,
        stop_when_beaten=True,
        max_steps=200,
        strategy="spacy_distill.Uncertainty.v1",
    )
    test = plain(DATA / "test.jsonl", 20, 20)
    srsly.write_jsonl(tmp_path / "test.jsonl", [test[i] for i in (30, 8, 20, 32, 36, 12, 1, 3, 5, 7)])
    summary = run_loop(config, tmp_path / "out", show_progress=False)
    first = summary["rounds"][0]
    assert first["teacher_f"] == 0.0 < first["student_f"], "the construction: the student is ahead in round 1"
    assert first["delta_ci"][0] <= 0 and not first["student_beats_teacher"]
    assert first["student_ahead"]  # F alone would have stopped the loop here
    assert len(summary["rounds"]) == 2  # it went on
    report = (tmp_path / "out" / "report" / "report.md").read_text()
    assert re.search(r"The student was ahead but not clearly in rounds? 1\b", report)


def test_cli_margin_and_confidence_options(tmp_path):
    config = make_project(tmp_path)
    out = str(tmp_path / "out")
    result = CliRunner().invoke(app, ["loop", str(config), "--output", out, "--confidence", "1.5"])
    assert result.exit_code == 1 and "[loop] confidence must be between 0 and 1" in " ".join(result.output.split())
    result = CliRunner().invoke(app, ["loop", str(config), "--output", out, "--loop.bootstrap", "-5"])
    assert result.exit_code == 1 and "[loop] bootstrap must be 0 (no intervals)" in " ".join(result.output.split())
    settings = read_settings(config, {"loop.margin": 0.05, "loop.confidence": 0.9})
    assert (settings.margin, settings.confidence, settings.evaluation()["confidence"]) == (0.05, 0.9, 0.9)


class ReportSettings:
    margin = 0.0
    target_f = None

    class teacher:
        similar_examples = 3


def report_round(r, teacher_f, teacher_f_ci, **extra):
    return {
        "round": r,
        "n_corrected": 50 * r,
        "teacher_f": teacher_f,
        "teacher_f_ci": teacher_f_ci,
        "confidence": 0.95,
        "teacher_f_before_corrections": 0.218,
        "suggested_by": "rules",
        "edits_per_doc_by_source": {},
        **extra,
    }


def test_the_report_projects_to_a_clear_win_not_to_the_teachers_f(loop):
    """Ahead but not clearly: the target is the F that would be a clear win, so the projection does not
    call the target 'already passed' while the loop goes on."""
    noisy = entry(metrics_of(loop.gold_test, loop.task, *noisy_split(loop.gold_test), loop.s), 0.0)
    assert noisy["student_ahead"] and not noisy["student_beats_teacher"]
    half_width = noisy["delta_f"] - noisy["delta_ci"][0]
    target = target_of([noisy], ReportSettings, ceiling=0.5)
    assert target == pytest.approx(min(1.0, noisy["teacher_f"] + half_width), abs=1e-5)
    assert target > noisy["student_f"]
    # The sample's round 4 (teacher 0.230, student 0.297, difference -0.106 to +0.206): a clear win needs F 0.403.
    sample = {"teacher_f": 0.230, "delta_f": 0.067, "delta_ci": [-0.106, 0.206], "student_beats_teacher": False}
    assert target_of([sample], ReportSettings, None) == pytest.approx(0.403, abs=1e-5)
    rounds = [
        report_round(1, 0.2, None, student_f=0.1, student_beats_teacher=False),
        {**report_round(2, noisy["teacher_f"], noisy["teacher_f_ci"]), **noisy, "round": 2, "n_corrected": 100},
    ]
    proj = projection(rounds, target_of(rounds, ReportSettings, None))
    assert "already passed" not in proj["note"]
    text = " ".join(findings(rounds, ReportSettings, None, None, proj, final=True))
    assert f"Target F {target:.3f}: a clear win if the interval of the difference keeps its width" in text
    assert f"the interval's lower half-width {half_width:.3f})" in text
    # Once the student has clearly won, the target is 95% of the ceiling, and no clear-win target is named.
    won = {**rounds[1], "student_beats_teacher": True}
    assert target_of([won], ReportSettings, ceiling=0.5) == 0.475
    assert "Target F" not in " ".join(findings([won], ReportSettings, None, None, {"note": "-"}, final=True))


@pytest.mark.parametrize(
    "teacher_f, ci, verdict",
    [
        (0.292, [0.19, 0.39], "no clear change (the F before corrections lies inside this round's 95% interval"),
        (0.40, [0.30, 0.50], "helped (the F before corrections lies outside this round's 95% interval, 0.300 to"),
        (0.10, [0.05, 0.16], "hurt (the F before corrections lies outside this round's 95% interval, 0.050 to"),
    ],
)
def test_the_teachers_change_is_judged_by_its_interval(teacher_f, ci, verdict):
    """+0.074 is more than 0.02 but inside the interval: not called a gain."""
    rounds = [
        report_round(1, 0.22, [0.12, 0.33], student_f=0.1, student_beats_teacher=False),
        report_round(2, teacher_f, ci, student_f=0.2, student_beats_teacher=False),
    ]
    text = " ".join(findings(rounds, ReportSettings, None, None, {"note": "-"}, final=True))
    assert verdict in text


def test_the_drawn_projection_keeps_the_rounds_readable():
    """A target reached only after 3,604 docs (the sample after 300) is not drawn that far."""
    ns = [50, 100, 150, 200, 250, 300]
    assert projection_end(ns, {"docs_needed": 3604}) == 900
    assert projection_end(ns, {"docs_needed": 700}) == pytest.approx(770)
    assert projection_end(ns, {}) == 600
