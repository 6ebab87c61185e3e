"""The loop: rounds of select -> pre-annotate -> correct -> train -> evaluate, until the student wins.

`Loop` only orchestrates: each step writes its file in OUTPUT/round_NNN/ (the folder's
contents: `layout`), whole or not at all (`spacy_distill.files`), and a step whose file
exists is not done again. So a loop killed at any point (even kill -9) continues where it
stopped when rerun: finished rounds are kept as they are, the interrupted round keeps its
batch and its corrections, and the teacher's answers come from the response store.

The work is done elsewhere: selection in `strategies`, suggestions in `preannotate`, the
expert in `sources` / `simulate`, the teacher's config in `examples`, the rules in `rules_source`,
training in `spacy_distill.student`, scores in `spacy_distill.evaluation`, the report in `report`.
"""

import random
import time
import warnings
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import spacy
from spacy.tokens import Doc
from wasabi import msg

from ..corpus.gold import load_gold
from ..errors import InputError
from ..evaluation import evaluate
from ..files import count_docs, read_docs, read_json, write_docs_atomic, write_json_atomic, write_text_atomic
from ..formats import get_format
from ..inputs import Record, read_records
from ..rules.apply import rules_pipeline
from ..student import best_model, train_student
from ..task import Task, detect_task
from ..teacher.annotate import load_teacher, teacher_pipe
from .ceiling import train_ceiling
from .examples import round_teacher_config
from .layout import ROUNDS_FILE, beat_text, is_finished, round_dir, round_entry
from .preannotate import choose, vote_source, with_annotations
from .report import print_round
from .rules_source import propose_round_rules, rules_for_round
from .settings import LoopSettings, read_settings
from .simulate import count_edits
from .sources import Batch, WaitingForCorrections
from .strategies import Candidates

SOURCES = ("teacher", "student", "rules", "vote")


class LoopError(InputError):
    """The loop cannot go on; the message says why and what to do."""


