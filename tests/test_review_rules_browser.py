"""End to end: a real headless Chromium reviews rules with the keyboard, then the export holds the accepted ones."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from corrections_helpers import write_docs
from test_review_browser import TOKEN, browser  # noqa: F401  (the module's Chromium fixture)
from test_review_rules import NLP, RULES, gold_docs
from test_review_server import start_server, stop_server

from spacy_distill.review_app.rule_storage import RuleStore
from spacy_distill.review_app.rules_server import export_accepted
from spacy_distill.review_app.storage import ReviewDB
from spacy_distill.rules.rule import read_rules, write_rules

XSS = 'Bob wrote <img src=x onerror="window.__xss = 1"> and <script>window.__xss = 2</script> here.'


def current_rule(page):
    return page.locator("#rule-position").text_content()


def wait_for_rule(page, rule_id):
    page.wait_for_function("id => document.getElementById('rule-position').textContent.endsWith(' ' + id)", arg=rule_id)


def test_rule_review_in_chromium(tmp_path, browser):  # noqa: F811
    rules_path = tmp_path / "proposed.jsonl"
    write_rules(rules_path, [RULES[0], RULES[1], RULES[3], RULES[2]])  # paris, rome, bob, code
    docs = gold_docs() + [NLP.make_doc(XSS)]
    texts = write_docs(docs, tmp_path / "gold.spacy")
    db_path = tmp_path / "review.db"
    process, url = start_server(f"--rules={rules_path}", db_path, "--texts", texts, "--token", TOKEN)
    problems = []
    try:
        page = browser.new_page(viewport={"width": 1100, "height": 800})
        page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        expected = "status of 422"  # the invalid edit's answer, shown on the page
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" and expected not in m.text else None)
        page.goto(url.replace("?", "?annotator=maria&"))
        wait_for_rule(page, "r-paris")
        assert page.locator("#rule-label").text_content() == "LOC"
        assert page.locator("#rule-pattern").text_content() == "Paris"
        assert page.locator("#matches li").count() == 2
        assert page.locator("#matches li.correct mark").text_content() == "Paris"
        assert "1 correct, 1 wrong" in page.locator("#match-stats").text_content()

        # 1. Accept the first rule, 2. reject the second, with the keyboard.
        page.keyboard.press("a")
        wait_for_rule(page, "r-rome")
        assert page.locator("#rule-pattern").text_content() == '[{"LOWER":"rome"}]'
        page.keyboard.press("x")
        wait_for_rule(page, "r-bob")
        # The XSS text is shown as text.
        assert any("<img src=x" in t for t in page.locator("#matches li").all_text_contents())

        # 3. Edit "Bob" to an invalid regex: the error is on the page; then to a valid one: new matches.
        page.keyboard.press("e")
        page.wait_for_selector("#edit-form:not([hidden])")
        page.select_option("#edit-kind", "regex")
        page.fill("#edit-text", "(Bob")
        page.keyboard.press("Enter")
        page.wait_for_selector("#edit-error:not([hidden])")
        assert "invalid regex" in page.locator("#edit-error").text_content()
        assert page.locator("#rule-pattern").text_content() == "Bob"  # nothing changed yet
        page.fill("#edit-text", r"\b(?:Bob|Alice)\b")
        page.keyboard.press("Enter")
        page.wait_for_selector("#rule-edited:not([hidden])")
        assert page.locator("#edit-form").is_hidden()
        assert page.locator("#rule-kind").text_content() == "regex"
        marks = page.locator("#matches li mark").all_text_contents()
        assert marks == ["Alice", "Bob", "Bob", "Bob"]
        assert page.locator("#matches li.correct").count() == 3  # the XSS text has no gold Bob
        page.keyboard.press("Enter")  # accept the edited rule
        wait_for_rule(page, "r-code")
        assert page.evaluate("window.__xss") is None
        page.close()
    finally:
        output = stop_server(process)
    assert not problems, problems
    assert "Traceback" not in output, output

    answers = RuleStore(ReviewDB(db_path)).answers()
    assert [(a["rule_id"], a["annotator"], a["answer"], a["edited"] is not None) for a in answers] == [
        ("r-paris", "maria", "accept", False),
        ("r-rome", "maria", "reject", False),
        ("r-bob", "maria", "accept", True),
    ]
    assert export_accepted(db_path, tmp_path / "accepted.jsonl") == 2
    exported = read_rules(tmp_path / "accepted.jsonl")
    assert [(r.id, r.label, r.pattern, r.regex) for r in exported] == [
        ("r-paris", "LOC", "Paris", None),
        ("r-bob", "PERSON", None, r"\b(?:Bob|Alice)\b"),
    ]
