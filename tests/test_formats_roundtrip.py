"""Teacher docs -> export -> (expert accepts everything) -> import gives back the same annotations."""

import pytest
import srsly
from corrections_helpers import NLP, SUFFIX, accept_all, export, spans_of, teacher_doc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from spacy.tokens import DocBin

from spacy_distill.corpus.corrections import Options, load_corrections
from spacy_distill.formats import export_docs

FORMATS = ["prodigy", "labelstudio", "doccano", "argilla"]
TEXTS = ["Levi's and Uniqlo  are brands.", "Nothing here.", "I love Dr. Martens boots,\nand H&M too!"]


def roundtrip(docs, tmp_path, fmt, span_key=None, labels=None):
    out = accept_all(fmt, export(docs, tmp_path, fmt, labels=labels))
    options = Options(labels=set(labels) if labels else None, span_key=span_key)
    got, stats = load_corrections(out, NLP, "auto", options)
    assert stats.dropped == {} and stats.conflicts == 0
    return got, stats


@pytest.mark.parametrize("fmt", FORMATS)
def test_ner_roundtrip(tmp_path, fmt):
    docs = [
        teacher_doc(TEXTS[0], ents=[(0, 6, "BRAND"), (11, 17, "BRAND")]),
        teacher_doc(TEXTS[1]),
        teacher_doc(TEXTS[2], ents=[(7, 18, "BRAND"), (30, 33, "SHOP")]),
    ]
    got, stats = roundtrip(docs, tmp_path, fmt)
    assert [spans_of(d) for d in got] == [spans_of(d) for d in docs]
    assert [[t.text for t in d] for d in got] == [[t.text for t in d] for d in docs]
    assert all(t.ent_iob_ in ("B", "I", "O") for d in got for t in d)  # complete: no missing tags
    assert (stats.docs, stats.complete, stats.negative) == (3, 3, 1)


@pytest.mark.parametrize("fmt", FORMATS)
def test_spancat_roundtrip(tmp_path, fmt):
    docs = [
        teacher_doc(TEXTS[0], ents=None, spans=[(0, 6, "BRAND"), (0, 17, "LIST"), (11, 17, "BRAND")]),
        teacher_doc(TEXTS[1], ents=None),
        teacher_doc(TEXTS[2], ents=None, spans=[(7, 18, "BRAND")]),
    ]
    got, _ = roundtrip(docs, tmp_path, fmt)  # the span key travels with the export
    assert [spans_of(d, "sc") for d in got] == [spans_of(d, "sc") for d in docs]
    assert all(not d.has_annotation("ENT_IOB") for d in got)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("exclusive", [True, False])
def test_textcat_roundtrip(tmp_path, fmt, exclusive):
    if exclusive:
        cats = [
            {"POS": 1.0, "NEG": 0.0, "MIXED": 0.0},
            {"POS": 0.0, "NEG": 1.0, "MIXED": 0.0},
            {"POS": 1.0, "NEG": 0.0, "MIXED": 0.0},
        ]
    else:
        cats = [{"A": 1.0, "B": 1.0, "C": 0.0}, {"A": 0.0, "B": 0.0, "C": 0.0}, {"A": 1.0, "B": 0.0, "C": 0.0}]
    docs = [teacher_doc(text, ents=None, cats=c) for text, c in zip(TEXTS, cats)]
    labels = sorted(cats[0])  # doccano and Label Studio exports do not list labels nobody chose
    got, _ = roundtrip(docs, tmp_path, fmt, labels=labels)
    assert [d.cats for d in got] == [d.cats for d in docs]


@pytest.mark.parametrize("fmt", FORMATS)
def test_ner_and_textcat_together(tmp_path, fmt):
    docs = [
        teacher_doc(TEXTS[0], ents=[(0, 6, "BRAND")], cats={"FASHION": 1.0, "OTHER": 0.0}),
        teacher_doc(TEXTS[1], cats={"FASHION": 0.0, "OTHER": 1.0}),
    ]
    got, _ = roundtrip(docs, tmp_path, fmt)
    assert [(spans_of(d), d.cats) for d in got] == [(spans_of(d), d.cats) for d in docs]


WORD = st.sampled_from(
    ["Levi", "'s", "Uniqlo", "H&M", "Dr.", "shoes", "<b>", "x", "Ärger", "2024", ",", "!", "über-cool"]
)
SEP = st.sampled_from([" ", " ", " ", "  ", "\n", ""])
LABELS = ["BRAND", "SHOP", "Größe & <Art>"]


@st.composite
def teacher_docs(draw, kind):
    n = draw(st.integers(1, 3))
    docs, seen = [], set()
    for _ in range(n):
        words = draw(st.lists(WORD, min_size=1, max_size=12))
        text = "".join(w + draw(SEP) for w in words).strip() or "x"
        if text in seen:
            continue
        seen.add(text)
        doc = NLP(text)
        words_idx = [t.i for t in doc if not t.is_space]
        pairs = draw(
            st.lists(
                st.tuples(st.sampled_from(words_idx), st.sampled_from(words_idx), st.sampled_from(LABELS)), max_size=4
            )
        )
        spans = [doc[min(a, b) : max(a, b) + 1] for a, b, _ in pairs]
        spans = [(s.start_char, s.end_char, label) for s, (_, _, label) in zip(spans, pairs) if not s[-1].is_space]
        if kind == "ner":
            taken, ents = set(), []
            for s, e, label in spans:
                span = doc.char_span(s, e)
                if not taken & set(range(span.start, span.end)):
                    taken |= set(range(span.start, span.end))
                    ents.append((s, e, label))
            docs.append(teacher_doc(text, ents=ents))
        elif kind == "spans":
            docs.append(teacher_doc(text, ents=None, spans=sorted(set(spans))))
        else:
            chosen = draw(st.sets(st.sampled_from(LABELS)))
            docs.append(teacher_doc(text, ents=None, cats={label: float(label in chosen) for label in LABELS}))
    return docs


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("kind", ["ner", "spans", "cats"])
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_roundtrip_property(tmp_path, fmt, kind, data):
    docs = data.draw(teacher_docs(kind))
    if fmt == "doccano" and kind == "cats" and not any(v for d in docs for v in d.cats.values()):
        return  # a doccano file in which nobody chose any label cannot tell textcat from "no entities"
    got, stats = roundtrip(docs, tmp_path, fmt, labels=LABELS)
    assert stats.docs == len(docs)
    for before, after in zip(docs, got):
        assert after.text == before.text
        assert spans_of(after, "sc" if kind == "spans" else None) == spans_of(before, "sc" if kind == "spans" else None)
        assert after.cats == before.cats


@pytest.mark.filterwarnings("ignore:.*Skipping unsupported user data", "ignore:Task supports sharding")
def test_annotate_export_import_chain(root, tmp_path):
    """Docs from the real annotate() (a canned model as teacher) survive every tool's round trip."""
    from spacy.util import load_config

    from spacy_distill.teacher.annotate import annotate

    brand = "FASHION_BRAND"
    answers = {
        "I love Zara and Gucci.": f"Gucci | {brand}\nZara | {brand}",
        "Nothing to see.": "none",
        "Levi's 501 rock.": f"Levi's | {brand}",
    }
    config = load_config(root / "configs" / "teacher_ner.cfg", interpolate=False)
    config["paths"]["examples"] = str(root / "assets" / "fashion_brands" / "ner_examples.yml")
    config["paths"]["responses"] = str(tmp_path / "responses.sqlite")
    config["components"]["llm"]["model"] = {"@llm_models": "spacy_distill_test.Canned.v1", "answers": answers}
    config.to_disk(tmp_path / "teacher.cfg")
    srsly.write_jsonl(
        tmp_path / "in.jsonl", [{"text": t, "meta": {"i": i, "nested": {"x": [i]}}} for i, t in enumerate(answers)]
    )
    annotate(tmp_path / "teacher.cfg", tmp_path / "in.jsonl", tmp_path / "teacher.spacy", show_progress=False)
    teacher = list(DocBin().from_disk(tmp_path / "teacher.spacy").get_docs(NLP.vocab))
    assert [spans_of(d) for d in teacher] == [[(7, 11, brand), (16, 21, brand)], [], [(0, 6, brand)]]
    for fmt in FORMATS:
        out = tmp_path / f"tasks{SUFFIX[fmt]}"
        export_docs(tmp_path / "teacher.spacy", out, to=fmt)
        accept_all(fmt, out)
        got, stats = load_corrections(out, NLP)
        assert [spans_of(d) for d in got] == [spans_of(d) for d in teacher], fmt
        assert stats.complete == 3 and stats.negative == 1
