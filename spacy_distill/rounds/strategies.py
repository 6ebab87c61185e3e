"""Selection strategies: which unlabelled docs the expert corrects next.

Each strategy is a registered function (spaCy's `misc` registry, entry points
`spacy_misc`) returning an object whose `select(candidates, n)` picks n docs:

    [loop.strategy]
    @misc = "spacy_distill.Disagreement.v1"
    max_similarity = 0.5
    n_candidates = 200

- `spacy_distill.RandomSelection.v1`: a random batch.
- `spacy_distill.Disagreement.v1`: where teacher and student disagree most
  (`spacy_distill.task.disagreement`, also the review page's order: spans: 1 - F1 of their span
  sets; exclusive classes: 1 - the student's score for the teacher's class; multi-label: mean
  absolute difference of the scores). Needs the teacher's answer for every
  candidate, so at most `n_candidates` random candidates are scored (0: all).
- `spacy_distill.Uncertainty.v1`: where the student is least sure (NER: beam search entity
  probabilities; spancat: the suggester candidates' scores; textcat: the margin between the
  two best classes, or the score closest to 0.5 for multi-label). 0 is sure, 1 is a coin toss.
- `spacy_distill.Uncertainty.v2`: where the teacher and/or the student are least sure. The
  teacher answers at most `n_candidates` random candidates (its answers are then the batch's
  suggestions, not asked again); a doc's teacher uncertainty is 1 - its confidence
  (`spacy_distill.teacher.confidence.teacher_confidence`: from the model's log-probabilities),
  its student uncertainty as in v1. A doc's score is the mean of the two where both are known,
  the known one otherwise; docs with neither come last, in random order. Round 1 (no student)
  uses the teacher alone; with no confidence at all (a teacher without log-probabilities, no
  student) the batch is random.

Before a student exists (round 1), disagreement and uncertainty (v1) pick at random.
Every strategy has a diversity guard: going down its ranking, a doc whose token-set
Jaccard similarity with a doc already in the batch is above `max_similarity` is
skipped (it is taken only if the batch cannot be filled otherwise), so a batch is not
a pile of near-duplicates. max_similarity = 1.0 turns the guard off.
"""

import random
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from spacy.language import Language
from spacy.tokens import Doc
from spacy.util import registry

from ..errors import ConfigError
from ..task import Task, disagreement
from ..teacher.confidence import teacher_confidence
from .similarity import jaccard, token_set


@dataclass
class Candidates:
    """The unlabelled docs a strategy may choose from, and the models it may ask."""

    texts: List[str]
    task: Task
    rng: random.Random
    teacher: Optional[Callable[[List[str]], List[Doc]]] = None  # texts -> teacher docs
    student: Optional[Language] = None


@dataclass
class Selection:
    indices: List[int]  # into Candidates.texts, in batch order
    scores: List[Optional[float]]  # the strategy's score of each selected doc (None: random)
    note: str
    skipped_as_similar: int = 0
    n_scored: int = 0
    teacher_docs: Dict[int, Doc] = field(default_factory=dict)  # teacher answers the strategy got, by index


class Strategy:
    name = "strategy"
    uses_student = False

    def __init__(self, max_similarity: float = 0.5):
        if not 0.0 <= max_similarity <= 1.0:
            raise ConfigError(f"max_similarity must be between 0 and 1, got {max_similarity}")
        self.max_similarity = max_similarity

    def select(self, candidates: Candidates, n: int) -> Selection:
        raise NotImplementedError

    def _random(self, candidates: Candidates, n: int, note: str) -> Selection:
        order = list(range(len(candidates.texts)))
        candidates.rng.shuffle(order)
        chosen, skipped = diverse_top(order, candidates.texts, n, self.max_similarity)
        return Selection(chosen, [None] * len(chosen), note, skipped)

    def _ranked(self, candidates: Candidates, pool: List[int], scores: List[float], n: int, note: str) -> Selection:
        """Highest score first; ties in random order; then the diversity guard."""
        tiebreak = {i: candidates.rng.random() for i in pool}
        by_index = dict(zip(pool, scores))
        order = sorted(pool, key=lambda i: (-by_index[i], tiebreak[i]))
        chosen, skipped = diverse_top(order, candidates.texts, n, self.max_similarity)
        return Selection(chosen, [round(by_index[i], 6) for i in chosen], note, skipped, len(pool))


class RandomSelection(Strategy):
    name = "random"

    def select(self, candidates: Candidates, n: int) -> Selection:
        return self._random(candidates, n, "random")


