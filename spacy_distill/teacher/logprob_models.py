"""Models that score answers instead of writing them: `spacy_distill.LlamaCppScorer.v1`, `spacy_distill.OpenAIScorer.v1`.

A scoring prompt is a JSON object {"prompt": text, "answers": [" yes", " no"]}
(`scoring_prompt`); the model's answer is the JSON object of each answer's
log-probability as the continuation of the text (the sum over its tokens).
That answer is what the response store keeps, so a rerun scores nothing twice.

In-process, llama.cpp keeps the KV cache of the previous prompt: prompts that
share a prefix (instructions, examples and the doc's text, then one question
per candidate) cost only their new tokens. Over HTTP, each question is one
/v1/completions request for the next token's top `logprobs` (the server's own
prefix cache does the same).
"""

import json
import math
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from spacy_llm.registry import registry

from ..errors import ConfigError
from .base import Completion, Refused, StoredModel
from .store import ResponseStore


def scoring_prompt(prompt: str, answers: Sequence[str]) -> str:
    """The request a scorer model answers: the log-probability of each answer after the prompt."""
    return json.dumps({"prompt": prompt, "answers": list(answers)}, ensure_ascii=False)


def read_scoring_prompt(request: str) -> Tuple[str, List[str]]:
    try:
        data = json.loads(request)
        return data["prompt"], list(data["answers"])
    except (ValueError, KeyError, TypeError):
        raise ConfigError(
            "A scorer model (spacy_distill.LlamaCppScorer.v1 / OpenAIScorer.v1) needs a scoring task "
            f"(spacy_distill.CandidateNER.v1, CandidateSpanCat.v1, ScoredTextCat.v1); got the prompt {request[:80]!r}"
        ) from None


def common_prefix_length(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


class LlamaCppScorerModel(StoredModel):
    name = "LlamaCppScorer"

    def __init__(
        self, model_path: str, n_ctx: int = 2048, n_threads: Optional[int] = None, store: Optional[ResponseStore] = None
    ):
        super().__init__(store=store, concurrency=1)  # one llama.cpp context is not thread-safe
        from .llamacpp import file_sha256  # imports llama-cpp-python only when this model is used

        try:
            from llama_cpp import Llama
        except ImportError:
            raise ConfigError(
                "spacy_distill.LlamaCppScorer.v1 needs llama-cpp-python: pip install 'spacy-distill[local]'"
            ) from None
        from pathlib import Path

        path = Path(model_path)
        if not path.exists():
            raise ConfigError(f"GGUF model file not found: {path}")
        self.model_path = path
        stat = path.stat()
        self.model_sha256 = file_sha256(str(path), stat.st_size, stat.st_mtime)
        self.llm = Llama(model_path=str(path), n_ctx=n_ctx, n_threads=n_threads, logits_all=False, verbose=False)
        self.n_ctx = n_ctx
        self._logits_at = -1  # n_tokens at which self._log_probs were read
        self._log_probs: Any = None

    @property
    def identity(self) -> Dict[str, Any]:
        return {"kind": self.name, "model": self.model_path.name, "sha256": self.model_sha256}

    @property
    def target(self) -> str:
        return f"llama.cpp model {self.model_path} (scoring)"

    def _advance(self, tokens: List[int]) -> Any:
        """Log-probabilities of the next token after `tokens`, reusing the KV cache of their longest cached prefix."""
        import numpy as np

        llm = self.llm
        if len(tokens) > self.n_ctx:
            raise ValueError(f"the prompt has {len(tokens)} tokens, more than the context of {self.n_ctx}")
        cached = common_prefix_length(llm.input_ids[: llm.n_tokens].tolist(), tokens)
        if cached == len(tokens) == llm.n_tokens and self._logits_at == cached:
            return self._log_probs
        cached = min(cached, len(tokens) - 1)  # the last token is evaluated again to read its logits
        llm.n_tokens = cached  # eval() drops the KV cache from here on
        llm.eval(tokens[cached:])
        logits = np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(llm.n_vocab(),)).astype(np.float64)
        top = logits.max()
        self._log_probs = logits - top - math.log(np.exp(logits - top).sum())
        self._logits_at = llm.n_tokens
        return self._log_probs

    def answer_log_probs(self, prompt: str, answers: Sequence[str]) -> Tuple[Dict[str, float], int]:
        """Each answer's log-probability after the prompt; and the tokens evaluated."""
        llm = self.llm
        base = llm.tokenize(prompt.encode("utf8"), add_bos=True, special=False)
        scores: Dict[str, float] = {}
        for answer in answers:
            full = llm.tokenize((prompt + answer).encode("utf8"), add_bos=True, special=False)
            start = min(common_prefix_length(base, full), len(full) - 1)
            total = 0.0
            for i in range(start, len(full)):
                total += float(self._advance(full[:i])[full[i]])
            scores[answer] = total
        return scores, len(base)

    def complete(self, prompt: str) -> Completion:
        text, answers = read_scoring_prompt(prompt)
        try:
            scores, n_tokens = self.answer_log_probs(text, answers)
        except ValueError as e:  # a prompt longer than the context: asking again will not help
            raise Refused(str(e), retry=False) from None
        return Completion(json.dumps(scores), "stop", n_tokens, 0)


