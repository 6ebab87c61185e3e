"""Helpers the benchmarks share: toxic-span offsets to spans, and a stub OpenAI-compatible server.

Copies of logic that also lives in scripts/make_task_assets.py (char_runs, toxic_spans) and
tests/openai_stub.py (a reduced StubServer), so that the benchmarks import nothing from
scripts/ or tests/.
"""

import json
import socketserver
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Dict, List, Tuple

ROOT = Path(__file__).resolve().parent.parent
TOXIC_LABEL = "TOXIC"


def char_runs(offsets: List[int]) -> List[Tuple[int, int]]:
    """(start, end) of each run of consecutive character offsets."""
    runs: List[List[int]] = []
    for offset in sorted(set(offsets)):
        if runs and offset == runs[-1][1]:
            runs[-1][1] = offset + 1
        else:
            runs.append([offset, offset + 1])
    return [(start, end) for start, end in runs]


def toxic_char_spans(text: str, offsets: List[int]) -> List[Dict]:
    """SemEval-2021 toxic offsets as spans: one per run, trimmed of surrounding whitespace (empty ones dropped).

    The same spans as assets/toxic_spans (scripts/make_task_assets.py)."""
    spans = []
    for start, end in char_runs(offsets):
        end = min(end, len(text))
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if start < end:
            spans.append({"start": start, "end": end, "label": TOXIC_LABEL})
    return spans


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def server_bind(self) -> None:
        # HTTPServer.server_bind would look the host name up (getfqdn); no DNS needed.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]


class StubServer:
    """An OpenAI-compatible server on 127.0.0.1 answering "none" to every prompt after `delay` seconds.

    Serves POST /v1/chat/completions and /v1/completions; counts the most requests in flight
    (`max_in_flight`). Use as `with StubServer(delay=0.2) as stub:`; `stub.base_url` ends in /v1.
    """

    ENDPOINTS = {"/v1/chat/completions": "chat", "/v1/completions": "completions"}

    def __init__(self, delay: float = 0.0, answer: str = "none"):
        self.delay = delay
        self.answer = answer
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._httpd = _Server(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def __enter__(self) -> "StubServer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()

    def _respond(self, handler: BaseHTTPRequestHandler) -> None:
        body = json.loads(handler.rfile.read(int(handler.headers.get("Content-Length") or 0)) or b"{}")
        endpoint = self.ENDPOINTS.get(handler.path)
        if endpoint is None:
            handler.send_error(404)
            return
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            time.sleep(self.delay)
            self._send(handler, self._completion(endpoint, body))
        finally:
            with self._lock:
                self.in_flight -= 1

    def _completion(self, endpoint: str, body: Dict[str, Any]) -> Dict[str, Any]:
        text = self.answer
        if endpoint == "chat":
            prompt = "\n".join(m.get("content") or "" for m in body.get("messages", []))
            choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
        else:
            prompt = body.get("prompt", "")
            choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": "stop"}
        n_prompt, n_completion = len(str(prompt).split()), len(text.split())
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
    def _send(handler: BaseHTTPRequestHandler, payload: Dict[str, Any]) -> None:
        data = json.dumps(payload).encode("utf8")
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _handler_class(self) -> type:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else headers and body wait on delayed ACKs (~40 ms)

            def do_POST(self) -> None:
                stub._respond(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler
