"""The loop's rules: a fixed patterns file, or rules proposed afresh from all corrections each round.

With `propose_rules`, the `rules` step of round r runs `spacy_distill.rules.propose.propose_rules`
on the corrections of rounds 1..r (the fixed `rules` file, if any, as seed patterns; the teacher's
answers from the loop's response store) and writes round_NNN/rules.jsonl, rules_report/ and, last,
rules.json (the stats: the step's mark of done). Round r's `evaluate` scores these rules as the
"rules" row, and round r+1 offers them as the "rules" pre-annotation source.
"""

import dataclasses
from pathlib import Path
from typing import Any, Dict, List, Optional

from wasabi import msg

from ..files import read_json, write_json_atomic, write_text_atomic
from .examples import round_teacher_config
from .settings import LoopSettings

RULES_FILE = "rules.jsonl"
STATS_FILE = "rules.json"
REPORT_DIR = "rules_report"
TEACHER_FILE = "rules_teacher.cfg"


def rules_for_round(s: LoopSettings, rdir: Path) -> Optional[Path]:
    """The rules after the round in rdir: the ones proposed in it once its rules step is done (None if it
    kept none), else the fixed file."""
    if s.propose_rules and (rdir / STATS_FILE).exists():
        return rdir / RULES_FILE if read_json(rdir / STATS_FILE)["kept"] else None
    return s.rules


def propose_round_rules(
    s: LoopSettings, rdir: Path, corrections: List[str], store: Path, verbose: bool
) -> Dict[str, Any]:
    """Propose rules from the corrections files into rdir (nothing is done if its stats exist); the stats."""
    from ..rules.propose import propose_rules

    if (rdir / STATS_FILE).exists():
        return read_json(rdir / STATS_FILE)
    stats = propose_rules(
        rules_teacher_config(s, rdir.parent, store),
        [Path(path) for path in corrections],
        rdir / RULES_FILE,
        dev=s.student.dev,
        report_dir=rdir / REPORT_DIR,
        seed_patterns=s.rules,
        no_llm=s.rules_no_llm,
        min_precision=s.rules_min_precision,
        lang=s.lang,
        seed=s.seed,
        show_progress=verbose,
    )
    stats["corrections"] = list(corrections)
    write_json_atomic(rdir / STATS_FILE, stats)
    if verbose:
        msg.info(f"{rdir.name}: {stats['kept']} rules proposed from {len(corrections)} rounds' corrections")
    return stats


def rules_teacher_config(s: LoopSettings, out: Path, store: Path) -> Path:
    """OUTPUT/rules_teacher.cfg: the teacher config with the loop's overrides and response store, without
    the similar-examples wrapper (the rule prompts show corrected span texts of their own)."""
    path = out / TEACHER_FILE
    if not path.exists():
        teacher = dataclasses.replace(s.teacher, similar_examples=0)
        header = f"# The teacher whose LLM proposes rules in the loop in {out}: {s.teacher.config}.\n"
        write_text_atomic(path, header + round_teacher_config(teacher, store, []).to_str())
    return path


def rules_entry(rdir: Path) -> Dict[str, Any]:
    """The rounds.json fields of a round's proposed rules ({} if none were proposed)."""
    if not (rdir / STATS_FILE).exists():
        return {}
    stats = read_json(rdir / STATS_FILE)
    llm = stats.get("llm") or {}
    entry = {
        "rules_kept": stats["kept"],
        "rules_kept_by_source": {name: c["kept"] for name, c in stats["sources"].items()},
    }
    if "llm_calls" in llm:
        entry["rules_llm_calls"] = llm["llm_calls"]
    return entry
