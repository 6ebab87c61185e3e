"""The review database: teacher docs, the queue, and every answer, in one SQLite file (WAL).

Tables (plain JSON in TEXT columns, so `sqlite3 review.db` is enough to look inside):

- meta: key -> JSON value: the schema (span or category labels, span key,
  exclusive categories), a secret for the page's CSRF token, the format version.
- docs: one row per teacher doc: text, tokens [[start, end], ...] (character
  offsets), the teacher's suggestion {"spans": [...] | null, "cats": {...} | null}
  with spans as {"start", "end" (characters), "token_start", "token_end"
  (tokens, inclusive, as Prodigy writes them), "label"}, the teacher's
  provenance (model, prompt hashes, raw response, parser record), the doc's
  meta and source. `rank` is the doc's place in the queue of the last server
  start (NULL: not in that input), `score` what the order was sorted by.
- answers: every answer the moment it is given: doc, annotator, answer
  (accept, reject, ignore), the spans and categories the annotator submitted,
  a copy of the original suggestion, the time, the client's request id
  (unique, so a retried request is stored once) and `retracted` (the time of
  an undo; the row stays, as history).
- claims: without overlap, the doc each annotator is looking at, so two
  annotators are never given the same doc (a claim lapses after CLAIM_SECONDS).

Each request opens its own short transaction (BEGIN IMMEDIATE for writes), so
several server threads, or several server processes on one file, never lose
or duplicate an answer.
"""

import json
import secrets
import sqlite3
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from ..errors import InputError
from ..task import Task
from .tables import SCHEMA_SQL, is_review_db

FORMAT_VERSION = 1
CLAIM_SECONDS = 15 * 60
ANSWERS = ("accept", "reject", "ignore")
JSON_COLUMNS = {"tokens", "suggestion", "teacher", "meta", "source", "spans", "cats"}


class ReviewError(InputError):
    """A problem the user can fix: bad input, a database of another kind, a bad answer."""


class Conflict(ReviewError):
    """A request that contradicts the database's state (e.g. nothing left to undo)."""


class NotFound(ReviewError):
    """A doc or answer that is not in the database."""


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


class ReviewDB:
    """The review database; safe to share between threads and processes."""

    def __init__(self, path: Union[str, Path], create: bool = True, readonly: bool = False):
        """Open the database at path; create it (unless create=False); readonly: never write."""
        self.path = Path(path)
        self.readonly = readonly
        if self.path.exists() and self.path.stat().st_size and not is_review_db(self.path):
            raise ReviewError(f"{self.path}: exists but is not a review database; choose another --db path")
        if not self.path.exists() and (not create or readonly):
            raise ReviewError(f"{self.path}: review database not found")
        self._local = threading.local()
        if not readonly:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            con = self._con()
            con.execute("PRAGMA journal_mode = WAL")
            con.executescript(SCHEMA_SQL)
            with self.write() as cur:
                if self._meta(cur, "version") is None:
                    self._set_meta(cur, "version", FORMAT_VERSION)
                    self._set_meta(cur, "created", time.time())
                if self._meta(cur, "secret") is None:
                    self._set_meta(cur, "secret", secrets.token_hex(32))
        version = self.meta("version")
        if version != FORMAT_VERSION:
            raise ReviewError(f"{self.path}: review database format {version}, this version reads {FORMAT_VERSION}")

    # -- connections and transactions ------------------------------------------------

    def _con(self) -> sqlite3.Connection:
        con = getattr(self._local, "con", None)
        if con is None:
            if self.readonly:
                con = sqlite3.connect(
                    self.path.resolve().as_uri() + "?mode=ro",
                    uri=True,
                    timeout=60,
                    isolation_level=None,
                    check_same_thread=False,
                )
            else:
                con = sqlite3.connect(self.path, timeout=60, isolation_level=None, check_same_thread=False)
                con.execute("PRAGMA synchronous = FULL")
                con.execute("PRAGMA foreign_keys = ON")
            con.execute("PRAGMA busy_timeout = 60000")
            self._local.con = con
        return con

    def write(self) -> "_Transaction":
        """A write transaction (BEGIN IMMEDIATE): committed on success, rolled back on error."""
        return _Transaction(self._con(), "BEGIN IMMEDIATE")

    def read(self) -> "_Transaction":
        return _Transaction(self._con(), "BEGIN")

    def close(self) -> None:
        con = getattr(self._local, "con", None)
        if con is not None:
            con.close()
            self._local.con = None

    @staticmethod
    def _meta(cur: sqlite3.Cursor, key: str) -> Any:
        row = cur.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    @staticmethod
    def _set_meta(cur: sqlite3.Cursor, key: str, value: Any) -> None:
        cur.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, dumps(value)))

    def meta(self, key: str) -> Any:
        with self.read() as cur:
            return self._meta(cur, key)

    @property
    def schema(self) -> Task:
        """The task of the docs (stored as `Task.schema_dict()`; databases of earlier versions read the same)."""
        schema = self.meta("schema")
        if schema is None:
            raise ReviewError(f"{self.path}: the database holds no docs yet")
        return Task.from_dict(schema)

    @property
    def secret(self) -> str:
        return self.meta("secret")

    # -- loading docs and setting the queue ------------------------------------------

    def add_docs(self, records: Sequence[Dict[str, Any]], schema: Task) -> Tuple[int, int]:
        """Insert doc records (see `ingest.records_from_docs`) not yet in the database; (added, known).

        The schema's labels are merged with those already stored; a database of
        spans cannot take category docs or another span key, and vice versa.
        """
        now = time.time()
        with self.write() as cur:
            old = self._meta(cur, "schema")
            if old is not None:
                schema = merge_schema(Task.from_dict(old), schema, self.path)
            self._set_meta(cur, "schema", schema.schema_dict())
            known = {row[0] for row in cur.execute("SELECT key FROM docs")}
            new = [r for r in records if r["key"] not in known]
            cur.executemany(
                "INSERT INTO docs (key, text, tokens, suggestion, teacher, meta, source, added) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        r["key"],
                        r["text"],
                        dumps(r["tokens"]),
                        dumps(r["suggestion"]),
                        dumps(r["teacher"]),
                        dumps(r["meta"]),
                        dumps(r["source"]),
                        now,
                    )
                    for r in new
                ],
            )
        return len(new), len(records) - len(new)

    def set_queue(
        self, keys: Sequence[str], scores: Optional[Sequence[Optional[float]]] = None, order: str = "as-is"
    ) -> None:
        """The docs to review, in this order (by key); docs not listed leave the queue."""
        scores = list(scores) if scores is not None else [None] * len(keys)
        with self.write() as cur:
            cur.execute("UPDATE docs SET rank = NULL, score = NULL")
            cur.executemany(
                "UPDATE docs SET rank = ?, score = ? WHERE key = ?",
                [(i, s, k) for i, (k, s) in enumerate(zip(keys, scores))],
            )
            self._set_meta(cur, "order", order)

    # -- the queue -------------------------------------------------------------------

    def next_doc(self, annotator: str, overlap: bool = False, now: Optional[float] = None) -> Optional[Dict[str, Any]]:
        """The doc this annotator should answer next, or None when there is none left.

        overlap: every annotator answers every doc. Without overlap each doc is
        answered once: an annotator first gets back the doc they were given
        and have not answered (after a reload or restart), else the first doc
        in the queue nobody answered and nobody else holds.
        """
        now = time.time() if now is None else now
        with self.write() as cur:
            if overlap:
                row = cur.execute(
                    "SELECT id FROM docs d WHERE rank IS NOT NULL AND NOT EXISTS ("
                    " SELECT 1 FROM answers a WHERE a.doc_id = d.id AND a.annotator = ? AND a.retracted IS NULL"
                    ") ORDER BY rank LIMIT 1",
                    (annotator,),
                ).fetchone()
            else:
                open_doc = "NOT EXISTS (SELECT 1 FROM answers a WHERE a.doc_id = d.id AND a.retracted IS NULL)"
                row = cur.execute(
                    f"SELECT d.id FROM docs d JOIN claims c ON c.doc_id = d.id AND c.annotator = ? "
                    f"WHERE d.rank IS NOT NULL AND {open_doc} ORDER BY d.rank LIMIT 1",
                    (annotator,),
                ).fetchone()
                if row is None:
                    row = cur.execute(
                        f"SELECT d.id FROM docs d LEFT JOIN claims c ON c.doc_id = d.id "
                        f"WHERE d.rank IS NOT NULL AND {open_doc} AND (c.doc_id IS NULL OR c.claimed < ?) "
                        f"ORDER BY d.rank LIMIT 1",
                        (now - CLAIM_SECONDS,),
                    ).fetchone()
                if row is not None:
                    cur.execute(
                        "INSERT OR REPLACE INTO claims (doc_id, annotator, claimed) VALUES (?, ?, ?)",
                        (row[0], annotator, now),
                    )
            return None if row is None else self._doc(cur, row[0])

    def doc(self, doc_id: int) -> Dict[str, Any]:
        with self.read() as cur:
            return self._doc(cur, doc_id)

    def _doc(self, cur: sqlite3.Cursor, doc_id: int) -> Dict[str, Any]:
        row = cur.execute(
            "SELECT id, key, text, tokens, suggestion, meta, source, rank, score, teacher FROM docs WHERE id = ?",
            (doc_id,),
        ).fetchone()
        if row is None:
            raise NotFound(f"no doc {doc_id} in the review database")
        doc = _record(cur, row)
        doc["teacher_model"] = doc.pop("teacher").get("model")
        return doc

    def teacher(self, doc_id: int) -> Dict[str, Any]:
        with self.read() as cur:
            row = cur.execute("SELECT teacher FROM docs WHERE id = ?", (doc_id,)).fetchone()
        if row is None:
            raise NotFound(f"no doc {doc_id} in the review database")
        return json.loads(row[0])

    # -- answers ---------------------------------------------------------------------

    def add_answer(
        self,
        doc_id: int,
        annotator: str,
        answer: str,
        spans: Optional[List[Dict[str, Any]]],
        cats: Optional[Dict[str, float]],
        request_id: Optional[str] = None,
        now: Optional[float] = None,
    ) -> Tuple[int, bool]:
        """Store an answer (spans already checked, see `check_answer`); (answer id, was it new).

        A request id seen before returns the first answer stored for it, so a
        client may safely resend an answer whose response it never received.
        """
        if answer not in ANSWERS:
            raise ReviewError(f"answer must be one of {', '.join(ANSWERS)}, got {answer!r}")
        now = time.time() if now is None else now
        with self.write() as cur:
            known = stored_request(cur, "answers", "doc_id", request_id, (doc_id, annotator))
            if known is not None:
                return known, False
            row = cur.execute("SELECT suggestion FROM docs WHERE id = ?", (doc_id,)).fetchone()
            if row is None:
                raise NotFound(f"no doc {doc_id} in the review database")
            cur.execute(
                "INSERT INTO answers (doc_id, annotator, answer, spans, cats, suggestion, created, request_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    doc_id,
                    annotator,
                    answer,
                    None if spans is None else dumps(spans),
                    None if cats is None else dumps(cats),
                    row[0],
                    now,
                    request_id,
                ),
            )
            answer_id = cur.lastrowid
            cur.execute("DELETE FROM claims WHERE doc_id = ? AND annotator = ?", (doc_id, annotator))
        return answer_id, True

    def undo(
        self, annotator: str, answer_id: Optional[int] = None, overlap: bool = False, now: Optional[float] = None
    ) -> Dict[str, Any]:
        """Retract the annotator's latest standing answer (or answer_id, if still standing).

        Returns the doc with `state`: the retracted answer, to correct it. The
        row stays in the table, marked retracted; without overlap the doc goes
        back to this annotator.
        """
        now = time.time() if now is None else now
        with self.write() as cur:
            if answer_id is None:
                row = cur.execute(
                    "SELECT id, doc_id, answer, spans, cats FROM answers WHERE annotator = ? AND retracted IS NULL ORDER BY id DESC LIMIT 1",
                    (annotator,),
                ).fetchone()
                if row is None:
                    raise Conflict(f"{annotator} has no answer to undo")
            else:
                row = cur.execute(
                    "SELECT id, doc_id, answer, spans, cats, annotator, retracted FROM answers WHERE id = ?",
                    (answer_id,),
                ).fetchone()
                if row is None or row[5] != annotator:
                    raise NotFound(f"{annotator} has no answer {answer_id}")
                if row[6] is not None:
                    raise Conflict(f"answer {answer_id} was undone already")
            undone = _record(cur, row)
            cur.execute("UPDATE answers SET retracted = ? WHERE id = ?", (now, undone["id"]))
            if not overlap:
                cur.execute(
                    "INSERT OR REPLACE INTO claims (doc_id, annotator, claimed) VALUES (?, ?, ?)",
                    (undone["doc_id"], annotator, now),
                )
            doc = self._doc(cur, undone["doc_id"])
        doc["state"] = {
            "answer": undone["answer"],
            "answer_id": undone["id"],
            "spans": undone["spans"],
            "cats": undone["cats"],
        }
        return doc

    def answers(self, include_retracted: bool = False) -> List[Dict[str, Any]]:
        """All answers in the order given, each with its doc's text, tokens, meta and source."""
        where = "" if include_retracted else "WHERE a.retracted IS NULL"
        with self.read() as cur:
            rows = cur.execute(
                "SELECT a.id, a.doc_id, a.annotator, a.answer, a.spans, a.cats, a.suggestion, a.created, a.request_id, "
                f"a.retracted, d.text, d.tokens, d.meta, d.source FROM answers a JOIN docs d ON d.id = a.doc_id {where} ORDER BY a.id"
            ).fetchall()
            return [_record(cur, r) for r in rows]

    def progress(self, annotator: Optional[str] = None) -> Dict[str, Any]:
        """Docs in the queue, docs answered by anyone, and per annotator their answers."""
        with self.read() as cur:
            total = cur.execute("SELECT count(*) FROM docs WHERE rank IS NOT NULL").fetchone()[0]
            done = cur.execute(
                "SELECT count(DISTINCT a.doc_id) FROM answers a JOIN docs d ON d.id = a.doc_id "
                "WHERE a.retracted IS NULL AND d.rank IS NOT NULL"
            ).fetchone()[0]
            rows = cur.execute(
                "SELECT a.annotator, a.answer, count(DISTINCT a.doc_id) FROM answers a JOIN docs d ON d.id = a.doc_id "
                "WHERE a.retracted IS NULL AND d.rank IS NOT NULL GROUP BY a.annotator, a.answer"
            ).fetchall()
            per_doc = cur.execute(
                "SELECT a.annotator, count(DISTINCT a.doc_id) FROM answers a JOIN docs d ON d.id = a.doc_id "
                "WHERE a.retracted IS NULL AND d.rank IS NOT NULL GROUP BY a.annotator"
            ).fetchall()
        annotators: Dict[str, Dict[str, int]] = {name: {"done": n, **{k: 0 for k in ANSWERS}} for name, n in per_doc}
        for name, answer, n in rows:
            annotators[name][answer] = n
        result = {
            "total": total,
            "done": done,
            "annotators": [{"name": name, **counts} for name, counts in sorted(annotators.items())],
        }
        if annotator is not None:
            result["you"] = annotators.get(annotator, {}).get("done", 0)
        return result


