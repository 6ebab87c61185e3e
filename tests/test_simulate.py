"""The simulated expert: edit counting and corrections that import back as the gold."""

import json

import pytest
import spacy
from spacy.tokens import DocBin

from spacy_distill.corpus.corrections import import_corrections
from spacy_distill.formats.common import FormatError
from spacy_distill.rounds.simulate import simulate_corrections, span_edits


@pytest.mark.parametrize(
    "suggested,gold,expected",
    [
        ([(0, 4, "B")], [(0, 4, "B")], {"kept": 1}),
        ([], [(0, 4, "B")], {"added": 1}),
        ([(0, 4, "B")], [], {"removed": 1}),
        ([(0, 4, "A")], [(0, 4, "B")], {"relabelled": 1}),
        ([(0, 4, "B")], [(0, 9, "B")], {"boundaries_fixed": 1}),
        (
            [(0, 4, "B"), (10, 14, "B"), (20, 24, "A")],
            [(0, 4, "B"), (11, 14, "B"), (30, 34, "B")],
            {"kept": 1, "boundaries_fixed": 1, "removed": 1, "added": 1},
        ),
    ],
)
def test_span_edits(suggested, gold, expected):
    edits = span_edits(suggested, gold)
    assert {k: v for k, v in edits.items() if v} == expected


def _docbin(nlp, rows, path, key="ents"):
    docs = []
    for text, spans, cats in rows:
        doc = nlp.make_doc(text)
        doc.ents = [doc.char_span(s, e, label) for s, e, label in spans]
        doc.cats = cats
        doc.user_data["teacher"] = {"model": "m", "prompt_sha256": ["x"], "response": ["r"]}
        docs.append(doc)
    DocBin(docs=docs, store_user_data=True).to_disk(path)
    return path


def test_simulated_corrections_import_as_the_gold(tmp_path):
    nlp = spacy.blank("en")
    texts = ["I love Levi's jeans.", "Nike and Adidas shoes.", "Nothing here.", "Not in gold."]
    teacher = _docbin(
        nlp,
        [
            (texts[0], [(7, 11, "BRAND")], {}),  # boundary fix -> Levi's
            (texts[1], [(0, 4, "BRAND")], {}),  # kept + added Adidas
            (texts[2], [(0, 7, "BRAND")], {}),  # removed
            (texts[3], [], {}),
        ],
        tmp_path / "teacher.spacy",
    )
    gold = _docbin(
        nlp,
        [
            (texts[0], [(7, 13, "BRAND")], {}),
            (texts[1], [(0, 4, "BRAND"), (9, 15, "BRAND")], {}),
            (texts[2], [], {}),
        ],
        tmp_path / "gold.spacy",
    )
    stats = simulate_corrections(teacher, gold, tmp_path / "corrections.jsonl")
    assert stats["docs"] == 3 and stats["docs_without_gold"] == 1
    assert stats["edits"] == {
        "kept": 1,
        "added": 1,
        "removed": 1,
        "relabelled": 0,
        "boundaries_fixed": 1,
        "categories_toggled": 0,
    }
    assert stats["edits_total"] == 3 and stats["docs_accepted_unchanged"] == 0
    tasks = [json.loads(line) for line in (tmp_path / "corrections.jsonl").open()]
    assert [t["text"] for t in tasks] == texts[:3]

    import_corrections(str(tmp_path / "corrections.jsonl"), tmp_path / "imported.spacy")
    imported = {d.text: d for d in DocBin().from_disk(tmp_path / "imported.spacy").get_docs(nlp.vocab)}
    assert [(e.text, e.label_) for e in imported[texts[0]].ents] == [("Levi's", "BRAND")]
    assert [e.text for e in imported[texts[1]].ents] == ["Nike", "Adidas"]
    assert list(imported[texts[2]].ents) == [] and imported[texts[2]].has_annotation("ENT_IOB")


def test_no_overlap_between_teacher_and_gold_is_an_error(tmp_path):
    nlp = spacy.blank("en")
    teacher = _docbin(nlp, [("a b", [], {})], tmp_path / "t.spacy")
    gold = _docbin(nlp, [("c d", [], {})], tmp_path / "g.spacy")
    with pytest.raises(FormatError, match="none of the 1 teacher docs"):
        simulate_corrections(teacher, gold, tmp_path / "out.jsonl")


def _ner_and_cats_docbins(nlp, tmp_path, cats: bool):
    texts = ["I love Levi's jeans.", "Nike and Adidas shoes.", "Nothing here."]
    if cats:
        teacher_rows = [(t, [], {"POS": 1.0, "NEG": 0.0}) for t in texts]
        gold_rows = [(texts[0], [], {"POS": 1.0, "NEG": 0.0}), (texts[1], [], {"POS": 0.0, "NEG": 1.0})]
        gold_rows.append((texts[2], [], {"POS": 0.0, "NEG": 1.0}))
    else:
        teacher_rows = [(texts[0], [(7, 11, "BRAND")], {}), (texts[1], [(0, 4, "BRAND")], {}), (texts[2], [], {})]
        gold_rows = [(texts[0], [(7, 13, "BRAND")], {}), (texts[1], [(0, 4, "BRAND"), (9, 15, "BRAND")], {})]
        gold_rows.append((texts[2], [], {}))
    return _docbin(nlp, teacher_rows, tmp_path / "teacher.spacy"), _docbin(nlp, gold_rows, tmp_path / "gold.spacy")


@pytest.mark.parametrize("cats", [False, True], ids=["ner", "textcat"])
@pytest.mark.parametrize(
    "to, name", [("prodigy", "c.jsonl"), ("labelstudio", "c.json"), ("doccano", "c.jsonl"), ("argilla", "c")]
)
def test_simulate_round_trips_through_every_tool(tmp_path, to, name, cats):
    """What simulate writes is what the tool exports once a person answered: import reads back the gold."""
    nlp = spacy.blank("en")
    teacher, gold = _ner_and_cats_docbins(nlp, tmp_path, cats)
    simulate_corrections(teacher, gold, tmp_path / name, to=to)
    stats = import_corrections(str(tmp_path / name), tmp_path / "imported.spacy", fmt=to)
    assert stats["docs"] == 3 and stats["complete"] == 3 and stats["answers"] == {"accept": 3}
    imported = {d.text: d for d in DocBin().from_disk(tmp_path / "imported.spacy").get_docs(nlp.vocab)}
    for doc in DocBin().from_disk(gold).get_docs(nlp.vocab):
        got = imported[doc.text]
        assert [(e.start_char, e.end_char, e.label_) for e in got.ents] == [
            (e.start_char, e.end_char, e.label_) for e in doc.ents
        ]
        assert got.cats == (doc.cats if cats else {})
        assert cats or got.has_annotation("ENT_IOB")  # a doc without entities is a negative example


@pytest.mark.parametrize("to, name", [("prodigy", "t.jsonl"), ("labelstudio", "t.json"), ("argilla", "t")])
def test_exported_tasks_nobody_answered_are_not_gold(tmp_path, to, name):
    """`export` writes suggestions, not answers: every tool reads them back as not annotated, 0 docs."""
    from spacy_distill.formats import export_docs

    nlp = spacy.blank("en")
    teacher, _ = _ner_and_cats_docbins(nlp, tmp_path, cats=False)
    export_docs(teacher, tmp_path / name, to=to)
    stats = import_corrections(str(tmp_path / name), tmp_path / "imported.spacy", fmt=to)
    assert stats["docs"] == 0 and stats["answers"] == {"none": 3} and stats["records"] == 3
