"""A fault-injecting HTTP proxy for tests: in front of a real OpenAI-compatible server, it answers
a seeded share of the POSTs itself with a fault instead of passing them on.

Faults, in turn: HTTP 500, HTTP 429, a stall (no answer for longer than the client waits), a dropped
connection, a garbage 200 body (not JSON, not UTF-8), a 200 with empty `choices`, a 200 `{"error":
...}`, and a well-formed 200 whose completion text is bogus (a 502 HTML page, "", null, in turn).
Everything else is forwarded unchanged; GETs (the model list) are never faulted.
"""

import json
import random
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler
from typing import Any, List, Optional

import httpx
from openai_stub import LocalServer, send_bytes

HTML_502 = "<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>"
KINDS = ["500", "429", "stall", "drop", "garbage", "empty_choices", "error_200", "bogus_text"]
BOGUS_TEXTS: List[Optional[str]] = [HTML_502, "", None]


class FaultProxy:
    """`with FaultProxy(upstream_base_url, rate=0.3, seed=0, stall_seconds=...) as proxy:` then use
    `proxy.base_url`. `proxy.injected` counts the faults by kind, `proxy.forwarded` the good requests."""

    def __init__(self, upstream: str, rate: float = 0.3, seed: int = 0, stall_seconds: float = 10.0):
        self.upstream = upstream.rstrip("/")
        self.rate = rate
        self.stall_seconds = stall_seconds
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.requests = 0
        self.injected: Counter = Counter()
        self.forwarded = 0
        self._http = httpx.Client(timeout=600)
        self._httpd = LocalServer(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def __enter__(self) -> "FaultProxy":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()
        self._http.close()

    def _next_fault(self) -> Optional[str]:
        """Seeded: whether this request is faulted; the faults take the kinds in turn."""
        with self._lock:
            self.requests += 1
            if self._rng.random() >= self.rate:
                self.forwarded += 1
                return None
            kind = KINDS[sum(self.injected.values()) % len(KINDS)]
            self.injected[kind] += 1
            return kind

    def _bogus_text(self) -> Optional[str]:
        with self._lock:
            return BOGUS_TEXTS[(self.injected["bogus_text"] - 1) % len(BOGUS_TEXTS)]

    def _respond(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        fault = self._next_fault() if method == "POST" else None
        if fault in ("stall", "drop"):
            if fault == "stall":
                self._stopping.wait(self.stall_seconds)
            handler.close_connection = True
            return
        if fault in ("500", "429"):
            error = json.dumps({"error": {"message": f"injected {fault}"}}).encode()
            send_bytes(handler, int(fault), error, {"Retry-After": "0"} if fault == "429" else {})
            return
        if fault == "garbage":
            send_bytes(handler, 200, b"\xff\xfe<<garbage \x00 not json")
            return
        if fault == "empty_choices":
            send_bytes(handler, 200, json.dumps({"id": "x", "object": "text_completion", "choices": []}).encode())
            return
        if fault == "error_200":
            send_bytes(handler, 200, json.dumps({"error": {"message": "upstream overloaded", "code": 503}}).encode())
            return
        if fault == "bogus_text":
            choice = {"index": 0, "text": self._bogus_text(), "finish_reason": "stop"}
            send_bytes(handler, 200, json.dumps({"id": "x", "object": "text_completion", "choices": [choice]}).encode())
            return
        reply = self._http.request(
            method,
            self.upstream + handler.path.removeprefix("/v1"),
            content=body,
            headers={"Content-Type": handler.headers.get("Content-Type", "application/json")},
        )
        send_bytes(handler, reply.status_code, reply.content)

    def _handler_class(self) -> type:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def do_POST(self) -> None:
                proxy._respond(self, "POST")

            def do_GET(self) -> None:
                proxy._respond(self, "GET")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler
