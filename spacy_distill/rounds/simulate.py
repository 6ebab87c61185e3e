"""A simulated expert: corrects teacher docs from gold annotations, counting the edits.

It stands in for a person in the demo and in benchmarks. The corrections are
written as a review tool exports a person's accepted work (Prodigy JSONL by
default; Label Studio annotations, Argilla submitted responses, doccano
records), so everything downstream reads them exactly as it would read a real
expert's work.
"""

from collections import Counter
from pathlib import Path
from typing import Any, Dict, List, Optional

from spacy.tokens import Doc, DocBin
from spacy.vocab import Vocab

from ..files import write_json_atomic
from ..formats import Format, get_format
from ..formats.common import FormatError
from ..task import SpanTuple, Task, doc_spans, positive_cats, span_tuples, teacher_task, top_label

EDIT_KINDS = ("kept", "added", "removed", "relabelled", "boundaries_fixed", "categories_toggled")


def span_edits(suggested: List[SpanTuple], gold: List[SpanTuple]) -> Counter:
    """The edits turning suggested (start, end, label) char spans into gold ones."""
    edits: Counter = Counter()
    open_gold = [g for g in gold if g not in suggested]
    edits["kept"] = len(gold) - len(open_gold)
    for start, end, _label in (s for s in suggested if s not in gold):
        same_place = next((g for g in open_gold if g[:2] == (start, end)), None)
        overlapping = same_place or next((g for g in open_gold if g[0] < end and start < g[1]), None)
        if overlapping is None:
            edits["removed"] += 1
            continue
        open_gold.remove(overlapping)
        edits["relabelled" if same_place else "boundaries_fixed"] += 1
    edits["added"] = len(open_gold)
    return edits


def doc_edits(suggested: Doc, gold: Doc, span_key: Optional[str]) -> Counter:
    """Span and category edits an expert makes to turn the suggested doc into the gold one."""
    edits = span_edits(span_tuples(suggested, span_key), span_tuples(gold, span_key))
    edits["categories_toggled"] = len(set(positive_cats(suggested)) ^ set(positive_cats(gold)))
    return edits


def corrected_doc(suggested: Doc, gold: Doc, span_key: Optional[str]) -> Doc:
    """The suggested doc (tokens, provenance) carrying the gold annotations."""
    doc = suggested.copy()
    spans = [
        doc.char_span(s.start_char, s.end_char, s.label_, alignment_mode="expand") for s in doc_spans(gold, span_key)
    ]
    if span_key is None:
        doc.set_ents(spans, default="outside")
    else:
        doc.spans[span_key] = spans
    doc.cats = dict(gold.cats)
    return doc


def count_edits(suggested: List[Doc], gold_by_text: Dict[str, Doc], task: Task) -> Dict[str, Any]:
    """The simulated expert's edit counts turning `suggested` into the gold (docs without gold are left out).

    A span task counts span edits (and toggled categories only if its docs also carry some); a
    category task counts toggled categories only, and with exclusive classes picking another class
    is one edit.
    """
    edits: Counter = Counter({kind: 0 for kind in EDIT_KINDS})
    n = unchanged = 0
    for doc in suggested:
        gold = gold_by_text.get(doc.text)
        if gold is None:
            continue
        changes = doc_edits(doc, gold, task.span_key)
        if task.has_spans and not task.cat_labels:  # docs of a span task carry no categories to toggle
            changes["categories_toggled"] = 0
        else:
            for kind in ("kept", "added", "removed", "relabelled", "boundaries_fixed"):
                changes[kind] = 0
            if task.kind == "textcat":  # one class per text: picking another class is one edit
                changes["categories_toggled"] = int(top_label(doc, task.labels) != top_label(gold, task.labels))
        edits.update(changes)
        n += 1
        unchanged += sum(v for k, v in changes.items() if k != "kept") == 0
    total = sum(v for k, v in edits.items() if k != "kept")
    return {
        "edits": dict(edits),
        "total": total,
        "per_doc": round(total / n, 4) if n else None,
        "docs": n,
        "docs_unchanged": unchanged,
    }


def answered_by(tool: Format) -> Format:
    """The tool, if it can write a person's accepted answers (`Format.write_answers`)."""
    if tool.write_answers is None:
        raise FormatError(f"The format {tool.name!r} cannot write accepted answers (no write_answers); choose another")
    return tool


def simulate_corrections(
    teacher_path: Path, gold_path: Path, output_path: Path, *, to: str = "prodigy", stats_path: Optional[Path] = None
) -> Dict[str, Any]:
    """Stand in for the expert: correct every teacher doc that has a gold doc with the same text.

    Writes the corrections in the tool format `to` to OUTPUT and returns the edit counts (also
    written to stats_path). For demos and benchmarks only: a real project has a person do this.
    """
    tool = answered_by(get_format(to, write=True))
    vocab = Vocab()
    teacher = _read_docbin(Path(teacher_path), vocab)
    gold_by_text = {doc.text: doc for doc in _read_docbin(Path(gold_path), vocab)}
    task = teacher_task(list(gold_by_text.values()) + teacher)
    corrected = [
        corrected_doc(doc, gold_by_text[doc.text], task.span_key) for doc in teacher if doc.text in gold_by_text
    ]
    if not corrected:
        raise FormatError(
            f"{gold_path}: none of the {len(teacher)} teacher docs in {teacher_path} has a gold doc with the same text"
        )
    Path(output_path).parent.mkdir(parents=True, exist_ok=True)
    tool.write_answers(corrected, Path(output_path), task)
    counts = count_edits(teacher, gold_by_text, task)
    stats = {
        "docs": counts["docs"],
        "docs_accepted_unchanged": counts["docs_unchanged"],
        "docs_without_gold": len(teacher) - counts["docs"],
        "edits": counts["edits"],
        "edits_total": counts["total"],
        "edits_per_doc": round(counts["total"] / counts["docs"], 3),
    }
    if stats_path is not None:
        write_json_atomic(Path(stats_path), stats, ensure_ascii=True)
    return stats


def _read_docbin(path: Path, vocab: Vocab) -> List[Doc]:
    if not path.exists():
        raise FormatError(f"{path}: file not found")
    try:
        return list(DocBin().from_disk(path).get_docs(vocab))
    except ValueError as e:
        raise FormatError(f"{path}: not a .spacy DocBin ({e})") from None
