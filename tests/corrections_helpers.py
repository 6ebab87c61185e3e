"""Helpers for the format tests: teacher docs, and an expert who accepts every suggestion."""

from pathlib import Path
from typing import Any, List, Optional, Tuple

import spacy
import srsly
from spacy.tokens import Doc, DocBin

from spacy_distill.formats import export_docs

SUFFIX = {"prodigy": ".jsonl", "labelstudio": ".json", "doccano": ".jsonl", "argilla": ""}
NLP = spacy.blank("en")


def teacher_doc(text: str, ents=(), spans=(), cats=None, model: str = "teacher-model") -> Doc:
    """A doc as `annotate` writes it: ents or spans["sc"] or cats, with provenance."""
    doc = NLP(text)
    if ents is not None:
        doc.set_ents([doc.char_span(s, e, label=label) for s, e, label in ents], default="outside")
    if spans:
        doc.spans["sc"] = [doc.char_span(s, e, label=label) for s, e, label in spans]
    if cats is not None:
        doc.cats = dict(cats)
    doc.user_data["teacher"] = {"model": model, "prompt_sha256": ["0" * 64], "response": ["..."]}
    doc.user_data["meta"] = {"source": "test"}
    return doc


def write_docs(docs: List[Doc], path: Path) -> Path:
    DocBin(docs=docs, store_user_data=True).to_disk(path)
    return path


def export(docs: List[Doc], tmp: Path, fmt: str, name: str = "tasks", labels: Optional[List[str]] = None) -> Path:
    out = tmp / f"{name}{SUFFIX[fmt]}"
    export_docs(write_docs(docs, tmp / f"{name}.spacy"), out, to=fmt, labels=labels)
    return out


def accept_all(fmt: str, out: Path, user: Any = "expert") -> Path:
    """What the export looks like after an expert accepted every suggestion in the tool."""
    if fmt == "prodigy":
        srsly.write_jsonl(out, [{**t, "answer": "accept", "_annotator_id": user} for t in srsly.read_jsonl(out)])
    elif fmt == "labelstudio":
        tasks = srsly.read_json(out)
        for task in tasks:
            task["annotations"] = [
                {"result": task["predictions"][0]["result"], "completed_by": user, "was_cancelled": False}
            ]
        srsly.write_json(out, tasks)
    elif fmt == "argilla":
        records = srsly.read_json(out / "records.json")
        questions = {q["name"]: q["settings"]["type"] for q in srsly.read_json(out / "settings.json")["questions"]}
        for r in records:
            r["responses"] = {
                q: [
                    {
                        "value": r["suggestions"].get(q, {}).get("value", None if kind == "label_selection" else []),
                        "user_id": user,
                        "status": "submitted",
                    }
                ]
                for q, kind in questions.items()
            }
        srsly.write_json(out / "records.json", records)
    return out


def spans_of(doc: Doc, span_key: Optional[str] = None) -> List[Tuple[int, int, str]]:
    group = doc.ents if span_key is None else doc.spans.get(span_key, [])
    return sorted((s.start_char, s.end_char, s.label_) for s in group)


def iob(doc: Doc) -> List[str]:
    """Per token: O, B-/I-LABEL, or - for missing."""
    return [t.ent_iob_ + ("-" + t.ent_type_ if t.ent_type_ else "") if t.ent_iob_ else "-" for t in doc]
