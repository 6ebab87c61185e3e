"""The rule review: one proposed rule at a time, with its matches in the texts, behind the same Guard.

    spacy-distill review --rules proposed.jsonl --texts corpus/corrections.jsonl --db review.db
    spacy-distill review --db review.db --export accepted.jsonl

API (JSON; `id` is the rule's row in the database, `rule_id` its id in the patterns file):

    GET  /api/session?annotator=NAME      CSRF token, the default annotator, the texts, gold known
    GET  /api/rules/next?annotator=NAME   {"rule", "progress"}: the rule to answer (null: all done)
    POST /api/rules/preview               {"id", "kind": phrase|tokens|regex, "text"}
                                          -> {"rule", "matches", "stats"}; 422 {"error"} if invalid
    POST /api/rules/answer                {"annotator", "id", "answer": accept|reject|ignore,
                                           "edit"?: {"kind", "text"}, "request_id"}
                                          -> {"answer_id", "stored", "next", "progress"}
    POST /api/rules/undo                  {"annotator", "answer_id"?} -> {"rule" with "state", "progress"}
    GET  /api/progress?annotator=NAME     done / total, per annotator
"""

import json
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from ..errors import InputError
from ..rules.rule import Rule, read_rules, write_rules
from .guard import Guard, Settings
from .rule_matches import Corpus, edited_rule, load_texts, rule_matches
from .rule_storage import RuleStore
from .server import STATIC, annotator_name, answer_fields, csrf_token, field_of, guarded, json_body
from .storage import ReviewDB, ReviewError, dumps


def prepare_rules(
    rules_path: Path, texts_path: Path, db_path: Path, lang: str = "en"
) -> Tuple[Callable[[Settings], Guard], List[str]]:
    """Store the rules not yet in the database, queue the file's rules, load the texts;
    (the app for given settings, the start-up lines)."""
    try:
        rules = read_rules(Path(rules_path))
    except InputError as e:
        raise ReviewError(str(e)) from None
    if not rules:
        raise ReviewError(f"{rules_path}: holds no rules")
    ids = [rule.id for rule in rules]
    if len(set(ids)) < len(ids):
        raise ReviewError(f"{rules_path}: rule ids must be unique (see `rules propose`)")
    corpus = load_texts(texts_path, lang)
    store = RuleStore(ReviewDB(db_path))
    added, _ = store.add_rules(rules, Path(rules_path))
    progress = store.progress()
    gold = "gold spans mark each match correct or wrong" if corpus.gold is not None else "no gold spans"
    lines = [
        f"Reviewing {progress['total']} rules from {rules_path} ({added} new, {progress['done']} answered); answers go to {db_path}",
        f"Matches in {len(corpus.docs)} texts from {texts_path} ({gold})",
    ]
    return (lambda settings: create_rules_app(store, corpus, settings)), lines


def export_accepted(db_path: Path, output: Path) -> int:
    """Write the accepted rules (edited where edited) as a patterns JSONL; how many."""
    rules = RuleStore(ReviewDB(db_path, create=False)).accepted()
    write_rules(Path(output), rules)
    return len(rules)


def create_rules_app(store: RuleStore, corpus: Corpus, settings: Settings) -> Guard:
    """The rule review's routes behind the Guard."""
    csrf = csrf_token(store.db, settings)

    @lru_cache(maxsize=256)
    def matches_of(rule_json: str) -> Dict[str, Any]:
        return rule_matches(Rule.from_dict(json.loads(rule_json)), corpus)

    def client_rule(row: Optional[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
        if row is None:
            return None
        return {**row, **matches_of(dumps(row["rule"]))}

    def edit_of(body: Dict[str, Any], original: Dict[str, Any]) -> Tuple[Rule, Dict[str, Any]]:
        rule = edited_rule(original, body.get("kind"), body.get("text"))
        return rule, matches_of(dumps(rule.to_dict()))

    async def index(request: Request) -> Response:
        return FileResponse(STATIC / "rules.html", media_type="text/html; charset=utf-8")

    async def session(request: Request) -> Response:
        return JSONResponse(
            {
                "csrf": csrf,
                "annotator": settings.annotator,
                "mode": "rules",
                "texts": corpus.path.name,
                "gold": corpus.gold is not None,
                "db": store.db.path.name,
            }
        )

    async def next_rule(request: Request) -> Response:
        name = annotator_name(request.query_params.get("annotator"), settings)
        row = await run_in_threadpool(store.next_rule, name, settings.overlap)
        return await respond({"rule": row}, name)

    async def preview(request: Request) -> Response:
        body = await json_body(request)
        original = await run_in_threadpool(store.rule, field_of(body, "id", int))
        rule, found = await run_in_threadpool(edit_of, body, original["rule"])
        return JSONResponse({"rule": rule.to_dict(), **found})

    async def answer(request: Request) -> Response:
        body = await json_body(request)
        name = annotator_name(body.get("annotator"), settings)
        row_id = field_of(body, "id", int)
        kind, request_id = answer_fields(body)
        original = await run_in_threadpool(store.rule, row_id)
        edit = field_of(body, "edit", dict, None)
        edited = None
        if edit is not None:
            edited, found = await run_in_threadpool(edit_of, edit, original["rule"])
            edited.stats = {**found["stats"], "edited_by": name}
        answer_id, new = await run_in_threadpool(store.add_answer, row_id, name, kind, edited, request_id)
        following = await run_in_threadpool(store.next_rule, name, settings.overlap)
        return await respond({"answer_id": answer_id, "stored": new, "next": following}, name)

    async def undo(request: Request) -> Response:
        body = await json_body(request)
        name = annotator_name(body.get("annotator"), settings)
        row = await run_in_threadpool(store.undo, name, field_of(body, "answer_id", int, None), settings.overlap)
        return await respond({"rule": row}, name)

    async def progress(request: Request) -> Response:
        name = request.query_params.get("annotator")
        return JSONResponse(await run_in_threadpool(store.progress, annotator_name(name, settings) if name else None))

    async def respond(data: Dict[str, Any], name: str) -> Response:
        """data with its rules (the "rule" or "next") given their matches, and the annotator's progress."""
        for key in ("rule", "next"):
            if key in data:
                data[key] = await run_in_threadpool(client_rule, data[key])
        data["progress"] = await run_in_threadpool(store.progress, name)
        return JSONResponse(data)

    routes = [
        Route("/", index),
        Route("/api/session", session),
        Route("/api/rules/next", next_rule),
        Route("/api/rules/preview", preview, methods=["POST"]),
        Route("/api/rules/answer", answer, methods=["POST"]),
        Route("/api/rules/undo", undo, methods=["POST"]),
        Route("/api/progress", progress),
    ]
    return guarded(routes, settings, csrf)
