"""The registry of outside formats (annotation tools and corpus formats).

Each format is a `Format` registered under its name in `formats`, a catalogue
registry like spaCy's own: a module in spacy_distill/formats/ registers itself
with `register(Format(...))`, and another package can add one through the
entry-point group `spacy_distill_formats` (the entry point names a `Format`, or
a function returning one). `read_corrections`, `detect_format` and
`export_docs` (spacy_distill.formats) find every registered format.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Tuple

import catalogue
from spacy.tokens import Doc

from ..task import Task
from .common import FormatError, Record

formats = catalogue.create("spacy_distill", "formats", entry_points=True)

JSON_SUFFIXES = (".json", ".jsonl")  # files whose first record `detect_record` is shown


@dataclass(frozen=True)
class Format:
    """An outside format: how to read its corrections, write review tasks, and recognise its files.

    name: the registered name (`--from` / `--to`). read(path, **options): its Correction
    records; options are only those named in `options`, and only when set. write(docs,
    output, task) -> the paths written; None for a read-only (corpus) format. suffix: what
    its files end with, and an export is written with ("" for a folder). description: one
    line for help texts. detect_file(path): True if the file or folder is of this format,
    judged before any JSON is read. detect_record(record): True if the first record of a
    .json/.jsonl file is of this format. Detectors are tried by ascending priority.
    write_answers(docs, output, task): the docs as the tool exports them once a person
    accepted each one (what `simulate` writes; read back as accepted answers).
    """

    name: str
    read: Callable[..., Iterator[Record]]  # Correction records, Rejected for bad ones
    write: Optional[Callable[[List[Doc], Path, Task], List[Path]]] = None
    suffix: str = ".jsonl"
    description: str = ""
    detect_file: Optional[Callable[[Path], bool]] = None
    detect_record: Optional[Callable[[Dict[str, Any]], bool]] = None
    priority: int = 100
    options: Tuple[str, ...] = ()
    write_answers: Optional[Callable[[List[Doc], Path, Task], List[Path]]] = None


def register(fmt: Format) -> Format:
    """Register `fmt` under its name (replacing a format of that name) and return it."""
    formats.register(fmt.name, func=fmt)
    return fmt


def any_key(keys: Iterable[str]) -> Callable[[Dict[str, Any]], bool]:
    """A `detect_record` that is True for a record with any of `keys`."""
    wanted = frozenset(keys)
    return lambda record: bool(wanted & set(record))


def all_formats() -> Dict[str, Format]:
    """Every registered format by name, in alphabetical order."""
    found = {name: value if isinstance(value, Format) else value() for name, value in formats.get_all().items()}
    return {name: found[name] for name in sorted(found)}


def readers() -> List[str]:
    """Names of the formats corrections can be read from."""
    return list(all_formats())


def exporters() -> List[str]:
    """Names of the formats teacher docs can be exported to."""
    return [name for name, fmt in all_formats().items() if fmt.write is not None]


def get_format(name: str, write: bool = False) -> Format:
    """The format `name` (one that can write, if `write`); a FormatError lists the choices."""
    found = all_formats()
    choices = [n for n, fmt in found.items() if fmt.write is not None or not write]
    if name not in choices:
        raise FormatError(f"Unknown {'export ' if write else ''}format {name!r}; choose one of {', '.join(choices)}")
    return found[name]


def by_priority() -> List[Format]:
    """Every format, in the order its detectors are tried."""
    return sorted(all_formats().values(), key=lambda fmt: fmt.priority)
