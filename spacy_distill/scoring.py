"""Gold docs and P/R/F from spaCy's own scorers.

The task is read off the gold docs (`spacy_distill.task.detect_task`):

- entities in `doc.ents`            -> NER, headline `ents_f` (spaCy's `get_ner_prf`, what the
  ner component reports; predictions on tokens whose gold annotation is missing are ignored);
- spans in `doc.spans[KEY]`         -> span categorisation, headline `spans_KEY_f`
  (`Scorer.score_spans` with the settings spaCy's spancat uses: overlaps allowed);
- categories in `doc.cats`          -> text classification, headline `cats_macro_f`
  (`Scorer.score_cats`), the macro-averaged F over the gold labels. We use macro F for both
  exclusive and multi-label gold: spaCy's own `cats_score` is macro F for exclusive classes
  but macro AUC for multi-label, and AUC means little for an LLM teacher whose scores are
  hard 0/1. Gold with more or fewer than one positive class in some doc is multi-label
  (a class is predicted at 0.5 or more); otherwise the classes are exclusive: a system's
  answer is its top-scoring class, as in spaCy's exclusive scoring, except that a doc whose
  classes are all 0 (an LLM that gave no usable answer, or no doc at all) predicts no class,
  which spaCy's exclusive scorer cannot say (it would take the first class). So exclusive
  predictions are made one-hot and scored per class, which gives spaCy's exclusive numbers
  whenever every doc has a top class.
"""

from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy
from spacy.scorer import Scorer, get_ner_prf
from spacy.tokens import Doc
from spacy.training import Example

from .task import Task


def empty_prediction(gold: Doc, task: Task) -> Doc:
    """What a system that said nothing about this doc predicted: no spans, every category 0."""
    doc = Doc(gold.vocab, words=[t.text for t in gold], spaces=[bool(t.whitespace_) for t in gold])
    if task.kind.startswith("textcat"):
        doc.cats = {label: 0.0 for label in task.labels}
    return doc


def top_class(pred: Doc, labels: Sequence[str]) -> Doc:
    """A copy of pred with its top-scoring class 1.0 and the others 0.0 (no class if all are 0)."""
    doc = Doc(pred.vocab, words=[t.text for t in pred], spaces=[bool(t.whitespace_) for t in pred])
    cats = {label: pred.cats.get(label, 0.0) for label in labels}
    best = max(cats, key=lambda label: cats[label]) if cats else None
    doc.cats = {label: float(label == best and cats[label] > 0) for label in labels}
    return doc


def score(predicted: Sequence[Optional[Doc]], gold: Sequence[Doc], task: Task) -> Dict[str, Any]:
    """{"f", "p", "r", "per_label": {label: {"p", "r", "f"}}} on a 0-1 scale (None: nothing to score).

    A prediction of None (a gold text the system has no doc for) counts as predicting nothing:
    no spans, no category.
    """
    examples = _examples(predicted, gold, task)
    if task.kind == "ner":
        scores = get_ner_prf(examples)
        p, r, f, per_label = scores["ents_p"], scores["ents_r"], scores["ents_f"], scores["ents_per_type"]
    elif task.kind == "spancat":
        key = task.span_key
        attr = f"spans_{key}"
        scores = Scorer.score_spans(
            examples,
            attr,
            getter=lambda doc, _: doc.spans.get(key, []),
            has_annotation=lambda doc: key in doc.spans,
            allow_overlap=True,
        )
        p, r, f, per_label = scores[f"{attr}_p"], scores[f"{attr}_r"], scores[f"{attr}_f"], scores[f"{attr}_per_type"]
    else:
        scores = Scorer.score_cats(examples, "cats", labels=task.labels, multi_label=True, threshold=0.5)
        p, r, f, per_label = (
            scores["cats_macro_p"],
            scores["cats_macro_r"],
            scores["cats_macro_f"],
            scores["cats_f_per_type"],
        )
    per_label = per_label or {}
    ordered = {label: per_label[label] for label in task.labels if label in per_label}
    ordered.update({label: value for label, value in sorted(per_label.items()) if label not in ordered})
    return {"f": f, "p": p, "r": r, "per_label": ordered}


def _examples(predicted: Sequence[Optional[Doc]], gold: Sequence[Doc], task: Task) -> List[Example]:
    examples = []
    for pred, ref in zip(predicted, gold):
        if pred is None:
            pred = empty_prediction(ref, task)
        elif task.kind == "textcat":
            pred = top_class(pred, task.labels)
        examples.append(Example(pred, ref))
    return examples


def doc_counts(predicted: Sequence[Optional[Doc]], gold: Sequence[Doc], task: Task) -> Tuple[List[str], numpy.ndarray]:
    """(labels, counts): counts[i, j] = (tp, fp, fn) of labels[j] in gold doc i, counted as `score` counts.

    The same decisions as spaCy 3.8's scorers above, one doc at a time (`get_ner_prf` ignoring
    predictions on tokens without gold annotation; `score_spans` with overlaps; `score_cats`
    multi-label at 0.5 over the task's labels), so that summing the counts of any set of docs gives
    the scores `score` would give on those docs; `bootstrap` resamples them.
    """
    labels: List[str] = list(task.labels)
    index = {label: j for j, label in enumerate(labels)}
    rows: List[Dict[int, List[int]]] = []

    def add(row: Dict[int, List[int]], label: str, which: Optional[int]) -> None:
        if label not in index:  # as in spaCy, a predicted label is scored even if its spans were all ignored
            index[label] = len(labels)
            labels.append(label)
        if which is not None:
            row.setdefault(index[label], [0, 0, 0])[which] += 1

    for eg in _examples(predicted, gold, task):
        row: Dict[int, List[int]] = {}
        if task.kind == "ner" and eg.y.has_annotation("ENT_IOB"):
            golds = {(e.label_, e.start, e.end) for e in eg.y.ents}
            for ent in eg.x.ents:
                indices = eg.alignment.x2y[ent.start : ent.end]
                if len(indices) and all(t.ent_iob != 0 for t in eg.y[indices[0] : indices[-1] + 1]):
                    key = (ent.label_, indices[0], indices[-1] + 1)
                    add(row, ent.label_, 0 if key in golds else 1)
                    golds.discard(key)
                else:
                    add(row, ent.label_, None)
            for label, _, _ in golds:
                add(row, label, 2)
        elif task.kind == "spancat" and task.span_key in eg.y.spans:
            key = task.span_key
            gold_spans = {(s.label_, s.start, s.end - 1) for s in eg.y.spans[key]}
            pred_spans = set()
            if key in eg.x.spans:
                aligned = eg.get_aligned_spans_x2y(eg.x.spans[key], True)
                pred_spans = {(s.label_, s.start, s.end - 1) for s in aligned}
            for label, _, _ in pred_spans & gold_spans:
                add(row, label, 0)
            for label, _, _ in pred_spans - gold_spans:
                add(row, label, 1)
            for label, _, _ in gold_spans - pred_spans:
                add(row, label, 2)
        elif task.kind.startswith("textcat"):
            for label in task.labels:
                truth, guess = eg.y.cats.get(label), eg.x.cats.get(label, 0.0) >= 0.5
                if truth is not None and (guess or truth > 0):
                    add(row, label, 0 if guess and truth > 0 else 1 if guess else 2)
        rows.append(row)
    counts = numpy.zeros((len(rows), len(labels), 3), dtype=numpy.int64)
    for i, row in enumerate(rows):
        for j, values in row.items():
            counts[i, j] = values
    return labels, counts
