"""What every teacher model shares: the response store, concurrency, document order, stats.

A spacy-llm model is called with prompts per doc (per shard) and must return
responses in the same nested order. `StoredModel.__call__` looks every prompt
up in the response store first, sends only the unanswered ones (up to
`concurrency` at a time), writes each answer the moment it arrives, and
returns all answers in document order.
"""

import abc
import threading
import time
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from typing import Any, Dict, Iterable, List, Optional, Tuple

from ..errors import ConfigError, DistillError
from .store import ResponseStore, prompt_key


class TeacherError(DistillError, RuntimeError):
    """An LLM request failed for good (after retries). Answers before it are stored."""

    def __init__(self, message: str, prompt_index: int):
        super().__init__(message)
        self.prompt_index = prompt_index


class StoredModel(abc.ABC):
    """Base class of our registered spacy-llm models."""

    name: str = "model"

    def __init__(self, store: Optional[ResponseStore], concurrency: int = 1):
        if concurrency < 1:
            raise ConfigError(f"concurrency must be at least 1, got {concurrency}")
        self.store = store
        self.concurrency = concurrency
        self._lock = threading.Lock()
        self.stats: Dict[str, float] = {}
        self.reset_stats()

    @property
    @abc.abstractmethod
    def identity(self) -> Dict[str, Any]:
        """Everything that changes the answer to a prompt (model, endpoint, options)."""

    @abc.abstractmethod
    def complete(self, prompt: str) -> Tuple[str, Optional[int], Optional[int]]:
        """Send one prompt; return (text, prompt_tokens, completion_tokens)."""

    @abc.abstractmethod
    def describe_failure(self, error: Exception) -> str:
        """One line naming where the request went and why it failed."""

    def close(self) -> None:
        """Close the response store (the end of a run; a later call to the model would fail)."""
        if self.store is not None:
            self.store.close()

    def reset_stats(self) -> None:
        self.stats = {
            "llm_calls": 0,
            "cache_hits": 0,
            "prompt_tokens": 0,
            "completion_tokens": 0,
            "llm_seconds": 0.0,
        }

    def key(self, prompt: str) -> str:
        return prompt_key(self.identity, prompt)

    def __call__(self, prompts: Iterable[Iterable[str]]) -> Iterable[Iterable[str]]:
        nested: List[List[str]] = [list(shards) for shards in prompts]
        flat = [(i, j, p) for i, shards in enumerate(nested) for j, p in enumerate(shards)]
        answers: Dict[str, str] = {}
        todo: Dict[str, Tuple[int, str]] = {}
        for position, (_, _, prompt) in enumerate(flat):
            key = self.key(prompt)
            if key in answers or key in todo:  # the same prompt twice: one answer serves both
                self.stats["cache_hits"] += 1
                continue
            stored = self.store.get(key) if self.store is not None else None
            if stored is not None:
                answers[key] = stored["response"]
                self.stats["cache_hits"] += 1
            else:
                todo[key] = (position, prompt)
        answers.update(self._answer_all(todo))
        return [[answers[self.key(p)] for p in shards] for shards in nested]

    def _answer_all(self, todo: Dict[str, Tuple[int, str]]) -> Dict[str, str]:
        if not todo:
            return {}
        answers: Dict[str, str] = {}
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            futures = {pool.submit(self._answer, key, prompt): (key, pos) for key, (pos, prompt) in todo.items()}
            _done, pending = wait(futures, return_when=FIRST_EXCEPTION)
            for future in pending:
                future.cancel()
            wait(pending)  # requests already in flight finish and are stored
            failures = sorted((futures[f][1], f.exception()) for f in futures if not f.cancelled() and f.exception())
            if failures:
                position, error = failures[0]
                raise TeacherError(self.describe_failure(error), position) from error
            for future, (key, _) in futures.items():
                answers[key] = future.result()
        return answers

    def _answer(self, key: str, prompt: str) -> str:
        start = time.perf_counter()
        text, n_prompt, n_completion = self.complete(prompt)
        elapsed = time.perf_counter() - start
        if self.store is not None:
            self.store.put(key, self.identity.get("model", self.name), prompt, text, n_prompt, n_completion)
        with self._lock:
            self.stats["llm_calls"] += 1
            self.stats["prompt_tokens"] += n_prompt or 0
            self.stats["completion_tokens"] += n_completion or 0
            self.stats["llm_seconds"] += elapsed
        return text