class Disagreement(Strategy):
    name = "disagreement"
    uses_student = True

    def __init__(self, max_similarity: float = 0.5, n_candidates: int = 200):
        super().__init__(max_similarity)
        if n_candidates < 0:
            raise ConfigError(f"n_candidates must be 0 (all) or more, got {n_candidates}")
        self.n_candidates = n_candidates

    def select(self, candidates: Candidates, n: int) -> Selection:
        if candidates.student is None or candidates.teacher is None:
            return self._random(candidates, n, "random (no student yet to disagree with)")
        pool = sample(len(candidates.texts), self.n_candidates, candidates.rng)
        texts = [candidates.texts[i] for i in pool]
        teacher_docs = candidates.teacher(texts)
        student_docs = list(candidates.student.pipe(texts))
        scores = [disagreement(t, s, candidates.task) for t, s in zip(teacher_docs, student_docs)]
        selection = self._ranked(
            candidates, pool, scores, n, f"teacher-student disagreement over {len(pool)} candidates"
        )
        selection.teacher_docs = dict(zip(pool, teacher_docs))
        return selection


class Uncertainty(Strategy):
    name = "uncertainty"
    uses_student = True

    def __init__(self, max_similarity: float = 0.5, n_candidates: int = 0, beam_width: int = 8):
        super().__init__(max_similarity)
        self.n_candidates = n_candidates
        self.beam_width = beam_width

    def select(self, candidates: Candidates, n: int) -> Selection:
        if candidates.student is None:
            return self._random(candidates, n, "random (no student yet to be uncertain)")
        pool = sample(len(candidates.texts), self.n_candidates, candidates.rng)
        texts = [candidates.texts[i] for i in pool]
        scores = student_uncertainty(candidates.student, texts, candidates.task, self.beam_width)
        return self._ranked(candidates, pool, scores, n, f"student uncertainty over {len(pool)} candidates")


class TeacherStudentUncertainty(Uncertainty):
    """Uncertainty.v2: the mean of the teacher's (1 - confidence) and the student's uncertainty, where known."""

    name = "uncertainty_v2"

    def __init__(self, max_similarity: float = 0.5, n_candidates: int = 200, beam_width: int = 8):
        super().__init__(max_similarity, n_candidates, beam_width)
        if n_candidates < 0:
            raise ConfigError(f"n_candidates must be 0 (all) or more, got {n_candidates}")

    def select(self, candidates: Candidates, n: int) -> Selection:
        pool = sample(len(candidates.texts), self.n_candidates, candidates.rng)
        texts = [candidates.texts[i] for i in pool]
        teacher_docs = candidates.teacher(texts) if candidates.teacher is not None else []
        teacher = [teacher_uncertainty(doc, candidates.task) for doc in teacher_docs] or [None] * len(pool)
        student: List[Optional[float]] = [None] * len(pool)
        if candidates.student is not None:
            student = list(student_uncertainty(candidates.student, texts, candidates.task, self.beam_width))
        scores = [combined(t, s) for t, s in zip(teacher, student)]
        n_teacher, n_student = sum(t is not None for t in teacher), sum(s is not None for s in student)
        if not n_teacher and not n_student:
            selection = self._random(candidates, n, "random (no teacher confidence and no student yet)")
        else:
            note = (
                f"teacher and student uncertainty over {len(pool)} candidates "
                f"({n_teacher} with a teacher confidence, {n_student} with a student score)"
            )
            selection = self._ranked_known_first(candidates, pool, scores, n, note)
        selection.teacher_docs = dict(zip(pool, teacher_docs))
        return selection

    def _ranked_known_first(
        self, candidates: Candidates, pool: List[int], scores: List[Optional[float]], n: int, note: str
    ) -> Selection:
        """Highest score first (ties in random order), then the docs without a score in random order."""
        tiebreak = {i: candidates.rng.random() for i in pool}
        by_index = dict(zip(pool, scores))
        order = sorted(pool, key=lambda i: (by_index[i] is None, -(by_index[i] or 0.0), tiebreak[i]))
        chosen, skipped = diverse_top(order, candidates.texts, n, self.max_similarity)
        kept = [None if by_index[i] is None else round(by_index[i], 6) for i in chosen]
        return Selection(chosen, kept, note, skipped, sum(s is not None for s in scores))


def teacher_uncertainty(doc: Doc, task: Task) -> Optional[float]:
    """1 - the teacher's confidence in the doc; None if it gave none."""
    confidence = teacher_confidence(doc, task)
    return None if confidence is None else 1.0 - confidence


def combined(teacher: Optional[float], student: Optional[float]) -> Optional[float]:
    """The mean of the known uncertainties; None if neither is known."""
    known = [u for u in (teacher, student) if u is not None]
    return sum(known) / len(known) if known else None


def sample(n_total: int, n: int, rng: random.Random) -> List[int]:
    """n random indices of range(n_total) in index order (all if n is 0 or too large)."""
    if n <= 0 or n >= n_total:
        return list(range(n_total))
    return sorted(rng.sample(range(n_total), n))


