"""`spacy_distill.OpenAICompatible.v1`: any server that speaks the OpenAI HTTP API.

vLLM, Ollama, llama.cpp's server, LM Studio and cloud APIs all do. Unlike
spacy-llm's OpenAI models it never contacts a host the user did not configure,
does not check the model name against a vendor list, keeps N requests in
flight, and retries 429/5xx/timeouts/dropped connections with backoff (the
`openai` client's own retry logic) before failing with a clear message.
"""

import copy
import os
from typing import Any, Callable, Dict, Iterable, Literal, Optional, Tuple, Union

import httpx
import openai
from spacy_llm.registry import registry

from ..errors import ConfigError
from .base import StoredModel
from .grammars import grammar_for, grammar_identity
from .store import ResponseStore

Endpoint = Literal["chat", "completions"]


class OpenAICompatibleModel(StoredModel):
    name = "OpenAICompatible"

    def __init__(
        self,
        base_url: str,
        model: str,
        endpoint: Endpoint = "chat",
        api_key_env: Optional[str] = None,
        options: Optional[Dict[str, Any]] = None,
        system_prompt: Optional[str] = None,
        grammar: Optional[Union[str, Callable[[str], str]]] = None,
        grammar_field: str = "grammar",
        concurrency: int = 4,
        max_retries: int = 5,
        timeout: float = 120.0,
        store: Optional[ResponseStore] = None,
    ):
        super().__init__(store=store, concurrency=concurrency)
        if endpoint not in ("chat", "completions"):
            raise ConfigError(f"endpoint must be 'chat' or 'completions', got {endpoint!r}")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.endpoint = endpoint
        self.options = dict(options or {})
        self.system_prompt = system_prompt
        self.grammar = grammar
        self.grammar_field = grammar_field
        self.max_retries = max_retries
        self.http_requests = 0
        api_key = "no-key-needed"
        if api_key_env:
            api_key = os.environ.get(api_key_env, "")
            if not api_key:
                raise ConfigError(
                    f"The teacher's config names the API key variable {api_key_env!r}, "
                    f"but it is not set in the environment."
                )
        self.client = openai.OpenAI(
            base_url=self.base_url,
            api_key=api_key,
            max_retries=max_retries,
            timeout=timeout,
            http_client=httpx.Client(
                limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
                event_hooks={"request": [self._count_request]},
            ),
        )

    def _count_request(self, request: httpx.Request) -> None:
        with self._lock:
            self.http_requests += 1

    @property
    def identity(self) -> Dict[str, Any]:
        return {
            "kind": self.name,
            "base_url": self.base_url,
            "model": self.model,
            "endpoint": self.endpoint,
            "system_prompt": self.system_prompt,
            "options": self.options,
            "grammar": grammar_identity(self.grammar),
            "grammar_field": self.grammar_field,
        }

    def complete(self, prompt: str) -> Tuple[str, Optional[int], Optional[int]]:
        body = copy.deepcopy(self.options)
        if self.grammar:
            *parents, leaf = self.grammar_field.split(".")
            target = body
            for name in parents:  # "structured_outputs.grammar" -> {"structured_outputs": {"grammar": ...}}
                target = target.setdefault(name, {})
            target[leaf] = grammar_for(self.grammar, prompt)
        if self.endpoint == "chat":
            messages = [{"role": "user", "content": prompt}]
            if self.system_prompt:
                messages.insert(0, {"role": "system", "content": self.system_prompt})
            result = self.client.chat.completions.create(model=self.model, messages=messages, extra_body=body)
            text = result.choices[0].message.content or ""
        else:
            result = self.client.completions.create(model=self.model, prompt=prompt, extra_body=body)
            text = result.choices[0].text or ""
        usage = result.usage
        return text, getattr(usage, "prompt_tokens", None), getattr(usage, "completion_tokens", None)

    def describe_failure(self, error: Exception) -> str:
        if isinstance(error, openai.APIStatusError):
            why = f"HTTP {error.status_code}: {str(error)[:200]}"
        elif isinstance(error, openai.APITimeoutError):
            why = "the request timed out"
        elif isinstance(error, openai.APIConnectionError):
            why = f"connection failed ({error.__cause__ or error})"
        else:
            why = f"{type(error).__name__}: {error}"
        return (
            f"LLM server {self.base_url} (model {self.model!r}, {self.endpoint} endpoint) failed "
            f"after {self.max_retries} retries: {why}"
        )


@registry.llm_models("spacy_distill.OpenAICompatible.v1")
def make_openai_compatible(
    base_url: str,
    model: str,
    endpoint: Endpoint = "chat",
    api_key_env: Optional[str] = None,
    options: Optional[Dict[str, Any]] = None,
    system_prompt: Optional[str] = None,
    grammar: Optional[Union[str, Callable[[str], str]]] = None,
    grammar_field: str = "grammar",
    concurrency: int = 4,
    max_retries: int = 5,
    timeout: float = 120.0,
    store: Optional[ResponseStore] = None,
) -> Callable[[Iterable[Iterable[str]]], Iterable[Iterable[str]]]:
    """A model behind any OpenAI-compatible server (vLLM, Ollama, llama.cpp, LM Studio, cloud).

    base_url: e.g. "http://127.0.0.1:8000/v1". The only host ever contacted.
    model: the model name the server expects.
    endpoint: "chat" (/chat/completions) or "completions" (/completions).
    api_key_env: name of the environment variable holding the key; None for local servers.
    options: request body fields passed through as given: temperature, max_tokens, stop,
        seed, response_format (JSON schema), guided_json (vLLM), ...
    grammar: GBNF text or a per-prompt grammar (spacy_distill.SpanGrammar.v1), sent in the
        request field `grammar_field`: "grammar" for llama.cpp's server; for vLLM "guided_grammar"
        (up to 0.11) or "structured_outputs.grammar" (0.12 on; a dotted name nests the field).
    concurrency: requests in flight at once; answers still come back in document order.
    max_retries / timeout: retries with exponential backoff on 429, 5xx, timeouts and
        dropped connections; timeout in seconds per request.
    store: a spacy_distill.ResponseStore.v1; answered prompts are never sent again.
    """
    return OpenAICompatibleModel(
        base_url=base_url,
        model=model,
        endpoint=endpoint,
        api_key_env=api_key_env,
        options=options,
        system_prompt=system_prompt,
        grammar=grammar,
        grammar_field=grammar_field,
        concurrency=concurrency,
        max_retries=max_retries,
        timeout=timeout,
        store=store,
    )
