"""Where a round's corrections come from (spaCy's `misc` registry, entry points `spacy_misc`).

- `spacy_distill.SimulatedExpert.v1`: STAND-IN FOR A PERSON, for demos and benchmarks. It
  corrects the suggestions from gold annotations, writes them as a review tool would
  (Prodigy JSONL by default) and they are imported back like a real expert's work.
- `spacy_distill.ImportedCorrections.v1`: corrections a person made, read from any file or
  folder `spacy-distill import` reads, or the database of `spacy-distill review`. Docs are
  matched to the batch by text. If too few of the batch are answered yet, the loop stops
  and says what to review; rerun it when the corrections are in.
- `spacy_distill.ReviewCorrections.v1`: the same for a review database, with the command to
  start the review page in the message.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

import spacy
from spacy.tokens import Doc
from spacy.util import registry

from ..corpus.corrections import Options, load_corrections
from ..corpus.gold import load_gold
from ..errors import InputError
from ..formats import exporters, get_format
from ..task import Task
from .simulate import answered_by, corrected_doc


class WaitingForCorrections(Exception):
    """The round cannot go on until a person has corrected the batch."""


@dataclass
class Batch:
    round: int
    dir: Path
    texts: List[str]
    suggestions: List[Doc]  # what the expert is shown
    task: Task


@dataclass
class Corrected:
    docs: List[Optional[Doc]]  # a gold doc per batch text (None: not corrected)
    files: List[str] = field(default_factory=list)
    note: str = ""


class SimulatedExpert:
    kind = "simulated"

    def __init__(self, gold: str, lang: str = "en", to: str = "prodigy"):
        if to not in exporters():
            raise ValueError(f"Unknown tool format {to!r}; choose one of {', '.join(exporters())}")
        self.gold_path = Path(gold)
        self.lang = lang
        self.to = to
        self.tool = get_format(to, write=True)
        self._gold: Optional[Dict[str, Doc]] = None

    def gold_by_text(self) -> Dict[str, Doc]:
        if self._gold is None:
            self._gold = {}
            for doc in load_gold(self.gold_path, self.lang):
                self._gold.setdefault(doc.text, doc)
        return self._gold

    def correct(self, batch: Batch) -> Corrected:
        gold = self.gold_by_text()
        corrected = [corrected_doc(s, gold[s.text], batch.task.span_key) for s in batch.suggestions if s.text in gold]
        missing = len(batch.suggestions) - len(corrected)
        if not corrected:
            raise InputError(f"{self.gold_path}: none of the {len(batch.texts)} selected texts has a gold doc")
        tool_file = batch.dir / f"corrections{self.tool.suffix}"
        answered_by(self.tool).write_answers(corrected, tool_file, batch.task)
        by_text = read_back(tool_file, batch.task, self.lang)
        note = "simulated expert (corrects from gold; a stand-in for a person)"
        if missing:
            note += f"; {missing} selected texts had no gold doc and were skipped"
        return Corrected([by_text.get(t) for t in batch.texts], [str(tool_file)], note)


class ImportedCorrections:
    kind = "imported"

    def __init__(
        self, path: str, min_answered: float = 1.0, policy: str = "latest", lang: str = "en", review_hint: bool = False
    ):
        if not 0.0 < min_answered <= 1.0:
            raise ValueError(f"min_answered must be in (0, 1], got {min_answered}")
        self.path = Path(path)
        self.min_answered = min_answered
        self.policy = policy
        self.lang = lang
        self.review_hint = review_hint

    def correct(self, batch: Batch) -> Corrected:
        by_text = read_back(self.path, batch.task, self.lang, self.policy) if self.path.exists() else {}
        docs = [by_text.get(t) for t in batch.texts]
        answered = sum(d is not None for d in docs)
        needed = max(1, round(self.min_answered * len(batch.texts)))
        if answered < needed:
            suggestions = batch.dir / "suggestions.spacy"
            if self.review_hint:
                how = f"spacy-distill review {suggestions} --db {self.path}"
            else:
                how = (
                    f"spacy-distill export {suggestions} TASKS --to {'|'.join(exporters())}, "
                    f"correct them in the tool and save its export as {self.path}"
                )
            raise WaitingForCorrections(
                f"Round {batch.round} waits for corrections: {answered} of the {len(batch.texts)} selected docs are "
                f"answered in {self.path}, {needed} are needed. Correct them ({how}) and rerun the loop; "
                f"finished rounds are kept."
            )
        return Corrected(
            docs, [str(self.path)], f"corrections from {self.path} ({answered} of {len(batch.texts)} answered)"
        )


def read_back(path: Path, task: Task, lang: str = "en", policy: str = "latest") -> Dict[str, Doc]:
    """Corrected docs from a tool's file or the review database, by text."""
    nlp = spacy.blank(lang)
    options = Options(policy=policy, span_key=task.span_key)
    docs, _ = load_corrections([path], nlp, "auto", options)
    return {doc.text: doc for doc in docs}


@registry.misc("spacy_distill.SimulatedExpert.v1")
def make_simulated_expert(gold: str, lang: str = "en", to: str = "prodigy") -> SimulatedExpert:
    """STAND-IN FOR A PERSON: corrects suggestions from the gold docs in `gold` (.spacy or a corrections file)."""
    return SimulatedExpert(gold, lang, to)


@registry.misc("spacy_distill.ImportedCorrections.v1")
def make_imported_corrections(
    path: str, min_answered: float = 1.0, policy: str = "latest", lang: str = "en"
) -> ImportedCorrections:
    """A person's corrections from a tool's export file/folder or a review database, matched by text."""
    return ImportedCorrections(path, min_answered, policy, lang)


@registry.misc("spacy_distill.ReviewCorrections.v1")
def make_review_corrections(
    db: str, min_answered: float = 1.0, policy: str = "latest", lang: str = "en"
) -> ImportedCorrections:
    """A person's corrections from the database of `spacy-distill review`."""
    return ImportedCorrections(db, min_answered, policy, lang, review_hint=True)
