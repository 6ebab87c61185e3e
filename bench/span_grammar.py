"""What max_phrase_tokens costs: grammar size, build time, and in-process annotation speed.

For the fashion_brands test texts: how many gold spans the grammar can name at all (by token
count and by the phrase-start rule), the grammar's size and build time per prompt, and docs/s of
the bundled Gemma teacher with SpanGrammar.v1 max 4 (the old config) vs v2 max 8 (the config now),
as a ratio in the same process. Usage: python -m bench.span_grammar [N_DOCS]
"""

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from spacy_distill.teacher.annotate import annotate
from spacy_distill.teacher.grammars import SpanGrammar, SpanGrammarV2, text_phrases

ROOT = Path(__file__).resolve().parent.parent
TEST = ROOT / "assets" / "fashion_brands" / "test.jsonl"
CONFIG = ROOT / "configs" / "teacher_ner.cfg"
LABELS = ["FASHION_BRAND"]
SETTINGS = {"v1 max 4": ("spacy_distill.SpanGrammar.v1", 4), "v2 max 8": ("spacy_distill.SpanGrammar.v2", 8)}


def coverage(rows) -> None:
    spans = [(r["text"], r["text"][s["start"] : s["end"]]) for r in rows for s in r["spans"]]
    for name, grammar in (("v1 max 4", SpanGrammar(LABELS, max_phrase_tokens=4)), ("v2 max 8", SpanGrammarV2(LABELS))):
        nameable = sum(
            span in set(text_phrases(text, grammar.max_phrase_tokens, getattr(grammar, "start_signs", "")))
            for text, span in spans
        )
        print(f"{name}: {nameable}/{len(spans)} gold spans can be named")


def size_and_build_time(rows) -> None:
    for name, grammar in (("v1 max 4", SpanGrammar(LABELS, max_phrase_tokens=4)), ("v2 max 8", SpanGrammarV2(LABELS))):
        prompts = [f"x\nText: {r['text']}\nEntities:" for r in rows]
        start = time.perf_counter()
        sizes = [len(grammar(p)) for p in prompts]
        ms = 1000 * (time.perf_counter() - start) / len(prompts)
        print(f"{name}: grammar {statistics.mean(sizes):.0f} chars on average (max {max(sizes)}), built in {ms:.2f} ms")


def annotation_speed(rows, n_docs: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.jsonl"
        raw.write_text("".join(json.dumps({"text": r["text"]}) + "\n" for r in rows[:n_docs]), encoding="utf8")
        speed = {}
        for name, (function, n) in SETTINGS.items():
            stats = annotate(
                CONFIG,
                raw,
                Path(tmp) / f"{n}.spacy",
                show_progress=False,
                overrides={
                    "paths.examples": str(ROOT / "assets/fashion_brands/ner_examples.yml"),
                    "paths.responses": str(Path(tmp) / f"{n}.sqlite"),
                    "components.llm.model.grammar.@llm_misc": function,
                    "components.llm.model.grammar.max_phrase_tokens": n,
                },
            )
            speed[name] = stats["docs"] / stats["llm_seconds"]
            print(f"{name}: {speed[name]:.2f} docs/s over {stats['docs']} docs, labels {stats['labels']}")
        print(f"speed ratio v2 max 8 / v1 max 4: {speed['v2 max 8'] / speed['v1 max 4']:.2f} (one run)")


def main(n_docs: int) -> None:
    rows = [json.loads(line) for line in TEST.open(encoding="utf8")]
    coverage(rows)
    size_and_build_time(rows)
    annotation_speed(rows, n_docs)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 30)
