"""`rules propose`: candidate rules from the LLM, the corrections and the user's file, checked,
scored on gold, selected on one split and reported on another.

Without --dev the corrections are split in two halves by doc (seeded): rules are induced and
selected on the selection half and reported on the other. With --dev, all corrections select and
the dev gold reports. The kept rules go to a patterns JSONL that entity_ruler / span_ruler load.

Rules that match nothing in the selection split (an LLM's names the corrections never showed, a
seed pattern for a rare case) cannot be judged by the data: they go to OUTPUT's sibling
`<name>.unjudged.jsonl`, most often proposed first, for an expert to judge in `review --rules`.
"""

from collections import Counter
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

import spacy
from wasabi import msg

from ..corpus.gold import load_gold
from ..errors import InputError
from ..task import detect_task
from .candidates import induced_candidates, seed_candidates
from .checks import Dropped, Split, compile_rules, match_splits, merge_duplicates
from .rule import SOURCES, Rule, write_rules
from .scoring import examples, kept_set_scores, make_split, rule_stats, select_rules, split_docs

REGEX_TIMEOUT = 1.0  # seconds a rule's regex may take on one doc


def propose_rules(
    config_path: Path,
    corrections: Union[Path, Sequence[Path]],
    output_path: Path,
    *,
    dev: Optional[Path] = None,
    report_dir: Optional[Path] = None,
    seed_patterns: Optional[Path] = None,
    no_llm: bool = False,
    min_precision: float = 0.9,
    lang: str = "en",
    overrides: Optional[Dict[str, Any]] = None,
    seed: int = 0,
    show_progress: bool = True,
    regex_timeout: float = REGEX_TIMEOUT,
) -> Dict[str, Any]:
    """Propose, check, score and select rules; write OUTPUT (and the report into report_dir); return the stats.

    config_path: the teacher config whose LLM proposes rules (unused with no_llm). corrections /
    dev: gold in any format `import` reads, or .spacy (corrections: one file or several).
    seed_patterns: an entity_ruler JSONL.
    seed: the shuffle of the selection / report split of the corrections (without dev).
    """
    if not 0.0 <= min_precision <= 1.0:
        raise InputError(f"--min-precision must be between 0 and 1, not {min_precision}")
    say = msg.text if show_progress else lambda *_: None
    corrected = load_gold(corrections, lang)
    where = str(corrections) if isinstance(corrections, (str, Path)) else ", ".join(map(str, corrections))
    task = detect_task(corrected)
    if not task.has_spans:
        raise InputError(f"{where}: rules need entities or spans; the corrections are {task.kind}")
    selection_docs, report_docs = (corrected, load_gold(Path(dev), lang)) if dev else split_docs(corrected, seed)
    if not selection_docs or not report_docs:
        raise InputError(f"{where}: at least 2 corrected docs are needed to select and report (or give --dev)")
    splits = [make_split("selection", selection_docs, task), make_split("report", report_docs, task)]

    candidates = seed_candidates(Path(seed_patterns)) if seed_patterns else []
    llm_counts = None
    if not no_llm:
        from .llm import llm_candidates

        say("Asking the teacher's LLM for rules")
        llm_rules, llm_counts = llm_candidates(
            Path(config_path), dict(overrides or {}), selection_docs, task, show_progress=show_progress, seed=seed
        )
        candidates += llm_rules
    candidates += induced_candidates(selection_docs, task)
    say(f"{len(candidates)} candidate rules; checking and matching them on {sum(len(s.docs) for s in splits)} docs")

    nlp = spacy.blank(lang, vocab=corrected[0].vocab)
    unique, dropped = merge_duplicates(candidates)
    matcher, invalid = compile_rules(nlp, unique, regex_timeout)
    matcher, timed_out = match_splits(nlp, matcher, splits)
    dropped += invalid + timed_out
    valid = list(matcher.rules.values())

    overlaps = task.kind != "ner"
    selection_stats, report_stats = (rule_stats(split, overlaps) for split in splits)
    for rule in valid:
        rule.stats = {**rule.stats, **selection_stats[rule.id], "report": report_stats[rule.id]}
    selection = select_rules(valid, splits[0], min_precision, overlaps)
    dropped += selection.dropped
    among_kept = rule_stats(splits[0], overlaps, {rule.id for rule in selection.kept})
    for rule in selection.kept:  # overlaps and conflicts among the rules that ship
        rule.stats.update(overlaps=among_kept[rule.id]["overlaps"], conflicts=among_kept[rule.id]["conflicts"])
    kept = sorted(selection.kept, key=lambda r: (r.label, -r.stats["precision"], -r.stats["matches"], r.id))
    write_rules(Path(output_path), [public(rule) for rule in kept])
    unjudged = unjudged_rules(dropped)
    unjudged_path = unjudged_output(Path(output_path))
    if unjudged:
        write_rules(unjudged_path, unjudged)
    elif unjudged_path.exists():  # from an earlier run: it must not look current
        unjudged_path.unlink()

    stats = {
        "task": task.to_dict(),
        "corrections": where,
        "dev": str(dev) if dev else None,
        "splits": split_summary(splits, dev),
        "min_precision": min_precision,
        "sources": source_counts(candidates, valid, kept, dropped),
        "llm": llm_counts,
        "regex": dict(matcher.counts),
        "selection_scores": selection.scores,
        "report_scores": kept_set_scores(kept, splits[1], task),
        "kept": len(kept),
        "output": str(output_path),
        "unjudged": {"rules": len(unjudged), "output": str(unjudged_path) if unjudged else None},
    }
    if report_dir is not None:
        from .report import write_report

        write_report(Path(report_dir), stats, rule_rows(kept, dropped, splits))
    return stats


