"""The formats registry: a format registered from outside the package is found by
detect_format, read_corrections and export_docs with no other change."""

from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Iterator, List

import catalogue
import pytest
from corrections_helpers import teacher_doc, write_docs

from spacy_distill.formats import (
    Format,
    detect_format,
    export_docs,
    exporters,
    formats,
    get_format,
    read_corrections,
    readers,
    register,
)
from spacy_distill.formats.common import Correction, FormatError, read_text


def read_toy(path: Path) -> Iterator[Correction]:
    """One text and its category per line: TEXT<TAB>LABEL."""
    for i, line in enumerate(read_text(path).splitlines(), start=1):
        text, label = line.split("\t")
        yield Correction(f"{path}:{i}", text, cats={label: 1.0})


def write_toy(docs, output: Path, task) -> List[Path]:
    output.write_text("".join(f"{doc.text}\t{max(doc.cats, key=doc.cats.get)}\n" for doc in docs), encoding="utf8")
    return [output]


TOY = Format(
    "toy",
    read_toy,
    write_toy,
    ".toy",
    "one text and its label per line",
    detect_file=lambda path: path.suffix == ".toy",
    detect_record=lambda record: "toy_text" in record,
)


@pytest.fixture
def toy():
    register(TOY)
    yield TOY
    catalogue._remove(("spacy_distill", "formats", "toy"))


def test_a_registered_format_is_found_everywhere(toy, tmp_path):
    assert "toy" in readers() and "toy" in exporters() and get_format("toy", write=True) is toy
    docs = [teacher_doc("Great shoes.", ents=None, cats={"POS": 0.9, "NEG": 0.1})]
    stats = export_docs(write_docs(docs, tmp_path / "teacher.spacy"), tmp_path / "tasks.toy", to="toy")
    assert stats["written"] == [str(tmp_path / "tasks.toy")]
    assert detect_format(tmp_path / "tasks.toy") == "toy"
    [correction] = read_corrections(tmp_path / "tasks.toy")
    assert (correction.text, correction.cats) == ("Great shoes.", {"POS": 1.0})
    (tmp_path / "records.jsonl").write_text('{"toy_text": "x"}\n', encoding="utf8")
    assert detect_format(tmp_path / "records.jsonl") == "toy"  # tried after the built-in tools


def test_builtin_detection_wins_over_a_later_format(toy, tmp_path):
    (tmp_path / "a.jsonl").write_text('{"text": "x", "toy_text": "x", "answer": "accept"}\n', encoding="utf8")
    assert detect_format(tmp_path / "a.jsonl") == "prodigy"


def test_a_format_from_an_entry_point(monkeypatch, tmp_path):
    assert formats.entry_point_namespace == "spacy_distill_formats"
    entry = EntryPoint(name="toy", value=f"{__name__}:TOY", group="spacy_distill_formats")
    monkeypatch.setattr(formats, "_get_entry_points", lambda: [entry])
    (tmp_path / "a.toy").write_text("Bad.\tNEG\n", encoding="utf8")
    assert detect_format(tmp_path / "a.toy") == "toy"
    assert [c.cats for c in read_corrections(tmp_path / "a.toy", "toy")] == [{"NEG": 1.0}]


def test_unknown_names_list_the_registered_formats(toy, tmp_path):
    with pytest.raises(FormatError, match=r"Unknown export format 'excel'; choose one of .*prodigy.*toy"):
        get_format("excel", write=True)
    with pytest.raises(FormatError, match=r"Unknown format 'excel'; choose one of auto, .*conll.*toy"):
        list(read_corrections(write_docs([], tmp_path / "x.spacy"), "excel"))
    with pytest.raises(FormatError, match="Unknown export format 'conll'"):  # read only
        get_format("conll", write=True)
