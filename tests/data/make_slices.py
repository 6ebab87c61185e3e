"""Cut the small dataset slices in tests/data/ from the full datasets (provenance only).

The tests and the benchmarks read only the slices committed here; this script documents
and reproduces how they were cut. SOURCE is a folder laid out like the full data (one
folder per dataset holding the original files unchanged, a "/" of the source path written
"__", and a SOURCE.txt); it must be given: nothing outside the repository is read by default.

    python tests/data/make_slices.py SOURCE

Every slice keeps the original bytes of the records it keeps (line endings, quoting,
encoding): only whole lines, whole CSV records or whole CoNLL sentences are dropped. The
script rewrites each dataset's slice files, copies its licence and writes its SOURCE.md.
"""

import csv
import hashlib
import io
import json
import shutil
import sys
from pathlib import Path
from typing import Callable, Dict, List

HERE = Path(__file__).resolve().parent


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def lines(data: bytes) -> List[bytes]:
    """The lines of a file with their line endings."""
    return data.splitlines(keepends=True)


def first_lines(n: int) -> Callable[[bytes], bytes]:
    return lambda data: b"".join(lines(data)[:n])


def every_kth_line(k: int) -> Callable[[bytes], bytes]:
    return lambda data: b"".join(lines(data)[::k])


def jsonl_lines_where(n: int, keep: Callable[[Dict], bool]) -> Callable[[bytes], bytes]:
    """Of the first n lines, those whose record passes keep()."""
    return lambda data: b"".join(line for line in lines(data)[:n] if keep(json.loads(line)))


def csv_records(data: bytes) -> List[bytes]:
    """The raw bytes of each CSV record (header first); a quoted field may span lines."""
    raw = lines(data)
    reader = csv.reader(io.StringIO(data.decode("utf8"), newline=""))
    records, done = [], 0
    for _ in reader:
        records.append(b"".join(raw[done : reader.line_num]))
        done = reader.line_num
    assert done == len(raw), "CSV records do not cover the file"
    return records


def csv_first_records(n: int) -> Callable[[bytes], bytes]:
    return lambda data: b"".join(csv_records(data)[: n + 1])


def csv_every_kth_record(k: int) -> Callable[[bytes], bytes]:
    def cut(data: bytes) -> bytes:
        records = csv_records(data)
        return b"".join([records[0]] + records[1::k])

    return cut


def conll_first_sentences(n: int) -> Callable[[bytes], bytes]:
    """The first n sentences, each with the blank line that ends it."""

    def cut(data: bytes) -> bytes:
        out, sentences, in_sentence = [], 0, False
        for line in lines(data):
            out.append(line)
            if line.strip():
                in_sentence = True
            elif in_sentence:
                in_sentence = False
                sentences += 1
                if sentences == n:
                    break
        return b"".join(out)

    return cut


def lines_at_most(n: int, max_bytes: int) -> Callable[[bytes], bytes]:
    """Of the first n lines, those of at most max_bytes bytes."""
    return lambda data: b"".join(line for line in lines(data)[:n] if len(line) <= max_bytes)


def short_text(max_chars: int) -> Callable[[Dict], bool]:
    return lambda record: len(record["text"]) <= max_chars


