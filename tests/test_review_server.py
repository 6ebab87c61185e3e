"""The review server's API: answers, undo, access token, Host/CSRF/origin checks, malformed requests."""

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from corrections_helpers import teacher_doc, write_docs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient
from typer.testing import CliRunner

from spacy_distill.cli import app as cli_app
from spacy_distill.review_app.server import STATIC, Settings, allowed_hosts, check_token, create_app, prepare
from spacy_distill.review_app.storage import ReviewError

ROOT = Path(__file__).parent.parent
TOKEN = "s3cret-token-for-tests-0123456789"
XSS_TEXT = 'Hi <script>window.__xss = 1</script> and <img src=x onerror="window.__xss = 2"> from Acme.'


def docs():
    return [
        teacher_doc("Alice flew to Paris with Bob.", ents=[(0, 5, "PERSON"), (14, 19, "LOC")]),
        teacher_doc(XSS_TEXT, ents=[(XSS_TEXT.index("Acme"), XSS_TEXT.index("Acme") + 4, "ORG")]),
    ]


@pytest.fixture
def db(tmp_path):
    db, _ = prepare(write_docs(docs(), tmp_path / "teacher.spacy"), tmp_path / "review.db")
    return db


def client_for(db, **options) -> TestClient:
    settings = Settings(allowed_hosts={"testserver"}, **options)
    return TestClient(create_app(db, settings), raise_server_exceptions=False)


@pytest.fixture
def client(db):
    client = client_for(db)
    client.headers["X-CSRF-Token"] = client.get("/api/session").json()["csrf"]
    return client


def post(client, path, body):
    return client.post(path, json=body)


def test_answer_undo_and_progress(client):
    doc = client.get("/api/next", params={"annotator": "alice"}).json()["doc"]
    assert doc["suggestion"]["spans"] == [
        {"start": 0, "end": 1, "label": "PERSON"},
        {"start": 3, "end": 4, "label": "LOC"},
    ]
    spans = doc["suggestion"]["spans"] + [{"start": 5, "end": 6, "label": "PERSON"}]
    r = post(
        client,
        "/api/answer",
        {"annotator": "alice", "doc_id": doc["id"], "answer": "accept", "spans": spans, "request_id": "r-0000000001"},
    )
    assert r.status_code == 200
    body = r.json()
    assert body["stored"] and body["next"]["text"] == XSS_TEXT
    assert body["progress"] == {
        "total": 2,
        "done": 1,
        "you": 1,
        "annotators": [{"name": "alice", "done": 1, "accept": 1, "reject": 0, "ignore": 0}],
    }
    again = post(
        client,
        "/api/answer",
        {"annotator": "alice", "doc_id": doc["id"], "answer": "accept", "spans": spans, "request_id": "r-0000000001"},
    )
    assert again.json()["answer_id"] == body["answer_id"] and not again.json()["stored"]
    undone = post(client, "/api/undo", {"annotator": "alice", "answer_id": body["answer_id"]}).json()
    assert undone["doc"]["state"]["spans"] == spans and undone["progress"]["done"] == 0
    assert post(client, "/api/undo", {"annotator": "alice", "answer_id": body["answer_id"]}).status_code == 409
    teacher = client.get(f"/api/docs/{doc['id']}/teacher").json()
    assert teacher["model"] == "teacher-model" and teacher["response"] == ["..."]
    assert client.get("/api/progress", params={"annotator": "bob"}).json()["you"] == 0


def test_default_annotator_and_session(db):
    client = client_for(db, annotator="maria", order="uncertainty", order_note="least sure first")
    session = client.get("/api/session").json()
    assert session["annotator"] == "maria" and session["schema"]["span_labels"] == ["LOC", "ORG", "PERSON"]
    assert re.fullmatch(r"[0-9a-f]{64}", session["csrf"])
    assert client.get("/api/next").json()["doc"]["id"] == 1
    assert client_for(db).get("/api/next").status_code == 400


def test_page_is_static_and_never_builds_html_from_data(client):
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "<script>" not in page.text and "onclick" not in page.text  # no inline script; CSP forbids it anyway
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    script = (STATIC / "review.js").read_text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
        assert sink not in script
    assert client.get("/static/review.css").status_code == 200
    # The API hands text out as JSON data; the page puts it in with textContent.
    assert client.get("/api/next", params={"annotator": "x"}).headers["content-type"] == "application/json"
    assert client.get("/api/docs/2/teacher").headers["content-type"] == "application/json"


def test_token_is_required_off_loopback_and_checked_on_every_request(db):
    with pytest.raises(ReviewError, match="needs an access token"):
        check_token("0.0.0.0", None)
    with pytest.raises(ReviewError, match="too short"):
        check_token("0.0.0.0", "short")
    check_token("127.0.0.1", None)
    check_token("::1", None)
    check_token("10.1.2.3", TOKEN)
    client = TestClient(create_app(db, Settings(token=TOKEN, allowed_hosts=None)), raise_server_exceptions=False)
    for path in ("/", "/api/session", "/static/review.js", "/api/next?annotator=a", "/api/docs/1/teacher", "/nope"):
        r = client.get(path)
        assert r.status_code == 401, path
        assert "access token" in r.text
    assert client.post("/api/answer", json={}).status_code == 401
    assert client.get("/?token=wrong-token-000000000000").status_code == 401
    r = client.get(f"/?annotator=maria&token={TOKEN}", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/?annotator=maria"
    assert "httponly" in r.headers["set-cookie"].lower() and "samesite=strict" in r.headers["set-cookie"].lower()
    assert client.get("/api/session").status_code == 200  # the cookie now
    r = client.get(f"http://testserver//evil.example/?token={TOKEN}", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/evil.example/"  # never off this server
    bearer = TestClient(create_app(db, Settings(token=TOKEN, allowed_hosts=None)))
    assert bearer.get("/api/session", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    assert bearer.get("/api/session", headers={"Authorization": "Bearer nope"}).status_code == 401


def test_cli_refuses_other_hosts_without_token(tmp_path):
    write_docs(docs(), tmp_path / "teacher.spacy")
    args = [
        "review",
        str(tmp_path / "teacher.spacy"),
        "--db",
        str(tmp_path / "r.db"),
        "--host",
        "0.0.0.0",
        "--port",
        "0",
    ]
    result = CliRunner().invoke(cli_app, args, env={"SPACY_DISTILL_REVIEW_TOKEN": ""})
    assert result.exit_code == 1 and "needs an access token" in one_line(result.output)
    assert not (tmp_path / "r.db").exists()
    result = CliRunner().invoke(cli_app, ["review", str(tmp_path / "missing.spacy"), "--db", str(tmp_path / "r.db")])
    # the message is printed whole, however long the path
    assert result.exit_code == 1 and f"{tmp_path / 'missing.spacy'}: file not found" in result.output
    result = CliRunner().invoke(cli_app, args[:4] + ["--order", "disagreement"])
    assert result.exit_code == 1 and "--student" in one_line(result.output)


def one_line(output: str) -> str:
    return " ".join(output.split())


def test_loopback_serves_only_its_own_host_names(db):
    hosts = allowed_hosts("127.0.0.1", 8080)
    assert "127.0.0.1:8080" in hosts and "localhost:8080" in hosts and "evil.example:8080" not in hosts
    assert allowed_hosts("0.0.0.0", 8080) is None
    client = TestClient(create_app(db, Settings(allowed_hosts=hosts)), base_url="http://127.0.0.1:8080")
    assert client.get("/api/session").status_code == 200
    rebound = client.get("/api/session", headers={"Host": "evil.example:8080"})  # DNS rebinding
    assert rebound.status_code == 400 and "Host" in rebound.json()["error"]


def test_changes_need_json_the_csrf_token_and_the_same_origin(client):
    body = {"annotator": "alice", "doc_id": 1, "answer": "ignore"}
    csrf = client.headers.pop("X-CSRF-Token")
    assert client.post("/api/answer", json=body).status_code == 403
    assert client.post("/api/answer", json=body, headers={"X-CSRF-Token": "0" * 64}).status_code == 403
    ok = {"X-CSRF-Token": csrf}
    assert (
        client.post("/api/answer", content=json.dumps(body), headers={**ok, "Content-Type": "text/plain"}).status_code
        == 415
    )
    assert client.post("/api/answer", data={"annotator": "alice"}, headers=ok).status_code == 415
    assert client.post("/api/answer", json=body, headers={**ok, "Origin": "http://evil.example"}).status_code == 403
    assert client.post("/api/answer", json=body, headers={**ok, "Sec-Fetch-Site": "cross-site"}).status_code == 403
    assert (
        client.post(
            "/api/answer", json=body, headers={**ok, "Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"}
        ).status_code
        == 200
    )


MALFORMED = [
    ("GET", "/api/next", None, 400),  # no annotator
    ("GET", "/api/next?annotator=%3Cscript%3E", None, 400),
    ("GET", "/api/next?annotator=" + "a" * 65, None, 400),
    ("GET", "/api/docs/999/teacher", None, 404),
    ("GET", "/api/docs/abc/teacher", None, 404),
    ("GET", "/api/answer", None, 405),
    ("GET", "/nope", None, 404),
    ("GET", "/static/../server.py", None, 404),
    ("POST", "/api/answer", b"{not json", 400),
    ("POST", "/api/answer", b"\xff\xfe", 400),
    ("POST", "/api/answer", [], 422),
    ("POST", "/api/answer", "text", 422),
    ("POST", "/api/answer", {}, 400),
    ("POST", "/api/answer", {"annotator": "a"}, 422),
    ("POST", "/api/answer", {"annotator": "a", "doc_id": "1", "answer": "accept"}, 422),
    ("POST", "/api/answer", {"annotator": "a", "doc_id": True, "answer": "accept"}, 422),
    ("POST", "/api/answer", {"annotator": "a", "doc_id": 1.5, "answer": "accept"}, 422),
    ("POST", "/api/answer", {"annotator": "a", "doc_id": 999, "answer": "accept", "spans": []}, 404),
    ("POST", "/api/answer", {"annotator": "a", "doc_id": 1, "answer": "maybe", "spans": []}, 422),
    ("POST", "/api/answer", {"annotator": "a", "doc_id": 1, "answer": "accept"}, 422),
    ("POST", "/api/answer", {"annotator": "a", "doc_id": 1, "answer": "accept", "spans": {}}, 422),
    ("POST", "/api/answer", {"annotator": "a", "doc_id": 1, "answer": "accept", "spans": [1]}, 422),
    ("POST", "/api/answer", {"annotator": "a", "doc_id": 1, "answer": "accept", "spans": [{"start": 0}]}, 422),
    (
        "POST",
        "/api/answer",
        {"annotator": "a", "doc_id": 1, "answer": "accept", "spans": [{"start": 0, "end": 99, "label": "LOC"}]},
        422,
    ),
    (
        "POST",
        "/api/answer",
        {"annotator": "a", "doc_id": 1, "answer": "accept", "spans": [{"start": 2, "end": 1, "label": "LOC"}]},
        422,
    ),
    (
        "POST",
        "/api/answer",
        {"annotator": "a", "doc_id": 1, "answer": "accept", "spans": [{"start": -1, "end": 1, "label": "LOC"}]},
        422,
    ),
    (
        "POST",
        "/api/answer",
        {"annotator": "a", "doc_id": 1, "answer": "accept", "spans": [{"start": 0, "end": 1, "label": "NOPE"}]},
        422,
    ),
    (
        "POST",
        "/api/answer",
        {"annotator": "a", "doc_id": 1, "answer": "accept", "spans": [{"start": 0, "end": 1, "label": ["LOC"]}]},
        422,
    ),
    (
        "POST",
        "/api/answer",
        {
            "annotator": "a",
            "doc_id": 1,
            "answer": "accept",
            "spans": [{"start": 0, "end": 2, "label": "LOC"}, {"start": 1, "end": 3, "label": "ORG"}],
        },
        422,
    ),
    ("POST", "/api/answer", {"annotator": "a", "doc_id": 1, "answer": "accept", "spans": [], "request_id": "x"}, 422),
    (
        "POST",
        "/api/answer",
        {"annotator": "a", "doc_id": 1, "answer": "accept", "spans": [], "request_id": "bad id with spaces"},
        422,
    ),
    ("POST", "/api/answer", {"annotator": None, "doc_id": 1, "answer": "accept", "spans": []}, 400),
    ("POST", "/api/answer", {"annotator": 5, "doc_id": 1, "answer": "accept", "spans": []}, 400),
    ("POST", "/api/answer", b"[" * 100_000, 400),
    ("POST", "/api/answer", b'{"annotator": "a", "doc_id": NaN, "answer": "accept", "spans": []}', 400),
    ("POST", "/api/answer", b'{"annotator": "a", "doc_id": 1e999, "answer": "accept", "spans": []}', 422),
    ("POST", "/api/answer", b" " * 1_000_001, 413),
    ("POST", "/api/undo", {"annotator": "a"}, 409),
    ("POST", "/api/undo", {"annotator": "a", "answer_id": 12345}, 404),
    ("POST", "/api/undo", {"annotator": "a", "answer_id": "1"}, 422),
    ("POST", "/api/undo", [], 422),
    # ids out of SQLite's range (2^63 and more) or negative
    ("POST", "/api/answer", {"annotator": "a", "doc_id": 2**63, "answer": "accept", "spans": []}, 422),
    ("POST", "/api/answer", {"annotator": "a", "doc_id": 10**30, "answer": "accept", "spans": []}, 422),
    ("POST", "/api/answer", {"annotator": "a", "doc_id": -1, "answer": "accept", "spans": []}, 422),
    ("POST", "/api/answer", {"annotator": "a", "doc_id": -(2**64), "answer": "accept", "spans": []}, 422),
    ("POST", "/api/undo", {"annotator": "a", "answer_id": 2**63}, 422),
    ("POST", "/api/undo", {"annotator": "a", "answer_id": -5}, 422),
    ("GET", f"/api/docs/{2**63}/teacher", None, 404),
    ("GET", f"/api/docs/{10**40}/teacher", None, 404),
    ("GET", "/api/docs/-1/teacher", None, 404),
]


@pytest.mark.parametrize("method,path,body,status", MALFORMED)
def test_malformed_requests_get_a_4xx_with_a_message(client, method, path, body, status):
    if method == "GET":
        r = client.get(path)
    elif isinstance(body, bytes):
        r = client.post(path, content=body, headers={"Content-Type": "application/json"})
    else:
        r = client.post(path, json=body)
    assert r.status_code == status, r.text
    assert "Traceback" not in r.text
    if path.startswith("/api/"):
        assert r.json()["error"]


def test_whitespace_spans_and_textcat_rules(tmp_path):
    text = "Hello   world\n\nagain"
    db, _ = prepare(write_docs([teacher_doc(text, ents=[(0, 5, "GREETING")])], tmp_path / "t.spacy"), tmp_path / "r.db")
    client = client_for(db)
    client.headers["X-CSRF-Token"] = client.get("/api/session").json()["csrf"]
    tokens = client.get("/api/next", params={"annotator": "a"}).json()["doc"]["tokens"]
    blank = next(i for i, (s, e) in enumerate(tokens) if not text[s:e].strip())
    r = post(
        client,
        "/api/answer",
        {
            "annotator": "a",
            "doc_id": 1,
            "answer": "accept",
            "spans": [{"start": blank, "end": blank + 2, "label": "GREETING"}],
        },
    )
    assert r.status_code == 422 and "whitespace" in r.json()["error"]

    cats = [teacher_doc("Great.", ents=None, cats={"POS": 1.0, "NEG": 0.0})]
    db, _ = prepare(write_docs(cats, tmp_path / "c.spacy"), tmp_path / "c.db")
    client = client_for(db)
    client.headers["X-CSRF-Token"] = client.get("/api/session").json()["csrf"]
    base = {"annotator": "a", "doc_id": 1, "answer": "accept"}
    assert post(client, "/api/answer", {**base, "cats": {"POS": True, "NEG": True}}).status_code == 422
    assert post(client, "/api/answer", {**base, "cats": {"MAYBE": True}}).status_code == 422
    assert post(client, "/api/answer", {**base, "cats": {"POS": "yes"}}).status_code == 422
    assert (
        post(client, "/api/answer", {**base, "answer": "reject", "cats": {"POS": True, "NEG": False}}).status_code
        == 200
    )
    r = post(client, "/api/answer", {**base, "cats": {"POS": True}})
    assert r.status_code == 200 and r.json()["next"] is None
    assert [a["cats"] for a in db.answers()] == [{"NEG": 0.0, "POS": 1.0}, {"NEG": 0.0, "POS": 1.0}]


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-5, 10**12)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(["start", "end", "label", "x", "POS"]) | st.text(max_size=5), inner, max_size=4
        )
    ),
    max_leaves=12,
)
BODY = st.fixed_dictionaries(
    {},
    optional={
        "annotator": st.sampled_from(["alice", "", " ", "b<o>b"]) | JSON,
        "doc_id": st.sampled_from([1, 2, 0, -1]) | JSON,
        "answer": st.sampled_from(["accept", "reject", "ignore"]) | JSON,
        "spans": st.lists(
            st.fixed_dictionaries(
                {
                    "start": st.integers(-2, 30),
                    "end": st.integers(-2, 30),
                    "label": st.sampled_from(["LOC", "ORG", "X"]),
                }
            ),
            max_size=4,
        )
        | JSON,
        "cats": JSON,
        "request_id": JSON,
        "answer_id": JSON,
    },
)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(path=st.sampled_from(["/api/answer", "/api/undo"]), body=BODY | JSON)
def test_random_requests_never_give_a_500(client, path, body):
    r = client.post(path, json=body)
    assert r.status_code < 500, r.text


