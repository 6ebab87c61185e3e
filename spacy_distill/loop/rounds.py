"""The loop: rounds of select -> pre-annotate -> correct -> train -> evaluate, until the student wins.

Everything a round makes is a file in OUTPUT/round_NNN/, written whole (temporary file, then
renamed), and a step whose file exists is not done again. So a loop killed at any point
(even kill -9) continues where it stopped when rerun: finished rounds are kept as they
are, the interrupted round keeps its batch and its corrections, and the teacher's answers
come from the response store.

    OUTPUT/
      loop.cfg                  the config as read (with overrides)
      rounds.json               one entry per finished round (see `round_entry`)
      status.json               running / waiting / done, and why
      responses.sqlite          every teacher answer (unless [loop.teacher] responses says where)
      round_000/                the teacher before any correction: teacher.cfg, metrics.json
      round_001/
        selected.json           the batch: texts, the strategy's scores and note
        suggestions_teacher.spacy, suggestions_student.spacy, suggestions_rules.spacy, suggestions_vote.spacy
        suggestions.spacy       what the expert is shown (user_data["suggested_by"])
        corrections.jsonl       the simulated expert's answers in a tool's format (simulated source only)
        corrections.spacy       the corrected docs (gold)
        edits.json              edits the expert made, and would have made for every other source
        student/                the student trained on all corrections so far (model-best, model-last)
        teacher.cfg             the teacher with this round's corrections among its examples
        metrics.json            `spacy-distill evaluate` metrics of teacher, student (and rules) on the test set
        state.json              seconds per step, notes
      ceiling/                  a student trained on all gold training data (if [loop] ceiling is set)
      report/report.md, report/learning_curve.png
"""
import contextlib
import json
import os
import random
import shutil
import time
import warnings
from collections import Counter
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import spacy
from spacy.tokens import Doc, DocBin
from spacy.util import load_config
from wasabi import msg

from ..evaluate import evaluate
from ..evaluate.scoring import Task, detect_task, load_gold
from ..formats import EXPORTERS
from ..inputs import InputError, Record, read_records
from ..teacher.annotate import _add_provenance, llm_component_name, load_teacher  # also installs its warning filters
from .examples import wrap_teacher_config
from .preannotate import choose, top_label, vote_source, with_annotations
from .settings import LoopSettings, read_settings
from .simulate import EDIT_KINDS, doc_edits
from .sources import Batch, WaitingForCorrections, schema_for
from .strategies import Candidates

ROUNDS_FILE = "rounds.json"
STEPS = ("select", "pre_annotate", "correct", "train", "evaluate")
SOURCES = ("teacher", "student", "rules", "vote")


class LoopError(InputError):
    """The loop cannot go on; the message says why and what to do."""


def run_loop(config_path: Path, output_dir: Path, overrides: Optional[Dict[str, Any]] = None,
             show_progress: bool = True) -> Dict[str, Any]:
    """Run (or continue) the loop in CONFIG, writing into OUTPUT; return the summary."""
    settings = read_settings(Path(config_path), overrides)
    return Loop(settings, Path(output_dir), show_progress).run()


