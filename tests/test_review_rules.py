"""Reviewing rules: storage of the answers, the API (edit recompiles, invalid edit is a 4xx), export, restart."""

import json

import pytest
import spacy
from corrections_helpers import write_docs
from starlette.testclient import TestClient
from typer.testing import CliRunner

from spacy_distill.cli import app as cli_app
from spacy_distill.review_app.guard import Settings
from spacy_distill.review_app.rule_matches import load_texts
from spacy_distill.review_app.rule_storage import RuleStore
from spacy_distill.review_app.rules_server import export_accepted, prepare_rules
from spacy_distill.review_app.server import STATIC
from spacy_distill.review_app.storage import Conflict, ReviewDB
from spacy_distill.rules.rule import Rule, read_rules, write_rules

NLP = spacy.blank("en")
TEXTS = [
    ("Alice flew to Paris with Bob.", [("Paris", "LOC"), ("Alice", "PERSON"), ("Bob", "PERSON")]),
    ("Paris Hilton met Bob in Rome.", [("Paris Hilton", "PERSON"), ("Bob", "PERSON"), ("Rome", "LOC")]),
    ("Order AB-1234 shipped to Rome.", [("AB-1234", "CODE"), ("Rome", "LOC")]),
]
RULES = [
    Rule("r-paris", "LOC", pattern="Paris", source="induced", stats={"precision": 0.5, "matches": 2}),
    Rule("r-rome", "LOC", pattern=[{"LOWER": "rome"}], source="llm"),
    Rule("r-code", "CODE", regex=r"[A-Z]{2}-\d+", source="llm"),
    Rule("r-bob", "PERSON", pattern="Bob", source="seed"),
]


def gold_docs():
    docs = []
    for text, spans in TEXTS:
        doc = NLP.make_doc(text)
        doc.ents = [doc.char_span(text.index(p), text.index(p) + len(p), label=label) for p, label in spans]
        docs.append(doc)
    return docs


@pytest.fixture
def files(tmp_path):
    rules = tmp_path / "proposed.jsonl"
    write_rules(rules, RULES)
    return rules, write_docs(gold_docs(), tmp_path / "gold.spacy"), tmp_path / "review.db"


def make_client(files, **options):
    make_app, lines = prepare_rules(*files)
    client = TestClient(make_app(Settings(allowed_hosts={"testserver"}, **options)), raise_server_exceptions=False)
    client.headers["X-CSRF-Token"] = client.get("/api/session").json()["csrf"]
    return client, lines


