"""What every format shares: the `Correction` records readers produce, the
provenance exporters write, and JSON/JSONL reading that names file and line.

A reader turns each annotator's answer about one text into a `Correction`;
`spacy_distill.corpus.corrections` aligns, merges and turns them into gold docs.
"""

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple, Union

from spacy.tokens import Doc

from ..errors import InputError

ANSWERS = ("accept", "reject", "ignore", "none")  # "none": seen but not annotated (pending, draft)


class FormatError(InputError):
    """A malformed corrections file; the message names the file and line."""


@dataclass
class Rejected:
    """A record a reader could not turn into a Correction; message: file, line and what is wrong."""

    source: str
    message: str


@dataclass
class SpanAnn:
    """A labelled character span as written in a file (token indices inclusive, if given)."""

    start: int
    end: int
    label: str
    token_start: Optional[int] = None
    token_end: Optional[int] = None


@dataclass
class Correction:
    """One annotator's answer about one text.

    spans / cats: None if the record says nothing about them; [] / {} is a
    real answer ("no entities", "no category"). binary: the answer is about
    each given span or label alone (Prodigy's ner/classification views), not
    a complete annotation of the text. key: answers with the same key are
    merged; None means the text itself (corpus readers give each record its
    own key, so a corpus's repeated sentences stay separate docs).
    """

    source: str
    text: str
    answer: str = "accept"
    spans: Optional[List[SpanAnn]] = None
    cats: Optional[Dict[str, float]] = None
    binary: bool = False
    tokens: Optional[List[Tuple[str, int, int]]] = None
    span_key: Optional[str] = None
    annotator: Optional[str] = None
    timestamp: Optional[float] = None
    meta: Dict[str, Any] = field(default_factory=dict)
    key: Optional[str] = None


Record = Union[Correction, Rejected]
SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")  # \ud800-\udfff: lone ones are not Unicode


def guarded(source: str, convert: Callable[..., Any], *args: Any) -> Any:
    """convert(*args), or a Rejected record with the FormatError's message."""
    try:
        return convert(*args)
    except FormatError as e:
        return Rejected(source, str(e))


def teacher_info(doc: Doc) -> Dict[str, Any]:
    """The teacher's provenance for a tool's metadata: model, its identity, prompt hashes, raw response, parse record."""
    teacher = doc.user_data.get("teacher") or {}
    info = {k: teacher[k] for k in ("model", "identity", "prompt_sha256", "response") if teacher.get(k) is not None}
    info.update(doc.user_data.get("spacy_distill") or {})
    return info


def stable_hash(*parts: Any) -> int:
    """A signed 32-bit hash (Prodigy's hash range), stable across runs."""
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False).encode("utf8")
    return int.from_bytes(hashlib.sha1(blob).digest()[:4], "big", signed=True)


def read_text(path: Path) -> str:
    """A file's text: UTF-8 with or without BOM, any line ending; empty files are an error."""
    if Path(path).is_dir():
        raise FormatError(
            f"{path}: a folder, where a file was expected (pass the file, or --from argilla for a dataset folder)"
        )
    try:
        text = Path(path).read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise FormatError(f"{path}: file not found") from None
    except OSError as e:
        raise FormatError(f"{path}: cannot read the file ({e.strerror})") from None
    except UnicodeDecodeError as e:
        line = Path(path).read_bytes()[: e.start].count(b"\n") + 1
        raise FormatError(f"{path}:{line}: not UTF-8 text ({e.reason})") from None
    if not text.strip():
        raise FormatError(f"{path}:1: the file is empty")
    return text


def lines_of(text: str) -> List[str]:
    """A text's lines, split at \\n, \\r\\n and \\r only: U+2028, U+0085 etc. may sit inside a JSON string."""
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def parse_json(raw: str, source: str) -> Any:
    """A JSON value, or a FormatError naming source and what is wrong (syntax, nesting, lone surrogates)."""
    try:
        obj = json.loads(raw)
    except json.JSONDecodeError as e:
        raise FormatError(f"{source}: not valid JSON ({e.msg} at column {e.colno}); is the file truncated?") from None
    except RecursionError:
        raise FormatError(f"{source}: the JSON is nested too deeply to read") from None
    except ValueError as e:  # e.g. an integer of more than 4,300 digits
        raise FormatError(f"{source}: not readable JSON ({e})") from None
    check_unicode(obj, raw, source)
    return obj


def check_unicode(obj: Any, raw: str, source: str) -> None:
    """A FormatError if the JSON text escapes a lone surrogate (\\ud800-\\udfff unpaired): not Unicode text."""
    if SURROGATE_ESCAPE.search(raw):
        try:
            json.dumps(obj, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError as e:
            raise FormatError(f"{source}: a lone surrogate {e.object[e.start : e.end]!r} is not Unicode text") from None


def read_jsonl(path: Path) -> Iterator[Tuple[int, Union[Dict[str, Any], Rejected]]]:
    """(line number, object) for each non-blank line of a JSONL file; a bad line is a Rejected record."""
    for i, line in enumerate(lines_of(read_text(path)), start=1):
        if not line.strip():
            continue
        source = f"{path}:{i}"
        obj = guarded(source, parse_json, line, source)
        if not isinstance(obj, (dict, Rejected)):
            obj = Rejected(source, f"{source}: expected a JSON object, got {type(obj).__name__}")
        yield i, obj


def read_json_array(path: Path) -> Iterator[Tuple[int, Any]]:
    """(line number, element) for each element of a JSON array, so errors can name the line."""
    text = read_text(path)
    decoder = json.JSONDecoder()

    def skip(i: int) -> int:
        while i < len(text) and text[i] in " \t\r\n":
            i += 1
        return i

    counted = [0, 1]  # position, its line: lines are counted on from the last position asked, not from 0

    def line(i: int) -> int:
        if i < counted[0]:
            counted[:] = [0, 1]
        counted[:] = [i, counted[1] + text.count("\n", counted[0], i)]
        return counted[1]

    i = skip(0)
    if text[i] != "[":
        raise FormatError(f"{path}:{line(i)}: expected a JSON array of records")
    i = skip(i + 1)
    if i < len(text) and text[i] == "]":
        return
    while True:
        try:
            obj, end = decoder.raw_decode(text, i)
        except json.JSONDecodeError as e:
            raise FormatError(f"{path}:{e.lineno}: not valid JSON ({e.msg}); is the file truncated?") from None
        except RecursionError:
            raise FormatError(f"{path}:{line(i)}: the JSON is nested too deeply to read") from None
        except ValueError as e:  # e.g. an integer of more than 4,300 digits
            raise FormatError(f"{path}:{line(i)}: not readable JSON ({e})") from None
        yield line(i), guarded(f"{path}:{line(i)}", _checked, obj, text[i:end], f"{path}:{line(i)}")
        i = skip(end)
        if i >= len(text):
            raise FormatError(f"{path}:{line(i)}: the JSON array is not closed; is the file truncated?")
        if text[i] == "]":
            break
        if text[i] != ",":
            raise FormatError(f"{path}:{line(i)}: expected ',' or ']' after a record")
        i = skip(i + 1)
    if skip(i + 1) < len(text):
        raise FormatError(f"{path}:{line(skip(i + 1))}: unexpected text after the JSON array")


def _checked(obj: Any, raw: str, source: str) -> Any:
    check_unicode(obj, raw, source)
    return obj


def get(obj: Dict[str, Any], key: str, kind: Any, source: str, default: Any = ..., what: str = "") -> Any:
    """obj[key], checked against kind (a type or tuple of types); missing -> default or error."""
    if not isinstance(obj, dict):
        raise FormatError(f"{source}: {what}expected an object with {key!r}, got {type(obj).__name__} {obj!r:.60}")
    if key not in obj or obj[key] is None:
        if default is ...:
            raise FormatError(f"{source}: {what}no field {key!r}")
        return default
    value = obj[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind in (int, (int,))):
        names = " or ".join(t.__name__ for t in (kind if isinstance(kind, tuple) else (kind,)))
        raise FormatError(f"{source}: {what}field {key!r} must be {names}, got {type(value).__name__} {value!r:.60}")
    return value


def span_from_dict(obj: Any, source: str, start="start", end="end", label="label") -> SpanAnn:
    """A SpanAnn from a dict with integer offsets and a string label (keys configurable)."""
    if not isinstance(obj, dict):
        raise FormatError(f"{source}: a span must be an object, got {type(obj).__name__} {obj!r:.60}")
    return SpanAnn(
        get(obj, start, int, source, what="span "),
        get(obj, end, int, source, what="span "),
        get(obj, label, str, source, what="span "),
        get(obj, "token_start", int, source, None, "span "),
        get(obj, "token_end", int, source, None, "span "),
    )


def check_span_text(text: str, span: SpanAnn, quoted: Optional[str], source: str) -> None:
    """Offsets inside the text, and the span's own copy of its text (if any) equal to the text there."""
    if not 0 <= span.start < span.end <= len(text):
        raise FormatError(
            f"{source}: span [{span.start}, {span.end}) {span.label!r} is outside the text (length {len(text)})"
        )
    if quoted is not None and text[span.start : span.end] != quoted:
        raise FormatError(
            f"{source}: span [{span.start}, {span.end}) says its text is {quoted!r}, "
            f"but the text there is {text[span.start : span.end]!r}"
        )
