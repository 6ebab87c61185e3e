"""Corrections -> gold docs: align to tokens, merge answers about the same text, count everything.

What each answer teaches the student:

- accept of a complete annotation (ner_manual, choice, a Label Studio,
  doccano or Argilla answer): gold. Tokens outside its spans are O, so an
  answer with no entities is a negative example, not missing data.
- reject of a whole suggestion: its spans are known to be wrong. They go to
  `doc.spans["incorrect_spans"]`, which spaCy's ner learns from as "not this
  entity" (incorrect_spans_key in configs/student_ner.cfg); every token's
  entity tag stays missing. Rejected categories become 0.0, others unknown.
- binary answers (Prodigy's ner/spans/classification views): accepted spans
  are gold, rejected ones incorrect, the rest missing; a binary category
  answer sets that label to 1.0 or 0.0.
- ignore: skipped and counted; "none" (not annotated yet) likewise.

Answers about the same text are merged question by question (the complete
spans, the complete categories, each binary span or label): an annotator's
latest answer replaces their earlier ones, and a disagreement between
annotators is counted and resolved by the policy: latest, majority (ties go
to the latest) or fail. A span off token boundaries, with an unknown label or
overlapping another entity is dropped, counted and reported with its file and
line, and its tokens become missing (never O); alignment "expand" or
"contract" snaps misaligned spans instead, and counts them. A bad record
(`checks`) stops the import with a list of all of them, or with on_error
"skip" is left out, listed and counted.
"""

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Set, Tuple, Union

import spacy
from spacy.language import Language
from spacy.tokens import Doc, Span
from spacy.util import filter_spans

from ..files import write_docs_atomic, write_json_atomic
from ..formats import read_corrections
from ..formats.common import Correction, FormatError, Rejected
from ..task import INCORRECT_KEY
from .checks import check_on_error, fail_on, problem
from .tokens import BadTokens, doc_from_tokens

POLICIES = ("latest", "majority", "fail")
ALIGNMENTS = ("strict", "expand", "contract")
SUFFIXES = (".jsonl", ".json", ".conll", ".iob", ".bio", ".csv", ".tsv", ".txt")
MAX_EXAMPLES = 20


@dataclass
class Options:
    policy: str = "latest"
    alignment: str = "strict"
    labels: Optional[Set[str]] = None
    span_key: Optional[str] = None

    def __post_init__(self):
        if self.policy not in POLICIES:
            raise FormatError(f"Unknown merge policy {self.policy!r}; choose one of {', '.join(POLICIES)}")
        if self.alignment not in ALIGNMENTS:
            raise FormatError(f"Unknown alignment {self.alignment!r}; choose one of {', '.join(ALIGNMENTS)}")


@dataclass
class Stats:
    records: int = 0
    answers: Counter = field(default_factory=Counter)
    docs: int = 0
    complete: int = 0
    partial: int = 0
    negative: int = 0
    superseded: int = 0
    conflicts: int = 0
    snapped: int = 0
    dropped: Counter = field(default_factory=Counter)
    spans: Counter = field(default_factory=Counter)
    categories: Counter = field(default_factory=Counter)
    problems: List[str] = field(default_factory=list)
    skipped: int = 0
    skipped_records: List[Dict[str, str]] = field(default_factory=list)
    outside_split: int = 0

    def reject(self, record: Rejected) -> None:
        self.skipped += 1
        self.skipped_records.append({"source": record.source, "reason": record.message})

    def report(self, line: str) -> None:
        if len(self.problems) < MAX_EXAMPLES:
            self.problems.append(line)

    def drop(self, source: str, reason: str, what: str) -> None:
        self.dropped[reason] += 1
        self.report(f"{source}: dropped {what}: {reason}")

    def to_dict(self) -> Dict[str, Any]:
        return {k: dict(v) if isinstance(v, Counter) else v for k, v in self.__dict__.items()}


def expand_paths(paths: Union[str, Path, Iterable[Union[str, Path]]]) -> List[Path]:
    """Files from paths: comma-separated strings (unless the whole string names a file), files, folders
    (an Argilla folder stays one input)."""
    items = [paths] if isinstance(paths, (str, Path)) else list(paths)
    found: List[Path] = []
    for item in items:
        split = isinstance(item, str) and not Path(item).exists()
        for part in str(item).split(",") if split else [item]:
            path = Path(str(part).strip())
            if path.is_dir() and not (path / "records.json").exists():
                if (path / "settings.json").exists() or (path / "dataset.json").exists():
                    raise FormatError(
                        f"{path}: an Argilla dataset folder without records.json (is the export incomplete?)"
                    )
                found.extend(sorted(p for p in path.iterdir() if p.suffix.lower() in SUFFIXES))
            else:
                found.append(path)
    if not found:
        raise FormatError(f"No corrections files in {paths}")
    return found


def load_corrections(
    paths: Union[str, Path, Iterable],
    nlp: Language,
    fmt: str = "auto",
    options: Optional[Options] = None,
    *,
    on_error: str = "fail",
    skip: int = 0,
    limit: int = 0,
    **read_options: Any,
) -> Tuple[List[Doc], Stats]:
    """Gold docs (tokenised by nlp unless a file gives tokens) and the stats of the import.

    on_error: fail (a FormatError listing every bad record) or skip (left out, listed in the stats);
    skip / limit: leave out the first `skip` docs, keep at most `limit` (0: all) of the rest.
    """
    options = options or Options()
    check_on_error(on_error)
    stats = Stats()
    rejected: List[Rejected] = []
    groups: Dict[str, List[Correction]] = defaultdict(list)
    for path in expand_paths(paths):
        for record in read_corrections(path, fmt, **read_options):
            stats.records += 1
            reason = problem(record, nlp.max_length) if isinstance(record, Correction) else None
            if isinstance(record, Rejected) or reason is not None:
                rejected.append(record if reason is None else Rejected(record.source, reason))
                continue
            stats.answers[record.answer] += 1
            groups[record.key or record.text].append(record)
    cat_labels = _cat_labels(groups, options)
    docs = []
    for group in groups.values():
        in_split = skip <= len(docs) + stats.outside_split and (not limit or len(docs) < limit)
        try:
            doc = _build_doc(group[0].text, group, nlp, options, stats if in_split else Stats(), cat_labels)
        except BadTokens as e:
            rejected.append(Rejected(e.source, str(e)))
            continue
        if doc is not None and in_split:
            docs.append(doc)
        elif doc is not None:
            stats.outside_split += 1
    if on_error == "fail":
        fail_on(rejected)
    for record in rejected:
        stats.reject(record)
    stats.docs = len(docs)
    return docs, stats


def _cat_labels(groups: Dict[str, List[Correction]], options: Options) -> List[str]:
    """All category labels: those answered anywhere, plus --labels that no span uses."""
    seen = {label for group in groups.values() for c in group if c.cats for label in c.cats}
    span_labels = {s.label for group in groups.values() for c in group if c.spans for s in c.spans}
    has_cats = any(c.cats is not None for group in groups.values() for c in group)
    extra = (options.labels or set()) - span_labels if has_cats else set()
    return sorted((seen | extra) & options.labels if options.labels else seen | extra)


def _build_doc(
    text: str, group: List[Correction], nlp: Language, options: Options, stats: Stats, cat_labels: List[str]
) -> Optional[Doc]:
    active = [c for c in group if c.answer in ("accept", "reject")]
    if not text.strip():
        for c in active:
            stats.drop(c.source, "empty text", "the record")
        return None
    if not active:
        return None
    with_tokens = next((c for c in active if c.tokens is not None), None)
    doc = doc_from_tokens(nlp.vocab, text, with_tokens) if with_tokens else nlp.make_doc(text)
    aligned = {id(c): align(doc, c, options, stats) for c in active}
    questions: Dict[Any, List[Tuple[int, Correction, Any]]] = defaultdict(list)
    for seq, c in enumerate(active):
        spans = aligned[id(c)][0]
        if c.spans is not None and c.binary:
            for s in spans:
                questions[("span", s.start, s.end, s.label_)].append((seq, c, c.answer))
        elif c.spans is not None:
            questions["spans"].append((seq, c, (c.answer, frozenset((s.start, s.end, s.label_) for s in spans))))
        cats = _checked_cats(c, cat_labels, options, stats)
        if cats is not None and c.binary:
            for label in cats:
                questions[("cat", label)].append((seq, c, c.answer))
        elif cats is not None:
            questions["cats"].append((seq, c, (c.answer, frozenset(cats.items()))))
    winners = {q: _resolve(q, votes, text, options.policy, stats) for q, votes in questions.items()}
    span_key = options.span_key or next((c.span_key for c in active if c.span_key), None)
    spans_state = _set_spans(doc, winners, aligned, span_key, stats)
    cats_state = _set_cats(doc, winners, stats)
    states = [s for s in (spans_state, cats_state) if s is not None]
    status = "complete" if states and all(s == "complete" for s in states) else "partial"
    setattr(stats, status, getattr(stats, status) + 1)
    stats.negative += spans_state == "complete" and not _gold_spans(doc, span_key)
    stats.spans.update(s.label_ for s in _gold_spans(doc, span_key))
    stats.categories.update(label for label, v in doc.cats.items() if v >= 0.5)
    doc.user_data["meta"] = active[0].meta
    doc.user_data["corrections"] = {
        "status": status,
        "sources": [c.source for c in group],
        "answers": dict(Counter(c.answer for c in group)),
    }
    return doc


def align(doc: Doc, c: Correction, options: Options, stats: Stats) -> Tuple[List[Span], List[Span]]:
    """The record's spans on doc's tokens, and the token ranges of those it had to drop."""
    kept: List[Span] = []
    missing: List[Span] = []
    for a in c.spans or []:
        what = f"span [{a.start}, {a.end}) {a.label!r} {c.text[a.start : a.end]!r:.40}"
        if options.labels is not None and a.label not in options.labels:
            stats.drop(c.source, "unknown label", what)
        else:
            span = doc.char_span(a.start, a.end, label=a.label)
            if span is None and options.alignment != "strict":
                span = doc.char_span(a.start, a.end, label=a.label, alignment_mode=options.alignment)
                if span is not None and len(span):
                    stats.snapped += 1
                    stats.report(f"{c.source}: snapped {what} to {span.text!r} ({options.alignment})")
                else:
                    span = None
            if span is not None:
                kept.append(span)
                continue
            stats.drop(c.source, "not on token boundaries", what)
        tokens = doc.char_span(a.start, a.end, alignment_mode="expand")
        if tokens is not None and len(tokens):
            missing.append(tokens)
    return kept, missing


def _checked_cats(c: Correction, cat_labels: List[str], options: Options, stats: Stats) -> Optional[Dict[str, float]]:
    """The record's categories: unknown labels dropped, complete answers filled with 0.0."""
    if c.cats is None:
        return None
    cats = {}
    for label, value in c.cats.items():
        if options.labels is not None and label not in options.labels:
            stats.drop(c.source, "unknown label", f"category {label!r}")
        else:
            cats[label] = value
    if not c.binary:
        cats = {label: cats.get(label, 0.0) for label in cat_labels}
    return cats


def _resolve(question: Any, votes: List[Tuple[int, Correction, Any]], text: str, policy: str, stats: Stats):
    """The deciding vote: each annotator's latest, then the policy if annotators disagree."""
    use_time = all(c.timestamp is not None for _, c, _ in votes)
    ordered = sorted(votes, key=lambda v: (v[1].timestamp if use_time else 0, v[0]))
    by_voter = {}
    for vote in ordered:
        by_voter.pop(vote[1].annotator or f"record {vote[0]}", None)
        by_voter[vote[1].annotator or f"record {vote[0]}"] = vote
    stats.superseded += len(votes) - len(by_voter)
    final = list(by_voter.values())
    counts = Counter(value for _, _, value in final)
    if len(counts) > 1:
        stats.conflicts += 1
        what = question if isinstance(question, str) else " ".join(map(str, question))
        detail = "; ".join(f"{c.source} ({c.annotator or 'anonymous'}: {_describe(value)})" for _, c, value in final)
        line = f"conflict on {what} of {text[:40]!r}: {detail}"
        if policy == "fail":
            raise FormatError(f"Annotators disagree ({line}); choose --policy latest or majority to resolve")
        stats.report(f"{line} -> {policy}")
        if policy == "majority":
            best = max(counts.values())
            final = [v for v in final if counts[v[2]] == best]
    return final[-1]


def _describe(value: Any) -> str:
    if isinstance(value, tuple):
        answer, items = value
        return f"{answer} {sorted(items)}"
    return str(value)


def _set_spans(doc: Doc, winners: Dict, aligned: Dict, span_key: Optional[str], stats: Stats) -> Optional[str]:
    """Write gold, missing and incorrect spans; return "complete", "partial" or None (no span answers)."""
    gold: List[Span] = []
    missing: List[Span] = []
    incorrect: List[Span] = []
    state = None
    if "spans" in winners:
        _, c, (answer, _) = winners["spans"]
        spans, dropped = aligned[id(c)]
        state = "complete" if answer == "accept" else "partial"
        if answer == "accept":
            gold, missing = list({(s.start, s.end, s.label_): s for s in spans}.values()), list(dropped)
        else:
            incorrect = list(spans)
    gold_keys = {(s.start, s.end, s.label_) for s in gold}
    for question, (_, c, answer) in winners.items():
        if question[0] != "span":
            continue
        span = Span(doc, question[1], question[2], label=question[3])
        if state == "complete":
            if (answer == "accept") != (question[1:] in gold_keys):
                stats.conflicts += 1
                stats.report(
                    f"{c.source}: binary {answer} of {span.text!r} {span.label_} disagrees with the full annotation, which wins"
                )
            continue
        state = "partial"
        (gold if answer == "accept" else incorrect).append(span)
    if state is None:
        return None
    if span_key is None:
        kept = filter_spans(gold)
        for span in gold:
            if span not in kept:
                stats.drop(_source(winners), "overlaps another span", f"entity {span.text!r} {span.label_}")
                missing.append(span)
        covered = {i for s in kept for i in range(s.start, s.end)}
        holes = sorted({i for s in missing for i in range(s.start, s.end)} - covered)
        doc.set_ents(
            kept, missing=[doc[i : i + 1] for i in holes], default="outside" if state == "complete" else "missing"
        )
    else:
        doc.spans[span_key] = sorted(set(gold))
    if incorrect:
        doc.spans[INCORRECT_KEY] = sorted(set(incorrect))
    return state


def _source(winners: Dict) -> str:
    return winners["spans"][1].source if "spans" in winners else "binary answers"


def _set_cats(doc: Doc, winners: Dict, stats: Stats) -> Optional[str]:
    cats: Dict[str, float] = {}
    state = None
    if "cats" in winners:
        _, c, (answer, items) = winners["cats"]
        state = "complete" if answer == "accept" else "partial"
        cats = dict(items) if answer == "accept" else {label: 0.0 for label, v in items if v >= 0.5}
    for question, (_, c, answer) in winners.items():
        if question[0] != "cat":
            continue
        value = 1.0 if answer == "accept" else 0.0
        if state == "complete":
            if cats.get(question[1]) != value:
                stats.conflicts += 1
                stats.report(
                    f"{c.source}: binary {answer} of category {question[1]!r} disagrees with the full annotation, which wins"
                )
            continue
        state = "partial"
        cats[question[1]] = value
    doc.cats = dict(sorted(cats.items()))
    return state


def _gold_spans(doc: Doc, span_key: Optional[str]) -> List[Span]:
    return list(doc.ents) if span_key is None else list(doc.spans.get(span_key, []))


def import_corrections(
    inputs: Union[str, Path, Iterable],
    output: Path,
    *,
    fmt: str = "auto",
    lang: str = "en",
    policy: str = "latest",
    align: str = "strict",
    labels: Optional[Iterable[str]] = None,
    span_key: Optional[str] = None,
    stats_path: Optional[Path] = None,
    on_error: str = "fail",
    skip: int = 0,
    limit: int = 0,
    **columns: Any,
) -> Dict[str, Any]:
    """Read corrections (files, folders or comma-separated paths), write gold docs to OUTPUT (.spacy); return the stats.

    policy: when annotators disagree (latest, majority, fail); align: spans off token boundaries
    (strict: drop and report; expand / contract: snap); labels: the label set, others are dropped
    and counted; span_key: put spans in doc.spans[KEY] instead of doc.ents; on_error: bad records
    stop the import with a list of them (fail) or are left out, listed and counted (skip);
    skip / limit: leave out the first SKIP docs and keep at most LIMIT (0: all), e.g. for a dev
    split; columns: CSV/TSV settings (text_column, label_column, spans_column, span_label).
    """
    options = Options(policy, align, set(labels) if labels else None, span_key)
    output = Path(output)
    if output.suffix != ".spacy":
        raise FormatError(f"{output}: output must end in .spacy")
    try:
        nlp = spacy.blank(lang)
    except ImportError:
        raise FormatError(f"Unknown language {lang!r} (an ISO code spaCy supports, e.g. en, de)") from None
    if skip < 0 or limit < 0:
        raise FormatError(f"--skip and --limit must be 0 or more, got {skip} and {limit}")
    docs, stats = load_corrections(inputs, nlp, fmt, options, on_error=on_error, skip=skip, limit=limit, **columns)
    write_docs_atomic(output, docs)
    result = stats.to_dict()
    if stats_path is not None:
        write_json_atomic(Path(stats_path), result, ensure_ascii=True)
    return result