def answer(client, rule, kind, name="maria", **extra):
    body = {"annotator": name, "id": rule["id"], "answer": kind, **extra}
    response = client.post("/api/rules/answer", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def test_storage_answers_undo_claims_and_export(files, tmp_path):
    store = RuleStore(ReviewDB(files[2]))
    assert store.add_rules(RULES, files[0]) == (4, 0)
    assert store.add_rules(RULES, files[0]) == (0, 4)
    first = store.next_rule("maria")
    assert first["rule_id"] == "r-paris" and first["rule"]["pattern"] == "Paris"
    assert store.next_rule("maria")["id"] == first["id"]  # a reload gives the same rule back
    assert store.next_rule("li")["rule_id"] == "r-rome"  # another expert gets another rule
    edited = Rule("r-paris", "LOC", pattern=[{"TEXT": "Paris"}, {"TEXT": "Hilton"}], source="induced")
    answer_id, new = store.add_answer(first["id"], "maria", "accept", edited, request_id="req-00000001")
    assert new and store.add_answer(first["id"], "maria", "accept", edited, request_id="req-00000001") == (
        answer_id,
        False,
    )
    second = store.next_rule("maria")
    assert second["rule_id"] == "r-code"
    store.add_answer(second["id"], "maria", "reject")
    undone = store.undo("maria")
    assert undone["rule_id"] == "r-code" and undone["state"]["answer"] == "reject"
    with pytest.raises(Conflict):
        store.undo("maria", undone["state"]["answer_id"])
    stored = store.answers(include_retracted=True)
    assert [(a["rule_id"], a["answer"], a["retracted"] is not None) for a in stored] == [
        ("r-paris", "accept", False),
        ("r-code", "reject", True),
    ]
    assert stored[0]["original"]["pattern"] == "Paris" and stored[0]["edited"]["pattern"][1] == {"TEXT": "Hilton"}
    assert store.progress("maria") == {
        "total": 4,
        "done": 1,
        "you": 1,
        "annotators": [{"name": "maria", "done": 1, "accept": 1, "reject": 0, "ignore": 0}],
    }
    count = export_accepted(files[2], tmp_path / "accepted.jsonl")
    assert count == 1 and [r.pattern for r in read_rules(tmp_path / "accepted.jsonl")] == [edited.pattern]


def test_corpus_gold_or_raw_texts(files, tmp_path):
    assert len(load_texts(files[1]).gold) == 3
    raw = tmp_path / "raw.jsonl"
    raw.write_text("".join(json.dumps({"text": text}) + "\n" for text, _ in TEXTS))
    assert load_texts(raw).gold is None and len(load_texts(raw).docs) == 3


def test_api_shows_matches_edit_recompiles_and_invalid_edit_is_a_4xx(files):
    client, lines = make_client(files)
    assert "4 rules" in lines[0] and "gold spans" in lines[1]
    session = client.get("/api/session").json()
    assert session["mode"] == "rules" and session["gold"] is True
    body = client.get("/api/rules/next", params={"annotator": "maria"}).json()
    rule = body["rule"]
    assert rule["rule"]["label"] == "LOC" and rule["rule"]["source"] == "induced"
    assert body["progress"]["total"] == 4
    assert [(m["text"], m["correct"]) for m in rule["matches"]] == [("Paris", True), ("Paris", False)]
    assert rule["matches"][1]["right"].startswith(" Hilton met")
    assert rule["stats"] == {"matches": 2, "docs": 2, "texts": 3, "tp": 1, "fp": 1, "precision": 0.5}

    for kind, text, message in [
        ("tokens", '[{"TEXT": "Paris"', "not valid JSON"),
        ("tokens", '[{"NOPE": "Paris"}]', "invalid token pattern"),
        ("regex", "(Paris", "invalid regex"),
        ("regex", "x*", "matches the empty string"),
        ("phrase", "  ", "empty"),
        ("lisp", "Paris", "kind"),
    ]:
        bad = client.post("/api/rules/preview", json={"id": rule["id"], "kind": kind, "text": text})
        assert bad.status_code == 422 and message in bad.json()["error"], (kind, text, bad.text)
    bad = client.post(
        "/api/rules/answer",
        json={"annotator": "maria", "id": rule["id"], "answer": "accept", "edit": {"kind": "regex", "text": "(x"}},
    )
    assert bad.status_code == 422 and "invalid regex" in bad.json()["error"]

    edit = {"kind": "tokens", "text": '[{"TEXT": {"IN": ["Paris", "Rome"]}}]'}
    preview = client.post("/api/rules/preview", json={"id": rule["id"], **edit}).json()
    assert [(m["doc"], m["text"], m["correct"]) for m in preview["matches"]] == [
        (0, "Paris", True),
        (1, "Paris", False),
        (1, "Rome", True),
        (2, "Rome", True),
    ]
    assert preview["stats"]["precision"] == 0.75 and preview["rule"]["pattern"] == [{"TEXT": {"IN": ["Paris", "Rome"]}}]
    done = answer(client, rule, "accept", edit=edit, request_id="req-00000002")
    assert done["stored"] and done["next"]["rule_id"] == "r-rome" and done["progress"]["done"] == 1
    assert answer(client, rule, "accept", edit=edit, request_id="req-00000002")["stored"] is False
    assert answer(client, done["next"], "reject")["next"]["rule_id"] == "r-code"
    undone = client.post("/api/rules/undo", json={"annotator": "maria"}).json()
    assert undone["rule"]["rule_id"] == "r-rome" and undone["rule"]["state"]["answer"] == "reject"
    assert undone["rule"]["matches"][0]["text"] == "Rome"
    assert (
        client.post("/api/rules/answer", json={"annotator": "maria", "id": 99, "answer": "accept"}).status_code == 404
    )
    assert client.post("/api/rules/answer", json={"id": rule["id"], "answer": "accept"}).status_code == 400
    # The guard is the doc mode's: no CSRF token, no answer.
    del client.headers["X-CSRF-Token"]
    assert client.post("/api/rules/undo", json={"annotator": "maria"}).status_code == 403


def test_restart_continues_and_export_has_only_accepted_rules(files, tmp_path):
    client, _ = make_client(files)
    first = client.get("/api/rules/next", params={"annotator": "maria"}).json()["rule"]
    second = answer(client, first, "accept", edit={"kind": "phrase", "text": "Paris Hilton"})["next"]
    third = answer(client, second, "reject")["next"]
    answer(client, third, "accept")
    # A new server on the same database: maria continues with the fourth rule.
    client, lines = make_client(files)
    assert "3 answered" in lines[0]
    fourth = client.get("/api/rules/next", params={"annotator": "maria"}).json()
    assert fourth["rule"]["rule_id"] == "r-bob" and fourth["progress"]["you"] == 3
    answer(client, fourth["rule"], "ignore")
    assert client.get("/api/rules/next", params={"annotator": "maria"}).json()["rule"] is None

    out = tmp_path / "accepted.jsonl"
    result = CliRunner().invoke(cli_app, ["review", "--db", str(files[2]), "--export", str(out)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["id"], r["label"], r["pattern"]) for r in lines] == [
        ("r-paris", "LOC", "Paris Hilton"),
        ("r-code", "CODE", [{"TEXT": {"REGEX": r"[A-Z]{2}-\d+"}}]),
    ]
    assert lines[0]["stats"]["edited_by"] == "maria" and lines[1]["regex"] == r"[A-Z]{2}-\d+"
    ruler = spacy.blank("en").add_pipe("entity_ruler")
    ruler.from_disk(out)  # loadable by entity_ruler as it is
    assert len(ruler.patterns) == 2


def test_cli_refuses_half_a_rule_review(files):
    result = CliRunner().invoke(cli_app, ["review", "--rules", str(files[0]), "--db", str(files[2])])
    assert result.exit_code == 1 and "--texts" in result.output
    result = CliRunner().invoke(cli_app, ["review", "--db", str(files[2])])
    assert result.exit_code == 1 and "teacher docs" in result.output


def test_rule_page_is_static_and_never_builds_html_from_data(files):
    client, _ = make_client(files)
    page = client.get("/")
    assert page.status_code == 200 and 'src="/static/rules.js"' in page.text and "<script>" not in page.text
    assert "unsafe-inline" not in page.headers["content-security-policy"]
    for name in ("rules.js", "common.js"):
        script = (STATIC / name).read_text()
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
            assert sink not in script, (name, sink)
    assert client.get("/static/rules.css").status_code == 200
