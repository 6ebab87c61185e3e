"""Durable response store: every LLM answer is on disk the moment it arrives.

Answers are keyed on the model's identity and the full rendered prompt, so a
change of labels, examples, template or model never reuses a stale answer.
SQLite in WAL mode commits each answer on its own; a process killed at any
point keeps everything that was answered before. `list_answers` and
`purge_answers` (the `spacy-distill store` commands) show and remove stored
answers, e.g. those of one model, so that the next run asks again.
"""

import hashlib
import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Optional, Set, Union

from spacy.tokens import Doc
from spacy_llm.registry import registry

from ..errors import InputError

SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    prompt TEXT NOT NULL,
    response TEXT NOT NULL,
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    created REAL NOT NULL,
    token_logprobs TEXT
)
"""
COLUMNS = "key, model, prompt, response, prompt_tokens, completion_tokens, created, token_logprobs"


def prompt_key(model_identity: Dict[str, Any], prompt: str) -> str:
    """Hash of the model's identity and the full prompt: the store's key."""
    blob = json.dumps(model_identity, sort_keys=True) + "\x00" + prompt
    return hashlib.sha256(blob.encode("utf8")).hexdigest()


class ResponseStore:
    """A SQLite file of prompt -> response, safe for threads and for kill -9."""

    def __init__(self, path: Union[str, Path]):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute(SCHEMA)
        if not has_logprobs(self._conn):  # a store written before answers kept their log-probabilities
            self._conn.execute("ALTER TABLE responses ADD COLUMN token_logprobs TEXT")

    def get(self, key: str) -> Optional[Dict[str, Any]]:
        with self._lock:
            return lookup(self._conn, key, True)

    def put(
        self,
        key: str,
        model: str,
        prompt: str,
        response: str,
        prompt_tokens: Optional[int] = None,
        completion_tokens: Optional[int] = None,
        token_logprobs: Optional[List[Any]] = None,
    ) -> None:
        """Write one answer (with its tokens' [start char, log-probability], if known) and commit it at once."""
        logprobs = None if token_logprobs is None else json.dumps(token_logprobs, separators=(",", ":"))
        with self._lock:
            self._conn.execute(
                f"INSERT OR REPLACE INTO responses ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (key, model, prompt, response, prompt_tokens, completion_tokens, time.time(), logprobs),
            )

    def rows(self) -> Iterator[Dict[str, Any]]:
        """Every stored answer (key, model, prompt, response, tokens, created), oldest first."""
        with self._lock:
            cursor = self._conn.execute("SELECT * FROM responses ORDER BY created, key")
            names = [d[0] for d in cursor.description]
            rows = cursor.fetchall()
        return (dict(zip(names, row)) for row in rows)

    def delete(self, keys: List[str]) -> int:
        """Remove the answers with these keys in one transaction; how many were removed."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                removed = sum(self._conn.execute("DELETE FROM responses WHERE key = ?", (k,)).rowcount for k in keys)
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
        return removed

    def __len__(self) -> int:
        with self._lock:
            return self._conn.execute("SELECT COUNT(*) FROM responses").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def has_logprobs(conn: sqlite3.Connection) -> bool:
    """Whether a store's table has the token_logprobs column."""
    return any(row[1] == "token_logprobs" for row in conn.execute("PRAGMA table_info(responses)"))


def lookup(conn: sqlite3.Connection, key: str, with_logprobs: bool) -> Optional[Dict[str, Any]]:
    """One stored answer: response, token counts, token_logprobs (None where not kept)."""
    logprobs = "token_logprobs" if with_logprobs else "NULL"
    sql = f"SELECT response, prompt_tokens, completion_tokens, {logprobs} FROM responses WHERE key = ?"
    row = conn.execute(sql, (key,)).fetchone()
    if row is None:
        return None
    token_logprobs = json.loads(row[3]) if row[3] else None
    return {"response": row[0], "prompt_tokens": row[1], "completion_tokens": row[2], "token_logprobs": token_logprobs}


def open_existing(path: Union[str, Path]) -> ResponseStore:
    """A store that must exist already (the `store` commands never create one)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: response store not found")
    try:
        return ResponseStore(path)
    except sqlite3.DatabaseError as e:
        raise InputError(f"{path}: not a response store ({e})") from None


def select_answers(
    store: ResponseStore, model: Optional[str] = None, prompt_sha256: Optional[Set[str]] = None
) -> List[Dict[str, Any]]:
    """The stored answers of this model (name as listed) and of these prompts (their SHA-256), if given."""
    return [
        row
        for row in store.rows()
        if (model is None or row["model"] == model)
        and (prompt_sha256 is None or hashlib.sha256(row["prompt"].encode("utf8")).hexdigest() in prompt_sha256)
    ]


def teacher_prompt_hashes(
    docs: Iterable[Doc], parse_failures: bool = False, input_lines: Optional[Iterable[int]] = None
) -> Set[str]:
    """The prompts (SHA-256, from `annotate`'s provenance) of the teacher docs that had an unreadable
    answer (parse_failures) or came from these input lines."""
    lines = set(input_lines or ())
    hashes: Set[str] = set()
    for doc in docs:
        failed = parse_failures and doc.user_data.get("spacy_distill", {}).get("parse_failure")
        if failed or doc.user_data.get("source", {}).get("line") in lines:
            hashes.update(doc.user_data.get("teacher", {}).get("prompt_sha256", []))
    return hashes


def purge_answers(store: ResponseStore, rows: List[Dict[str, Any]]) -> int:
    """Remove these stored answers: the next run sends their prompts again. How many were removed."""
    return store.delete([row["key"] for row in rows])


@registry.llm_misc("spacy_distill.ResponseStore.v1")
def make_response_store(path: str) -> ResponseStore:
    """A durable store of every LLM response, keyed on model identity and prompt."""
    return ResponseStore(path)