class OpenAIScorerModel(StoredModel):
    """Scores through /v1/completions: prompt + answer with echo, logprobs and max_tokens 1."""

    name = "OpenAIScorer"

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key_env: Optional[str] = None,
        concurrency: int = 1,
        max_retries: int = 5,
        timeout: float = 120.0,
        top_logprobs: int = 20,
        store: Optional[ResponseStore] = None,
    ):
        from .openai_compatible import OpenAICompatibleModel

        super().__init__(store=store, concurrency=concurrency)
        self.max_retries = max_retries
        self.top_logprobs = top_logprobs
        # The generative model's client: same key handling, retries and request counting.
        self.http = OpenAICompatibleModel(
            base_url, model, endpoint="completions", api_key_env=api_key_env, concurrency=concurrency,
            max_retries=max_retries, timeout=timeout, store=None,
        )  # fmt: skip

    @property
    def http_requests(self) -> int:
        return self.http.http_requests

    @property
    def identity(self) -> Dict[str, Any]:
        return {"kind": self.name, "base_url": self.http.base_url, "model": self.http.model, "top": self.top_logprobs}

    @property
    def target(self) -> str:
        return self.http.target + " (scoring)"

    def before_requests(self) -> None:
        self.http.before_requests()  # the model name, checked once against the server's list

    def complete(self, prompt: str) -> Completion:
        text, answers = read_scoring_prompt(prompt)
        # One request: the top log-probabilities of the next token hold every one-token answer (" yes", " no").
        data = self._post({"prompt": text, "max_tokens": 1, "temperature": 0.0, "logprobs": self.top_logprobs})
        n_prompt = prompt_tokens(data)
        logprobs = data["choices"][0].get("logprobs") or {}
        top = (logprobs.get("top_logprobs") or [{}])[0] or {}
        scores = {answer: top[answer] for answer in answers if answer in top}
        for answer in (a for a in answers if a not in scores):  # longer or rarer answers: their echoed tokens
            data = self._post(
                {"prompt": text + answer, "max_tokens": 1, "temperature": 0.0, "echo": True, "logprobs": 1}
            )
            try:
                scores[answer] = echoed_answer_log_prob(data["choices"][0].get("logprobs"), answer, len(text + answer))
            except ValueError as e:
                raise Refused(str(e), retry=False) from None
            n_prompt += prompt_tokens(data)
        return Completion(json.dumps(scores), "stop", n_prompt, 0)

    def _post(self, body: Dict[str, Any]) -> Dict[str, Any]:
        """The server's JSON reply to one /completions request; Refused (retried by the base) if it is no answer."""
        import httpx

        from .openai_compatible import read_reply

        client = self.http
        try:
            response = client.http.post(client.base_url + "/completions", json={"model": client.model, **body})
        except httpx.TimeoutException:
            raise Refused(f"no answer within the timeout of {client.timeout:g} s", timed_out=True) from None
        except httpx.TransportError as e:
            raise Refused(f"the connection failed ({e or type(e).__name__})") from None
        read_reply(response, "completions")  # the checks of every reply: status, JSON, choices
        return json.loads(response.content)


def prompt_tokens(data: Dict[str, Any]) -> int:
    usage = data.get("usage")
    return int(usage.get("prompt_tokens") or 0) if isinstance(usage, dict) else 0


def echoed_answer_log_prob(logprobs: Any, answer: str, prompt_chars: int) -> float:
    """Sum of the log-probabilities of the echoed tokens that spell `answer` at the end of the prompt."""
    if not isinstance(logprobs, dict) or not logprobs.get("tokens"):
        raise ValueError("the server returned no logprobs (llama.cpp's server needs --logits_all true)")
    offsets = logprobs.get("text_offset") or []
    tokens, token_logprobs = logprobs["tokens"], logprobs.get("token_logprobs") or []
    pairs = [(t, lp) for t, lp, off in zip(tokens, token_logprobs, offsets) if off < prompt_chars]
    spelled, total = "", 0.0
    for token, log_prob in reversed(pairs):
        if log_prob is None:
            break
        spelled = token + spelled
        total += log_prob
        if len(spelled) >= len(answer):
            return total
    raise ValueError(f"the server's echoed tokens do not end in the answer {answer!r}")


@registry.llm_models("spacy_distill.LlamaCppScorer.v1")
def make_llamacpp_scorer(
    model_path: str, n_ctx: int = 2048, n_threads: Optional[int] = None, store: Optional[ResponseStore] = None
) -> Callable[[Iterable[Iterable[str]]], Iterable[Iterable[str]]]:
    """A GGUF model run in-process that scores answers by log-probability (for the scoring tasks).

    model_path: GGUF file, or spacy_distill.BundledGGUF.v1. store: a spacy_distill.ResponseStore.v1.
    """
    return LlamaCppScorerModel(model_path=model_path, n_ctx=n_ctx, n_threads=n_threads, store=store)


@registry.llm_models("spacy_distill.OpenAIScorer.v1")
def make_openai_scorer(
    base_url: str,
    model: str,
    api_key_env: Optional[str] = None,
    concurrency: int = 1,
    max_retries: int = 5,
    timeout: float = 120.0,
    top_logprobs: int = 20,
    store: Optional[ResponseStore] = None,
) -> Callable[[Iterable[Iterable[str]]], Iterable[Iterable[str]]]:
    """A model behind an OpenAI-compatible server whose /v1/completions returns `logprobs`.

    One request per question (max_tokens 1, the `top_logprobs` most likely next tokens) scores
    one-token answers such as " yes" / " no"; an answer not among them is scored from its echoed
    prompt tokens (`echo`: llama.cpp's `python -m llama_cpp.server`, default --logits_all true, and vLLM).
    concurrency 1 keeps one doc's questions in order, so the server's prefix cache serves them.
    """
    return OpenAIScorerModel(
        base_url=base_url,
        model=model,
        api_key_env=api_key_env,
        concurrency=concurrency,
        max_retries=max_retries,
        timeout=timeout,
        top_logprobs=top_logprobs,
        store=store,
    )
