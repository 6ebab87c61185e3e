"""What every teacher model shares: the response store, concurrency, retries, answer checks, stats.

A spacy-llm model is called with prompts per doc (per shard) and must return
responses in the same nested order. `StoredModel.__call__` looks every prompt
up in the response store first, sends only the unanswered ones (up to
`concurrency` at a time), checks each answer (`answer_problem`) and writes it
the moment it arrives, and returns all answers in document order. A refused
answer is never stored: it is retried like a server error, then reported.
"""

import abc
import logging
import random
import threading
import time
from concurrent.futures import ALL_COMPLETED, FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Optional, Tuple

from ..errors import ConfigError, DistillError
from .answer_scores import ScoredAnswer
from .limits import ConcurrencyLimit
from .store import ResponseStore, prompt_key

logger = logging.getLogger("spacy_distill")
ON_ERROR = ("fail", "skip")
NORMAL_FINISH = {None, "stop", "eos", "eos_token", "end_turn", "stop_sequence"}


@dataclass
class Completion:
    """One answer as the model returned it."""

    text: Optional[str]
    finish_reason: Optional[str] = "stop"
    prompt_tokens: Optional[int] = None
    completion_tokens: Optional[int] = None
    token_logprobs: Optional[List[Tuple[int, float]]] = None  # [start char in text, log-probability] per token


class Refused(Exception):
    """One attempt gave no usable answer. `reason` says why in words; `retry`: worth trying again."""

    def __init__(self, reason: str, retry: bool = True, timed_out: bool = False, wait: Optional[float] = None):
        super().__init__(reason)
        self.reason, self.retry, self.timed_out, self.wait = reason, retry, timed_out, wait


class TeacherError(DistillError, RuntimeError):
    """LLM requests failed for good (after retries). Answers before them are stored.

    failures: (doc index in the call, message) of every failed doc, in doc order;
    answered_docs: docs of the call whose answers are all in hand (stored).
    """

    def __init__(self, message: str, failures: List[Tuple[int, str]], answered_docs: int = 0):
        super().__init__(message)
        self.failures = failures
        self.answered_docs = answered_docs

    @property
    def doc_index(self) -> int:
        return self.failures[0][0]


