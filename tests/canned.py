"""A canned-response model for fast unit tests of parsing and plumbing (never the only test)."""

from typing import Callable, Dict, Iterable, Optional, Tuple

from spacy_llm.registry import registry

from spacy_distill.teacher.base import StoredModel
from spacy_distill.teacher.store import ResponseStore


class CannedModel(StoredModel):
    """Answers each prompt with `answer(text)`, where text is the prompt's last 'Text:' line."""

    name = "Canned"

    def __init__(self, answers: Dict[str, str], default: str = "none", store: Optional[ResponseStore] = None):
        super().__init__(store=store, concurrency=2)
        self.answers = answers
        self.default = default

    @property
    def identity(self):
        return {"kind": self.name, "model": "canned", "answers": self.answers}

    def complete(self, prompt: str) -> Tuple[str, Optional[int], Optional[int]]:
        text = prompt.rsplit("Text: ", 1)[-1].split("\n", 1)[0].strip()
        return self.answers.get(text, self.default), len(prompt.split()), 3

    def describe_failure(self, error: Exception) -> str:
        return f"canned model failed: {error}"


@registry.llm_models("spacy_distill_test.Canned.v1")
def make_canned(
    answers: Dict[str, str], default: str = "none", store: Optional[ResponseStore] = None
) -> Callable[[Iterable[Iterable[str]]], Iterable[Iterable[str]]]:
    return CannedModel(answers, default, store)
