"""The teacher learns from the corrections: the most similar corrected docs become its few-shot examples.

`spacy_distill.SimilarExamples.v1` (registry `llm_tasks`) wraps any spacy-llm built-in task
(NER.v3, SpanCat.v3, TextCat.v3, ...). For each prompt it picks the `n` corrected docs most
similar to the doc (TF-IDF cosine) and renders the wrapped task's own template with them as
`prompt_examples` (so every template works unchanged). Until `min_examples` corrected docs
exist, the task's static examples from its config are used:

    [components.llm.task]
    @llm_tasks = "spacy_distill.SimilarExamples.v1"
    examples = "corrections.jsonl"   # any corrections file `import` reads, a .spacy DocBin, or a list
    n = 3

    [components.llm.task.task]
    @llm_tasks = "spacy.NER.v3"
    labels = ["FASHION_BRAND"]
    ...

The prompt changes with the examples, so the response store never reuses an answer given
with other examples. The loop writes this wrapping into its teacher configs
(`spacy_distill.rounds.examples.wrap_teacher_config`).
"""

import warnings
from pathlib import Path
from typing import Any, Iterable, List, Optional, Tuple, Union

import spacy
from spacy.tokens import Doc, DocBin
from spacy.training import Example
from spacy_llm.registry import registry

from ..corpus.corrections import expand_paths, load_corrections
from ..errors import ConfigError
from .similarity import TfidfIndex
from .spacy_llm import prompt_example_type, prompt_examples, set_prompt_examples


def read_corrected_docs(paths: Union[str, Path, List[str], None], lang: str = "en") -> List[Doc]:
    """Complete corrected docs from .spacy DocBins and corrections files (missing files: none)."""
    if not paths:
        return []
    nlp = spacy.blank(lang)
    docs: List[Doc] = []
    for path in expand_paths(paths):
        if not Path(path).exists():
            continue
        if Path(path).suffix == ".spacy":
            docs.extend(DocBin().from_disk(path).get_docs(nlp.vocab))
        else:
            docs.extend(load_corrections([path], nlp)[0])
    return [d for d in docs if d.user_data.get("corrections", {}).get("status", "complete") == "complete"]


class SimilarExamplesTask:
    """A spacy-llm task whose few-shot examples are chosen per prompt from corrected docs."""

    def __init__(
        self,
        task: Any,
        docs: List[Doc],
        n: int = 3,
        keep_static: bool = False,
        max_chars: int = 600,
        min_examples: int = 1,
    ):
        self._inner = task
        self._static = prompt_examples(task)
        self.n = n
        self.keep_static = keep_static
        self.min_examples = min_examples
        self._examples: List[Any] = []
        texts: List[str] = []
        for doc in docs:
            if len(doc.text) > max_chars or doc.text in texts:
                continue
            example = self._to_example(doc)
            if example is not None:
                self._examples.append(example)
                texts.append(doc.text)
        self._texts = texts
        self._index = TfidfIndex(texts) if texts else None

    def _to_example(self, doc: Doc) -> Optional[Any]:
        example_type = prompt_example_type(self._inner)
        if example_type is None:
            raise ConfigError(
                f"{type(self._inner).__name__} has no few-shot example type; wrap a spacy-llm built-in task"
            )
        try:
            return example_type.generate(Example(doc, doc), self._inner)
        except (KeyError, ValueError):  # e.g. a span group the doc does not have
            return None

    def examples_for(self, text: str) -> List[Any]:
        """The few-shot examples of the prompt for `text`."""
        if self._index is None or len(self._examples) < self.min_examples or self.n <= 0:
            return list(self._static)
        best = self._index.most_similar(text, self.n, texts=self._texts)
        chosen = [self._examples[i] for i in reversed(best)]  # the most similar right before the text
        return (self._static + chosen) if self.keep_static else chosen

    def generate_prompts(
        self, docs: Iterable[Doc], context_length: Optional[int] = None
    ) -> Iterable[Tuple[Iterable[Any], Iterable[Doc]]]:
        for doc in docs:
            set_prompt_examples(self._inner, self.examples_for(doc.text))
            try:
                yield from list(self._inner.generate_prompts([doc], context_length))
            finally:
                set_prompt_examples(self._inner, self._static)

    def parse_responses(self, shards: Iterable[Iterable[Doc]], responses: Iterable[Iterable[str]]) -> Iterable[Doc]:
        return self._inner.parse_responses(shards, responses)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name == "_inner":
            raise AttributeError(name)
        return getattr(self._inner, name)


@registry.llm_tasks("spacy_distill.SimilarExamples.v1")
def make_similar_examples_task(
    task: Any,
    examples: Optional[Union[str, List[str]]] = None,
    n: int = 3,
    keep_static: bool = False,
    max_chars: int = 600,
    min_examples: int = 1,
    lang: str = "en",
) -> SimilarExamplesTask:
    """Wrap a spacy-llm task so each prompt shows the n corrected docs most similar to its text.

    examples: corrected docs: .spacy DocBins and/or corrections files, comma-separated or a list
        (files that do not exist yet are skipped). Only complete corrections are used.
    keep_static: show the task's own examples too, before the similar ones.
    max_chars: skip corrected docs longer than this (a small model's context is short).
    min_examples: use the task's own examples until this many corrected docs exist.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        docs = read_corrected_docs(examples, lang)
    return SimilarExamplesTask(task, docs, n, keep_static, max_chars, min_examples)
