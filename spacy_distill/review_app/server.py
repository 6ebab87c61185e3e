"""The review server: a small Starlette app over the review database, run by uvicorn.

    spacy-distill review corpus/teacher.spacy --db review.db

API (JSON; spans are token offsets {"start", "end" (exclusive), "label"}):

    GET  /api/session?annotator=NAME    CSRF token, labels, order, the default annotator
    GET  /api/next?annotator=NAME       {"doc", "progress"}: the doc to answer (null: all done)
    POST /api/answer                    {"annotator", "doc_id", "answer": accept|reject|ignore,
                                         "spans", "cats", "request_id"} -> {"answer_id", "next", "progress"}
    POST /api/undo                      {"annotator", "answer_id"?} -> {"doc" with "state", "progress"}
    GET  /api/docs/ID/teacher           the teacher's model, prompt hashes, raw response, parser record
    GET  /api/progress?annotator=NAME   done / total, per annotator

Every request passes the Guard first (guard.py: Host check, access token, CSRF
and origin checks). Errors are JSON {"error": message} with a 4xx status;
unexpected errors give a 500 without details (the traceback goes to the
server's log). Teacher docs get into the database through ingest.py.
"""

import hashlib
import hmac
import json
import logging
import re
import socket
import sys
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..task import Task
from .guard import Guard, Settings, allowed_hosts, check_token
from .ingest import prepare
from .storage import ANSWERS, Conflict, NotFound, ReviewDB, ReviewError, span_dict

STATIC = Path(__file__).parent / "static"
MAX_BODY = 1_000_000
MAX_SPANS = 2000
MAX_ID = 2**63 - 1  # the largest SQLite INTEGER: a larger id cannot name a row
ANNOTATOR = re.compile(r"[\w .@+\-]{1,64}")
REQUEST_ID = re.compile(r"[A-Za-z0-9_\-]{8,100}")
log = logging.getLogger("spacy_distill.review_app")


# -- starting -------------------------------------------------------------------------


