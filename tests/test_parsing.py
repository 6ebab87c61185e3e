"""The span and textcat parsers, run the way they run for real: inside a spaCy
pipeline built from configs/teacher_ner.cfg (or a variant) with the canned model."""

from pathlib import Path
from typing import Any, Dict, Optional

import pytest
import srsly
from spacy.tokens import Doc
from spacy.util import load_config
from spacy_llm.tasks.span.examples import SpanReason
from spacy_llm.tasks.span.parser import parse_responses_cot
from spacy_llm.util import assemble_from_config

from spacy_distill.teacher.annotate import annotate
from spacy_distill.teacher.parsing import USER_DATA_KEY, parse_span_responses, split_span_line

ROOT = Path(__file__).parent.parent
NER_CONFIG = ROOT / "configs" / "teacher_ner.cfg"
EXAMPLES = ROOT / "assets" / "fashion_brands" / "ner_examples.yml"
LABEL = "FASHION_BRAND"
# The two warnings teacher.spacy_llm.quiet_llm_warnings() silences in real runs (these tests assemble pipelines themselves).
pytestmark = [
    pytest.mark.filterwarnings("ignore:.*Skipping unsupported user data 'spacy_distill"),
    pytest.mark.filterwarnings("ignore:Task supports sharding"),
]


def teacher_config(answers: Dict[str, str], task: Optional[Dict[str, Any]] = None, store: Optional[Path] = None):
    """configs/teacher_ner.cfg with the canned model (and optionally another task)."""
    config = load_config(NER_CONFIG, interpolate=False)
    config["paths"]["examples"] = str(EXAMPLES)
    model: Dict[str, Any] = {"@llm_models": "spacy_distill_test.Canned.v1", "answers": answers}
    if store is not None:
        model["store"] = {"@llm_misc": "spacy_distill.ResponseStore.v1", "path": str(store)}
    config["components"]["llm"]["model"] = model
    if task is not None:
        config["components"]["llm"]["task"] = task
    return config


@pytest.fixture(scope="module")
def ner_nlp():
    return assemble_from_config(teacher_config({}))


@pytest.fixture
def ner(ner_nlp):
    """ner(answers) -> the NER teacher pipeline answering with `answers` (built once per module)."""

    def with_answers(answers: Dict[str, str]):
        ner_nlp.get_pipe("llm")._model.answers = dict(answers)
        return ner_nlp

    return with_answers


def record(doc: Doc) -> Dict[str, Any]:
    return doc.user_data[USER_DATA_KEY]


def ents(doc: Doc):
    return [(e.text, e.label_, e.start_char) for e in doc.ents]


def reasons(doc: Doc):
    return sorted((d["text"], d["reason"]) for d in record(doc)["dropped_spans"])


# --- the pipeline really uses our parser -------------------------------------------------


def test_config_wires_our_parser(ner):
    nlp = ner({})
    assert nlp.get_pipe("llm")._task._parse_responses is parse_span_responses


# --- order, formats, dots --------------------------------------------------------------------


def test_out_of_order_entity_found_where_stock_cot_parser_drops_it(ner):
    text = "I love Zara and Gucci."
    answer = f"1. Gucci | True | {LABEL} | luxury brand\n2. Zara | True | {LABEL} | clothing brand"
    nlp = ner({text: answer})
    doc = nlp(text)
    assert ents(doc) == [("Zara", LABEL, 7), ("Gucci", LABEL, 16)]
    assert record(doc)["dropped_spans"] == [] and record(doc)["unparsed_lines"] == []

    # spacy-llm's own CoT parser, same task and same answer: searches only after Gucci, loses Zara.
    task = nlp.get_pipe("llm")._task
    stock_doc = nlp.make_doc(text)
    [[stock_spans]] = list(parse_responses_cot(task, [[stock_doc]], [[answer]]))
    assert [s.text for s in stock_spans] == ["Gucci"]


