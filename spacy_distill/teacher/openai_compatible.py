"""`spacy_distill.OpenAICompatible.v1`: any server that speaks the OpenAI HTTP API.

vLLM, Ollama, llama.cpp's server, LM Studio and cloud APIs all do. Unlike
spacy-llm's OpenAI models it never contacts a host the user did not configure,
checks the model name against the server's own list (`/models`, where it has
one), keeps N requests in flight (fewer when the server times out), and checks
every answer before it is stored: a reply that is not a usable answer (HTTP
429/5xx, a timeout, a dropped connection, a 200 whose body is not JSON, has no
choices, holds an error, or whose text is empty, null, an HTML page or breaks
the grammar sent) is retried with backoff, then reported in words. It asks for
the answer tokens' `logprobs` (the teacher's confidence); a server that gives none
gives answers without confidences, and one that refuses the field (HTTP 400) is
asked again without it.
"""

import copy
import json
import logging
import math
import os
import threading
from typing import Any, Callable, Dict, Iterable, List, Literal, Optional, Union

import httpx
from spacy_llm.registry import registry

from ..errors import ConfigError
from .answer_scores import token_offsets
from .base import Completion, Refused, StoredModel
from .grammars import grammar_for, grammar_identity, grammar_problem
from .store import ResponseStore

Endpoint = Literal["chat", "completions"]
RETRIED_STATUS = {408, 409, 425, 429}
logger = logging.getLogger("spacy_distill")


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
        self.timeout = timeout
        self.http_requests = 0
        self.ask_logprobs = True
        self._model_checked = threading.Lock()
        self._model_ok = False
        headers = {}
        if api_key_env:
            api_key = os.environ.get(api_key_env, "")
            if not api_key:
                raise ConfigError(
                    f"The teacher's config names the API key variable {api_key_env!r}, "
                    f"but it is not set in the environment."
                )
            headers["Authorization"] = f"Bearer {api_key}"
        self.http = httpx.Client(
            headers=headers,
            timeout=httpx.Timeout(timeout),
            transport=httpx.HTTPTransport(limits=httpx.Limits(max_connections=concurrency)),
            event_hooks={"request": [self._count_request]},
        )

    def _count_request(self, request: httpx.Request) -> None:
        """Count the prompts sent (the one GET of the model list is not a prompt)."""
        if request.method == "POST":
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

    @property
    def target(self) -> str:
        return f"LLM server {self.base_url} (model {self.model!r}, {self.endpoint} endpoint)"

    def before_requests(self) -> None:
        """Check the model name against the server's list of models, once; a server without a list is fine."""
        with self._model_checked:
            if self._model_ok:
                return
            available = self._listed_models()
            if available and self.model not in available and f"{self.model}:latest" not in available:
                raise ConfigError(
                    f"{self.base_url} does not serve the model {self.model!r}; it lists "
                    f"{', '.join(map(repr, available))}. Set `model` in [components.llm.model] to one of them."
                )
            self._model_ok = True

    def _listed_models(self) -> List[str]:
        try:
            response = self.http.get(f"{self.base_url}/models", timeout=min(self.timeout, 10.0))
            data = response.json().get("data") if response.status_code == 200 else None
        except (httpx.HTTPError, ValueError, AttributeError) as e:
            logger.debug("no model list from %s: %s", self.base_url, e)
            return []
        if not isinstance(data, list):
            return []
        return [str(m["id"]) for m in data if isinstance(m, dict) and m.get("id") is not None]

    def request_body(self, prompt: str) -> Dict[str, Any]:
        body = copy.deepcopy(self.options)
        if self.grammar:
            *parents, leaf = self.grammar_field.split(".")
            target = body
            for name in parents:  # "structured_outputs.grammar" -> {"structured_outputs": {"grammar": ...}}
                target = target.setdefault(name, {})
            target[leaf] = grammar_for(self.grammar, prompt)
        if self.ask_logprobs:
            body.setdefault("logprobs", True if self.endpoint == "chat" else 1)
        if self.endpoint == "chat":
            messages = [{"role": "user", "content": prompt}]
            if self.system_prompt:
                messages.insert(0, {"role": "system", "content": self.system_prompt})
            return {"model": self.model, "messages": messages, **body}
        return {"model": self.model, "prompt": prompt, **body}

    def complete(self, prompt: str) -> Completion:
        response = self._post(prompt)
        refused_logprobs = response.status_code == 400 and b"logprob" in response.content.lower()
        if refused_logprobs and self.ask_logprobs and "logprobs" not in self.options:
            self.ask_logprobs = False  # a server that refuses the field: answers without confidences
            logger.warning(f"{self.target} refused a request with `logprobs`; asking without: no confidence scores.")
            response = self._post(prompt)
        return read_reply(response, self.endpoint)

    def _post(self, prompt: str) -> httpx.Response:
        path = "/chat/completions" if self.endpoint == "chat" else "/completions"
        try:
            return self.http.post(self.base_url + path, json=self.request_body(prompt))
        except httpx.TimeoutException:
            raise Refused(f"no answer within the timeout of {self.timeout:g} s", timed_out=True) from None
        except httpx.RemoteProtocolError:
            raise Refused("the server closed the connection without answering") from None
        except httpx.TransportError as e:
            raise Refused(f"the connection failed ({e or type(e).__name__})") from None

    def answer_problem(self, prompt: str, completion: Completion) -> Optional[Refused]:
        refused = super().answer_problem(prompt, completion)
        problem = None if refused or not self.grammar else grammar_problem(self.grammar, prompt, completion.text)
        if problem:
            return Refused(
                f"the answer breaks the grammar sent ({problem}); "
                f"does the server apply the request field {self.grammar_field!r}?"
            )
        return refused


