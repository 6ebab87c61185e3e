"""CoNLL/BIO and CSV/TSV corpora (small files here; the real ones in test_import_real_data.py)."""

import pytest
from corrections_helpers import NLP, spans_of

from spacy_distill.corpus.corrections import Options, load_corrections
from spacy_distill.formats.common import FormatError

CONLL = "Empire\tB-location\nState\tI-location\nrocks\tO\n\t\nHi\tO\nBob\tB-person\n"


def test_conll_sentences_and_lone_tab_breaks(tmp_path):
    path = tmp_path / "train.conll"
    path.write_bytes(CONLL.replace("\n", "\r\n").encode("utf8"))
    docs, stats = load_corrections(path, NLP)
    assert [d.text for d in docs] == ["Empire State rocks", "Hi Bob"]  # no stray space at the end
    assert [spans_of(d) for d in docs] == [[(0, 12, "location")], [(3, 6, "person")]]
    assert [d.user_data["corrections"]["sources"] for d in docs] == [[f"{path}:1"], [f"{path}:5"]]
    assert stats.complete == 2


def test_conll_docstart_sections(tmp_path):
    path = tmp_path / "docs.iob"
    path.write_text("-DOCSTART- -X- O O\n\nA O\nB B-X\n\nC O\n-DOCSTART- -X- O O\n\nD B-Y\n", encoding="utf8")
    docs, _ = load_corrections(path, NLP, "conll")
    assert [d.text for d in docs] == ["A B C", "D"]
    assert [d.user_data["corrections"]["sources"][0].rsplit(":", 1)[1] for d in docs] == ["3", "9"]


@pytest.mark.parametrize("line", ["Bob\tperson", "Bob", "New York\tB-LOC", "Bob\tB-"])
def test_conll_bad_lines(tmp_path, line):
    path = tmp_path / "bad.conll"
    path.write_text(f"Hi\tO\n{line}\n", encoding="utf8")
    with pytest.raises(FormatError, match="bad.conll:2: expected 2 whitespace-separated columns"):
        load_corrections(path, NLP, "conll")


def test_csv_categories_with_crlf_and_bom(tmp_path):
    path = tmp_path / "intents.csv"
    path.write_bytes(b'\xef\xbb\xbftext,category\r\n"Where is my card, please?",card_arrival\r\nHello,greeting\r\n')
    docs, stats = load_corrections(path, NLP, "csv", label_column="category")
    assert [d.text for d in docs] == ["Where is my card, please?", "Hello"]
    assert docs[0].cats == {"card_arrival": 1.0, "greeting": 0.0}
    assert stats.categories == {"card_arrival": 1, "greeting": 1}


def test_tsv_without_header(tmp_path):
    path = tmp_path / "tweets.txt"
    path.write_text('Das ist "gut"\tOTHER\tOTHER\nDu Idiot\tOFFENSE\tINSULT\n', encoding="utf8")
    docs, _ = load_corrections(path, NLP, "tsv", text_column="0", label_column="2")
    assert [d.text for d in docs] == ['Das ist "gut"', "Du Idiot"]
    assert docs[1].cats == {"INSULT": 1.0, "OTHER": 0.0}


def test_csv_character_offsets(tmp_path):
    path = tmp_path / "spans.csv"
    path.write_text(
        'spans,text\n"[4, 5, 6, 7, 8]",You idiot.\n"[[0, 3]]",Bad stuff\n[],Fine\n"[1, 2]",Oops\n', encoding="utf8"
    )
    docs, stats = load_corrections(path, NLP, "csv", Options(span_key="sc"), spans_column="spans", span_label="toxic")
    assert [spans_of(d, "sc") for d in docs] == [[(4, 9, "toxic")], [(0, 3, "toxic")], [], []]
    assert stats.dropped == {"not on token boundaries": 1} and stats.negative == 2
    docs, stats = load_corrections(
        path, NLP, "csv", Options(span_key="sc", alignment="expand"), spans_column="spans", span_label="toxic"
    )
    assert spans_of(docs[3], "sc") == [(0, 4, "toxic")] and stats.snapped == 1


@pytest.mark.parametrize(
    "content, options, error",
    [
        ("txt,label\nhi,A\n", {"label_column": "label"}, "data.csv:1: no column 'text'"),
        ("text,label\nhi\n", {"label_column": "label"}, "data.csv:2: expected at least 2 fields, got 1"),
        ("text,spans\nhi,[0\n", {"spans_column": "spans"}, "data.csv:2: the spans column is not a JSON list"),
        (
            'text,spans\nhi,"[""a""]"\n',
            {"spans_column": "spans"},
            "data.csv:2: the spans column must list character indices",
        ),
        ("", {"label_column": "label"}, "data.csv:1: the file is empty"),
    ],
)
def test_csv_bad_input(tmp_path, content, options, error):
    path = tmp_path / "data.csv"
    path.write_text(content, encoding="utf8")
    with pytest.raises(FormatError, match=error):
        load_corrections(path, NLP, "csv", **options)