@pytest.mark.parametrize(
    "answer",
    [
        f"1. Levi's | True | {LABEL} | a jeans brand\n2. Uniqlo | True | {LABEL} | a clothing brand",
        f"Levi's | True | {LABEL} | a jeans brand\nUniqlo | True | {LABEL}",
        f"Levi's | {LABEL}\nUniqlo | {LABEL}",
        f"- Levi's | {LABEL}\n2) Uniqlo | {LABEL}",
        f'"Levi\'s" | {LABEL}\n`Uniqlo` | {LABEL}',
    ],
    ids=["cot-numbered", "cot-unnumbered", "compact", "bullets", "quoted"],
)
def test_cot_and_compact_lines_parse(ner, answer):
    text = "Jeans from Levi's and a shirt from Uniqlo."
    doc = ner({text: answer})(text)
    assert [(e.text, e.label_) for e in doc.ents] == [("Levi's", LABEL), ("Uniqlo", LABEL)]
    assert record(doc) == {"parse_failure": False, "unparsed_lines": [], "dropped_spans": [], "confidence": None}


@pytest.mark.parametrize(
    "line", [f"J.Crew | True | {LABEL} | a brand", f"1. J.Crew | True | {LABEL} | a brand", f"J.Crew | {LABEL}"]
)
def test_text_with_dots_is_kept(ner, line):
    text = "My J.Crew chinos are great."
    doc = ner({text: line})(text)
    assert [e.text for e in doc.ents] == ["J.Crew"]
    assert split_span_line(line)[0] == "J.Crew"


def test_stock_span_reason_splits_dotted_text():
    """The contrast: spacy-llm's SpanReason.from_str cuts at the first '.'."""
    assert SpanReason.from_str(f"J.Crew | True | {LABEL} | a brand").text == "Crew"


def test_false_lines_are_ignored(ner):
    text = "Bought it at Amazon, made by Patagonia."
    answer = f"1. Amazon | False | ==NONE== | a shop\n2. Patagonia | True | {LABEL} | a brand"
    doc = ner({text: answer})(text)
    assert [e.text for e in doc.ents] == ["Patagonia"]
    assert record(doc) == {"parse_failure": False, "unparsed_lines": [], "dropped_spans": [], "confidence": None}


def test_repeated_entity_all_occurrences_and_case_insensitive(ner):
    text = "ZARA here, Zara there, and zara everywhere."
    doc = ner({text: "zara | fashion_brand"})(text)
    assert [(e.text, e.label_) for e in doc.ents] == [("ZARA", LABEL), ("Zara", LABEL), ("zara", LABEL)]
    assert record(doc)["dropped_spans"] == []


# --- drops, each with a reason ---------------------------------------------------------------


@pytest.mark.parametrize(
    "text,answer,kept,dropped",
    [
        ("I love Zara.", f"Zara | {LABEL}\nPrada | {LABEL}", ["Zara"], [("Prada", "not in text")]),
        ("I love Zara.", "Zara | ORG", [], [("Zara", "unknown label")]),
        ("I love Zara.", f"Zar | {LABEL}", [], [("Zar", "not on token boundaries")]),
        (
            "Levi Strauss & Co make jeans.",
            f"Levi Strauss | {LABEL}\nStrauss & Co | {LABEL}",
            ["Strauss & Co"],
            [("Levi Strauss", "overlaps another span")],
        ),
    ],
    ids=["not-in-text", "unknown-label", "not-token-aligned", "overlap"],
)
def test_dropped_spans_are_recorded(ner, text, answer, kept, dropped):
    doc = ner({text: answer})(text)
    assert [e.text for e in doc.ents] == kept
    assert reasons(doc) == dropped
    assert all(d["label"] for d in record(doc)["dropped_spans"])
    assert record(doc)["parse_failure"] is False


def test_same_span_with_two_labels_is_not_lost_silently():
    text = "I love Zara."
    task = {
        "@llm_tasks": "spacy.NER.v3",
        "labels": ["BRAND", "SHOP"],
        "template": {"@llm_misc": "spacy_distill.Template.v1", "name": "span_compact"},
        "parse_responses": {"@llm_misc": "spacy_distill.SpanParser.v1"},
    }
    doc = assemble_from_config(teacher_config({text: "Zara | BRAND\nZara | SHOP"}, task=task))(text)
    assert len(doc.ents) == 1
    assert [d["reason"] for d in record(doc)["dropped_spans"]] == ["overlaps another span"]


# --- unreadable answers ------------------------------------------------------------------------