def bind(host: str, port: int) -> socket.socket:
    """A listening socket (port 0: any free port), so the printed address is the real one."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as e:
        raise ReviewError(
            f"Cannot listen on {host}:{port} ({e.strerror or e}); choose another --port or --host"
        ) from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def serve(
    input_path: Optional[Path] = None,
    *,
    db_path: Path,
    host: str = "127.0.0.1",
    port: int = 8080,
    order: str = "as-is",
    student: Optional[Path] = None,
    annotator: Optional[str] = None,
    token: Optional[str] = None,
    overlap: bool = False,
    labels: Optional[Sequence[str]] = None,
    rules: Optional[Path] = None,
    texts: Optional[Path] = None,
    lang: str = "en",
    say: Callable[[str], None] = print,
) -> None:
    """Serve the review page for the teacher docs in INPUT (.spacy) until interrupted (Ctrl+C).

    Answers go to the SQLite database DB_PATH the moment they are given. order: as-is,
    disagreement (needs `student`, a pipeline directory) or uncertainty; token: required on any
    address but loopback; overlap: every annotator answers every doc; labels: offered even if
    the teacher never used them; say: where the start-up lines go. rules (a patterns JSONL, with
    texts: the corpus to show their matches in, lang its language): review rules instead of docs.
    """
    token = token or None
    check_token(host, token)
    if annotator is not None and not ANNOTATOR.fullmatch(annotator.strip()):
        raise ReviewError(f"--annotator {annotator!r}: use 1-64 letters, digits, spaces or . _ - @ +")
    settings = Settings(token=token, annotator=annotator.strip() if annotator else None, overlap=overlap, order=order)
    if rules is not None or texts is not None:
        from .rules_server import prepare_rules

        if input_path is not None or rules is None or texts is None:
            raise ReviewError("to review rules give --rules RULES.jsonl and --texts CORPUS, and no teacher docs")
        make_app, lines = prepare_rules(rules, texts, db_path, lang)
    elif input_path is None:
        raise ReviewError("give the teacher docs (.spacy) to review, or --rules and --texts to review rules")
    else:
        db, info = prepare(input_path, db_path, order, student, labels)
        settings.order_note = info["order_note"]
        progress = db.progress()
        lines = [
            f"Reviewing {progress['total']} docs from {input_path} ({info['added']} new, {progress['done']} answered); answers go to {db_path}",
            f"Order: {info['order_note']}",
        ]

        def make_app(settings: Settings) -> Guard:
            return create_app(db, settings)

    listen(make_app, settings, host, port, lines, say)


def listen(
    make_app: Callable[[Settings], Guard], settings: Settings, host: str, port: int, lines: List[str], say: Callable
) -> None:
    """Bind, print the lines and the address to open, and run the app until interrupted."""
    import uvicorn

    sock = bind(host, port)
    port = sock.getsockname()[1]
    settings.allowed_hosts = allowed_hosts(host, port)
    settings.cookie = f"spacy_distill_review_{port}"
    app = make_app(settings)
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else shown}:{port}/"
    query = {k: v for k, v in (("token", settings.token), ("annotator", settings.annotator)) if v}
    for line in lines:
        say(line)
    say(f"Open {url}{'?' + urlencode(query) if query else ''}")
    sys.stdout.flush()
    config = uvicorn.Config(
        app, log_level="warning", access_log=False, server_header=False, proxy_headers=False, lifespan="off"
    )
    uvicorn.Server(config).run(sockets=[sock])


# -- the app ----------------------------------------------------------------------------


def create_app(db: ReviewDB, settings: Settings) -> "Guard":
    """The ASGI app: the routes behind the Guard."""
    csrf = csrf_token(db, settings)
    task = db.schema

    def annotator_of(value: Any) -> str:
        return annotator_name(value, settings)

    async def index(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8")

    async def session(request: Request) -> Response:
        return JSONResponse(
            {
                "csrf": csrf,
                "annotator": settings.annotator,
                "schema": task.schema_dict(),
                "order": settings.order,
                "order_note": settings.order_note,
                "overlap": settings.overlap,
                "db": db.path.name,
            }
        )

    async def next_doc(request: Request) -> Response:
        name = annotator_of(request.query_params.get("annotator"))
        doc = await run_in_threadpool(db.next_doc, name, settings.overlap)
        progress = await run_in_threadpool(db.progress, name)
        return JSONResponse({"doc": client_doc(doc), "progress": progress})

    async def answer(request: Request) -> Response:
        body = await json_body(request)
        name = annotator_of(body.get("annotator"))
        doc_id = field_of(body, "doc_id", int)
        kind, request_id = answer_fields(body)
        doc = await run_in_threadpool(db.doc, doc_id)
        spans, cats = check_answer(body, kind, doc, task)
        answer_id, new = await run_in_threadpool(db.add_answer, doc_id, name, kind, spans, cats, request_id)
        following = await run_in_threadpool(db.next_doc, name, settings.overlap)
        progress = await run_in_threadpool(db.progress, name)
        return JSONResponse(
            {"answer_id": answer_id, "stored": new, "next": client_doc(following), "progress": progress}
        )

    async def undo(request: Request) -> Response:
        body = await json_body(request)
        name = annotator_of(body.get("annotator"))
        answer_id = field_of(body, "answer_id", int, None)
        doc = await run_in_threadpool(db.undo, name, answer_id, settings.overlap)
        progress = await run_in_threadpool(db.progress, name)
        return JSONResponse({"doc": client_doc(doc), "progress": progress})

    async def teacher(request: Request) -> Response:
        doc_id = request.path_params["doc_id"]  # the route takes digits only: never negative
        if doc_id > MAX_ID:
            raise HTTPException(404, f"no doc {str(doc_id)[:40]} in the review database")
        return JSONResponse(await run_in_threadpool(db.teacher, doc_id))

    async def progress(request: Request) -> Response:
        name = request.query_params.get("annotator")
        return JSONResponse(await run_in_threadpool(db.progress, annotator_of(name) if name else None))

    routes = [
        Route("/", index),
        Route("/api/session", session),
        Route("/api/next", next_doc),
        Route("/api/answer", answer, methods=["POST"]),
        Route("/api/undo", undo, methods=["POST"]),
        Route("/api/progress", progress),
        Route("/api/docs/{doc_id:int}/teacher", teacher),
    ]
    return guarded(routes, settings, csrf)


def guarded(routes: List[Any], settings: Settings, csrf: str) -> Guard:
    """The routes (and the static files) as a Starlette app, behind the Guard; errors as JSON."""
    routes = routes + [Mount("/static", StaticFiles(directory=STATIC), name="static")]
    handlers = {HTTPException: http_error, ReviewError: review_error, Exception: server_error}
    return Guard(Starlette(routes=routes, exception_handlers=handlers), settings, csrf)


def csrf_token(db: ReviewDB, settings: Settings) -> str:
    """The page's CSRF token: tied to the database's secret and the access token."""
    return hmac.new(db.secret.encode(), b"csrf\x00" + (settings.token or "").encode(), hashlib.sha256).hexdigest()


def annotator_name(value: Any, settings: Settings) -> str:
    """The annotator a request names (else the default); 400 if none or a bad name."""
    name = value if value not in (None, "") else settings.annotator
    if name is None:
        raise HTTPException(400, "annotator: a name is required (?annotator=NAME)")
    if not isinstance(name, str) or not ANNOTATOR.fullmatch(name.strip()) or not name.strip():
        raise HTTPException(400, "annotator: use 1-64 letters, digits, spaces or . _ - @ +")
    return name.strip()


async def http_error(request: Request, exc: HTTPException) -> Response:
    return JSONResponse({"error": exc.detail}, status_code=exc.status_code, headers=getattr(exc, "headers", None))


async def review_error(request: Request, exc: ReviewError) -> Response:
    status = 404 if isinstance(exc, NotFound) else 409 if isinstance(exc, Conflict) else 422
    return JSONResponse({"error": str(exc)}, status_code=status)


async def server_error(request: Request, exc: Exception) -> Response:
    log.exception("Unexpected error in %s %s", request.method, request.url.path)
    return JSONResponse({"error": "internal error; the server's log has the details"}, status_code=500)


async def json_body(request: Request) -> Dict[str, Any]:
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
        raise HTTPException(413, f"request body larger than {MAX_BODY} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise HTTPException(413, f"request body larger than {MAX_BODY} bytes")
        chunks.append(chunk)
    raw = b"".join(chunks)
    try:
        body = json.loads(raw.decode("utf8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError):
        raise HTTPException(400, "the request body is not valid JSON") from None
    except RecursionError:
        raise HTTPException(400, "the request body is nested too deeply") from None
    if not isinstance(body, dict):
        raise HTTPException(422, f"the request body must be a JSON object, got {type(body).__name__}")
    return body


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def field_of(body: Dict[str, Any], key: str, kind: type, default: Any = ...) -> Any:
    value = body.get(key)
    if value is None:
        if default is ...:
            raise HTTPException(422, f"{key}: required")
        return default
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise HTTPException(422, f"{key}: must be {kind.__name__}, got {type(value).__name__}")
    if kind is int and not 0 <= value <= MAX_ID:
        raise HTTPException(422, f"{key}: must be an id from 0 to 2^63-1, got {str(value)[:40]}")
    return value


def answer_fields(body: Dict[str, Any]) -> Tuple[str, Optional[str]]:
    """The answer (accept, reject, ignore) and the optional request id of an answer's body."""
    kind = field_of(body, "answer", str)
    if kind not in ANSWERS:
        raise HTTPException(422, f"answer must be one of {', '.join(ANSWERS)}, got {kind!r:.40}")
    request_id = field_of(body, "request_id", str, None)
    if request_id is not None and not REQUEST_ID.fullmatch(request_id):
        raise HTTPException(422, "request_id: 8-100 letters, digits, - or _")
    return kind, request_id


