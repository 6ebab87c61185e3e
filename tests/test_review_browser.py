"""End to end: a real headless Chromium (Debian's package) drives the review page, then `import` reads the database.

python tests/test_review_browser.py docs/review.png   # writes the README's screenshot
"""

import os
import sys
from pathlib import Path

import pytest
import spacy
from spacy.tokens import DocBin

sys.path.insert(0, str(Path(__file__).parent))
from corrections_helpers import iob, spans_of, teacher_doc, write_docs
from test_review_server import start_server, stop_server

from spacy_distill.corpus.corrections import import_corrections
from spacy_distill.review_app.storage import ReviewDB

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TOKEN = "browser-test-token-0123456789abcdef"
NLP = spacy.blank("en")

A = "Alice flew to Paris with Bob."
B = "Acme Corp opened an office in New York City last May."
C = 'The payload <script>window.__xss = 1</script> and <img src=x onerror="window.__xss = 2"> from XSS Inc stays text.'
D = "Bob met Carol in Rome."
RESPONSE_C = 'XSS Inc | ORG\n<b onmouseover="window.__xss = 3">not bold</b> | ORG'


def at(text, phrase, label):
    start = text.index(phrase)
    return (start, start + len(phrase), label)


def teacher_docs():
    c = teacher_doc(C, ents=[at(C, "XSS Inc", "ORG")])
    c.user_data["teacher"]["response"] = [RESPONSE_C]
    return [
        teacher_doc(A, ents=[at(A, "Alice", "PERSON"), at(A, "Paris", "LOC"), at(A, "Bob", "PERSON")]),
        # office is no ORG, New York should be New York City, May is a DATE, Acme Corp is missing.
        teacher_doc(B, ents=[at(B, "office", "ORG"), at(B, "New York", "LOC"), at(B, "May", "PERSON")]),
        c,
        teacher_doc(D, ents=[at(D, "Bob", "PERSON"), at(D, "Carol", "PERSON"), at(D, "Rome", "LOC")]),
    ]