def read_reply(response: httpx.Response, endpoint: str) -> Completion:
    """The answer in an HTTP reply; Refused (retried or not) if the reply is not one."""
    status = response.status_code
    if status != 200:
        retry = status in RETRIED_STATUS or status >= 500
        detail = response.content[:200].decode("utf8", "replace").strip()
        why = f"HTTP {status} {response.reason_phrase}: {detail}".strip(": ")
        raise Refused(why if retry else f"{why} (the server refused the request)", retry, wait=retry_after(response))
    try:
        data = json.loads(response.content.decode("utf-8"))
    except UnicodeDecodeError:
        raise Refused("the reply (status 200) was not valid UTF-8") from None
    except ValueError:
        raise Refused(f"the reply (status 200) was not JSON: {response.content[:80]!r}") from None
    if not isinstance(data, dict):
        raise Refused(f"the reply (status 200) was JSON but not an object: {str(data)[:80]!r}")
    if data.get("error"):
        raise Refused(f"the reply (status 200) was an error: {str(data['error'])[:200]}")
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise Refused("the reply (status 200) had no answer (no choices)")
    choice = choices[0]
    message = choice.get("message") if endpoint == "chat" else choice
    text = message.get("content" if endpoint == "chat" else "text") if isinstance(message, dict) else None
    if text is not None and not isinstance(text, str):
        raise Refused(f"the answer's text was not a string but {type(text).__name__}")
    usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
    return Completion(
        text,
        choice.get("finish_reason"),
        _count(usage, "prompt_tokens"),
        _count(usage, "completion_tokens"),
        reply_logprobs(choice.get("logprobs"), text),
    )


def reply_logprobs(logprobs: Any, text: Optional[str]) -> Optional[List[List]]:
    """[start char, log-probability] per token from a reply's `logprobs` (chat: {"content": [{token,
    logprob, bytes}]}; completions: {"tokens", "token_logprobs"}); None if absent or if the tokens
    do not spell the answer."""
    if not isinstance(logprobs, dict) or not isinstance(text, str):
        return None
    if isinstance(logprobs.get("content"), list):
        items = [(t.get("bytes"), t.get("token"), t.get("logprob")) for t in logprobs["content"] if isinstance(t, dict)]
    elif isinstance(logprobs.get("tokens"), list) and isinstance(logprobs.get("token_logprobs"), list):
        items = [(None, t, lp) for t, lp in zip(logprobs["tokens"], logprobs["token_logprobs"])]
    else:
        return None
    try:
        pieces = [bytes(b) if isinstance(b, list) else str(token).encode("utf-8") for b, token, _ in items]
        values = [float(lp) for _, _, lp in items]
    except (TypeError, ValueError):
        return None
    if not b"".join(pieces).decode("utf-8", errors="replace").startswith(text) or not all(map(math.isfinite, values)):
        return None
    return [[offset, value] for offset, value in zip(token_offsets(pieces), values)]


def _count(usage: Dict[str, Any], name: str) -> Optional[int]:
    value = usage.get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def retry_after(response: httpx.Response) -> Optional[float]:
    """Seconds the server asked us to wait (Retry-After in seconds, at most 60), else None."""
    try:
        return min(60.0, max(0.0, float(response.headers.get("Retry-After", ""))))
    except ValueError:
        return None


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
    model: the model name the server expects (checked against its /models list, if it has one).
    endpoint: "chat" (/chat/completions) or "completions" (/completions).
    api_key_env: name of the environment variable holding the key; None for local servers.
    options: request body fields passed through as given: temperature, max_tokens, stop,
        seed, response_format (JSON schema), guided_json (vLLM), ...
    grammar: GBNF text or a per-prompt grammar (spacy_distill.SpanGrammar.v2), sent in the
        request field `grammar_field`: "grammar" for llama.cpp's server; for vLLM "guided_grammar"
        (up to 0.11) or "structured_outputs.grammar" (0.12 on; a dotted name nests the field).
        Answers that break a SpanGrammar are refused (retried, never stored).
    concurrency: requests in flight at once (halved after a timeout, down to 1); answers still
        come back in document order.
    max_retries / timeout: retries with exponential backoff on 429, 5xx, timeouts, dropped
        connections and replies that hold no usable answer; timeout in seconds per request
        (time in the server's queue included).
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