def run_loop(
    config_path: Path, output_dir: Path, *, overrides: Optional[Dict[str, Any]] = None, show_progress: bool = True
) -> Dict[str, Any]:
    """Run (or continue) the loop in CONFIG, writing into OUTPUT; return the summary."""
    settings = read_settings(Path(config_path), overrides)
    return Loop(settings, Path(output_dir), show_progress).run()


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
                write_json_atomic(self.out / ROUNDS_FILE, self.rounds)
                if self.verbose:
                    print_round(entry)
        except WaitingForCorrections as e:
            self._status("waiting", str(e))
            report = self.write_report(final=False)
            return self.summary("waiting", str(e), report)
        except BaseException as e:
            self._status("failed", f"{type(e).__name__}: {e}")
            raise
        ceiling = train_ceiling(self.s, self.out / "ceiling", self.gold_test, self.verbose)
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
        write_json_atomic(
            self.out / "status.json",
            {
                "status": status,
                "reason": reason,
                "rounds": len(self.rounds),
                "n_corrected": last.get("n_corrected", 0),
                "student_beats_teacher": bool(last.get("student_beats_teacher")),
                "time": time.strftime("%Y-%m-%d %H:%M:%S"),
            },
        )

    def _finished_rounds(self) -> List[Dict[str, Any]]:
        """Rounds whose every step is done, rebuilt from their folders (rounds.json is an index of them)."""
        rounds = []
        r = 1
        while is_finished(self.out, r):
            rounds.append(round_entry(self.out, r, self.s.margin))
            r += 1
        if rounds:
            write_json_atomic(self.out / ROUNDS_FILE, rounds)
            if self.verbose:
                msg.info(
                    f"Continuing {self.out}: {len(rounds)} finished rounds, {rounds[-1]['n_corrected']} corrected docs"
                )
        return rounds

    def stop_reason(self) -> str:
        last = self.rounds[-1] if self.rounds else None
        if last and self.s.stop_when_beaten and last["student_beats_teacher"]:
            return f"the student beats the teacher: {beat_text(last, self.s.margin)} after {last['n_corrected']} corrected docs"
        n_corrected = last["n_corrected"] if last else 0
        if n_corrected >= self.s.budget:
            return f"the budget of {self.s.budget} corrected docs is spent"
        if self.s.max_rounds and len(self.rounds) >= self.s.max_rounds:
            return f"max_rounds ({self.s.max_rounds}) reached"
        if not self.remaining(len(self.rounds) + 1):
            return "every pool text has been selected"
        return ""

    def rdir(self, r: int) -> Path:
        return round_dir(self.out, r)

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
        metrics = self._evaluate(config, None, self.s.rules)
        metrics["seconds"] = round(time.perf_counter() - start, 3)
        write_json_atomic(metrics_path, metrics)
        if self.verbose:
            msg.text(f"teacher F {metrics['systems']['teacher']['f']:.3f}")
        return metrics

    # --- one round ------------------------------------------------------------------------------

    def round(self, r: int) -> Dict[str, Any]:
        rdir = self.rdir(r)
        rdir.mkdir(parents=True, exist_ok=True)
        state_path = rdir / "state.json"
        state = read_json(state_path) if state_path.exists() else {"round": r, "seconds": {}}
        steps = [
            ("select", self.select),
            ("pre_annotate", self.pre_annotate),
            ("correct", self.correct),
            *([("rules", self.propose_rules)] if self.s.propose_rules else []),
            ("train", self.train),
            ("evaluate", self.evaluate_round),
        ]
        for name, step in steps:
            if name in state["seconds"]:
                continue
            start = time.perf_counter()
            notes = step(r) or {}
            state["seconds"][name] = round(time.perf_counter() - start, 3)
            state.update(notes)
            write_json_atomic(state_path, state)
        return round_entry(self.out, r, self.s.margin)

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
        candidates = Candidates(
            remaining, self.task, rng, lambda texts: self.teacher_docs(teacher_config, texts), student
        )
        selection = self.s.strategy.select(candidates, n)
        self._selection_teacher_docs = {remaining[i]: doc for i, doc in selection.teacher_docs.items()}
        texts = [remaining[i] for i in selection.indices]
        write_json_atomic(
            path,
            {
                "round": r,
                "strategy": self.s.strategy.name,
                "note": selection.note,
                "n_remaining": len(remaining),
                "n_scored": selection.n_scored,
                "skipped_as_similar": selection.skipped_as_similar,
                "texts": texts,
                "scores": selection.scores,
            },
        )
        if self.verbose:
            msg.info(
                f"Round {r}: selected {len(texts)} docs ({selection.note}; {selection.skipped_as_similar} near-duplicates skipped)"
            )
        return {}

    def pre_annotate(self, r: int) -> Dict[str, Any]:
        rdir = self.rdir(r)
        if (rdir / "suggestions.spacy").exists():  # made before a crash
            return {
                "suggested_by": read_docs(rdir / "suggestions.spacy", self.vocab)[0].user_data.get(
                    "suggested_by", "teacher"
                )
            }
        texts = self.selected_texts(r)
        known = self._selection_teacher_docs
        missing = [t for t in texts if t not in known]
        fresh = dict(zip(missing, self.teacher_docs(self.teacher_config(r - 1), missing))) if missing else {}
        sources: Dict[str, List[Doc]] = {"teacher": [known.get(t) or fresh[t] for t in texts]}
        self._selection_teacher_docs = {}
        student = self.student_nlp(r - 1)
        if student is not None:
            sources["student"] = list(student.pipe(texts))
        if (rules := rules_for_round(self.s, self.rdir(r - 1))) is not None:
            sources["rules"] = self.rules_docs(rules, texts)
        previous = read_json(self.rdir(r - 1) / "metrics.json")["systems"] if r > 1 else {}
        edits = read_json(self.rdir(r - 1) / "edits.json")["by_source"] if r > 1 else {}
        previous_edits = {name: e["per_doc"] for name, e in edits.items()}
        shown, suggested_by = choose(self.s.pre_annotate, sources, self.task, previous, previous_edits)
        voted = vote_source(sources, self.task)
        if voted is not None:
            sources["vote"] = voted
        for name, docs in sources.items():
            write_docs_atomic(rdir / f"suggestions_{name}.spacy", docs)
        shown = [doc.copy() for doc in shown]
        for doc in shown:
            doc.user_data["suggested_by"] = suggested_by
        if getattr(self.s.corrections, "kind", "") != "simulated":  # for a person: the tasks to load in a tool
            get_format("prodigy", write=True).write(shown, rdir / "tasks.jsonl", self.task)
        write_docs_atomic(rdir / "suggestions.spacy", shown)
        if self.verbose:
            msg.info(
                f"Round {r}: suggestions by {suggested_by} (also counted: {', '.join(n for n in sources if n != suggested_by) or '-'})"
            )
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
        write_docs_atomic(rdir / "corrections.spacy", gold)
        gold_by_text = {doc.text: doc for doc in gold}
        by_source = {}
        for name in SOURCES:
            path = rdir / f"suggestions_{name}.spacy"
            if path.exists():
                by_source[name] = count_edits(read_docs(path, self.vocab), gold_by_text, self.task)
        # No pre-annotation at all: the expert annotates from scratch.
        no_cats = {label: 0.0 for label in self.task.labels} if self.task.kind.startswith("textcat") else None
        by_source["none"] = count_edits(
            [with_annotations(d, [], no_cats, self.task) for d in shown], gold_by_text, self.task
        )
        write_json_atomic(
            rdir / "edits.json",
            {
                "shown": shown[0].user_data.get("suggested_by", "teacher") if shown else "teacher",
                "docs": len(gold),
                "source": corrected.note,
                "files": corrected.files,
                "by_source": by_source,
                "shown_edits": count_edits(shown, gold_by_text, self.task),
            },
        )
        if self.verbose:
            per_doc = ", ".join(f"{n} {e['per_doc']:.2f}" for n, e in by_source.items())
            msg.info(f"Round {r}: {len(gold)} docs corrected ({corrected.note}); edits per doc: {per_doc}")
        return {"corrections_note": corrected.note}

    def train(self, r: int) -> Dict[str, Any]:
        rdir = self.rdir(r)
        if (rdir / "student" / "model-last" / "meta.json").exists():
            return {}
        files = self.corrections_files(r)
        if self.verbose:
            n = sum(count_docs(f) for f in files)
            msg.info(
                f"Round {r}: training the student on {n} corrected docs ({self.s.student.max_steps} steps at most)"
            )
        train_student(self.s.student, files, rdir / "student", rdir / "train.log")
        return {}

    def evaluate_round(self, r: int) -> Dict[str, Any]:
        if (self.rdir(r) / "metrics.json").exists():
            return {}
        config = self.teacher_config(r)
        if self.verbose:
            msg.info(f"Round {r}: teacher and student on {len(self.gold_test)} test docs")
        metrics = self._evaluate(config, self.student_dir(r), rules_for_round(self.s, self.rdir(r)))
        write_json_atomic(self.rdir(r) / "metrics.json", metrics)
        return {}

    def _evaluate(self, teacher_config: Path, student: Optional[Path], rules: Optional[Path]) -> Dict[str, Any]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return evaluate(self.s.test, teacher=teacher_config, student=student, rules=rules, **self.s.evaluation())

    def propose_rules(self, r: int) -> Dict[str, Any]:
        propose_round_rules(self.s, self.rdir(r), self.corrections_files(r), self.store, self.verbose)
        return {}

    # --- models ---------------------------------------------------------------------------------

    def teacher_config(self, r: int) -> Path:
        """The teacher after round r: its config with the corrections of rounds 1..r as examples."""
        path = self.rdir(r) / "teacher.cfg"
        if path.exists():
            return path
        t = self.s.teacher
        config = round_teacher_config(t, self.store, self.corrections_files(r))
        header = (
            f"# The teacher after round {r} of the loop in {self.out}: {t.config}"
            + (
                f" with the {r} rounds' corrections as similar few-shot examples"
                if t.similar_examples > 0 and r
                else ""
            )
            + ".\n"
        )
        write_text_atomic(path, header + config.to_str())
        return path

    def corrections_files(self, r: int) -> List[str]:
        return [str((self.rdir(k) / "corrections.spacy").resolve()) for k in range(1, r + 1)]

    def teacher_docs(self, config: Path, texts: List[str]) -> List[Doc]:
        if not texts:
            return []
        if self._teacher_nlp[0] != config:
            self._teacher_nlp = (None, None)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self._teacher_nlp = (config, load_teacher(config))
        records = [Record(i + 1, text) for i, text in enumerate(texts)]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return list(teacher_pipe(self._teacher_nlp[1], records, self.s.pool))

    def student_dir(self, r: int) -> Optional[Path]:
        if r < 1:
            return None
        return best_model(self.rdir(r) / "student", self.s.student.dev is not None)

    def student_nlp(self, r: int):
        path = self.student_dir(r)
        return spacy.load(path) if path is not None else None

    def rules_docs(self, rules: Path, texts: List[str]) -> List[Doc]:
        nlp, _ = rules_pipeline(rules, self.s.lang, self.task)
        return list(nlp.pipe(texts))

    # --- the report ---------------------------------------------------------------------------

    def write_report(self, final: bool, ceiling: Optional[Dict[str, Any]] = None) -> List[str]:
        from .report import write_loop_report

        if not self.rounds:
            return []
        baseline = read_json(self.rdir(0) / "metrics.json") if (self.rdir(0) / "metrics.json").exists() else None
        return [
            str(p)
            for p in write_loop_report(self.rounds, self.out / "report", self.s, self.task, baseline, ceiling, final)
        ]
