"""Helpers for the tests that run a real tiny LLM: real texts, the CLI, the store, a server."""

import hashlib
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import httpx
import srsly

TESTS = Path(__file__).parent
ROOT = TESTS.parent
TEACHER_NER_CFG = ROOT / "configs" / "teacher_ner.cfg"
NER_EXAMPLES = ROOT / "assets" / "fashion_brands" / "ner_examples.yml"
FASHION_EVAL = "fashion_brands/tutorials__ner_fashion_brands__assets__fashion_brands_eval.jsonl"
WNUT17_DEV = "wnut17/emerging.dev.conll"
LABEL = "FASHION_BRAND"
# Characters that Python's universal-newline reading or str.splitlines() treat as line breaks.
_LINE_BREAKS = re.compile("[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")
_SPAN_LINE = re.compile(r"^(?P<phrase>.+) \| (?P<label>\S+)$")


def _usable(text: str, min_chars: int, max_chars: int) -> bool:
    return min_chars <= len(text) <= max_chars and not _LINE_BREAKS.search(text) and text == text.strip()


def fashion_texts(data_dir: Path, n_with_brands: int, n_without: int, max_chars: int = 180) -> List[str]:
    """Real Reddit sentences from the fashion_brands eval slice (tests/data): some naming brands, some not."""
    with_brands: List[str] = []
    without: List[str] = []
    for row in srsly.read_jsonl(data_dir / FASHION_EVAL):
        text = row["text"]
        if row.get("answer") != "accept" or not _usable(text, 30, max_chars):
            continue
        if text in with_brands or text in without:
            continue
        (with_brands if row.get("spans") else without).append(text)
    assert len(with_brands) >= n_with_brands and len(without) >= n_without, "fashion_brands eval slice too small"
    picked_with, picked_without = with_brands[:n_with_brands], without[:n_without]
    # Interleave so that docs with and without entities alternate.
    mixed: List[str] = []
    for i in range(max(n_with_brands, n_without)):
        mixed.extend(picked_with[i : i + 1] + picked_without[i : i + 1])
    return mixed


def wnut17_texts(data_dir: Path, n: int, min_chars: int = 40, max_chars: int = 160) -> List[str]:
    """Real tweets/comments: WNUT-17 CoNLL sentences (tests/data slice) with their tokens joined by spaces."""
    texts: List[str] = []
    tokens: List[str] = []
    with (data_dir / WNUT17_DEV).open(encoding="utf8") as f:
        for line in list(f) + [""]:
            line = line.rstrip("\n")
            if line.strip():
                tokens.append(line.split("\t")[0])
                continue
            text = " ".join(tokens)
            tokens = []
            if _usable(text, min_chars, max_chars) and "|" not in text and text not in texts:
                texts.append(text)
                if len(texts) == n:
                    return texts
    raise AssertionError(f"only {len(texts)} usable WNUT-17 sentences, wanted {n}")


def write_txt(path: Path, lines: Sequence[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf8")
    return path


def cli_command(*args: str) -> List[str]:
    """The `spacy-distill` console script of this interpreter's environment, else `python -m`."""
    script = Path(sys.executable).parent / "spacy-distill"
    if script.exists():
        return [str(script), *args]
    return [sys.executable, "-m", "spacy_distill", *args]


def run_annotate(
    input_path: Path,
    output_path: Path,
    stats_path: Path,
    store_path: Path,
    *extra: str,
    timeout: float = 300,
) -> Dict:
    """Run `spacy-distill annotate configs/teacher_ner.cfg ...` to completion; return the stats JSON."""
    cmd = cli_command(
        "annotate",
        str(TEACHER_NER_CFG),
        str(input_path),
        str(output_path),
        "--stats-json",
        str(stats_path),
        "--quiet",
        "--paths.examples",
        str(NER_EXAMPLES),
        "--paths.responses",
        str(store_path),
        *extra,
    )
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, (
        f"annotate failed ({result.returncode}): {' '.join(cmd)}\n"
        f"stdout:\n{result.stdout}\nstderr:\n{result.stderr[-4000:]}"
    )
    return json.loads(stats_path.read_text(encoding="utf8"))


def store_rows(store_path: Path) -> Optional[List[Dict]]:
    """All rows of the response store, read-only (safe while another process writes).

    None if the file or table does not exist yet."""
    if not store_path.exists():
        return None
    try:
        conn = sqlite3.connect(f"{store_path.resolve().as_uri()}?mode=ro", uri=True, timeout=5)
    except sqlite3.OperationalError:
        return None
    try:
        cursor = conn.execute("SELECT * FROM responses")
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]
    except sqlite3.OperationalError:  # table not created yet
        return None
    finally:
        conn.close()


def count_answers(store_path: Path) -> int:
    if not store_path.exists():
        return 0
    try:
        conn = sqlite3.connect(f"{store_path.resolve().as_uri()}?mode=ro", uri=True, timeout=5)
    except sqlite3.OperationalError:
        return 0
    try:
        return conn.execute("SELECT COUNT(*) FROM responses").fetchone()[0]
    except sqlite3.OperationalError:
        return 0
    finally:
        conn.close()


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf8")).hexdigest()


def grammar_violations(response: str, text: str, labels: Sequence[str] = (LABEL,)) -> List[str]:
    """What in a raw response breaks the SpanGrammar: only `phrase | LABEL` lines with the
    phrase copied from the text, or the single answer `none` (the stop sequence removed)."""
    body = response.rstrip("\n")
    if body == "none":
        return []
    if not body:
        return ["empty response"]
    problems = []
    for line in body.split("\n"):
        match = _SPAN_LINE.match(line)
        if match is None:
            problems.append(f"not a span line: {line!r}")
        elif match.group("label") not in labels:
            problems.append(f"unknown label in {line!r}")
        elif match.group("phrase") not in text:
            problems.append(f"phrase not in the text: {line!r}")
        elif match.group("phrase") != match.group("phrase").strip():
            problems.append(f"phrase with surrounding whitespace: {line!r}")
    return problems


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LlamaServer:
    """`python -m llama_cpp.server` as a child process, ready once GET /v1/models answers."""

    def __init__(
        self,
        model_path: Path,
        log_path: Path,
        n_ctx: int = 2048,
        startup_timeout: float = 120,
        alias: Optional[str] = None,
    ):
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.log_path = log_path
        cmd = [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(model_path),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--n_ctx",
            str(n_ctx),
            *(["--model_alias", alias] if alias else []),  # the name /v1/models lists (else the path)
        ]
        self._log = log_path.open("wb")
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, cwd=ROOT)
        try:
            self._wait_ready(startup_timeout)
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"llama_cpp.server exited with {self.proc.returncode} before answering:\n{self.log_tail()}"
                )
            try:
                if httpx.get(f"{self.base_url}/models", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"llama_cpp.server did not answer within {timeout:.0f}s:\n{self.log_tail()}")

    def log_tail(self, n_chars: int = 4000) -> str:
        self._log.flush()
        return self.log_path.read_text(encoding="utf8", errors="replace")[-n_chars:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)
        self._log.close()


def wait_for_answers(proc: subprocess.Popen, store_path: Path, at_least: int, timeout: float) -> int:
    """Poll the store until it holds `at_least` answers; the count, or fail if proc ends first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return -1
        n = count_answers(store_path)
        if n >= at_least:
            return n
        time.sleep(0.02)
    raise AssertionError(f"the store held fewer than {at_least} answers after {timeout:.0f}s")


def kill9(proc: subprocess.Popen) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