# -- a real server process, for the concurrency and browser tests ---------------------------


def start_server(input_path, db_path, *extra, env=None):
    """`spacy-distill review ... --port 0` in a subprocess; (process, base URL as printed)."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "spacy_distill",
            "review",
            str(input_path),
            "--db",
            str(db_path),
            "--port",
            "0",
            *map(str, extra),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
    )
    lines = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        match = re.search(r"Open (http://\S+)", line)
        if match:
            return process, match.group(1)
    process.kill()
    raise AssertionError("the review server did not start:\n" + "".join(lines) + (process.stdout.read() or ""))


def stop_server(process) -> str:
    process.terminate()
    try:
        out, _ = process.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        out, _ = process.communicate()
    return out or ""


def test_real_server_restart_continues_where_each_annotator_stopped(tmp_path):
    import httpx

    teacher = write_docs(docs() + [teacher_doc("Carol met Dan.", ents=[(0, 5, "PERSON")])], tmp_path / "t.spacy")
    process, url = start_server(teacher, tmp_path / "r.db", "--annotator", "maria")
    try:
        base = url.split("?")[0]
        with httpx.Client(base_url=base) as http:
            csrf = {"X-CSRF-Token": http.get("/api/session").json()["csrf"]}
            first = http.get("/api/next").json()["doc"]
            http.post("/api/answer", json={"doc_id": first["id"], "answer": "ignore"}, headers=csrf).raise_for_status()
            bobs = http.get("/api/next", params={"annotator": "bob"}).json()["doc"]
    finally:
        stop_server(process)
    process, url = start_server(teacher, tmp_path / "r.db")
    try:
        with httpx.Client(base_url=url.split("?")[0]) as http:
            assert http.get("/api/next", params={"annotator": "bob"}).json()["doc"]["id"] == bobs["id"]
            again = http.get("/api/next", params={"annotator": "maria"}).json()
            assert again["doc"]["id"] not in (first["id"], bobs["id"]) and again["progress"]["you"] == 1
    finally:
        out = stop_server(process)
    assert "Traceback" not in out