def public(rule: Rule) -> Rule:
    """The rule as it is written: stats rounded to what a reader needs."""
    keep = ("precision", "matches", "tp", "fp", "covered", "overlaps", "conflicts", "also_from", "llm_answers")
    stats = {key: rule.stats[key] for key in keep if key in rule.stats}
    stats["report"] = {key: rule.stats["report"][key] for key in ("precision", "matches", "tp", "fp")}
    return Rule(id=rule.id, label=rule.label, pattern=rule.pattern, regex=rule.regex, source=rule.source, stats=stats)


def unjudged_output(output_path: Path) -> Path:
    """Where the rules the data could not judge go: `rules.jsonl` -> `rules.unjudged.jsonl`."""
    return output_path.with_name(f"{output_path.stem}.unjudged{output_path.suffix or '.jsonl'}")


def unjudged_rules(dropped: Sequence[Dropped]) -> List[Rule]:
    """The rules dropped for having no matches on the selection split (not induced ones, which match
    where they came from), the ones more LLM answers named first."""
    rules = [d.rule for d in dropped if d.reason == "no_matches" and d.rule.source != "induced"]
    rules.sort(key=lambda r: (r.label, -r.stats.get("llm_answers", 0), r.id))
    note = {"matches": 0, "note": "no matches in the corrections"}
    return [
        Rule(id=r.id, label=r.label, pattern=r.pattern, regex=r.regex, source=r.source, stats={**note, **answers(r)})
        for r in rules
    ]


def answers(rule: Rule) -> Dict[str, int]:
    return {"llm_answers": rule.stats["llm_answers"]} if "llm_answers" in rule.stats else {}


def split_summary(splits: Sequence[Split], dev: Optional[Path]) -> Dict[str, Any]:
    what = ("all corrections", f"dev gold {dev}") if dev else ("half of the corrections", "the other half")
    return {
        split.name: {"docs": len(split.docs), "spans": sum(len(g) for g in split.gold), "data": data}
        for split, data in zip(splits, what)
    }


def source_counts(
    candidates: Sequence[Rule], valid: Sequence[Rule], kept: Sequence[Rule], dropped: Sequence[Dropped]
) -> Dict[str, Dict[str, Any]]:
    """Per source: proposed, valid (unique and compiling, no regex timeout), kept, and dropped by reason."""
    counts: Dict[str, Dict[str, Any]] = {}
    for source in SOURCES:
        reasons = Counter(d.reason for d in dropped if d.rule.source == source)
        counts[source] = {
            "proposed": sum(r.source == source for r in candidates),
            "valid": sum(r.source == source for r in valid),
            "kept": sum(r.source == source for r in kept),
            "dropped": dict(sorted(reasons.items())),
        }
    return counts


def rule_rows(kept: Sequence[Rule], dropped: Sequence[Dropped], splits: Sequence[Split]) -> List[Dict[str, Any]]:
    """One row per rule for the report: the kept ones, then the dropped ones, each with examples in context."""
    rows = [row(rule, None, splits) for rule in kept]
    order = {"low_precision": 0, "no_gain": 1, "regex_timeout": 2, "invalid": 3, "no_matches": 4, "duplicate": 5}
    for item in sorted(dropped, key=lambda d: (order.get(d.reason, 9), d.rule.label, d.rule.id)):
        rows.append(row(item.rule, item, splits))
    return rows


def row(rule: Rule, dropped: Optional[Dropped], splits: Sequence[Split]) -> Dict[str, Any]:
    matched = dropped is None or dropped.reason in ("low_precision", "no_gain")
    return {
        "id": rule.id,
        "label": rule.label,
        "source": rule.source,
        "pattern": rule.regex if rule.regex is not None else rule.pattern,
        "kind": rule.kind,
        "kept": dropped is None,
        "reason": dropped.reason if dropped else None,
        "detail": dropped.detail if dropped else None,
        "stats": rule.stats if matched else {},
        "examples": examples(rule.id, splits) if matched else [],
    }
