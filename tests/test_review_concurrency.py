"""Several annotators answering at once, through two server processes sharing one database:
no answer is lost, none is stored twice, and no doc is given to two annotators."""

import random
import threading
from collections import Counter

import httpx
from corrections_helpers import NLP, teacher_doc, write_docs
from spacy.tokens import DocBin
from test_review_server import start_server, stop_server

from spacy_distill.corpus.corrections import import_corrections
from spacy_distill.review_app.storage import ReviewDB

NAMES = ["Alice", "Bob", "Carol", "Dan", "Eve", "Frank"]


def make_docs(n):
    docs = []
    for i in range(n):
        a, b = NAMES[i % 6], NAMES[(i + 1) % 6]
        text = f"Note {i}: {a} met {b} in Paris."
        docs.append(
            teacher_doc(
                text,
                ents=[
                    (text.index(a), text.index(a) + len(a), "PERSON"),
                    (text.index("Paris"), text.index("Paris") + 5, "LOC"),
                ],
            )
        )
    return docs


def annotate(base_url, annotator, overlap_log, seed, start):
    """One annotator's session: answer until nothing is left, resending and undoing now and then."""
    rng = random.Random(seed)
    done = []
    with httpx.Client(base_url=base_url, timeout=60) as http:
        csrf = {"X-CSRF-Token": http.get("/api/session").json()["csrf"]}
        start.wait()
        doc = http.get("/api/next", params={"annotator": annotator}).json()["doc"]
        while doc is not None:
            body = {
                "annotator": annotator,
                "doc_id": doc["id"],
                "answer": rng.choice(["accept", "accept", "reject", "ignore"]),
                "spans": doc["suggestion"]["spans"],
                "request_id": f"{annotator}-{len(done)}-{rng.getrandbits(64):016x}",
            }
            result = http.post("/api/answer", json=body, headers=csrf).json()
            if rng.random() < 0.2:  # the response was lost: the page sends the same request again
                again = http.post("/api/answer", json=body, headers=csrf).json()
                assert (again["answer_id"], again["stored"]) == (result["answer_id"], False)
            if rng.random() < 0.1:  # undo, then answer the same doc again
                back = http.post(
                    "/api/undo", json={"annotator": annotator, "answer_id": result["answer_id"]}, headers=csrf
                ).json()
                assert back["doc"]["id"] == doc["id"]
                overlap_log.append(("undone", annotator, result["answer_id"]))
                continue
            done.append((doc["id"], result["answer_id"], body["answer"]))
            doc = result["next"]
    overlap_log.append(("done", annotator, done))


def run_annotators(urls_by_annotator):
    log = []
    start = threading.Barrier(len(urls_by_annotator))
    threads = [
        threading.Thread(target=annotate, args=(url, name, log, i, start))
        for i, (name, url) in enumerate(urls_by_annotator.items())
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    finished = {entry[1]: entry[2] for entry in log if entry[0] == "done"}
    assert set(finished) == set(urls_by_annotator), "an annotator's session failed (see the thread's exception above)"
    return finished, [entry for entry in log if entry[0] == "undone"]


def test_two_servers_six_annotators_each_doc_answered_exactly_once(tmp_path):
    n = 60
    teacher = write_docs(make_docs(n), tmp_path / "teacher.spacy")
    db_path = tmp_path / "review.db"
    servers = [start_server(teacher, db_path), start_server(teacher, db_path)]
    try:
        urls = {f"expert{i}": servers[i % 2][1].split("?")[0] for i in range(6)}
        finished, undone = run_annotators(urls)
    finally:
        outputs = [stop_server(process) for process, _ in servers]
    assert all("Traceback" not in out for out in outputs), outputs
    given = [doc_id for answers in finished.values() for doc_id, _, _ in answers]
    assert sorted(given) == list(range(1, n + 1))  # every doc once: none lost, none given twice
    assert sum(1 for answers in finished.values() if answers) >= 2  # the work was really shared

    db = ReviewDB(db_path)
    standing = db.answers()
    by_id = {a["id"]: a for a in standing}
    for name, answers in finished.items():
        for doc_id, answer_id, kind in answers:
            row = by_id.pop(answer_id)  # the answer the client was told about is in the database
            assert (row["doc_id"], row["annotator"], row["answer"]) == (doc_id, name, kind)
    assert by_id == {}  # and nothing else is standing: no duplicates
    history = db.answers(include_retracted=True)
    assert len(history) == n + len(undone)
    assert {a["id"] for a in history if a["retracted"]} == {answer_id for _, _, answer_id in undone}
    assert len({a["request_id"] for a in history}) == len(history)
    assert db.progress()["done"] == n

    stats = import_corrections(db_path, tmp_path / "gold.spacy")
    kinds = Counter(kind for answers in finished.values() for _, _, kind in answers)
    assert stats["records"] == n and stats["answers"] == dict(kinds) and stats["conflicts"] == 0
    gold = list(DocBin().from_disk(tmp_path / "gold.spacy").get_docs(NLP.vocab))
    assert len(gold) == n - kinds["ignore"]


def test_with_overlap_four_annotators_each_answer_every_doc_once(tmp_path):
    n = 15
    teacher = write_docs(make_docs(n), tmp_path / "teacher.spacy")
    process, url = start_server(teacher, tmp_path / "review.db", "--overlap")
    try:
        finished, _undone = run_annotators({f"expert{i}": url.split("?")[0] for i in range(4)})
    finally:
        out = stop_server(process)
    assert "Traceback" not in out
    for name, answers in finished.items():
        assert sorted(doc_id for doc_id, _, _ in answers) == list(range(1, n + 1)), name
    db = ReviewDB(tmp_path / "review.db")
    assert len(db.answers()) == 4 * n
    assert Counter(a["annotator"] for a in db.answers()) == {name: n for name in finished}
    progress = db.progress()
    assert progress["done"] == n and [a["done"] for a in progress["annotators"]] == [n] * 4
