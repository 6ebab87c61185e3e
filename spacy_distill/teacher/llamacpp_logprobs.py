"""Token log-probabilities of an answer llama.cpp generated in-process, under its grammar.

llama-cpp-python returns log-probabilities only for a model built with `logits_all`,
which keeps the logits of every prompt token (n_ctx x vocabulary floats: 2 GB for
Gemma-3's 262,144 tokens). Instead, `LogitsRecorder` (a logits processor, which
llama.cpp calls before sampling) keeps the logits of each generated token only.
With a grammar, the model chooses among the tokens the grammar allows at that point:
the probability that counts is the token's share of theirs, not of the whole
vocabulary, where text the grammar forbids (a line break where the answer must start)
can hold most of the mass. `answer_logprobs` replays the grammar over the recorded
logits to get it. The share is computed among the `TOP_K` likeliest tokens of each
step: the grammar check of all 262,144 costs up to 0.2 s a token, and the tokens left
out change a probability by about 0.01 (measured on the sample's answers).
"""

import ctypes
from typing import Any, List, Optional, Tuple

import numpy as np

from .answer_scores import token_offsets

TOP_K = 4096


class LogitsRecorder:
    """A llama-cpp-python logits processor that keeps each step's logits and leaves them unchanged."""

    def __init__(self) -> None:
        self.steps: List[Tuple[int, np.ndarray]] = []  # (tokens before this step, logits)

    def __call__(self, input_ids: Any, logits: np.ndarray) -> np.ndarray:
        self.steps.append((len(input_ids), np.array(logits, dtype=np.float32)))
        return logits


def log_softmax_at(logits: np.ndarray, token_index: int) -> float:
    values = logits.astype(np.float64)
    top = values.max()
    return float(values[token_index] - top - np.log(np.exp(values - top).sum()))


def answer_logprobs(llm: Any, recorder: LogitsRecorder, text: str, grammar: Optional[str]) -> Optional[List[List]]:
    """[start char, log-probability] per token of the answer `text` just generated; None if the
    recorded steps do not spell the text (the answer cannot be scored honestly)."""
    if not recorder.steps:
        return None
    first = recorder.steps[0][0]
    tokens = llm.input_ids[first : llm.n_tokens].tolist()
    pieces, spelled = [], b""
    for token in tokens:  # the tokens that spell the text (llama.cpp does not evaluate the token that stopped it)
        if len(spelled.decode("utf-8", errors="replace")) >= len(text):
            break
        pieces.append(llm.detokenize([token]))
        spelled += pieces[-1]
    if not spelled.decode("utf-8", errors="replace").startswith(text):
        return None
    tokens = tokens[: len(pieces)]
    logprobs = grammar_logprobs(llm, recorder, tokens, grammar) if grammar else raw_logprobs(recorder, tokens)
    return [[offset, round(lp, 6)] for offset, lp in zip(token_offsets(pieces), logprobs)]


def raw_logprobs(recorder: LogitsRecorder, tokens: List[int]) -> List[float]:
    return [log_softmax_at(logits, token) for (_, logits), token in zip(recorder.steps, tokens)]


def grammar_logprobs(llm: Any, recorder: LogitsRecorder, tokens: List[int], grammar: str) -> List[float]:
    """Each token's log-probability among the likeliest tokens the grammar allows at its step."""
    import llama_cpp
    from llama_cpp._internals import LlamaTokenDataArray

    sampler = llama_cpp.llama_sampler_init_grammar(llm._model.vocab, grammar.encode("utf-8"), b"root")
    logprobs = []
    try:
        for (_, logits), token in zip(recorder.steps, tokens):
            ids = np.argpartition(-logits, TOP_K)[:TOP_K] if len(logits) > TOP_K else np.arange(len(logits))
            if token not in ids:
                ids = np.append(ids, token)
            candidates = LlamaTokenDataArray(n_vocab=len(ids))
            candidates.candidates_data.id[:] = ids.astype(np.intc)
            candidates.candidates_data.logit[:] = logits[ids]
            candidates.candidates_data.p[:] = 0.0
            llama_cpp.llama_sampler_apply(sampler, ctypes.byref(candidates.candidates))
            allowed = candidates.candidates_data.logit
            logprobs.append(log_softmax_at(allowed, int(np.flatnonzero(candidates.candidates_data.id == token)[0])))
            llama_cpp.llama_sampler_accept(sampler, token)
    finally:
        llama_cpp.llama_sampler_free(sampler)
    return logprobs