def write_json(path: Path, data: Any) -> None:
    """Whole or not at all: a temporary file renamed into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.partial-{os.getpid()}")
    # json, not srsly: srsly's ujson writes 1.914 as 1.9139999
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf8")
    os.replace(tmp, path)


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf8"))


def write_docs(path: Path, docs: List[Doc]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.partial-{os.getpid()}")
    DocBin(docs=docs, store_user_data=True).to_disk(tmp)
    os.replace(tmp, path)


def read_docs(path: Path, vocab) -> List[Doc]:
    return list(DocBin().from_disk(path).get_docs(vocab))


def read_pool(path: Path, text_field: str, lang: str) -> List[str]:
    """Distinct non-empty texts of the pool, in file order."""
    path = Path(path)
    if path.suffix == ".spacy":
        texts = [doc.text for doc in read_docs(path, spacy.blank(lang).vocab)]
    elif path.suffix.lower() in (".jsonl", ".txt", ".csv"):
        texts = [record.text for record in read_records(path, text_field)]
    else:
        texts = [doc.text for doc in load_gold(path, lang)]
    seen, out = set(), []
    for text in texts:
        if text.strip() and text not in seen:
            seen.add(text)
            out.append(text)
    return out


class Loop:
    def __init__(self, settings: LoopSettings, output: Path, show_progress: bool = True):
        self.s = settings
        self.out = output
        self.verbose = show_progress
        self.store = Path(settings.teacher.responses or output / "responses.sqlite").resolve()
        self.vocab = spacy.blank(settings.lang).vocab
        self.gold_test = load_gold(settings.test, settings.lang)
        self.task: Task = detect_task(self.gold_test)
        test_texts = {doc.text for doc in self.gold_test}
        pool = read_pool(settings.pool, settings.text_field, settings.lang)
        self.pool = [t for t in pool if t not in test_texts]
        self.n_pool_in_test = len(pool) - len(self.pool)
        if not self.pool:
            raise LoopError(f"{settings.pool}: no texts to select from (outside the test set)")
        self.rounds: List[Dict[str, Any]] = []
        self._teacher_nlp: Tuple[Optional[Path], Any] = (None, None)
        self._selection_teacher_docs: Dict[str, Doc] = {}

    # --- the loop ---------------------------------------------------------------------------

    def run(self) -> Dict[str, Any]:
        self.out.mkdir(parents=True, exist_ok=True)
        if self.s.raw is not None:
            (self.out / "loop.cfg").write_text(self.s.raw.to_str(), encoding="utf8")
        self.rounds = self._finished_rounds()
        if self.n_pool_in_test and self.verbose:
            msg.warn(f"{self.n_pool_in_test} pool texts are also in the test set; they are never selected")
        self._status("running", "")
        try:
            self.baseline()
            while True:
                reason = self.stop_reason()
                if reason:
                    break
                entry = self.round(len(self.rounds) + 1)
                self.rounds.append(entry)
                write_json(self.out / ROUNDS_FILE, self.rounds)
                if self.verbose:
                    self._print_round(entry)
        except WaitingForCorrections as e:
            self._status("waiting", str(e))
            report = self.write_report(final=False)
            return self.summary("waiting", str(e), report)
        except BaseException as e:
            self._status("failed", f"{type(e).__name__}: {e}")
            raise
        ceiling = self.ceiling()
        report = self.write_report(final=True, ceiling=ceiling)
        self._status("done", reason)
        return self.summary("done", reason, report)

    def summary(self, status: str, reason: str, report: List[str]) -> Dict[str, Any]:
        last = self.rounds[-1] if self.rounds else {}
        return {
            "status": status,
            "reason": reason,
            "output": str(self.out),
            "rounds": self.rounds,
            "n_corrected": last.get("n_corrected", 0),
            "student_beats_teacher": bool(last.get("student_beats_teacher")),
            "report": report,
        }

    def _status(self, status: str, reason: str) -> None:
        last = self.rounds[-1] if self.rounds else {}
        write_json(self.out / "status.json", {
            "status": status, "reason": reason, "rounds": len(self.rounds),
            "n_corrected": last.get("n_corrected", 0), "student_beats_teacher": bool(last.get("student_beats_teacher")),
            "time": time.strftime("%Y-%m-%d %H:%M:%S"),
        })

    def _finished_rounds(self) -> List[Dict[str, Any]]:
        """Rounds whose every step is done, rebuilt from their folders (rounds.json is an index of them)."""
        rounds = []
        r = 1
        while (self.rdir(r) / "state.json").exists() and set(STEPS) <= set(read_json(self.rdir(r) / "state.json")["seconds"]):
            rounds.append(self.round_entry(r))
            r += 1
        if rounds:
            write_json(self.out / ROUNDS_FILE, rounds)
            if self.verbose:
                msg.info(f"Continuing {self.out}: {len(rounds)} finished rounds, {rounds[-1]['n_corrected']} corrected docs")
        return rounds

    def stop_reason(self) -> str:
        last = self.rounds[-1] if self.rounds else None
        if last and self.s.stop_when_beaten and last["student_beats_teacher"]:
            return (f"the student beats the teacher: F {last['student_f']:.3f} vs {last['teacher_f']:.3f} "
                    f"(margin {self.s.margin}) after {last['n_corrected']} corrected docs")
        n_corrected = last["n_corrected"] if last else 0
        if n_corrected >= self.s.budget:
            return f"the budget of {self.s.budget} corrected docs is spent"
        if self.s.max_rounds and len(self.rounds) >= self.s.max_rounds:
            return f"max_rounds ({self.s.max_rounds}) reached"
        if not self.remaining(len(self.rounds) + 1):
            return "every pool text has been selected"
        return ""

    def rdir(self, r: int) -> Path:
        return self.out / f"round_{r:03d}"

    def selected_texts(self, r: int) -> List[str]:
        path = self.rdir(r) / "selected.json"
        return read_json(path)["texts"] if path.exists() else []

    def remaining(self, r: int) -> List[str]:
        taken = {t for k in range(1, r) for t in self.selected_texts(k)}
        return [t for t in self.pool if t not in taken]

    # --- round 0: the teacher before any correction -------------------------------------------

    def baseline(self) -> Dict[str, Any]:
        rdir = self.rdir(0)
        metrics_path = rdir / "metrics.json"
        if metrics_path.exists():
            return read_json(metrics_path)
        start = time.perf_counter()
        config = self.teacher_config(0)
        if self.verbose:
            msg.info(f"Round 0: the teacher before any correction, on {len(self.gold_test)} test docs")
        metrics = self._evaluate(config, None)
        metrics["seconds"] = round(time.perf_counter() - start, 3)
        write_json(metrics_path, metrics)
        if self.verbose:
            msg.text(f"teacher F {metrics['systems']['teacher']['f']:.3f}")
        return metrics

    # --- one round ------------------------------------------------------------------------------

    def round(self, r: int) -> Dict[str, Any]:
        rdir = self.rdir(r)
        rdir.mkdir(parents=True, exist_ok=True)
        state_path = rdir / "state.json"
        state = read_json(state_path) if state_path.exists() else {"round": r, "seconds": {}}
        steps = [("select", self.select), ("pre_annotate", self.pre_annotate), ("correct", self.correct),
                 ("train", self.train), ("evaluate", self.evaluate_round)]
        for name, step in steps:
            if name in state["seconds"]:
                continue
            start = time.perf_counter()
            notes = step(r) or {}
            state["seconds"][name] = round(time.perf_counter() - start, 3)
            state.update(notes)
            write_json(state_path, state)
        return self.round_entry(r)

    def select(self, r: int) -> Dict[str, Any]:
        path = self.rdir(r) / "selected.json"
        if path.exists():  # chosen before a crash: the same batch
            return {}
        remaining = self.remaining(r)
        n_corrected = self.rounds[-1]["n_corrected"] if self.rounds else 0
        n = min(self.s.batch_size, self.s.budget - n_corrected, len(remaining))
        student = self.student_nlp(r - 1) if self.s.strategy.uses_student else None
        teacher_config = self.teacher_config(r - 1)
        rng = random.Random(f"{self.s.seed}-{r}")
        candidates = Candidates(remaining, self.task, rng, lambda texts: self.teacher_docs(teacher_config, texts), student)
        selection = self.s.strategy.select(candidates, n)
        self._selection_teacher_docs = {remaining[i]: doc for i, doc in selection.teacher_docs.items()}
        texts = [remaining[i] for i in selection.indices]
        write_json(path, {
            "round": r, "strategy": self.s.strategy.name, "note": selection.note, "n_remaining": len(remaining),
            "n_scored": selection.n_scored, "skipped_as_similar": selection.skipped_as_similar,
            "texts": texts, "scores": selection.scores,
        })
        if self.verbose:
            msg.info(f"Round {r}: selected {len(texts)} docs ({selection.note}; {selection.skipped_as_similar} near-duplicates skipped)")
        return {}

    def pre_annotate(self, r: int) -> Dict[str, Any]:
        rdir = self.rdir(r)
        if (rdir / "suggestions.spacy").exists():  # made before a crash
            return {"suggested_by": read_docs(rdir / "suggestions.spacy", self.vocab)[0].user_data.get("suggested_by", "teacher")}
        texts = self.selected_texts(r)
        known = self._selection_teacher_docs
        missing = [t for t in texts if t not in known]
        fresh = dict(zip(missing, self.teacher_docs(self.teacher_config(r - 1), missing))) if missing else {}
        sources: Dict[str, List[Doc]] = {"teacher": [known.get(t) or fresh[t] for t in texts]}
        self._selection_teacher_docs = {}
        student = self.student_nlp(r - 1)
        if student is not None:
            sources["student"] = list(student.pipe(texts))
        if self.s.rules is not None:
            sources["rules"] = self.rules_docs(texts)
        previous = read_json(self.rdir(r - 1) / "metrics.json")["systems"] if r > 1 else {}
        edits = read_json(self.rdir(r - 1) / "edits.json")["by_source"] if r > 1 else {}
        previous_edits = {name: e["per_doc"] for name, e in edits.items()}
        shown, suggested_by = choose(self.s.pre_annotate, sources, self.task, previous, previous_edits)
        voted = vote_source(sources, self.task)
        if voted is not None:
            sources["vote"] = voted
        for name, docs in sources.items():
            write_docs(rdir / f"suggestions_{name}.spacy", docs)
        shown = [doc.copy() for doc in shown]
        for doc in shown:
            doc.user_data["suggested_by"] = suggested_by
        if not getattr(self.s.corrections, "kind", "") == "simulated":  # for a person: the tasks to load in a tool
            EXPORTERS["prodigy"].write(shown, rdir / "tasks.jsonl", schema_for(self.task))
        write_docs(rdir / "suggestions.spacy", shown)
        if self.verbose:
            msg.info(f"Round {r}: suggestions by {suggested_by} (also counted: {', '.join(n for n in sources if n != suggested_by) or '-'})")
        return {"suggested_by": suggested_by}

    def correct(self, r: int) -> Dict[str, Any]:
        rdir = self.rdir(r)
        if (rdir / "edits.json").exists():  # corrected before a crash: keep those corrections
            return {"corrections_note": read_json(rdir / "edits.json")["source"]}
        texts = self.selected_texts(r)
        shown = read_docs(rdir / "suggestions.spacy", self.vocab)
        batch = Batch(r, rdir, texts, shown, self.task)
        corrected = self.s.corrections.correct(batch)
        gold = [d for d in corrected.docs if d is not None]
        if not gold:
            raise LoopError(f"Round {r}: no corrected docs for the {len(texts)} selected texts")
        write_docs(rdir / "corrections.spacy", gold)
        gold_by_text = {doc.text: doc for doc in gold}
        by_source = {}
        for name in SOURCES:
            path = rdir / f"suggestions_{name}.spacy"
            if path.exists():
                by_source[name] = count_edits(read_docs(path, self.vocab), gold_by_text, self.task)
        # No pre-annotation at all: the expert annotates from scratch.
        no_cats = {label: 0.0 for label in self.task.labels} if self.task.kind.startswith("textcat") else None
        by_source["none"] = count_edits([with_annotations(d, [], no_cats, self.task) for d in shown], gold_by_text, self.task)
        write_json(rdir / "edits.json", {
            "shown": shown[0].user_data.get("suggested_by", "teacher") if shown else "teacher",
            "docs": len(gold), "source": corrected.note, "files": corrected.files, "by_source": by_source,
            "shown_edits": count_edits(shown, gold_by_text, self.task),
        })
        if self.verbose:
            per_doc = ", ".join(f"{n} {e['per_doc']:.2f}" for n, e in by_source.items())
            msg.info(f"Round {r}: {len(gold)} docs corrected ({corrected.note}); edits per doc: {per_doc}")
        return {"corrections_note": corrected.note}

    def train(self, r: int) -> Dict[str, Any]:
        rdir = self.rdir(r)
        target = rdir / "student"
        if (target / "model-last" / "meta.json").exists():
            return {}
        for stale in rdir.glob("student.partial-*"):
            shutil.rmtree(stale, ignore_errors=True)
        files = [str((self.rdir(k) / "corrections.spacy").resolve()) for k in range(1, r + 1)]
        tmp = rdir / f"student.partial-{os.getpid()}"
        if self.verbose:
            n = sum(len(DocBin().from_disk(f)) for f in files)
            msg.info(f"Round {r}: training the student on {n} corrected docs ({self.s.student.max_steps} steps at most)")
        train_student(self.s.student, files, tmp, rdir / "train.log")
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
        return {}

    def evaluate_round(self, r: int) -> Dict[str, Any]:
        if (self.rdir(r) / "metrics.json").exists():
            return {}
        config = self.teacher_config(r)
        if self.verbose:
            msg.info(f"Round {r}: teacher and student on {len(self.gold_test)} test docs")
        metrics = self._evaluate(config, self.student_dir(r))
        write_json(self.rdir(r) / "metrics.json", metrics)
        return {}

    def _evaluate(self, teacher_config: Path, student: Optional[Path]) -> Dict[str, Any]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return evaluate(self.s.test, teacher=teacher_config, student=student, rules=self.s.rules,
                            lang=self.s.lang, repeats=1)

    # --- the round's entry in rounds.json ---------------------------------------------------------

    def round_entry(self, r: int) -> Dict[str, Any]:
        rdir = self.rdir(r)
        state = read_json(rdir / "state.json")
        selected = read_json(rdir / "selected.json")
        edits = read_json(rdir / "edits.json")
        systems = read_json(rdir / "metrics.json")["systems"]
        baseline = read_json(self.rdir(0) / "metrics.json")["systems"]["teacher"]
        previous = sum(len(DocBin().from_disk(self.rdir(k) / "corrections.spacy")) for k in range(1, r))
        teacher, student = systems["teacher"], systems["student"]
        shown = edits["shown_edits"]
        seconds = dict(state["seconds"])
        seconds["total"] = round(sum(seconds.values()), 3)
        entry = {
            "round": r,
            "n_corrected": previous + edits["docs"],
            "n_batch": edits["docs"],
            "teacher_f": teacher["f"],
            "student_f": student["f"],
            "teacher_p": teacher["p"], "teacher_r": teacher["r"],
            "student_p": student["p"], "student_r": student["r"],
            "teacher_f_before_corrections": baseline["f"],
            "student_beats_teacher": (student["f"] or 0.0) > (teacher["f"] or 0.0) + self.s.margin,
            "strategy": selected["strategy"],
            "selection": selected["note"],
            "skipped_as_similar": selected["skipped_as_similar"],
            "suggested_by": edits["shown"],
            "edits": shown["edits"],
            "edits_total": shown["total"],
            "edits_per_doc": shown["per_doc"],
            "docs_accepted_unchanged": shown["docs_unchanged"],
            "edits_per_doc_by_source": {name: e["per_doc"] for name, e in edits["by_source"].items()},
            "corrections": edits["source"],
            "seconds": seconds,
        }
        if "rules" in systems:
            entry["rules_f"] = systems["rules"]["f"]
        llm = teacher.get("llm") or {}
        if "llm_calls" in llm:
            entry["teacher_llm_calls"] = llm.get("llm_calls")
            entry["teacher_cache_hits"] = llm.get("cache_hits")
        return entry

    def _print_round(self, e: Dict[str, Any]) -> None:
        verdict = "student wins" if e["student_beats_teacher"] else "teacher ahead"
        msg.good(
            f"Round {e['round']}: {e['n_corrected']} corrected docs; teacher F {e['teacher_f']:.3f}, "
            f"student F {e['student_f']:.3f} ({verdict}); {e['edits_per_doc']:.2f} edits per doc on "
            f"{e['suggested_by']}'s suggestions; {e['seconds']['total']:.0f}s"
        )

    # --- models ---------------------------------------------------------------------------------

    def teacher_config(self, r: int) -> Path:
        """The teacher after round r: its config with the corrections of rounds 1..r as examples."""
        path = self.rdir(r) / "teacher.cfg"
        if path.exists():
            return path
        t = self.s.teacher
        base = load_config(t.config, interpolate=False)
        overrides = dict(t.overrides)
        if "responses" in base.get("paths", {}):
            overrides["paths.responses"] = str(self.store)
        try:
            config = load_config(t.config, overrides=overrides, interpolate=False)
        except Exception as e:
            raise LoopError(f"{t.config}: cannot apply [loop.teacher] overrides {overrides}: {e}") from None
        if t.similar_examples > 0:
            examples = [str((self.rdir(k) / "corrections.spacy").resolve()) for k in range(1, r + 1)]
            config = wrap_teacher_config(config, examples, t.similar_examples, t.keep_static_examples, t.max_example_chars)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.partial-{os.getpid()}")
        header = (f"# The teacher after round {r} of the loop in {self.out}: {t.config}"
                  + (f" with the {r} rounds' corrections as similar few-shot examples" if t.similar_examples > 0 and r else "")
                  + ".\n")
        tmp.write_text(header + config.to_str(), encoding="utf8")
        os.replace(tmp, path)
        return path

    def teacher_docs(self, config: Path, texts: List[str]) -> List[Doc]:
        if not texts:
            return []
        if self._teacher_nlp[0] != config:
            self._teacher_nlp = (None, None)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self._teacher_nlp = (config, load_teacher(config))
        nlp = self._teacher_nlp[1]
        name = llm_component_name(nlp)
        model = nlp.get_pipe(name)._model
        docs = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for i, doc in enumerate(nlp.pipe(texts, batch_size=nlp.batch_size)):
                _add_provenance(doc, Record(i + 1, doc.text), model, name, self.s.pool)
                docs.append(doc)
        return docs

    def student_dir(self, r: int) -> Optional[Path]:
        if r < 1:
            return None
        student = self.rdir(r) / "student"
        best = student / "model-best"
        return best if self.s.student.dev is not None and (best / "meta.json").exists() else student / "model-last"

    def student_nlp(self, r: int):
        path = self.student_dir(r)
        return spacy.load(path) if path is not None else None

    def rules_docs(self, texts: List[str]) -> List[Doc]:
        from ..evaluate.systems import read_patterns

        nlp = spacy.blank(self.s.lang)
        if self.task.kind == "ner":
            ruler = nlp.add_pipe("entity_ruler")
        elif self.task.kind == "spancat":
            ruler = nlp.add_pipe("span_ruler", config={"spans_key": self.task.span_key})
        else:
            raise LoopError(f"[loop] rules: patterns need an entity or span task, the test set is {self.task.kind}")
        ruler.add_patterns(read_patterns(self.s.rules))
        return list(nlp.pipe(texts))

    # --- the fully supervised ceiling and the report ---------------------------------------------

    def ceiling(self) -> Optional[Dict[str, Any]]:
        if self.s.ceiling is None:
            return None
        cdir = self.out / "ceiling"
        metrics_path = cdir / "metrics.json"
        if metrics_path.exists():
            return read_json(metrics_path)
        docs = load_gold(self.s.ceiling, self.s.lang)
        test_texts = {doc.text for doc in self.gold_test}
        docs = [d for d in docs if d.text not in test_texts]
        write_docs(cdir / "gold_train.spacy", docs)
        if self.verbose:
            msg.info(f"Ceiling: a student trained on all {len(docs)} gold training docs ({self.s.ceiling})")
        start = time.perf_counter()
        tmp = cdir / f"student.partial-{os.getpid()}"
        train_student(self.s.student, [str((cdir / "gold_train.spacy").resolve())], tmp, cdir / "train.log")
        if (cdir / "student").exists():
            shutil.rmtree(cdir / "student")
        os.replace(tmp, cdir / "student")
        best = cdir / "student" / "model-best"
        model = best if self.s.student.dev is not None and (best / "meta.json").exists() else cdir / "student" / "model-last"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            metrics = evaluate(self.s.test, student=model, lang=self.s.lang, repeats=1)
        metrics["n_train"] = len(docs)
        metrics["seconds"] = round(time.perf_counter() - start, 3)
        write_json(metrics_path, metrics)
        return metrics

    def write_report(self, final: bool, ceiling: Optional[Dict[str, Any]] = None) -> List[str]:
        from .report import write_loop_report

        if not self.rounds:
            return []
        baseline = read_json(self.rdir(0) / "metrics.json") if (self.rdir(0) / "metrics.json").exists() else None
        return [str(p) for p in write_loop_report(self.rounds, self.out / "report", self.s, self.task, baseline, ceiling, final)]


def count_edits(suggested: List[Doc], gold_by_text: Dict[str, Doc], task: Task) -> Dict[str, Any]:
    """The simulated expert's edit counts turning `suggested` into the gold (docs without gold are left out)."""
    edits: Counter = Counter({kind: 0 for kind in EDIT_KINDS})
    n = unchanged = 0
    for doc in suggested:
        gold = gold_by_text.get(doc.text)
        if gold is None:
            continue
        changes = doc_edits(doc, gold, task.span_key)
        if task.kind in ("ner", "spancat"):
            changes["categories_toggled"] = 0  # a span task's docs carry no categories to toggle
        else:
            for kind in ("kept", "added", "removed", "relabelled", "boundaries_fixed"):
                changes[kind] = 0
            if task.kind == "textcat":  # one class per text: picking another class is one edit
                changes["categories_toggled"] = int(top_label(doc, task.labels) != top_label(gold, task.labels))
        edits.update(changes)
        n += 1
        unchanged += sum(v for k, v in changes.items() if k != "kept") == 0
    total = sum(v for k, v in edits.items() if k != "kept")
    return {"edits": dict(edits), "total": total, "per_doc": round(total / n, 4) if n else None, "docs": n,
            "docs_unchanged": unchanged}


