"""A canned-response model for fast unit tests of parsing and plumbing (never the only test)."""

from typing import Callable, Dict, Iterable, Optional

from spacy_llm.registry import registry

from spacy_distill.teacher.base import Completion, StoredModel
from spacy_distill.teacher.store import ResponseStore


class CannedModel(StoredModel):
    """Answers each prompt with `answers[text]`, where text is the prompt's last 'Text:' line (an
    answer given as a ScoredAnswer comes with its token log-probabilities)."""

    name = "Canned"

    def __init__(
        self,
        answers: Dict[str, str],
        default: str = "none",
        store: Optional[ResponseStore] = None,
        context_length: Optional[int] = None,
    ):
        super().__init__(store=store, concurrency=2)
        self.answers = answers
        self.default = default
        if context_length is not None:  # spacy-llm cuts longer docs into shards
            self.context_length = context_length

    @property
    def identity(self):
        return {"kind": self.name, "model": "canned", "answers": self.answers}

    @property
    def target(self) -> str:
        return "canned model"

    def complete(self, prompt: str) -> Completion:
        text = prompt.rsplit("Text: ", 1)[-1].split("\n", 1)[0].strip()
        answer = self.answers.get(text, self.default)
        return Completion(answer, "stop", len(prompt.split()), 3, getattr(answer, "token_logprobs", None))


@registry.llm_models("spacy_distill_test.Canned.v1")
def make_canned(
    answers: Dict[str, str],
    default: str = "none",
    store: Optional[ResponseStore] = None,
    context_length: Optional[int] = None,
) -> Callable[[Iterable[Iterable[str]]], Iterable[Iterable[str]]]:
    return CannedModel(answers, default, store, context_length)
