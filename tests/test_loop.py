"""The loop with a canned teacher: rounds, stopping, resuming after a crash and after kill -9, a person's corrections.

The teacher is the canned model (tests/canned.py) answering from the gold spans for some texts;
the student is configs/student_ner.cfg trained for a few steps; the data is a slice of the
sample data (assets/fashion_brands) rich in brands.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import canned
import pytest
import srsly
from spacy.tokens import DocBin
from spacy.util import load_config
from typer.testing import CliRunner

from spacy_distill.cli import app
from spacy_distill.rounds import loop as loop_module
from spacy_distill.rounds.loop import run_loop

ROOT = Path(__file__).parent.parent
DATA = ROOT / "assets" / "fashion_brands"
LABEL = "FASHION_BRAND"
BAD = set('=:[]$"\\\n{}%#;')  # texts become keys of the canned answers' config section: keep them plain
ENTRY_KEYS = {
    "round",
    "n_corrected",
    "teacher_f",
    "student_f",
    "edits",
    "edits_per_doc",
    "edits_per_doc_by_source",
    "suggested_by",
    "seconds",
    "student_beats_teacher",
    "teacher_f_before_corrections",
    "strategy",
}


def plain(path: Path, n_with: int, n_without: int):
    rows = [
        r
        for r in srsly.read_jsonl(path)
        if not set(r["text"]) & BAD and len(r["text"]) < 300 and r["text"] == r["text"].strip()
    ]
    with_spans = [r for r in rows if r["spans"]][:n_with]
    without = [r for r in rows if not r["spans"]][:n_without]
    mixed = []
    for i in range(max(len(with_spans), len(without))):
        mixed += with_spans[i : i + 1] + without[i : i + 1]
    return mixed


def answer(row) -> str:
    return "\n".join(f"{row['text'][s['start'] : s['end']]} | {LABEL}" for s in row["spans"]) or "none"


def make_project(
    tmp: Path,
    teacher_every: int = 3,
    strategy: str = "spacy_distill.Disagreement.v1",
    batch_size: int = 20,
    budget: int = 40,
    stop_when_beaten: bool = False,
    corrections=None,
    max_steps: int = 150,
    ceiling: bool = False,
    **settings,
) -> Path:
    """Pool, test and dev slices, a canned teacher right on every `teacher_every`-th text (0: never), a loop config."""
    pool, test, dev = (
        plain(DATA / "train.jsonl", 50, 50),
        plain(DATA / "test.jsonl", 20, 20),
        plain(DATA / "dev.jsonl", 12, 18),
    )
    for name, rows in (("pool", pool), ("test", test), ("dev", dev)):
        srsly.write_jsonl(tmp / f"{name}.jsonl", rows)
    answers = {r["text"]: answer(r) for i, r in enumerate(pool + test) if teacher_every and i % teacher_every == 0}
    teacher = load_config(ROOT / "configs" / "teacher_ner.cfg", interpolate=False)
    teacher["paths"]["examples"] = str(DATA / "ner_examples.yml")
    teacher["components"]["llm"]["model"] = {
        "@llm_models": "spacy_distill_test.Canned.v1",
        "answers": answers,
        "default": "none",
        "store": {"@llm_misc": "spacy_distill.ResponseStore.v1", "path": "${paths.responses}"},
    }
    teacher.to_disk(tmp / "teacher.cfg")
    loop = load_config(ROOT / "configs" / "loop_ner.cfg", interpolate=False)
    loop["paths"]["data"] = str(DATA)
    loop["paths"]["teacher_config"] = str(tmp / "teacher.cfg")
    loop["paths"]["student_config"] = str(ROOT / "configs" / "student_ner.cfg")
    section = loop["loop"]
    section.update(
        pool=str(tmp / "pool.jsonl"),
        test=str(tmp / "test.jsonl"),
        ceiling=str(tmp / "pool.jsonl") if ceiling else None,
        batch_size=batch_size,
        budget=budget,
        stop_when_beaten=stop_when_beaten,
        **settings,
    )
    section["strategy"] = {"@misc": strategy, "max_similarity": 0.5}
    section["corrections"] = corrections or {
        "@misc": "spacy_distill.SimulatedExpert.v1",
        "gold": str(tmp / "pool.jsonl"),
    }
    section["student"].update(dev=str(tmp / "dev.jsonl"), max_steps=max_steps, eval_frequency=50)
    loop.to_disk(tmp / "loop.cfg")
    return tmp / "loop.cfg"


def flat(text: str) -> str:
    """Console output without the line wrapping."""
    return " ".join(text.split())


def files_state(folder: Path):
    """(mtime, size) of every file under folder."""
    return {
        str(p.relative_to(folder)): (p.stat().st_mtime_ns, p.stat().st_size)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def check_rounds(out: Path, n: int):
    rounds = json.loads((out / "rounds.json").read_text())
    assert [e["round"] for e in rounds] == list(range(1, n + 1))
    for entry in rounds:
        assert set(entry) >= ENTRY_KEYS, ENTRY_KEYS - set(entry)
        assert set(entry["seconds"]) == {"select", "pre_annotate", "correct", "rules", "train", "evaluate", "total"}
        assert 0.0 <= entry["teacher_f"] <= 1.0 and 0.0 <= entry["student_f"] <= 1.0
    assert [e["n_corrected"] for e in rounds] == sorted({e["n_corrected"] for e in rounds})
    return rounds


def test_ceiling_is_a_student_trained_on_all_gold_outside_the_test_set(tmp_path):
    config = make_project(tmp_path, budget=20, ceiling=True, max_steps=50)
    out = tmp_path / "out"
    summary = run_loop(config, out, show_progress=False)
    assert summary["status"] == "done"
    ceiling = json.loads((out / "ceiling" / "metrics.json").read_text())
    pool = {r["text"] for r in srsly.read_jsonl(tmp_path / "pool.jsonl")}
    test = {r["text"] for r in srsly.read_jsonl(tmp_path / "test.jsonl")}
    assert ceiling["n_train"] == len(pool - test) and 0.0 <= ceiling["systems"]["student"]["f"] <= 1.0
    assert (out / "ceiling" / "student" / "model-last" / "meta.json").exists()
    report = (out / "report" / "report.md").read_text()
    assert (
        f"Fully supervised ceiling (a student trained on all gold training data): F {ceiling['systems']['student']['f']:.3f}"
        in report
    )
    before = (out / "ceiling" / "metrics.json").stat().st_mtime_ns
    run_loop(config, out, show_progress=False)  # a rerun keeps the ceiling
    assert (out / "ceiling" / "metrics.json").stat().st_mtime_ns == before


def test_loop_rounds_until_the_budget_report_and_rerun(tmp_path):
    config = make_project(tmp_path, budget=40)
    out = tmp_path / "out"
    summary = run_loop(config, out, show_progress=False)
    assert summary["status"] == "done" and "budget of 40" in summary["reason"]
    rounds = check_rounds(out, 2)
    assert [e["n_corrected"] for e in rounds] == [20, 40]
    assert rounds[0]["selection"].startswith("random") and "disagreement" in rounds[1]["selection"]
    assert rounds[0]["suggested_by"] == "teacher"
    assert set(rounds[0]["edits_per_doc_by_source"]) == {"teacher", "rules", "vote", "none"}
    assert set(rounds[1]["edits_per_doc_by_source"]) == {"teacher", "student", "rules", "vote", "none"}
    n_gold = sum(
        len(r["spans"])
        for r in srsly.read_jsonl(tmp_path / "pool.jsonl")
        if r["text"] in json.loads((out / "round_001" / "selected.json").read_text())["texts"]
    )
    assert rounds[0]["edits_per_doc_by_source"]["none"] == pytest.approx(n_gold / 20)  # from scratch: add every span
    assert rounds[0]["edits"]["added"] + rounds[0]["edits"]["kept"] > 0
    # The batches do not overlap, and every corrected doc is gold from the pool.
    selected = [json.loads((out / f"round_00{r}" / "selected.json").read_text())["texts"] for r in (1, 2)]
    assert len(set(selected[0]) | set(selected[1])) == 40
    gold = {r["text"]: r for r in srsly.read_jsonl(tmp_path / "pool.jsonl")}
    import spacy

    corrected = list(DocBin().from_disk(out / "round_002" / "corrections.spacy").get_docs(spacy.blank("en").vocab))
    assert len(corrected) == 20
    for doc in corrected:
        assert [(e.start_char, e.end_char) for e in doc.ents] == [
            (s["start"], s["end"]) for s in gold[doc.text]["spans"]
        ]
    # The teacher after round 2 takes its examples from both rounds' corrections.
    teacher_cfg = (out / "round_002" / "teacher.cfg").read_text()
    assert "spacy_distill.SimilarExamples.v1" in teacher_cfg and "round_001/corrections.spacy" in teacher_cfg
    assert "round_002/corrections.spacy" in teacher_cfg
    assert (out / "round_001" / "corrections.jsonl").exists()  # the simulated expert's answers, as a tool writes them
    md = (out / "report" / "report.md").read_text()
    assert "| 2 | 40 |" in md and "Projection" in md and "Edits per doc" in md
    assert (out / "report" / "learning_curve.png").stat().st_size > 10_000
    assert json.loads((out / "status.json").read_text())["status"] == "done"

    # Rerun: nothing is done again.
    before = files_state(out)
    again = run_loop(config, out, show_progress=False)
    assert again["status"] == "done" and len(again["rounds"]) == 2
    after = files_state(out)
    changed = {k for k in before if before[k] != after.get(k)}
    assert changed <= {
        "rounds.json",
        "status.json",
        "loop.cfg",
        "report/report.md",
        "report/learning_curve.png",
        "report/projection.json",
        "responses.sqlite",
        "responses.sqlite-wal",
        "responses.sqlite-shm",
    }, changed

    # A larger budget on the command line: the loop goes on from round 3.
    result = CliRunner().invoke(app, ["loop", str(config), "--output", str(out), "--quiet", "--loop.budget", "50"])
    assert result.exit_code == 0, result.output
    rounds = check_rounds(out, 3)
    assert rounds[2]["n_corrected"] == 50 and rounds[2]["n_batch"] == 10
    assert "Loop done" in flat(result.output)


def test_loop_stops_when_the_student_beats_the_teacher(tmp_path):
    config = make_project(
        tmp_path,
        teacher_every=0,
        budget=100,
        batch_size=30,
        stop_when_beaten=True,
        max_steps=200,
        strategy="spacy_distill.Uncertainty.v1",
    )
    summary = run_loop(config, tmp_path / "out", show_progress=False)
    rounds = check_rounds(tmp_path / "out", len(summary["rounds"]))
    assert summary["student_beats_teacher"] and "the student beats the teacher" in summary["reason"]
    assert rounds[-1]["teacher_f"] == 0.0 and rounds[-1]["student_f"] > 0.0
    assert all(not e["student_beats_teacher"] for e in rounds[:-1])
    # A clear win: the paired 95% interval of student F - teacher F is above the margin (0), in every round
    # recorded with the intervals of both systems.
    for e in rounds:
        assert e["stop_rule"] == "paired 95% interval" and e["student_beats_teacher"] == (e["delta_ci"][0] > 0)
        assert e["delta_f"] == pytest.approx(e["student_f"] - e["teacher_f"])
        for who in ("student", "teacher"):
            assert e[f"{who}_f_ci"][0] <= e[f"{who}_f"] <= e[f"{who}_f_ci"][1]
    assert "95% CI +" in summary["reason"]
    assert "The student beat the teacher in round" in (tmp_path / "out" / "report" / "report.md").read_text()


class Crash(RuntimeError):
    pass


def test_crash_during_a_round_then_rerun_continues_without_losing_work(tmp_path, monkeypatch):
    config = make_project(tmp_path, budget=60)
    out = tmp_path / "out"
    real_train = loop_module.train_student

    def crash_in_round_2(student, files, output, log):
        if len(files) == 2:
            raise Crash("simulated crash while training in round 2")
        return real_train(student, files, output, log)

    monkeypatch.setattr(loop_module, "train_student", crash_in_round_2)
    with pytest.raises(Crash):
        run_loop(config, out, show_progress=False)
    status = json.loads((out / "status.json").read_text())
    assert status["status"] == "failed" and "simulated crash" in status["reason"]
    check_rounds(out, 1)
    assert (out / "round_002" / "corrections.spacy").exists() and not (out / "round_002" / "student").exists()
    round1 = files_state(out / "round_001")
    round2 = {k: v for k, v in files_state(out / "round_002").items() if k != "state.json"}
    import sqlite3

    with sqlite3.connect(out / "responses.sqlite") as db:
        answered = {row[0] for row in db.execute("SELECT prompt FROM responses")}

    monkeypatch.setattr(loop_module, "train_student", real_train)
    sent = []
    real_complete = canned.CannedModel.complete
    monkeypatch.setattr(
        canned.CannedModel, "complete", lambda self, prompt: sent.append(prompt) or real_complete(self, prompt)
    )
    summary = run_loop(config, out, show_progress=False)
    assert summary["status"] == "done"
    rounds = check_rounds(out, 3)
    assert [e["n_corrected"] for e in rounds] == [20, 40, 60]
    assert files_state(out / "round_001") == round1  # the finished round is untouched
    after = files_state(out / "round_002")
    for name in ("selected.json", "suggestions.spacy", "corrections.jsonl", "corrections.spacy", "edits.json"):
        assert after[name] == round2[name], name  # the same batch and the same corrections, not made again
    for name in ("rules.jsonl", "rules.json", "rules_report/rules.md"):
        assert after[name] == round2[name], name  # the rules proposed before the crash are kept
    assert not set(sent) & answered  # no prompt answered before the crash was sent again
    assert rounds[1]["seconds"]["select"] > 0  # the time of the step as it was done before the crash


def test_kill_9_during_a_round_then_rerun(tmp_path):
    config = make_project(tmp_path, budget=60, max_steps=400)
    out = tmp_path / "out"
    cmd = [
        sys.executable,
        "-m",
        "spacy_distill",
        "loop",
        str(config),
        "--output",
        str(out),
        "--code",
        str(ROOT / "tests" / "canned.py"),
    ]
    log = (tmp_path / "killed.log").open("wb")
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 300
        while time.time() < deadline and proc.poll() is None:
            if (out / "round_002" / "edits.json").exists() and not (out / "round_002" / "student").exists():
                break
            time.sleep(0.05)
        assert proc.poll() is None, (
            f"the loop ended before it could be killed: {(tmp_path / 'killed.log').read_text()[-3000:]}"
        )
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        log.close()
    assert proc.returncode == -9
    assert not (out / "round_002" / "metrics.json").exists()
    check_rounds(out, 1)
    round1 = files_state(out / "round_001")
    corrections = (out / "round_002" / "corrections.spacy").read_bytes()
    selected = (out / "round_002" / "selected.json").read_text()

    result = subprocess.run(cmd + ["--quiet"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    rounds = check_rounds(out, 3)
    assert [e["n_corrected"] for e in rounds] == [20, 40, 60]
    assert files_state(out / "round_001") == round1
    assert (out / "round_002" / "corrections.spacy").read_bytes() == corrections
    assert (out / "round_002" / "selected.json").read_text() == selected
    assert all(e["rules_kept"] >= 1 and "rules_f" in e for e in rounds)  # proposed in every round, killed or not
    assert not list(out.rglob("*.partial-*")), "a killed step's temporary files are cleaned up or replaced"


def test_a_persons_corrections_the_loop_waits_then_continues(tmp_path):
    answers = tmp_path / "answers.jsonl"
    config = make_project(
        tmp_path, budget=20, corrections={"@misc": "spacy_distill.ImportedCorrections.v1", "path": str(answers)}
    )
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["loop", str(config), "--output", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "waits for corrections: 0 of the 20 selected docs" in flat(result.output)
    assert json.loads((out / "status.json").read_text())["status"] == "waiting"
    tasks = list(srsly.read_jsonl(out / "round_001" / "tasks.jsonl"))
    assert len(tasks) == 20 and all(t["_view_id"] == "ner_manual" for t in tasks)
    # The person corrects 19 of the 20 tasks in a tool (here: the gold spans, in Prodigy's format).
    gold = {r["text"]: r for r in srsly.read_jsonl(tmp_path / "pool.jsonl")}
    srsly.write_jsonl(answers, [{**t, "spans": gold[t["text"]]["spans"], "answer": "accept"} for t in tasks[:19]])
    result = CliRunner().invoke(app, ["loop", str(config), "--output", str(out), "--quiet"])
    assert "19 of the 20 selected docs are answered" in flat(result.output)  # min_answered = 1.0: all of them
    srsly.write_jsonl(answers, [{**t, "spans": gold[t["text"]]["spans"], "answer": "accept"} for t in tasks])
    result = CliRunner().invoke(app, ["loop", str(config), "--output", str(out), "--quiet"])
    assert result.exit_code == 0 and "Loop done" in flat(result.output), result.output
    rounds = check_rounds(out, 1)
    assert rounds[0]["n_corrected"] == 20 and "answers.jsonl" in rounds[0]["corrections"]


def test_cli_errors(tmp_path):
    config = make_project(tmp_path)
    text = config.read_text()
    bad = tmp_path / "bad.cfg"
    bad.write_text(text.replace("[loop]\n", "[loop]\nbatchsize = 3\n"))
    result = CliRunner().invoke(app, ["loop", str(bad), "--output", str(tmp_path / "o")])
    assert result.exit_code == 1 and "unknown [loop] settings ['batchsize']" in flat(result.output)
    result = CliRunner().invoke(
        app, ["loop", str(config), "--output", str(tmp_path / "o"), "--loop.pool", "nope.jsonl"]
    )
    assert result.exit_code == 1 and "[loop] pool: nope.jsonl not found" in flat(result.output)
    result = CliRunner().invoke(
        app, ["loop", str(config), "--output", str(tmp_path / "o"), "--loop.pre_annotate", "llm"]
    )
    assert result.exit_code == 1 and "pre_annotate must be one of" in flat(result.output)


def test_corrections_from_the_review_database(tmp_path):
    from spacy_distill.review_app.server import prepare

    db_path = tmp_path / "review.sqlite"
    config = make_project(
        tmp_path, budget=20, corrections={"@misc": "spacy_distill.ReviewCorrections.v1", "db": str(db_path)}
    )
    out = tmp_path / "out"
    summary = run_loop(config, out, show_progress=False)
    suggestions = out / "round_001" / "suggestions.spacy"
    assert summary["status"] == "waiting" and f"spacy-distill review {suggestions} --db {db_path}" in summary["reason"]
    # What `spacy-distill review` does with the suggestions, then an expert answering every doc on the page.
    db, info = prepare(suggestions, db_path, labels=[LABEL])
    assert info["added"] == 20
    gold = {r["text"]: r for r in srsly.read_jsonl(tmp_path / "pool.jsonl")}
    while (doc := db.next_doc("expert")) is not None:
        starts = {start: i for i, (start, _) in enumerate(doc["tokens"])}
        ends = {end: i for i, (_, end) in enumerate(doc["tokens"])}
        spans = [
            {
                "start": s["start"],
                "end": s["end"],
                "token_start": starts[s["start"]],
                "token_end": ends[s["end"]],
                "label": LABEL,
            }
            for s in gold[doc["text"]]["spans"]
        ]
        db.add_answer(doc["id"], "expert", "accept", spans, None)
    db.close()
    summary = run_loop(config, out, show_progress=False)
    assert summary["status"] == "done"
    (entry,) = check_rounds(out, 1)
    assert entry["n_corrected"] == 20 and "review.sqlite" in entry["corrections"]
    corrected = list(
        DocBin().from_disk(out / "round_001" / "corrections.spacy").get_docs(__import__("spacy").blank("en").vocab)
    )
    assert {d.text: [(e.start_char, e.end_char) for e in d.ents] for d in corrected} == {
        t: [(s["start"], s["end"]) for s in gold[t]["spans"]]
        for t in json.loads((out / "round_001" / "selected.json").read_text())["texts"]
    }


def test_rules_proposed_from_the_corrections_each_round_without_a_rules_file(tmp_path, monkeypatch):
    config = make_project(tmp_path, budget=40, rules=None)
    out = tmp_path / "out"
    summary = run_loop(config, out, show_progress=False)
    assert summary["status"] == "done"
    rounds = check_rounds(out, 2)
    for entry in rounds:
        rdir = out / f"round_{entry['round']:03d}"
        stats = json.loads((rdir / "rules.json").read_text())
        assert (rdir / "rules_report" / "rules.md").exists() and (rdir / "rules_report" / "rules.html").exists()
        kept = list(srsly.read_jsonl(rdir / "rules.jsonl"))
        assert entry["rules_kept"] == stats["kept"] == len(kept) >= 1
        assert entry["rules_kept_by_source"]["seed"] == 0 and entry["rules_kept_by_source"]["induced"] >= 1
        assert "llm_calls" in stats["llm"] and entry["rules_llm_calls"] == stats["llm"]["llm_calls"]
        assert stats["corrections"] == [
            str((out / f"round_{k:03d}" / "corrections.spacy").resolve()) for k in range(1, entry["round"] + 1)
        ]
        # evaluate scored this round's proposed rules as the "rules" row
        metrics = json.loads((rdir / "metrics.json").read_text())["systems"]
        assert entry["rules_f"] == metrics["rules"]["f"]
    assert json.loads((out / "round_002" / "rules.json").read_text())["splits"]["selection"]["docs"] == 40
    # No rules file: no rules in round 1; from round 2 on, the rules of the round before are a source (and vote).
    assert "rules" not in rounds[0]["edits_per_doc_by_source"]
    assert {"rules", "vote"} <= set(rounds[1]["edits_per_doc_by_source"])
    import spacy

    from spacy_distill.rules.apply import rules_pipeline
    from spacy_distill.task import Task

    nlp, _ = rules_pipeline(out / "round_001" / "rules.jsonl", "en", Task("ner", labels=[LABEL]))
    shown = list(DocBin().from_disk(out / "round_002" / "suggestions_rules.spacy").get_docs(spacy.blank("en").vocab))
    assert [[(e.start_char, e.end_char) for e in d.ents] for d in shown] == [
        [(e.start_char, e.end_char) for e in nlp(d.text).ents] for d in shown
    ]

    # A rerun proposes nothing again and asks the LLM nothing.
    before = files_state(out)
    sent = []
    real_complete = canned.CannedModel.complete
    monkeypatch.setattr(
        canned.CannedModel, "complete", lambda self, prompt: sent.append(prompt) or real_complete(self, prompt)
    )
    run_loop(config, out, show_progress=False)
    after = files_state(out)
    assert {k: v for k, v in after.items() if "rules" in k} == {k: v for k, v in before.items() if "rules" in k}
    assert not sent


def test_fixed_rules_without_proposing(tmp_path):
    config = make_project(tmp_path, budget=20, max_steps=50, propose_rules=False)
    out = tmp_path / "out"
    run_loop(config, out, show_progress=False)
    (entry,) = json.loads((out / "rounds.json").read_text())
    assert "rules" not in entry["seconds"] and "rules_kept" not in entry and "rules_f" in entry
    assert not (out / "round_001" / "rules.jsonl").exists() and not (out / "rules_teacher.cfg").exists()