# dataset -> licence file to copy (source name, name here), attribution, and per slice file:
# the source file (same name here) with how it is cut, in words and as a function.
DATASETS = {
    "fashion_brands": {
        "title": "fashion_brands (NER, Prodigy JSONL)",
        "licence": ("LICENSE", "LICENSE"),
        "licence_text": "MIT (see `LICENSE`, copied unchanged). Texts are Reddit comments (via pushshift); "
        "annotations by Explosion with Prodigy.",
        "files": {
            "tutorials__ner_fashion_brands__assets__fashion_brands_training.jsonl": (
                "the first 40 lines (records)",
                first_lines(40),
            ),
            "tutorials__ner_fashion_brands__assets__fashion_brands_eval.jsonl": (
                "of the first 200 lines (records), those whose `text` has at most 180 characters. The tests "
                "that run an LLM pick, in file order, texts of 30-180 characters with and without brands, so "
                "they pick the same texts here as in the full file",
                jsonl_lines_where(200, short_text(180)),
            ),
        },
    },
    "docs_issues": {
        "title": "docs_issues (binary text classification, Prodigy JSONL)",
        "licence": ("LICENSE", "LICENSE"),
        "licence_text": "MIT (see `LICENSE`, copied unchanged). Texts are GitHub issue titles and bodies of "
        "explosion/spaCy, labelled by Explosion with Prodigy.",
        "files": {
            "tutorials__textcat_docs_issues__assets__docs_issues_training.jsonl": (
                "of the first 40 lines (records), those of at most 20,000 bytes (2 records of 192 KB "
                "and 31 KB, long issue bodies, left out)",
                lines_at_most(40, 20000),
            ),
            "tutorials__textcat_docs_issues__assets__docs_issues_eval.jsonl": (
                "the first 60 lines (records)",
                first_lines(60),
            ),
        },
    },
    "wnut17": {
        "title": "WNUT-17 emerging entities (NER, CoNLL BIO)",
        "licence": ("../banking77/LICENSE", "LICENSE"),
        "licence_text": "CC-BY 4.0, stated in the repository's README (\"This data is distributed under the "
        'CC-BY 4.0 license"); the repository has no licence file, so `LICENSE` here is the '
        "CC BY 4.0 legal code (the same text as banking77's LICENSE). Dataset by Derczynski, "
        'Nichols, van Erp and Limsopatham, "Results of the WNUT2017 Shared Task on Novel and '
        'Emerging Entity Recognition" (W-NUT 2017). Changes: the cut described above, nothing else.',
        "files": {
            "emerging.dev.conll": (
                "the first 300 sentences (each with the blank line that ends it)",
                conll_first_sentences(300),
            ),
        },
    },
    "ncbi_disease": {
        "title": "NCBI disease corpus (NER, CoNLL BIO)",
        "licence": ("original-data__LICENSE", "LICENSE"),
        "licence_text": "public domain, a United States Government work (see `LICENSE`, the repository's "
        '`original-data/LICENSE` copied unchanged). Corpus by Doğan, Leaman and Lu, "NCBI disease corpus" '
        "(J Biomed Inform 2014); CoNLL conversion by Sampo Pyysalo.",
        "files": {
            "conll__devel.tsv": (
                "the first 300 sentences (each with the blank line that ends it)",
                conll_first_sentences(300),
            ),
        },
    },
    "toxic_spans": {
        "title": "SemEval-2021 toxic spans (character offsets, CSV)",
        "licence": ("LICENSE", "LICENSE"),
        "licence_text": "CC0 1.0 (see `LICENSE`, copied unchanged). Texts are from the Civil Comments "
        'dataset; span annotations by Pavlopoulos et al., "SemEval-2021 Task 5: Toxic Spans Detection" '
        "(SemEval 2021). The texts are toxic by selection and contain insults and slurs.",
        "files": {
            "SemEval2021__data__tsd_trial.csv": ("the header and the first 350 CSV records", csv_first_records(350)),
        },
    },
    "banking77": {
        "title": "banking77 (text classification, 77 intents, CSV with CRLF line endings)",
        "licence": ("LICENSE", "LICENSE"),
        "licence_text": "Creative Commons Attribution 4.0 International (see `LICENSE`, copied unchanged). "
        'Dataset by PolyAI: Casanueva et al., "Efficient Intent Detection with Dual Sentence Encoders" '
        "(NLP4ConvAI 2020). Changes: the cut described above, nothing else.",
        "files": {
            "banking_data__test.csv": (
                "the header and every 10th record (data rows 1, 11, 21, ...; the file is sorted by intent, "
                "40 rows each, so each of the 77 intents keeps 4)",
                csv_every_kth_record(10),
            ),
            "banking_data__train.csv": (
                "the header and every 20th record (data rows 1, 21, 41, ...; sorted by intent, so all 77 "
                "intents are kept)",
                csv_every_kth_record(20),
            ),
        },
    },
    "germeval2018": {
        "title": "GermEval 2018 offensive language (text classification, TSV, German)",
        "licence": ("LICENSE.md__LICENSE.md", "LICENSE.md"),
        "licence_text": "Creative Commons Attribution 4.0 International (see `LICENSE.md`, the repository's "
        '`LICENSE.md/LICENSE.md` copied unchanged). Data by Wiegand, Siegel and Ruppenhofer, "Overview of '
        'the GermEval 2018 Shared Task on the Identification of Offensive Language" (GermEval 2018). '
        "Changes: the cut described above, nothing else.",
        "files": {
            "germeval2018.test.txt": ("every 10th line (lines 1, 11, 21, ...; one tweet per line)", every_kth_line(10)),
        },
    },
}


def source_info(folder: Path) -> Dict[str, str]:
    """Repository, commit and each local file's source path, from the dataset's SOURCE.txt."""
    info = {"paths": {}}
    for line in (folder / "SOURCE.txt").read_text(encoding="utf8").splitlines():
        if line.startswith("Source repository:"):
            info["repository"] = line.split(":", 1)[1].strip()
        elif line.startswith("Commit:"):
            info["commit"] = line.split(":", 1)[1].strip()
        elif "->" in line:
            source_path, rest = line.strip().split(" -> ")
            info["paths"][rest.split()[0]] = source_path
    return info


def make(name: str, spec: Dict, source: Path) -> int:
    src, out = source / name, HERE / name
    out.mkdir(exist_ok=True)
    info = source_info(src)
    licence_from, licence_to = spec["licence"]
    shutil.copyfile((src / licence_from).resolve(), out / licence_to)
    items, total = [], 0
    for file_name, (how, cut) in spec["files"].items():
        data = (src / file_name).read_bytes()
        sliced = cut(data)
        (out / file_name).write_bytes(sliced)
        total += len(sliced)
        items.append(
            f"- `{file_name}` ({len(sliced):,} bytes, {len(lines(sliced)):,} lines): {how} of "
            f"`{info['paths'][file_name]}` ({len(data):,} bytes, {len(lines(data)):,} lines, sha256 {sha256(data)}). "
            f"Slice sha256 {sha256(sliced)}."
        )
    text = [
        f"# {spec['title']}: test slice",
        "",
        f"- Source: {info['repository']}, commit {info['commit']}.",
        *items,
        "- The kept lines are byte for byte those of the source (line endings, quoting and encoding unchanged);",
        "  cut by `tests/data/make_slices.py` from the full dataset.",
        f"- Licence: {spec['licence_text']}",
        "",
    ]
    (out / "SOURCE.md").write_text("\n".join(text), encoding="utf8")
    return total


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit("usage: python tests/data/make_slices.py SOURCE (the folder of the full datasets)")
    source = Path(sys.argv[1])
    if not source.is_dir():
        sys.exit(f"{source}: no such folder (the full datasets, one folder per dataset)")
    for name, spec in DATASETS.items():
        print(f"{name}: {make(name, spec, source):,} bytes of slices")


if __name__ == "__main__":
    main()