def train_student(student, train_files: List[str], output: Path, log_path: Path) -> None:
    """`spacy train` in this process (its log in log_path) on the given corrections files."""
    from spacy.training.initialize import init_nlp
    from spacy.training.loop import train as train_nlp

    overrides = {
        "paths.train": ",".join(train_files),
        "paths.dev": str(Path(student.dev).resolve()) if student.dev is not None else ",".join(train_files),
        "training.max_steps": student.max_steps,
        "training.max_epochs": student.max_epochs,
        "training.eval_frequency": min(student.eval_frequency, student.max_steps),
        "training.patience": student.patience,
        "training.logger.progress_bar": False,
        **student.overrides,
    }
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("w", encoding="utf8") as log, contextlib.redirect_stdout(log), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            config = load_config(student.config, overrides=overrides, interpolate=False)
            nlp = init_nlp(config)
            output.mkdir(parents=True, exist_ok=True)
            train_nlp(nlp, output, stdout=log, stderr=log)
        except Exception as e:
            raise LoopError(f"Training the student ({student.config}) failed: {type(e).__name__}: {e} (log: {log_path})") from e
    if not (output / "model-last" / "meta.json").exists():
        raise LoopError(f"Training the student ({student.config}) wrote no model; see {log_path}")


def print_summary(summary: Dict[str, Any]) -> None:
    rows = [(e["round"], e["n_corrected"], f"{e['teacher_f']:.3f}", f"{e['student_f']:.3f}", e["suggested_by"],
             f"{e['edits_per_doc']:.2f}", f"{e['seconds']['total']:.0f}") for e in summary["rounds"]]
    if rows:
        msg.table(rows, header=("round", "corrected", "teacher F", "student F", "shown", "edits/doc", "seconds"), divider=True)
    if summary["status"] == "waiting":
        msg.warn(summary["reason"])
    else:
        msg.good(f"Loop done: {summary['reason']}")
    for path in summary["report"]:
        msg.text(f"report: {path}")
    msg.text(f"rounds: {Path(summary['output']) / ROUNDS_FILE}")
