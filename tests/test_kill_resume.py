"""kill -9 in the middle of `spacy-distill annotate`, rerun: only the unanswered prompts are sent.

A real tiny model (SmolLM2-135M, in-process llama.cpp) annotates real WNUT-17 sentences.
"""

import subprocess

import pytest
import spacy
from llm_helpers import (
    NER_EXAMPLES,
    ROOT,
    TEACHER_NER_CFG,
    cli_command,
    count_answers,
    kill9,
    run_annotate,
    store_rows,
    wait_for_answers,
    wnut17_texts,
    write_txt,
)
from spacy.tokens import DocBin

pytestmark = pytest.mark.llm

N_TEXTS = 30
KILL_AFTER = 8  # answers in the store; the other 22 take several seconds, so the run cannot be over
MODEL_OVERRIDE = ("--components.llm.model.model_path.name", "smollm2-135m-instruct")


def test_kill_9_then_resume(tmp_path, test_data):
    texts = wnut17_texts(test_data, N_TEXTS, min_chars=30, max_chars=100)  # short: fast prompts
    assert len(set(texts)) == N_TEXTS  # distinct texts: one prompt each
    input_path = write_txt(tmp_path / "texts.txt", texts)
    store = tmp_path / "store.sqlite"
    output = tmp_path / "teacher.spacy"
    log_path = tmp_path / "killed_run.log"

    cmd = cli_command(
        "annotate",
        str(TEACHER_NER_CFG),
        str(input_path),
        str(output),
        "--batch-size",
        "4",
        "--quiet",
        "--paths.examples",
        str(NER_EXAMPLES),
        "--paths.responses",
        str(store),
        *MODEL_OVERRIDE,
    )
    with log_path.open("wb") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        try:
            seen = wait_for_answers(proc, store, KILL_AFTER, timeout=300)
            if seen < 0:
                pytest.fail(
                    f"annotate ended (exit code {proc.returncode}) before the store held {KILL_AFTER} answers "
                    f"({count_answers(store)} of {N_TEXTS}), so it could not be killed mid-run. "
                    f"Log:\n{log_path.read_text(errors='replace')[-4000:]}"
                )
            kill9(proc)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)
    assert proc.returncode == -9, f"expected death by SIGKILL, got exit code {proc.returncode}"

    answered = count_answers(store)
    assert KILL_AFTER <= answered < N_TEXTS, (
        f"{answered} of {N_TEXTS} prompts were answered before the kill; the kill was not mid-run"
    )
    assert not output.exists(), "a killed run must not leave an output file"
    before = {row["key"]: row for row in store_rows(store)}

    stats = run_annotate(input_path, output, tmp_path / "stats.json", store, "--batch-size", "4", *MODEL_OVERRIDE)
    assert stats["docs"] == N_TEXTS
    assert stats["llm_calls"] == N_TEXTS - answered, (stats, answered)
    assert stats["cache_hits"] == answered, (stats, answered)

    docs = list(DocBin().from_disk(output).get_docs(spacy.blank("en").vocab))
    assert [doc.text for doc in docs] == texts
    after = {row["key"]: row for row in store_rows(store)}
    assert len(after) == N_TEXTS
    # The answers from before the kill were reused as they were, not computed again.
    assert all(after[key] == row for key, row in before.items())
    stored_responses = {row["prompt"]: row["response"] for row in after.values()}
    for doc in docs:
        (prompt,) = doc.user_data["llm_io"]["llm"]["prompt"]
        assert doc.user_data["teacher"]["response"] == (stored_responses[prompt],)