def check_answer(
    body: Dict[str, Any], kind: str, doc: Dict[str, Any], task: Task
) -> Tuple[Optional[List], Optional[Dict]]:
    """The answer's spans (stored form) and categories, checked against the doc and the labels."""
    spans = cats = None
    needed = kind != "ignore"
    if task.has_spans:
        raw = field_of(body, "spans", list, ... if needed else None)
        if raw is not None:
            spans = check_spans(raw, doc, task)
    if task.cat_labels:
        raw = field_of(body, "cats", dict, ... if needed else None)
        if raw is not None:
            cats = check_cats(raw, kind, task)
    return spans, cats


def check_spans(raw: List[Any], doc: Dict[str, Any], task: Task) -> List[Dict[str, Any]]:
    if len(raw) > MAX_SPANS:
        raise HTTPException(422, f"spans: at most {MAX_SPANS}")
    tokens, text = doc["tokens"], doc["text"]
    seen = {}
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            raise HTTPException(422, f"spans[{i}]: must be an object with start, end (token offsets) and label")
        start, end = field_of(item, "start", int), field_of(item, "end", int)
        label = field_of(item, "label", str)
        if not 0 <= start < end <= len(tokens):
            raise HTTPException(
                422, f"spans[{i}]: tokens [{start}, {end}) are not inside the doc's {len(tokens)} tokens"
            )
        if label not in task.span_labels:
            raise HTTPException(422, f"spans[{i}]: unknown label {label!r:.40}; labels: {', '.join(task.span_labels)}")
        for edge in (start, end - 1):
            if not text[tokens[edge][0] : tokens[edge][1]].strip():
                raise HTTPException(422, f"spans[{i}]: a span cannot start or end with whitespace")
        seen[(start, end, label)] = span_dict(tokens[start][0], tokens[end - 1][1], start, end - 1, label)
    spans = [seen[k] for k in sorted(seen)]
    if task.span_key is None:
        for a, b in zip(spans, spans[1:]):
            if b["token_start"] <= a["token_end"]:
                raise HTTPException(
                    422,
                    f"spans: entities cannot overlap ({a['label']} {text[a['start'] : a['end']]!r:.40} and {b['label']} {text[b['start'] : b['end']]!r:.40})",
                )
    return spans


