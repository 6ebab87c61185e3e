"""`spacy-distill store list|purge`: show and remove stored teacher answers.

The store knows prompts and answers; which answers the parser could not read, and
which input line a prompt came from, are in the teacher docs `annotate` wrote
(their provenance names each doc's prompts by SHA-256), hence `--docs`.
"""

from collections import Counter
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import spacy
from wasabi import msg

from ..errors import InputError
from ..files import read_docs
from .store import ResponseStore, open_existing, purge_answers, select_answers, teacher_prompt_hashes


def selected_answers(
    store: ResponseStore,
    model: Optional[str] = None,
    docs: Optional[Path] = None,
    parse_failures: bool = False,
    input_lines: Optional[Sequence[int]] = None,
) -> List[Dict[str, Any]]:
    """The stored answers that match every filter given (none given: all of them)."""
    hashes = None
    if parse_failures or input_lines:
        if docs is None:
            raise InputError("--parse-failures and --input-line need --docs TEACHER.spacy (the output of `annotate`)")
        if not Path(docs).is_file():
            raise InputError(f"{docs}: teacher docs not found")
        teacher_docs = read_docs(Path(docs), spacy.blank("xx").vocab)
        hashes = teacher_prompt_hashes(teacher_docs, parse_failures=parse_failures, input_lines=input_lines)
    return select_answers(store, model=model, prompt_sha256=hashes)


def list_answers(
    store_path: Path,
    model: Optional[str] = None,
    docs: Optional[Path] = None,
    parse_failures: bool = False,
    input_lines: Optional[Sequence[int]] = None,
    show: int = 20,
) -> List[Dict[str, Any]]:
    """Print the number of stored answers per model and the first `show` selected ones; return them."""
    store = open_existing(store_path)
    try:
        rows = selected_answers(store, model, docs, parse_failures, input_lines)
        total = len(store)
    finally:
        store.close()
    msg.info(f"{store_path}: {total} answers stored, {len(rows)} selected")
    msg.table(sorted(Counter(row["model"] for row in rows).items()), header=("model", "answers"))
    for row in rows[:show]:
        text = row["prompt"].rsplit("\nText: ", 1)[-1][:70].replace("\n", " ")
        print(f"{row['key'][:12]}  {row['model']}  text: {text!r}  answer: {row['response'][:70]!r}")
    return rows


def purge(
    store_path: Path,
    model: Optional[str] = None,
    docs: Optional[Path] = None,
    parse_failures: bool = False,
    input_lines: Optional[Sequence[int]] = None,
    dry_run: bool = False,
) -> int:
    """Remove the selected answers (at least one filter is required); how many were (or would be) removed."""
    if model is None and not parse_failures and not input_lines:
        raise InputError("say which answers to purge: --model M, --parse-failures or --input-line N")
    store = open_existing(store_path)
    try:
        rows = selected_answers(store, model, docs, parse_failures, input_lines)
        removed = len(rows) if dry_run else purge_answers(store, rows)
    finally:
        store.close()
    verb = "would remove" if dry_run else "removed"
    msg.good(f"{store_path}: {verb} {removed} answers; the next `annotate` asks for them again")
    return removed