def test_garbage_answer_is_a_parse_failure(ner):
    text = "I love Zara."
    answer = "Sure! Here are the entities you asked for:\nZara |\nZara | maybe | FASHION_BRAND"
    doc = ner({text: answer})(text)
    assert list(doc.ents) == []
    assert record(doc)["parse_failure"] is True
    assert record(doc)["unparsed_lines"] == answer.splitlines()


def test_partial_garbage_with_a_usable_line_is_not_a_failure(ner):
    text = "I love Zara."
    doc = ner({text: f"Here you go:\nZara | {LABEL}"})(text)
    assert [e.text for e in doc.ents] == ["Zara"]
    assert record(doc)["parse_failure"] is False
    assert record(doc)["unparsed_lines"] == ["Here you go:"]


@pytest.mark.parametrize("answer", ["none", "None", "==NONE==", "No entities", "none\n"])
def test_none_answers_are_negatives(ner, answer):
    text = "A plain sentence."
    doc = ner({text: answer})(text)
    assert list(doc.ents) == []
    assert record(doc) == {"parse_failure": False, "unparsed_lines": [], "dropped_spans": [], "confidence": None}


@pytest.mark.parametrize("answer", ["", "\n\n", "  "])
def test_empty_answer_is_a_parse_failure_not_a_negative(ner_nlp, answer):
    """Our models refuse empty answers; from any other model, one is counted, never read as "no entities"."""
    task = ner_nlp.get_pipe("llm")._task
    doc = ner_nlp.make_doc("I love Zara.")
    ((spans,),) = parse_span_responses(task, [[doc]], [[answer]])
    assert spans == []
    assert record(doc) == {"parse_failure": True, "unparsed_lines": [answer], "dropped_spans": []}


# --- SpanCat: overlapping spans --------------------------------------------------------------


def spancat_task(**extra):
    return {
        "@llm_tasks": "spacy.SpanCat.v3",
        "labels": ["BRAND", "PRODUCT"],
        "template": {"@llm_misc": "spacy_distill.Template.v1", "name": "span_compact"},
        "parse_responses": {"@llm_misc": "spacy_distill.SpanParser.v1"},
        **extra,
    }


def test_spancat_keeps_overlapping_spans():
    text = "My Levi's 501 jeans, out of order."
    answer = "Levi's 501 jeans | PRODUCT\nLevi's | BRAND\n1. Levi's 501 | True | PRODUCT | model"
    doc = assemble_from_config(teacher_config({text: answer}, task=spancat_task()))(text)
    spans = sorted((s.text, s.label_) for s in doc.spans["sc"])
    assert spans == [("Levi's", "BRAND"), ("Levi's 501", "PRODUCT"), ("Levi's 501 jeans", "PRODUCT")]
    assert record(doc)["dropped_spans"] == []


def test_spancat_garbage_is_a_parse_failure():
    text = "My Levi's 501 jeans."
    doc = assemble_from_config(teacher_config({text: "I cannot help with that."}, task=spancat_task()))(text)
    assert list(doc.spans["sc"]) == []
    assert record(doc)["parse_failure"] is True
    assert record(doc)["unparsed_lines"] == ["I cannot help with that."]


# --- stats in annotate() -----------------------------------------------------------------------


def test_annotate_counts_drops_and_failures(tmp_path):
    answers = {
        "Zara and Gucci.": f"Gucci | {LABEL}\nZara | {LABEL}\nPrada | {LABEL}",
        "Levi Strauss & Co rock.": f"Levi Strauss | {LABEL}\nStrauss & Co | {LABEL}\nCo | ORG",
        "I love Zara.": f"Zar | {LABEL}",
        "Nothing here.": "none",
        "Garbage.": "lorem ipsum\nstill nothing",
    }
    config_path = tmp_path / "teacher.cfg"
    teacher_config(answers, store=tmp_path / "store.sqlite").to_disk(config_path)
    input_path = tmp_path / "in.jsonl"
    srsly.write_jsonl(input_path, [{"text": t} for t in answers])
    stats = annotate(config_path, input_path, tmp_path / "out.spacy", show_progress=False)
    assert stats["docs"] == 5
    assert stats["parse_failures"] == 1
    assert stats["unparsed_lines"] == 2
    assert stats["dropped_by_reason"] == {
        "not in text": 1,
        "overlaps another span": 1,
        "unknown label": 1,
        "not on token boundaries": 1,
    }
    assert stats["dropped_spans"] == 4
    assert stats["labels"] == {LABEL: 3}