def check_cats(raw: Dict[str, Any], kind: str, task: Task) -> Dict[str, float]:
    cats = {}
    for label, value in raw.items():
        if label not in task.cat_labels:
            raise HTTPException(422, f"cats: unknown category {label!r:.40}; categories: {', '.join(task.cat_labels)}")
        if isinstance(value, bool) or value in (0, 1):
            cats[label] = float(value)
        else:
            raise HTTPException(422, f"cats[{label!r:.40}]: must be true or false")
    cats = {label: cats.get(label, 0.0) for label in task.cat_labels}
    if task.exclusive and kind == "accept" and sum(cats.values()) != 1:
        raise HTTPException(422, "cats: the categories exclude each other; choose exactly one")
    return cats


def client_doc(doc: Optional[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
    """A doc for the page: spans as token offsets (end exclusive)."""
    if doc is None:
        return None

    def tokens_of(state: Optional[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
        if state is None:
            return None
        spans = state.get("spans")
        out = dict(state)
        out["spans"] = (
            None
            if spans is None
            else [{"start": s["token_start"], "end": s["token_end"] + 1, "label": s["label"]} for s in spans]
        )
        return out

    out = {k: v for k, v in doc.items() if k not in ("key", "suggestion", "state")}
    out["suggestion"] = tokens_of(doc["suggestion"])
    out["state"] = tokens_of(doc.get("state"))
    return out