def launch(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium for the module's tests."""
    if not Path(CHROMIUM).exists():
        message = "Debian's chromium is not installed (scripts/install.sh installs it as root)"
        if os.environ.get("CI"):
            pytest.fail(message)  # CI runs as root: the browser test must run there
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = launch(p)
        yield chromium
        chromium.close()


def drag_select(page, first_token, last_token):
    """Select text with the mouse from the middle of one token to the middle of another."""
    start = page.locator(f'#text .tok[data-i="{first_token}"] .tt').bounding_box()
    end = page.locator(f'#text .tok[data-i="{last_token}"] .tt').bounding_box()
    page.mouse.move(start["x"] + start["width"] * 0.5, start["y"] + start["height"] / 2)
    page.mouse.down()
    page.mouse.move(end["x"] + end["width"] * 0.5, end["y"] + end["height"] / 2, steps=8)
    page.mouse.up()


def chips(page):
    """(span text, label) of every span on the page, in order."""
    return page.evaluate(
        """() => [...document.querySelectorAll('#text .chip')].map(chip => {
            const k = chip.dataset.k;
            const tokens = [...document.querySelectorAll('#text .tok')].filter(t => [...t.querySelectorAll('.bar')].some(b => b.dataset.k === k));
            const text = document.getElementById('text').textContent;
            return [tokens.map(t => t.querySelector('.tt').textContent).join(' '), chip.firstChild.textContent];
        })"""
    )


def wait_for_doc(page, text):
    page.wait_for_function(
        "t => window.document.getElementById('text').textContent.replace(/[A-Z_]+×/g, '').includes(t)", arg=text[:20]
    )


def test_review_page_end_to_end_in_chromium(tmp_path, browser):
    teacher = write_docs(teacher_docs(), tmp_path / "teacher.spacy")
    db_path = tmp_path / "review.db"
    process, url = start_server(teacher, db_path, "--labels", "DATE", "--token", TOKEN)
    assert f"token={TOKEN}" in url
    problems = []
    try:
        # Without the token nothing is served.
        stranger = browser.new_page()
        assert stranger.goto(url.split("?")[0]).status == 401
        stranger.close()

        page = browser.new_page(viewport={"width": 1100, "height": 700})
        page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
        page.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))
        page.goto(url.replace("?", "?annotator=maria&"))
        assert "token=" not in page.url  # the token went into a cookie
        wait_for_doc(page, A)
        assert page.locator("#annotator-name").text_content() == "maria"
        assert page.locator("#progress-text").text_content() == "0 / 4 done · you 0"
        assert chips(page) == [["Alice", "PERSON"], ["Paris", "LOC"], ["Bob", "PERSON"]]
        assert "A/Enter accept" in page.locator("#keys").inner_text().replace("\n", "")

        # 1. Accept the first doc as it is, with the keyboard.
        page.keyboard.press("a")
        wait_for_doc(page, B)
        assert page.locator("#progress-text").text_content() == "1 / 4 done · you 1"
        labels = page.locator("#labels .label").all_inner_texts()
        assert [label.split()[-1] for label in labels] == ["LOC", "ORG", "PERSON", "DATE"]

        # 2. Remove the wrong "office" ORG with a click on its ×.
        page.locator('#text .chip[data-k="0"] .x').click()
        assert chips(page) == [["New York", "LOC"], ["May", "PERSON"]]
        # 3. Fix "New York" -> "New York City": choose LOC (key 1), select the text.
        page.keyboard.press("1")
        drag_select(page, 6, 8)
        assert chips(page) == [["New York City", "LOC"], ["May", "PERSON"]]
        # 4. Add the missing "Acme Corp" as ORG (key 2), selecting from mid-word to mid-word.
        page.keyboard.press("2")
        drag_select(page, 0, 1)
        assert chips(page) == [["Acme Corp", "ORG"], ["New York City", "LOC"], ["May", "PERSON"]]
        # 5. Relabel "May": click its label, press 4 (DATE).
        page.locator('#text .chip[data-k="2"]').click()
        page.keyboard.press("4")
        assert chips(page) == [["Acme Corp", "ORG"], ["New York City", "LOC"], ["May", "DATE"]]
        # An edit undone: select a span with the arrow keys, delete it, undo.
        page.keyboard.press("ArrowRight")
        page.keyboard.press("Delete")
        assert len(chips(page)) == 2
        page.keyboard.press("u")
        assert chips(page) == [["Acme Corp", "ORG"], ["New York City", "LOC"], ["May", "DATE"]]
        page.locator("#accept").click()
        wait_for_doc(page, C)

        # The payloads are text: no script ran, no element was made from them.
        text = page.locator("#text").text_content()
        assert "<script>window.__xss = 1</script>" in text and '<img src=x onerror="window.__xss = 2">' in text
        assert page.evaluate("window.__xss") is None
        assert page.locator("#text script, #text img").count() == 0
        # The teacher's raw answer on demand, also as text.
        page.keyboard.press("t")
        page.wait_for_selector("#teacher:not([hidden])")
        assert page.locator("#teacher-response").text_content() == RESPONSE_C
        assert page.locator("#teacher b").count() == 0
        page.locator("#teacher-response").hover()
        assert page.evaluate("window.__xss") is None

        # 6. Reject it, then undo: the doc comes back with the earlier answer shown.
        page.keyboard.press("x")
        wait_for_doc(page, D)
        page.keyboard.press("u")
        wait_for_doc(page, C)
        assert page.locator("#doc-state").text_content() == "your earlier answer: reject"
        assert page.locator("#progress-text").text_content() == "2 / 4 done · you 2"
        page.keyboard.press("Enter")  # accept it after all
        wait_for_doc(page, D)

        # 7. Reject the last one with the button.
        page.locator("#reject").click()
        page.wait_for_selector("#done:not([hidden])")
        assert page.locator("#progress-text").text_content() == "4 / 4 done · you 4"
        page.close()
    finally:
        out = stop_server(process)
    assert problems == []
    assert "Traceback" not in out

    db = ReviewDB(db_path)
    history = db.answers(include_retracted=True)
    assert [(a["doc_id"], a["answer"], a["retracted"] is not None) for a in history] == [
        (1, "accept", False),
        (2, "accept", False),
        (3, "reject", True),
        (3, "accept", False),
        (4, "reject", False),
    ]
    assert all(a["annotator"] == "maria" for a in history)
    assert history[1]["suggestion"]["spans"][0]["label"] == "ORG"  # the original suggestion is kept

    stats = import_corrections(db_path, tmp_path / "gold.spacy")
    assert stats["answers"] == {"accept": 3, "reject": 1}
    gold = {d.text: d for d in DocBin().from_disk(tmp_path / "gold.spacy").get_docs(NLP.vocab)}
    assert spans_of(gold[A]) == [at(A, "Alice", "PERSON"), at(A, "Paris", "LOC"), at(A, "Bob", "PERSON")]
    assert spans_of(gold[B]) == [at(B, "Acme Corp", "ORG"), at(B, "New York City", "LOC"), at(B, "May", "DATE")]
    assert spans_of(gold[C]) == [at(C, "XSS Inc", "ORG")]
    assert spans_of(gold[D]) == [] and set(iob(gold[D])) == {"-"}
    assert spans_of(gold[D], "incorrect_spans") == [
        at(D, "Bob", "PERSON"),
        at(D, "Carol", "PERSON"),
        at(D, "Rome", "LOC"),
    ]
    assert "O" in iob(gold[B])  # accepted docs are complete: the other tokens are O


def test_categories_in_chromium_with_the_name_form(tmp_path, browser):
    """Text classification: the page asks for a name, number keys switch the category, the teacher's stays marked."""
    labels = ["card_arrival", "card_lost", "refund"]
    texts = ["My card has not arrived yet.", "I lost my card on the train.", "Where is my refund?"]
    docs = [teacher_doc(t, ents=None, cats={label: float(label == "card_lost") for label in labels}) for t in texts]
    db_path = tmp_path / "review.db"
    process, url = start_server(write_docs(docs, tmp_path / "teacher.spacy"), db_path)
    problems = []
    try:
        page = browser.new_page()
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.goto(url)
        page.fill("#name-input", "jonas")
        page.keyboard.press("Enter")
        wait_for_doc(page, texts[0])
        assert "annotator=jonas" in page.url
        chosen = lambda: page.eval_on_selector_all("#cats .cat.on", "els => els.map(e => e.dataset.label)")  # noqa: E731
        assert chosen() == ["card_lost"]
        assert page.eval_on_selector_all("#cats .cat.suggested", "els => els.map(e => e.dataset.label)") == [
            "card_lost"
        ]
        page.keyboard.press("1")  # exclusive categories: 1 replaces the teacher's choice
        assert chosen() == ["card_arrival"]
        page.keyboard.press("a")
        wait_for_doc(page, texts[1])
        page.keyboard.press("a")  # the teacher was right
        wait_for_doc(page, texts[2])
        page.locator('#cats .cat[data-label="card_lost"]').click()
        page.keyboard.press("3")
        page.keyboard.press("u")  # undo the last edit: card_lost again
        page.keyboard.press("u")  # and the one before: the teacher's card_lost
        assert chosen() == ["card_lost"]
        page.keyboard.press("3")
        page.keyboard.press("Enter")
        page.wait_for_selector("#done:not([hidden])")
        page.close()
    finally:
        stop_server(process)
    assert problems == []
    import_corrections(db_path, tmp_path / "gold.spacy")
    gold = [d.cats for d in DocBin().from_disk(tmp_path / "gold.spacy").get_docs(NLP.vocab)]
    assert gold == [
        {"card_arrival": 1.0, "card_lost": 0.0, "refund": 0.0},
        {"card_arrival": 0.0, "card_lost": 1.0, "refund": 0.0},
        {"card_arrival": 0.0, "card_lost": 0.0, "refund": 1.0},
    ]
    assert {a["annotator"] for a in ReviewDB(db_path).answers()} == {"jonas"}


def screenshot(path: Path) -> None:
    """The README's picture: a doc being corrected, with the teacher's raw answer open."""
    import hashlib
    import tempfile

    from playwright.sync_api import sync_playwright

    text = "Honestly the Patagonia Better Sweater I got at REI in Denver held up better than anything from Zara or Uniqlo. Worth the extra $40."
    doc = teacher_doc(
        text,
        ents=[
            at(text, "Patagonia", "FASHION_BRAND"),
            at(text, "Better Sweater", "PRODUCT"),
            at(text, "REI", "STORE"),
            at(text, "Denver", "LOCATION"),
            at(text, "Zara", "FASHION_BRAND"),
        ],
        model="gemma3-270m",
    )
    doc.user_data["teacher"]["response"] = [
        "Patagonia | FASHION_BRAND\nBetter Sweater | PRODUCT\nREI | STORE\nDenver | LOCATION\nZara | FASHION_BRAND\nUniqlo | BRAND"
    ]
    doc.user_data["teacher"]["prompt_sha256"] = [hashlib.sha256(text.encode()).hexdigest()]
    doc.user_data["spacy_distill"] = {
        "parse_failure": False,
        "unparsed_lines": [],
        "dropped_spans": [{"text": "Uniqlo", "label": "BRAND", "reason": "unknown label"}],
    }
    doc.user_data["source"] = {"path": "corpus/comments.jsonl", "line": 17}
    others = [teacher_doc(f"Comment {i}", ents=[]) for i in range(41)]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        teacher = write_docs([doc] + others, tmp / "teacher.spacy")
        db = ReviewDB(tmp / "review.db")
        process, url = start_server(teacher, tmp / "review.db", "--annotator", "maria")
        try:
            for i in range(2, 13):  # some answers from colleagues, for the progress line
                db.add_answer(i, "jonas" if i % 3 else "maria", "accept", [], None)
            with sync_playwright() as p:
                browser = launch(p)
                page = browser.new_page(viewport={"width": 1000, "height": 560}, device_scale_factor=2)
                page.goto(url)
                wait_for_doc(page, text)
                page.keyboard.press("1")
                page.locator('#text .tok[data-i="19"] .tt').dblclick()  # add Uniqlo, which the teacher missed
                page.keyboard.press("t")
                page.wait_for_selector("#teacher:not([hidden])")
                page.mouse.move(0, 0)
                page.wait_for_timeout(2500)  # let the status message fade
                page.screenshot(path=str(path), full_page=True)
                browser.close()
        finally:
            stop_server(process)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    screenshot(Path(sys.argv[1]))
    print("wrote", sys.argv[1])