# --- TextCat ------------------------------------------------------------------------------------


TEXTCAT_TEMPLATE = "Classify into {{ labels|join(', ') }}.\nText: {{ text }}\nAnswer:"


def textcat(answers: Dict[str, str], labels, exclusive: bool = True):
    task = {
        "@llm_tasks": "spacy.TextCat.v3",
        "labels": labels,
        "exclusive_classes": exclusive,
        "template": TEXTCAT_TEMPLATE,
        "parse_responses": {"@llm_misc": "spacy_distill.TextCatParser.v1"},
    }
    return assemble_from_config(teacher_config(answers, task=task))


def test_textcat_valid_answers():
    answers = {"Great shoes!": "POSITIVE", "Awful fit.": " negative \n", "Meh.": "==NONE=="}
    nlp = textcat(answers, ["POSITIVE", "NEGATIVE"])
    docs = {text: nlp(text) for text in answers}
    assert docs["Great shoes!"].cats == {"POSITIVE": 1.0, "NEGATIVE": 0.0}
    assert docs["Awful fit."].cats == {"POSITIVE": 0.0, "NEGATIVE": 1.0}
    assert docs["Meh."].cats == {"POSITIVE": 0.0, "NEGATIVE": 0.0}
    for doc in docs.values():
        assert record(doc)["parse_failure"] is False, doc.text


def test_textcat_garbage_and_two_labels_on_exclusive_task_are_failures():
    answers = {"Great shoes!": "I think it is positive", "Awful fit.": "POSITIVE, NEGATIVE", "Fine.": "POSITIVE"}
    nlp = textcat(answers, ["POSITIVE", "NEGATIVE"], exclusive=True)
    docs = {text: nlp(text) for text in answers}
    assert record(docs["Great shoes!"])["parse_failure"] is True
    assert record(docs["Great shoes!"])["unparsed_lines"] == ["I think it is positive"]
    assert record(docs["Awful fit."])["parse_failure"] is True
    assert docs["Awful fit."].cats == {"POSITIVE": 0.0, "NEGATIVE": 0.0}
    assert record(docs["Fine."])["parse_failure"] is False


def test_textcat_two_labels_fine_when_not_exclusive():
    text = "Great shoes, awful fit."
    doc = textcat({text: "POSITIVE, NEGATIVE"}, ["POSITIVE", "NEGATIVE"], exclusive=False)(text)
    assert doc.cats == {"POSITIVE": 1.0, "NEGATIVE": 1.0}
    assert record(doc)["parse_failure"] is False


def test_textcat_binary():
    answers = {"Great shoes!": "POS", "Awful fit.": "neg", "Hmm.": "maybe"}
    nlp = textcat(answers, ["POSITIVE"])
    docs = {text: nlp(text) for text in answers}
    assert docs["Great shoes!"].cats == {"POSITIVE": 1.0}
    assert docs["Awful fit."].cats == {"POSITIVE": 0.0}
    assert [record(docs[t])["parse_failure"] for t in answers] == [False, False, True]


def test_annotate_counts_textcat_failures(tmp_path):
    answers = {"Great shoes!": "POSITIVE", "Awful fit.": "POSITIVE,NEGATIVE", "Hmm.": "no idea"}
    task = {
        "@llm_tasks": "spacy.TextCat.v3",
        "labels": ["POSITIVE", "NEGATIVE"],
        "exclusive_classes": True,
        "template": TEXTCAT_TEMPLATE,
        "parse_responses": {"@llm_misc": "spacy_distill.TextCatParser.v1"},
    }
    config_path = tmp_path / "textcat.cfg"
    teacher_config(answers, task=task).to_disk(config_path)
    input_path = tmp_path / "in.txt"
    input_path.write_text("\n".join(answers) + "\n", encoding="utf8")
    out = tmp_path / "out.jsonl"
    stats = annotate(config_path, input_path, out, show_progress=False)
    assert stats["docs"] == 3
    assert stats["parse_failures"] == 2
    assert stats["labels"] == {"POSITIVE": 1}
    tasks = list(srsly.read_jsonl(out))
    assert [t["accept"] for t in tasks] == [["POSITIVE"], [], []]
    assert [t["_teacher"]["parse_failure"] for t in tasks] == [False, True, True]
