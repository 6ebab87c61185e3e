"""A scriptable OpenAI-compatible HTTP server on 127.0.0.1 for tests and benchmarks.

Serves POST /v1/chat/completions and /v1/completions in the OpenAI response
shape. Set the attributes to script it: `delay` (seconds, or a function of the
prompt), `answer` (a function of the prompt), and a fault: `fault` is 500,
429, "hang" (sleep `hang_seconds`, longer than the client's timeout) or
"drop" (close the connection without answering), applied to the first
`fault_first` requests and to every request whose prompt contains
`fault_marker`. Faults that answer 200 with no usable answer: "garbage" (not JSON), "bad_utf8",
"empty_choices", "error_200" ({"error": ...}), "null_text", "empty_text", "html_text" (a 502
page as the completion) and "length" (finish_reason "length"). `logprobs` (a function of the
answer text giving [(token, logprob), ...]) adds token log-probabilities to each reply, in the
endpoint's shape; `reject_field` answers 400 to any request with that body field, naming it.
It records every request and the most requests in flight.
"""

import json
import socketserver
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, List, Optional, Union

ENDPOINTS = {"/v1/chat/completions": "chat", "/v1/completions": "completions"}
HTML_502 = "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"


def _with_text(reply: Dict[str, Any], text: Any, finish_reason: str = "stop") -> bytes:
    choice = reply["choices"][0]
    choice["finish_reason"] = finish_reason
    if "message" in choice:
        choice["message"]["content"] = text
    else:
        choice["text"] = text
    return json.dumps(reply).encode("utf8")


# Replies with status 200 and no usable answer, made from a good reply.
BAD_200: Dict[str, Callable[[Dict[str, Any]], bytes]] = {
    "garbage": lambda reply: b"\x00\x17garbage, not JSON {",
    "bad_utf8": lambda reply: b'{"choices": [{"text": "\xff\xfe"}]}',
    "empty_choices": lambda reply: json.dumps({**reply, "choices": []}).encode("utf8"),
    "error_200": lambda reply: json.dumps({"error": {"message": "model overloaded", "code": 503}}).encode("utf8"),
    "null_text": lambda reply: _with_text(reply, None),
    "empty_text": lambda reply: _with_text(reply, ""),
    "html_text": lambda reply: _with_text(reply, HTML_502),
    "length": lambda reply: _with_text(reply, "Zara | FASH", "length"),
}


def prompt_of(body: Dict[str, Any]) -> str:
    """The prompt of a request body: the completions prompt, or the chat messages' contents."""
    if "messages" in body:
        return "\n".join(m.get("content") or "" for m in body["messages"])
    return body.get("prompt", "")


def prompt_text(prompt: str) -> str:
    """The text to annotate in a span_compact prompt (after the last 'Text: ')."""
    return prompt.rsplit("\nText: ", 1)[-1].rsplit("\nEntities:", 1)[0]


class LocalServer(ThreadingHTTPServer):
    """A threading HTTP server on a local address (also tests/fault_proxy.py's)."""

    daemon_threads = True

    def server_bind(self) -> None:
        # HTTPServer.server_bind would look the host name up (getfqdn); we need no DNS.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]


def send_bytes(
    handler: BaseHTTPRequestHandler, status: int, data: bytes, headers: Optional[Dict[str, str]] = None
) -> None:
    """Answer the request with a JSON content type, this status, body and extra headers."""
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(data)


