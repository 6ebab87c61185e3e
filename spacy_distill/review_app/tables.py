"""The review database's tables, and whether a file is one.

Plain sqlite3 and nothing else from the package, so a reader (formats/review_db.py) can ask
whether a file is a review database without importing the review app.
"""

import sqlite3
from pathlib import Path
from typing import Union

SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS docs (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    text TEXT NOT NULL,
    tokens TEXT NOT NULL,
    suggestion TEXT NOT NULL,
    teacher TEXT NOT NULL,
    meta TEXT NOT NULL,
    source TEXT NOT NULL,
    rank INTEGER,
    score REAL,
    added REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS docs_rank ON docs(rank);
CREATE TABLE IF NOT EXISTS answers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    doc_id INTEGER NOT NULL REFERENCES docs(id),
    annotator TEXT NOT NULL,
    answer TEXT NOT NULL CHECK (answer IN ('accept', 'reject', 'ignore')),
    spans TEXT,
    cats TEXT,
    suggestion TEXT NOT NULL,
    created REAL NOT NULL,
    request_id TEXT UNIQUE,
    retracted REAL
);
CREATE INDEX IF NOT EXISTS answers_doc ON answers(doc_id, retracted);
CREATE INDEX IF NOT EXISTS answers_annotator ON answers(annotator, retracted);
CREATE TABLE IF NOT EXISTS claims (
    doc_id INTEGER PRIMARY KEY REFERENCES docs(id),
    annotator TEXT NOT NULL,
    claimed REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS rules (
    id INTEGER PRIMARY KEY,
    rule_id TEXT NOT NULL UNIQUE,
    rule TEXT NOT NULL,
    source TEXT NOT NULL,
    rank INTEGER,
    added REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS rule_answers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    rule_row INTEGER NOT NULL REFERENCES rules(id),
    annotator TEXT NOT NULL,
    answer TEXT NOT NULL CHECK (answer IN ('accept', 'reject', 'ignore')),
    original TEXT NOT NULL,
    edited TEXT,
    created REAL NOT NULL,
    request_id TEXT UNIQUE,
    retracted REAL
);
CREATE INDEX IF NOT EXISTS rule_answers_rule ON rule_answers(rule_row, retracted);
CREATE INDEX IF NOT EXISTS rule_answers_annotator ON rule_answers(annotator, retracted);
CREATE TABLE IF NOT EXISTS rule_claims (
    rule_row INTEGER PRIMARY KEY REFERENCES rules(id),
    annotator TEXT NOT NULL,
    claimed REAL NOT NULL
);
"""
REQUIRED_TABLES = {"meta", "docs", "answers", "claims"}


def is_review_db(path: Union[str, Path]) -> bool:
    """True if path is a SQLite file with the review tables."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            if f.read(16) != b"SQLite format 3\x00":
                return False
    except OSError:
        return False
    con = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True, timeout=30)
    try:
        names = {row[0] for row in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError:
        return False
    finally:
        con.close()
    return names >= REQUIRED_TABLES
