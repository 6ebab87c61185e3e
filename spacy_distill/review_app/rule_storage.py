"""Rules under review, in the review database (tables `rules`, `rule_answers`, `rule_claims`).

- rules: one row per proposed rule: its id, the rule as its JSONL object, the file it came
  from, and `rank`, its place in the queue of the last server start (NULL: not in that file).
- rule_answers: every answer the moment it is given: rule, annotator, answer (accept, reject,
  ignore), the original rule and the edited one (NULL: not edited), the time, the client's
  request id (unique: a retried request is stored once) and `retracted` (the time of an undo).
- rule_claims: without overlap, the rule each annotator is looking at, as `claims` for docs.

Each method is one short transaction of the shared `ReviewDB`, so answers are never lost.
"""

import json
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ..rules.rule import Rule
from .storage import ANSWERS, CLAIM_SECONDS, Conflict, NotFound, ReviewDB, ReviewError, dumps, stored_request

STANDING = "a.retracted IS NULL"


class RuleStore:
    """The rules of a review database and their answers."""

    def __init__(self, db: ReviewDB):
        self.db = db

    def add_rules(self, rules: Sequence[Rule], source: Path) -> Tuple[int, int]:
        """Store rules whose id is new, queue exactly these rules in this order; (added, known)."""
        now = time.time()
        with self.db.write() as cur:
            known = {row[0] for row in cur.execute("SELECT rule_id FROM rules")}
            new = [r for r in rules if r.id not in known]
            cur.executemany(
                "INSERT INTO rules (rule_id, rule, source, added) VALUES (?, ?, ?, ?)",
                [(r.id, dumps(r.to_dict()), str(source), now) for r in new],
            )
            cur.execute("UPDATE rules SET rank = NULL")
            cur.executemany("UPDATE rules SET rank = ? WHERE rule_id = ?", [(i, r.id) for i, r in enumerate(rules)])
        return len(new), len(rules) - len(new)

    def next_rule(self, annotator: str, overlap: bool = False, now: Optional[float] = None) -> Optional[Dict]:
        """The rule this annotator answers next (None: none left); as `ReviewDB.next_doc` for docs."""
        now = time.time() if now is None else now
        answered = "SELECT 1 FROM rule_answers a WHERE a.rule_row = r.id AND " + STANDING
        with self.db.write() as cur:
            if overlap:
                sql = f"SELECT id FROM rules r WHERE rank IS NOT NULL AND NOT EXISTS ({answered} AND a.annotator = ?)"
                row = cur.execute(sql + " ORDER BY rank LIMIT 1", (annotator,)).fetchone()
            else:
                open_rule = f"r.rank IS NOT NULL AND NOT EXISTS ({answered})"
                row = (
                    cur.execute(
                        f"SELECT r.id FROM rules r JOIN rule_claims c ON c.rule_row = r.id AND c.annotator = ? "
                        f"WHERE {open_rule} ORDER BY r.rank LIMIT 1",
                        (annotator,),
                    ).fetchone()
                    or cur.execute(
                        f"SELECT r.id FROM rules r LEFT JOIN rule_claims c ON c.rule_row = r.id "
                        f"WHERE {open_rule} AND (c.rule_row IS NULL OR c.claimed < ?) ORDER BY r.rank LIMIT 1",
                        (now - CLAIM_SECONDS,),
                    ).fetchone()
                )
                if row is not None:
                    cur.execute("INSERT OR REPLACE INTO rule_claims VALUES (?, ?, ?)", (row[0], annotator, now))
            return None if row is None else _rule(cur, row[0])

    def rule(self, row_id: int) -> Dict[str, Any]:
        with self.db.read() as cur:
            return _rule(cur, row_id)

    def add_answer(
        self,
        row_id: int,
        annotator: str,
        answer: str,
        edited: Optional[Rule] = None,
        request_id: Optional[str] = None,
        now: Optional[float] = None,
    ) -> Tuple[int, bool]:
        """Store an answer (the edited rule already compiled); (answer id, was it new)."""
        if answer not in ANSWERS:
            raise ReviewError(f"answer must be one of {', '.join(ANSWERS)}, got {answer!r}")
        now = time.time() if now is None else now
        with self.db.write() as cur:
            known = stored_request(cur, "rule_answers", "rule_row", request_id, (row_id, annotator))
            if known is not None:
                return known, False
            original = _rule(cur, row_id)["rule"]
            cur.execute(
                "INSERT INTO rule_answers (rule_row, annotator, answer, original, edited, created, request_id) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    row_id,
                    annotator,
                    answer,
                    dumps(original),
                    None if edited is None else dumps(edited.to_dict()),
                    now,
                    request_id,
                ),
            )
            cur.execute("DELETE FROM rule_claims WHERE rule_row = ? AND annotator = ?", (row_id, annotator))
            return cur.lastrowid, True

    def undo(self, annotator: str, answer_id: Optional[int] = None, overlap: bool = False) -> Dict[str, Any]:
        """Retract the annotator's latest standing answer (or answer_id); the rule with `state`."""
        now = time.time()
        with self.db.write() as cur:
            row = cur.execute(
                "SELECT id, rule_row, answer, edited, retracted FROM rule_answers WHERE annotator = ? "
                + ("AND retracted IS NULL ORDER BY id DESC LIMIT 1" if answer_id is None else "AND id = ?"),
                (annotator,) if answer_id is None else (annotator, answer_id),
            ).fetchone()
            if row is None:
                raise (
                    NotFound(f"{annotator} has no answer {answer_id}")
                    if answer_id
                    else Conflict(f"{annotator} has no answer to undo")
                )
            if row[4] is not None:
                raise Conflict(f"answer {answer_id} was undone already")
            cur.execute("UPDATE rule_answers SET retracted = ? WHERE id = ?", (now, row[0]))
            if not overlap:
                cur.execute("INSERT OR REPLACE INTO rule_claims VALUES (?, ?, ?)", (row[1], annotator, now))
            rule = _rule(cur, row[1])
        rule["state"] = {
            "answer": row[2],
            "answer_id": row[0],
            "edited": None if row[3] is None else json.loads(row[3]),
        }
        return rule

    def answers(self, include_retracted: bool = False) -> List[Dict[str, Any]]:
        """Every answer in the order given: rule id, annotator, answer, original, edited, times."""
        where = "" if include_retracted else "WHERE " + STANDING
        with self.db.read() as cur:
            rows = cur.execute(
                "SELECT a.id, r.rule_id, a.annotator, a.answer, a.original, a.edited, a.created, a.retracted "
                f"FROM rule_answers a JOIN rules r ON r.id = a.rule_row {where} ORDER BY a.id"
            ).fetchall()
        names = ("id", "rule_id", "annotator", "answer", "original", "edited", "created", "retracted")
        out = [dict(zip(names, row)) for row in rows]
        for answer in out:
            answer["original"] = json.loads(answer["original"])
            answer["edited"] = None if answer["edited"] is None else json.loads(answer["edited"])
        return out

    def accepted(self) -> List[Rule]:
        """The rules whose latest standing answer is accept (the edited version where edited), in rule order."""
        latest: Dict[str, Dict[str, Any]] = {}
        for answer in self.answers():
            latest[answer["rule_id"]] = answer
        with self.db.read() as cur:
            order = [row[0] for row in cur.execute("SELECT rule_id FROM rules ORDER BY id")]
        chosen = [latest[i] for i in order if i in latest and latest[i]["answer"] == "accept"]
        return [Rule.from_dict(a["edited"] or a["original"], f"answer {a['id']}") for a in chosen]

    def progress(self, annotator: Optional[str] = None) -> Dict[str, Any]:
        """Rules in the queue, rules answered by anyone, per annotator their answers (as for docs)."""
        queued = "JOIN rules r ON r.id = a.rule_row WHERE r.rank IS NOT NULL AND " + STANDING
        with self.db.read() as cur:
            total = cur.execute("SELECT count(*) FROM rules WHERE rank IS NOT NULL").fetchone()[0]
            done = cur.execute(f"SELECT count(DISTINCT a.rule_row) FROM rule_answers a {queued}").fetchone()[0]
            rows = cur.execute(
                f"SELECT a.annotator, a.answer, count(DISTINCT a.rule_row) FROM rule_answers a {queued} "
                "GROUP BY a.annotator, a.answer"
            ).fetchall()
        annotators: Dict[str, Dict[str, int]] = {}
        for name, answer, n in rows:
            counts = annotators.setdefault(name, {"done": 0, **{k: 0 for k in ANSWERS}})
            counts[answer] = n
            counts["done"] += n
        result = {"total": total, "done": done, "annotators": [{"name": k, **v} for k, v in sorted(annotators.items())]}
        if annotator is not None:
            result["you"] = annotators.get(annotator, {}).get("done", 0)
        return result


def _rule(cur, row_id: int) -> Dict[str, Any]:
    row = cur.execute("SELECT id, rule_id, rule, source, rank FROM rules WHERE id = ?", (row_id,)).fetchone()
    if row is None:
        raise NotFound(f"no rule {row_id} in the review database")
    return {"id": row[0], "rule_id": row[1], "rule": json.loads(row[2]), "source_file": row[3], "rank": row[4]}