class StubServer:
    """Run with `with StubServer(...) as stub:`; `stub.base_url` ends in /v1."""

    def __init__(
        self,
        delay: Union[float, Callable[[str], float]] = 0.0,
        answer: Callable[[str], str] = lambda prompt: "none",
        fault: Optional[Union[int, str]] = None,
        fault_first: int = 0,
        fault_marker: Optional[str] = None,
        hang_seconds: float = 5.0,
        retry_after: str = "0",
        slots: Optional[int] = None,
        models: Optional[List[str]] = None,
        logprobs: Optional[Callable[[str], List[Any]]] = None,
        reject_field: Optional[str] = None,
    ):
        self.logprobs = logprobs
        self.reject_field = reject_field
        self.delay = delay
        self.answer = answer
        self.fault = fault
        self.fault_first = fault_first
        self.fault_marker = fault_marker
        self.hang_seconds = hang_seconds
        self.retry_after = retry_after
        self.slots = threading.Semaphore(slots) if slots else None  # a server that works on N requests at once
        self.models = models  # GET /v1/models lists these; None: 404
        self.requests: List[Dict[str, Any]] = []  # path, headers (lower-case), body, in arrival order
        self.answered: List[str] = []  # prompts answered with 200, in completion order
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd = LocalServer(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)

    @property
    def address(self):
        return self._httpd.server_address[:2]

    @property
    def base_url(self) -> str:
        host, port = self.address
        return f"http://{host}:{port}/v1"

    def prompts(self) -> List[str]:
        """The prompts of all requests received, in arrival order (retries included)."""
        return [prompt_of(r["body"]) for r in self.requests]

    def start(self) -> "StubServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()

    def __enter__(self) -> "StubServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _fault_for(self, number: int, prompt: str) -> Optional[Union[int, str]]:
        if self.fault is None:
            return None
        if number < self.fault_first or (self.fault_marker and self.fault_marker in prompt):
            return self.fault
        return None

    def _respond(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length)
        if handler.path not in ENDPOINTS:
            handler.send_error(404)
            return
        body = json.loads(raw)
        prompt = prompt_of(body)
        with self._lock:
            number = len(self.requests)
            self.requests.append(
                {"path": handler.path, "headers": {k.lower(): v for k, v in handler.headers.items()}, "body": body}
            )
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            fault = self._fault_for(number, prompt)
            if fault == "drop":
                handler.close_connection = True
                return
            if fault == "hang":
                self._stopping.wait(self.hang_seconds)
                handler.close_connection = True
                return
            if self.reject_field and self.reject_field in body:
                message = f"Unrecognized request argument supplied: {self.reject_field}"
                self._send(handler, 400, {"error": {"message": message, "type": "invalid_request_error"}})
                return
            if fault in (500, 429, 400):
                headers = {"Retry-After": self.retry_after} if fault == 429 else {}
                self._send(handler, fault, {"error": {"message": f"stub fault {fault}", "type": "stub"}}, headers)
                return
            if fault in BAD_200:
                self._send_raw(handler, BAD_200[fault](self._completion(ENDPOINTS[handler.path], body, prompt, "x")))
                return
            if self.slots is not None:
                self.slots.acquire()
            try:
                delay = self.delay(prompt) if callable(self.delay) else self.delay
                time.sleep(delay)
            finally:
                if self.slots is not None:
                    self.slots.release()
            text = self.answer(prompt)
            reply = self._completion(ENDPOINTS[handler.path], body, prompt, text)
            if self.logprobs is not None:
                reply["choices"][0]["logprobs"] = self._logprobs(ENDPOINTS[handler.path], text)
            self._send(handler, 200, reply)
            with self._lock:
                self.answered.append(prompt)
        finally:
            with self._lock:
                self.in_flight -= 1

    def _logprobs(self, endpoint: str, text: str) -> Dict[str, Any]:
        tokens = self.logprobs(text)
        if endpoint == "chat":
            return {"content": [{"token": t, "logprob": lp, "bytes": list(t.encode("utf8"))} for t, lp in tokens]}
        return {"tokens": [t for t, _ in tokens], "token_logprobs": [lp for _, lp in tokens]}

    @staticmethod
    def _completion(endpoint: str, body: Dict[str, Any], prompt: str, text: str) -> Dict[str, Any]:
        if endpoint == "chat":
            choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
        else:
            choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": "stop"}
        n_prompt, n_completion = len(prompt.split()), len(text.split())
        return {
            "id": f"stub-{time.monotonic_ns()}",
            "object": "chat.completion" if endpoint == "chat" else "text_completion",
            "created": int(time.time()),
            "model": body.get("model", ""),
            "choices": [choice],
            "usage": {
                "prompt_tokens": n_prompt,
                "completion_tokens": n_completion,
                "total_tokens": n_prompt + n_completion,
            },
        }

    @staticmethod
    def _send_raw(handler: BaseHTTPRequestHandler, data: bytes) -> None:
        send_bytes(handler, 200, data)

    @staticmethod
    def _send(
        handler: BaseHTTPRequestHandler, status: int, payload: Dict[str, Any], headers: Optional[Dict[str, str]] = None
    ) -> None:
        send_bytes(handler, status, json.dumps(payload).encode("utf8"), headers)

    def _handler_class(self) -> type:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else headers and body wait on delayed ACKs (~40 ms)

            def do_POST(self) -> None:
                stub._respond(self)

            def do_GET(self) -> None:
                if self.path != "/v1/models" or stub.models is None:
                    self.send_error(404)
                    return
                stub._send(self, 200, {"object": "list", "data": [{"id": m, "object": "model"} for m in stub.models]})

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler
