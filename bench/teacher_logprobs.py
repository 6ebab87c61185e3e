"""What the teacher's confidence costs: the bundled Gemma teacher in-process with and without
keeping its answer tokens' log-probabilities (`logprobs` of spacy_distill.LlamaCpp.v1).

Annotates the first N fashion_brands test texts, alternating the two settings over R runs in the
same process (fresh stores, so every prompt is computed), and prints docs/s of each and their
ratio, and whether the answers are the same (recording must not change them).
Usage: python -m bench.teacher_logprobs [N_DOCS] [RUNS]
"""

import json
import statistics
import sys
import tempfile
from pathlib import Path

import spacy

from spacy_distill.files import read_docs
from spacy_distill.teacher.annotate import annotate

ROOT = Path(__file__).resolve().parent.parent
TEST = ROOT / "assets" / "fashion_brands" / "test.jsonl"
CONFIG = ROOT / "configs" / "teacher_ner.cfg"


def run(raw: Path, out: Path, store: Path, logprobs: bool):
    stats = annotate(
        CONFIG,
        raw,
        out,
        show_progress=False,
        overrides={"paths.responses": str(store), "components.llm.model.logprobs": logprobs},
    )
    answers = [d.user_data["teacher"]["response"] for d in read_docs(out, spacy.blank("en").vocab)]
    return stats["docs"] / stats["llm_seconds"], answers


def main(n_docs: int, runs: int) -> None:
    rows = [json.loads(line) for line in TEST.open(encoding="utf8")][:n_docs]
    speeds = {True: [], False: []}
    answers = {}
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.jsonl"
        raw.write_text("".join(json.dumps({"text": r["text"]}) + "\n" for r in rows), encoding="utf8")
        for i in range(runs):
            for logprobs in (False, True) if i % 2 == 0 else (True, False):
                name = f"{int(logprobs)}-{i}"
                speed, answers[logprobs] = run(raw, Path(tmp) / f"{name}.spacy", Path(tmp) / f"{name}.sqlite", logprobs)
                speeds[logprobs].append(speed)
                print(f"run {i + 1} logprobs={logprobs}: {speed:.2f} docs/s")
    with_lp, without = statistics.median(speeds[True]), statistics.median(speeds[False])
    print(f"median docs/s: without {without:.2f}, with log-probabilities {with_lp:.2f}")
    print(f"ratio with / without: {with_lp / without:.2f} ({runs} runs each, {len(rows)} docs)")
    print(f"same answers: {answers[True] == answers[False]}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 40, int(sys.argv[2]) if len(sys.argv) > 2 else 2)
