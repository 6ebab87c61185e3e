"""Durable response store: every LLM answer is on disk the moment it arrives.

Answers are keyed on the model's identity and the full rendered prompt, so a
change of labels, examples, template or model never reuses a stale answer.
SQLite in WAL mode commits each answer on its own; a process killed at any
point keeps everything that was answered before.
"""

import hashlib
import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Dict, Optional, Union

from spacy_llm.registry import registry

SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    prompt TEXT NOT NULL,
    response TEXT NOT NULL,
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    created REAL NOT NULL
)
"""


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

    def get(self, key: str) -> Optional[Dict[str, Any]]:
        with self._lock:
            row = self._conn.execute(
                "SELECT response, prompt_tokens, completion_tokens FROM responses WHERE key = ?",
                (key,),
            ).fetchone()
        if row is None:
            return None
        return {"response": row[0], "prompt_tokens": row[1], "completion_tokens": row[2]}

    def put(
        self,
        key: str,
        model: str,
        prompt: str,
        response: str,
        prompt_tokens: Optional[int] = None,
        completion_tokens: Optional[int] = None,
    ) -> None:
        """Write one answer and commit it at once."""
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?, ?, ?, ?)",
                (key, model, prompt, response, prompt_tokens, completion_tokens, time.time()),
            )

    def __len__(self) -> int:
        with self._lock:
            return self._conn.execute("SELECT COUNT(*) FROM responses").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._conn.close()


@registry.llm_misc("spacy_distill.ResponseStore.v1")
def make_response_store(path: str) -> ResponseStore:
    """A durable store of every LLM response, keyed on model identity and prompt."""
    return ResponseStore(path)
