"""The review database of `spacy-distill review` as a corrections source.

Every standing answer (undone ones are left out) becomes a `Correction`: a
complete annotation of the doc with the teacher's own tokens, the
annotator's name and the time, so `import` and `spacy_distill.Corrections.v1`
merge several annotators' answers as they merge any tool's. Reading does not
change the database, and works while the server is running.
"""

import sqlite3
from pathlib import Path
from typing import Iterator

from .common import Correction, FormatError, SpanAnn
from .registry import Format, register


def is_review_db(path: Path) -> bool:
    """A review database, or a damaged one (read() then says so); not another tool's healthy SQLite file."""
    from ..review_app.tables import is_review_db as check  # plain sqlite3: no import of the review app

    if path.is_dir() or not path.exists():
        return False
    return check(path) or is_damaged_database(path)


def is_damaged_database(path: Path) -> bool:
    """A .db file or a file with SQLite's header that SQLite cannot read (truncated, corrupt)."""
    try:
        with path.open("rb") as f:
            header = f.read(100)
    except OSError:
        return False
    if not header.startswith(b"SQLite format 3\x00"):
        return path.suffix.lower() == ".db"
    if len(header) < 100:
        return True
    try:
        con = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True, timeout=30)
        try:
            con.execute("SELECT name FROM sqlite_master").fetchall()
        finally:
            con.close()
    except sqlite3.DatabaseError:
        return True
    return False


def read(path: Path) -> Iterator[Correction]:
    from ..review_app.storage import ReviewDB, ReviewError  # the database layer only (task.py, sqlite3): no cycle

    try:
        db = ReviewDB(path, readonly=True)
        try:
            task = db.schema
            answers = db.answers()
        finally:
            db.close()
    except ReviewError as e:
        if "not a review database" in str(e):
            raise FormatError(
                f"{path}: not a review database of `spacy-distill review`; if it was one, it is truncated or corrupt"
            ) from None
        raise FormatError(str(e)) from None
    except sqlite3.Error as e:
        raise FormatError(f"{path}: not a readable review database; is it truncated or corrupt? ({e})") from None
    for a in answers:
        text = a["text"]
        source = f"{path}:answer {a['id']} (doc {a['doc_id']})"
        spans = None
        if task.has_spans and a["spans"] is not None:
            spans = [
                SpanAnn(s["start"], s["end"], s["label"], s.get("token_start"), s.get("token_end")) for s in a["spans"]
            ]
        elif task.has_spans and a["answer"] != "ignore":
            spans = []
        cats = None
        if task.cat_labels and a["cats"] is not None:
            cats = {label: float(value) for label, value in a["cats"].items()}
        yield Correction(
            source=source,
            text=text,
            answer=a["answer"],
            spans=spans,
            cats=cats,
            binary=False,
            tokens=[(text[start:end], start, end) for start, end in a["tokens"]],
            span_key=task.span_key,
            annotator=a["annotator"],
            timestamp=a["created"],
            meta=a["meta"] if isinstance(a["meta"], dict) else {},
        )


FORMAT = register(
    Format(
        "review",
        read,
        None,
        suffix=".db",
        description="the database of `spacy-distill review`, read only",
        detect_file=is_review_db,
        priority=10,
    )
)