class StoredModel(abc.ABC):
    """Base class of our registered spacy-llm models.

    on_error: "fail" (stop sending, raise TeacherError) or "skip" (answer the other prompts;
    a failed prompt gets "" and its message in `failures`, keyed like the store). Set by `annotate`.
    """

    name: str = "model"
    max_retries: int = 0

    def __init__(self, store: Optional[ResponseStore], concurrency: int = 1):
        if concurrency < 1:
            raise ConfigError(f"concurrency must be at least 1, got {concurrency}")
        self.store = store
        self.concurrency = concurrency
        self.limit = ConcurrencyLimit(concurrency)
        self.on_error = "fail"
        self.failures: Dict[str, str] = {}
        self._lock = threading.Lock()
        self.stats: Dict[str, Any] = {}
        self.reset_stats()

    @property
    @abc.abstractmethod
    def identity(self) -> Dict[str, Any]:
        """Everything that changes the answer to a prompt (model, endpoint, options)."""

    @property
    @abc.abstractmethod
    def target(self) -> str:
        """Where requests go, in words (server and model, or model file)."""

    @abc.abstractmethod
    def complete(self, prompt: str) -> Completion:
        """One attempt at one prompt; raises Refused when the reply is not an answer."""

    def answer_problem(self, prompt: str, completion: Completion) -> Optional[Refused]:
        """Why this answer must not be stored (None: it is fine). Subclasses add their grammar check."""
        text = completion.text
        if text is None:
            return Refused("the answer had no text (null)")
        if not text.strip():
            return Refused("the answer was empty")
        if text.lstrip()[:15].lower().startswith(("<!doctype html", "<html")):
            return Refused(f"the answer is an HTML page, not model text: {text.strip()[:80]!r}")
        if completion.finish_reason == "length":
            return Refused(
                "the answer was cut off at the token limit (finish_reason 'length'): raise max_tokens", False
            )
        if completion.finish_reason not in NORMAL_FINISH:
            return Refused(f"the answer ended abnormally (finish_reason {completion.finish_reason!r})", False)
        return None

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
            "retries": 0,
            "refused_answers": 0,
            "timeouts": 0,
        }

    def key(self, prompt: str) -> str:
        return prompt_key(self.identity, prompt)

    def before_requests(self) -> None:  # noqa: B027 -- a hook; most models need nothing here
        """Called before requests are sent (e.g. to check the model name once)."""

    def __call__(self, prompts: Iterable[Iterable[str]]) -> Iterable[Iterable[str]]:
        nested: List[List[str]] = [list(shards) for shards in prompts]
        answers: Dict[str, ScoredAnswer] = {}
        todo: Dict[str, Tuple[int, str]] = {}
        for doc_index, shards in enumerate(nested):
            for prompt in shards:
                key = self.key(prompt)
                if key in answers or key in todo:  # the same prompt twice: one answer serves both
                    self.stats["cache_hits"] += 1
                    continue
                stored = self.store.get(key) if self.store is not None else None
                if stored is not None:
                    answers[key] = ScoredAnswer(stored["response"], stored.get("token_logprobs"))
                    self.stats["cache_hits"] += 1
                else:
                    todo[key] = (doc_index, prompt)
        answers.update(self._answer_all(todo, nested))
        return [[answers[self.key(p)] for p in shards] for shards in nested]

    def _answer_all(self, todo: Dict[str, Tuple[int, str]], nested: List[List[str]]) -> Dict[str, ScoredAnswer]:
        if not todo:
            return {}
        self.before_requests()
        skip = self.on_error == "skip"
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            futures = {pool.submit(self._answer, key, prompt): (key, i) for key, (i, prompt) in todo.items()}
            _done, pending = wait(futures, return_when=ALL_COMPLETED if skip else FIRST_EXCEPTION)
            for future in pending:
                future.cancel()
            wait(pending)  # requests already in flight finish and are stored
        answers = {futures[f][0]: f.result() for f in futures if not f.cancelled() and not f.exception()}
        failed = {futures[f]: self._describe(f.exception()) for f in futures if not f.cancelled() and f.exception()}
        if failed and not skip:
            lost = {key for key, _ in futures.values()} - set(answers)
            answered = sum(all(self.key(p) not in lost for p in shards) for shards in nested)
            failures = sorted((i, why) for (_, i), why in failed.items())
            raise TeacherError(failures[0][1], failures, answered)
        for (key, _), why in failed.items():
            self.failures[key] = why
            answers[key] = ScoredAnswer("")
        return answers

    def _describe(self, error: BaseException) -> str:
        if isinstance(error, TeacherRequestFailed):
            return str(error)
        return f"{self.target} failed: {error or type(error).__name__}"

    def _answer(self, key: str, prompt: str) -> ScoredAnswer:
        attempt = 0
        while True:
            attempt += 1
            start = time.perf_counter()
            with self.limit.slot() as level:
                try:
                    completion = self.complete(prompt)
                    refused = self.answer_problem(prompt, completion)
                except Refused as e:
                    completion, refused = None, e
            if refused is None:
                break
            self._count_refusal(refused, level)
            if not refused.retry or attempt > self.max_retries:
                raise TeacherRequestFailed(self._failure_message(refused, attempt))
            with self._lock:
                self.stats["retries"] += 1
            time.sleep(refused.wait if refused.wait is not None else retry_wait(attempt))
        elapsed = time.perf_counter() - start
        text = completion.text
        if self.store is not None:
            self.store.put(
                key,
                self.identity.get("model", self.name),
                prompt,
                text,
                completion.prompt_tokens,
                completion.completion_tokens,
                completion.token_logprobs,
            )
        with self._lock:
            self.failures.pop(key, None)  # answered now (an earlier doc with this prompt failed)
            self.stats["llm_calls"] += 1
            self.stats["prompt_tokens"] += completion.prompt_tokens or 0
            self.stats["completion_tokens"] += completion.completion_tokens or 0
            self.stats["llm_seconds"] += elapsed
        return ScoredAnswer(text, completion.token_logprobs)

    def _count_refusal(self, refused: Refused, level: int) -> None:
        with self._lock:
            self.stats["refused_answers"] += 1
            self.stats["timeouts"] += refused.timed_out
        if refused.timed_out:
            lowered = self.limit.lower(level)
            if lowered is not None:
                self.stats["concurrency_lowered_to"] = lowered
                logger.warning(
                    f"{self.target} did not answer in time with up to {level} requests in flight: "
                    f"it may have fewer slots; sending at most {lowered} at once from now on."
                )

    def _failure_message(self, refused: Refused, attempts: int) -> str:
        retries = attempts - 1
        tries = f"{attempts} attempts: the first and {retries} retr{'y' if retries == 1 else 'ies'}"
        tries = "not retried" if not retries else tries
        return f"{self.target} gave no usable answer: {refused.reason} ({tries})"


class TeacherRequestFailed(DistillError, RuntimeError):
    """One prompt got no usable answer (after retries); the message says why in words."""


def retry_wait(attempt: int) -> float:
    """Seconds to wait before retry number `attempt`: exponential backoff with jitter, at most 8 s."""
    return min(8.0, 0.25 * 2**attempt) * random.uniform(0.5, 1.0)