def diverse_top(order: Sequence[int], texts: Sequence[str], n: int, max_similarity: float) -> Tuple[List[int], int]:
    """The first n of `order`, skipping docs too similar to one already chosen; (chosen, how many were skipped).

    If too few docs pass the guard, the skipped ones fill the batch in ranking order.
    """
    chosen: List[int] = []
    sets: List[frozenset] = []
    skipped: List[int] = []
    for i in order:
        if len(chosen) >= n:
            break
        words = token_set(texts[i])
        if max_similarity < 1.0 and any(jaccard(words, other) > max_similarity for other in sets):
            skipped.append(i)
            continue
        chosen.append(i)
        sets.append(words)
    n_skipped = len(skipped)
    chosen.extend(skipped[: max(0, n - len(chosen))])
    return chosen, n_skipped


# --- scores ---------------------------------------------------------------------------------


def coin(p: float) -> float:
    """1 at p = 0.5, 0 at p = 0 or 1."""
    return 1.0 - abs(2.0 * min(max(p, 0.0), 1.0) - 1.0)


def cats_uncertainty(cats: Dict[str, float], exclusive: bool) -> float:
    values = sorted((float(v) for v in cats.values()), reverse=True)
    if not values:
        return 0.0
    if exclusive and len(values) > 1:
        return 1.0 - (values[0] - values[1])
    return max(coin(v) for v in values)


def student_uncertainty(nlp: Language, texts: List[str], task: Task, beam_width: int = 8) -> List[float]:
    """0 (sure) to 1 (unsure) for each text, from the student's own scores."""
    if not texts:
        return []
    if task.kind == "ner":
        return _ner_uncertainty(nlp, texts, beam_width)
    if task.kind == "spancat":
        return _spancat_uncertainty(nlp, texts, task)
    docs = list(nlp.pipe(texts))
    return [cats_uncertainty(doc.cats, task.kind == "textcat") for doc in docs]


def _component(nlp: Language, factory_names: Sequence[str]) -> Tuple[str, Any]:
    for name, pipe in nlp.pipeline:
        if nlp.get_pipe_meta(name).factory in factory_names:
            return name, pipe
    raise ConfigError(f"The student has no {' or '.join(factory_names)} component (pipeline: {nlp.pipe_names})")


def _ner_uncertainty(nlp: Language, texts: List[str], beam_width: int) -> List[float]:
    """Beam search over the greedy-trained NER: each candidate entity's probability is the summed
    probability of the beam parses containing it; the doc's uncertainty is its least decided entity."""
    name, ner = _component(nlp, ("ner", "beam_ner"))
    docs = list(nlp.pipe(texts, disable=[name]))
    out: List[float] = []
    for start in range(0, len(docs), 64):
        batch = docs[start : start + 64]
        beams = ner.beam_parse(batch, beam_width=beam_width)
        for scores in ner.scored_ents(beams):
            out.append(max((coin(p) for p in scores.values()), default=0.0))
    return out


def _spancat_uncertainty(nlp: Language, texts: List[str], task: Task) -> List[float]:
    """The suggester's candidate spans scored by the spancat model: the doc's least decided span."""
    import numpy

    name, spancat = _component(nlp, ("spancat", "spancat_singlelabel"))
    docs = list(nlp.pipe(texts, disable=[name]))
    out: List[float] = []
    for start in range(0, len(docs), 64):
        batch = docs[start : start + 64]
        indices, scores = spancat.predict(batch)
        scores = spancat.model.ops.to_numpy(scores)
        lengths = spancat.model.ops.to_numpy(indices.lengths)
        offset = 0
        for length in lengths:
            rows = scores[offset : offset + int(length)]
            offset += int(length)
            out.append(float(numpy.max(1.0 - numpy.abs(2.0 * rows - 1.0))) if rows.size else 0.0)
    return out


# --- registered -----------------------------------------------------------------------------


@registry.misc("spacy_distill.RandomSelection.v1")
def make_random_selection(max_similarity: float = 0.5) -> Strategy:
    """A random batch (with the diversity guard)."""
    return RandomSelection(max_similarity)


@registry.misc("spacy_distill.Disagreement.v1")
def make_disagreement(max_similarity: float = 0.5, n_candidates: int = 200) -> Strategy:
    """Docs where teacher and student disagree most; scores at most n_candidates random docs (0: all)."""
    return Disagreement(max_similarity, n_candidates)


@registry.misc("spacy_distill.Uncertainty.v1")
def make_uncertainty(max_similarity: float = 0.5, n_candidates: int = 0, beam_width: int = 8) -> Strategy:
    """Docs where the student is least sure (NER beam scores, spancat/textcat scores)."""
    return Uncertainty(max_similarity, n_candidates, beam_width)


@registry.misc("spacy_distill.Uncertainty.v2")
def make_uncertainty_v2(max_similarity: float = 0.5, n_candidates: int = 200, beam_width: int = 8) -> Strategy:
    """Docs where the teacher (1 - its confidence) and the student are least sure: the mean where both are
    known. The teacher answers at most n_candidates random candidates (0: all); its answers are reused
    as the batch's suggestions."""
    return TeacherStudentUncertainty(max_similarity, n_candidates, beam_width)