class _Transaction:
    def __init__(self, con: sqlite3.Connection, begin: str):
        self.con = con
        self.begin = begin

    def __enter__(self) -> sqlite3.Cursor:
        self.con.execute(self.begin)
        self.cur = self.con.cursor()
        return self.cur

    def __exit__(self, kind, value, tb) -> None:
        self.con.execute("COMMIT" if kind is None else "ROLLBACK")


def stored_request(
    cur: sqlite3.Cursor, table: str, item: str, request_id: Optional[str], owner: Tuple
) -> Optional[int]:
    """The id of the answer already stored in table for this request id (None: a new request);
    Conflict if it was stored for another (item, annotator) than owner."""
    if request_id is None:
        return None
    row = cur.execute(f"SELECT id, {item}, annotator FROM {table} WHERE request_id = ?", (request_id,)).fetchone()
    if row is not None and (row[1], row[2]) != owner:
        raise Conflict(f"request id {request_id!r} was already used for another answer")
    return None if row is None else row[0]


def merge_schema(old: Task, new: Task, path: Path) -> Task:
    """The stored task with the labels of new docs added; an incompatible task is an error."""
    if (old.has_spans, old.span_key) != (new.has_spans, new.span_key) and (new.span_labels or new.cat_labels):
        raise ReviewError(
            f"{path}: holds docs with {old.describe()}, the input has {new.describe()}; use another --db for this input"
        )
    return replace(old, labels=_union(old.labels, new.labels), side_cats=_union(old.side_cats, new.side_cats))


def _union(old: List[str], new: List[str]) -> List[str]:
    return old + [label for label in new if label not in old]


def _record(cur: sqlite3.Cursor, row: Sequence[Any]) -> Dict[str, Any]:
    """A row as a dict by column name, its JSON columns decoded (NULL stays None)."""
    names = [d[0] for d in cur.description]
    return {name: json.loads(v) if name in JSON_COLUMNS and v is not None else v for name, v in zip(names, row)}


def span_dict(start_char: int, end_char: int, token_start: int, token_end: int, label: str) -> Dict[str, Any]:
    """A span as stored: character offsets, token indices (token_end inclusive, as Prodigy) and label."""
    return {"start": start_char, "end": end_char, "token_start": token_start, "token_end": token_end, "label": label}
