"""Scoring tasks: the LLM scores candidates by log-probability instead of generating annotations.

`spacy_distill.CandidateNER.v1` / `CandidateSpanCat.v1`: per doc, every candidate span
(`spacy_distill.Candidates.v1`) and label becomes one question, `Is "X" a LABEL here?`,
after a prefix shared by all of the doc's questions (instructions, few-shot examples,
the doc's text); P(yes) / (P(yes) + P(no)) from the answers' log-probabilities is the
span's probability. Spans at or above `threshold` are kept, highest probability first
where they overlap; the probability is the suggestion's confidence.

`spacy_distill.ScoredTextCat.v1`: one prompt per doc ending in "Label:", every label
scored as its continuation; doc.cats holds each label's share of the probability.

Use them with a scorer model: spacy_distill.LlamaCppScorer.v1 (in-process) or
spacy_distill.OpenAIScorer.v1 (a server that returns logprobs).
"""

import json
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

from spacy.tokens import Doc
from spacy_llm.registry import registry

from ..errors import ConfigError
from .candidates import CandidateGenerator
from .confidence import normalised, set_scored_spans, yes_probability
from .logprob_models import scoring_prompt

YES, NO = " yes", " no"
DEFAULT_QUESTION = 'Is "{phrase}" {label_name} here?'
ExampleReader = Optional[Callable[[], Iterable[Dict[str, Any]]]]


def readable(label: str) -> str:
    """FASHION_BRAND -> "a fashion brand"."""
    words = label.replace("_", " ").replace("-", " ").lower()
    return ("an " if words[:1] in "aeiou" else "a ") + words


class CandidateSpansTask:
    """Scores candidate spans per label; doc.ents (spans_key None) or doc.spans[spans_key]."""

    def __init__(
        self,
        labels: List[str],
        candidates: CandidateGenerator,
        label_definitions: Optional[Dict[str, str]] = None,
        label_names: Optional[Dict[str, str]] = None,
        examples: ExampleReader = None,
        description: str = "",
        question: str = DEFAULT_QUESTION,
        negatives_per_example: int = 2,
        threshold: float = 0.5,
        spans_key: Optional[str] = None,
    ):
        if not labels:
            raise ConfigError("A candidate scoring task needs at least one label")
        if "{phrase}" not in question or "{label_name}" not in question:
            raise ConfigError(f"question must contain {{phrase}} and {{label_name}}, got {question!r}")
        self._labels = list(labels)
        self.candidates = candidates
        self.label_definitions = dict(label_definitions or {})
        self.label_names = {label: (label_names or {}).get(label) or readable(label) for label in labels}
        self.question = question
        self.threshold = threshold
        self.spans_key = spans_key
        self.description = description
        self._prompt_examples = list(examples() if examples else [])
        self.negatives_per_example = negatives_per_example
        self._prefix_head = self._render_head()

    @property
    def labels(self) -> Tuple[str, ...]:
        return tuple(self._labels)

    def ask(self, phrase: str, label: str) -> str:
        return self.question.format(phrase=phrase, label_name=self.label_names[label])

    def _render_head(self) -> str:
        lines = [self.description.strip()] if self.description.strip() else []
        for label in self._labels:
            definition = self.label_definitions.get(label)
            name = self.label_names[label]
            lines.append(f"{name[0].upper()}{name[1:]}: {definition}." if definition else f"Find {name}.")
        lines.append("Answer yes or no for each phrase of the text.")
        blocks = ["\n".join(lines)]
        for example in self._prompt_examples:
            blocks.append(self._render_example(example))
        return "\n\n".join(blocks) + "\n\n"

    def _render_example(self, example: Dict[str, Any]) -> str:
        text = str(example.get("text", ""))
        answers: List[Tuple[int, str, str, str]] = []  # position, phrase, label, answer
        positives = set()
        for span in example.get("spans") or []:
            phrase, label = str(span.get("text", "")), span.get("label")
            position = text.find(phrase)
            if span.get("is_entity") and label in self._labels:
                answers.append((position, phrase, label, YES))
                positives.add(phrase)
            else:
                answers.extend((position, phrase, other, NO) for other in self._labels)
        doc = self.candidates.make_doc(text)
        negatives = [doc[s:e] for s, e in self.candidates(doc) if doc[s:e].text not in positives]
        negatives = [s for s in negatives if not any(s.text in p or p in s.text for p in positives)]
        for span in negatives[: self.negatives_per_example]:
            answers.extend((span.start_char, span.text, label, NO) for label in self._labels)
        seen, lines = set(), [f"Text: {text}"]
        for _, phrase, label, answer in sorted(answers, key=lambda a: a[0]):
            if (phrase, label) not in seen:
                seen.add((phrase, label))
                lines.append(self.ask(phrase, label) + answer)
        return "\n".join(lines)

    def prefix(self, doc: Doc) -> str:
        """What every question of the doc shares: instructions, examples, the doc's text."""
        return f"{self._prefix_head}Text: {doc.text}\n"

    def questions(self, doc: Doc) -> List[Tuple[int, int, str, str]]:
        """(start, end, label, scoring prompt) per candidate span and label."""
        prefix = self.prefix(doc)
        return [
            (start, end, label, scoring_prompt(prefix + self.ask(doc[start:end].text, label), (YES, NO)))
            for start, end in self.candidates(doc)
            for label in self._labels
        ]

    def generate_prompts(
        self, docs: Iterable[Doc], context_length: Optional[int] = None
    ) -> Iterable[Tuple[Iterable[str], Iterable[Doc]]]:
        for doc in docs:
            yield [q[3] for q in self.questions(doc)], [doc]

    def parse_responses(self, shards: Iterable[Iterable[Doc]], responses: Iterable[Iterable[str]]) -> Iterable[Doc]:
        for doc_shards, doc_responses in zip(shards, responses):
            doc = list(doc_shards)[0]
            questions, answers = self.questions(doc), list(doc_responses)
            scored = [
                (start, end, label, yes_probability(json.loads(answer), YES, NO))
                for (start, end, label, _), answer in zip(questions, answers)
            ]
            set_scored_spans(doc, scored, self.threshold, self.spans_key)
            yield doc


class ScoredTextCatTask:
    """Exclusive categories: every label scored as the continuation of "Label:"; doc.cats their shares."""

    def __init__(
        self,
        labels: List[str],
        label_definitions: Optional[Dict[str, str]] = None,
        examples: ExampleReader = None,
        description: str = "",
    ):
        if len(labels) < 2:
            raise ConfigError("spacy_distill.ScoredTextCat.v1 needs at least two labels")
        self._labels = list(labels)
        lines = [description.strip()] if description.strip() else []
        lines.append("Give each text one label: " + ", ".join(labels) + ".")
        lines += [f"{label}: {text}" for label, text in (label_definitions or {}).items() if label in labels]
        blocks = ["\n".join(lines)]
        for example in examples() if examples else []:
            answer = example.get("answer")
            if answer in labels:
                blocks.append(f"Text: {example['text']}\nLabel: {answer}")
        self._prefix_head = "\n\n".join(blocks) + "\n\n"

    @property
    def labels(self) -> Tuple[str, ...]:
        return tuple(self._labels)

    def generate_prompts(
        self, docs: Iterable[Doc], context_length: Optional[int] = None
    ) -> Iterable[Tuple[Iterable[str], Iterable[Doc]]]:
        answers = [" " + label for label in self._labels]
        for doc in docs:
            yield [scoring_prompt(f"{self._prefix_head}Text: {doc.text}\nLabel:", answers)], [doc]

    def parse_responses(self, shards: Iterable[Iterable[Doc]], responses: Iterable[Iterable[str]]) -> Iterable[Doc]:
        for doc_shards, doc_responses in zip(shards, responses):
            doc = list(doc_shards)[0]
            shares = normalised(json.loads(list(doc_responses)[0]))
            doc.cats = {label: shares[" " + label] for label in self._labels}
            yield doc


@registry.llm_tasks("spacy_distill.CandidateNER.v1")
def make_candidate_ner(
    labels: List[str],
    candidates: CandidateGenerator,
    label_definitions: Optional[Dict[str, str]] = None,
    label_names: Optional[Dict[str, str]] = None,
    examples: ExampleReader = None,
    description: str = "",
    question: str = DEFAULT_QUESTION,
    negatives_per_example: int = 2,
    threshold: float = 0.5,
) -> CandidateSpansTask:
    """Entities (doc.ents) from candidate spans scored yes/no by the LLM's log-probabilities.

    candidates: spacy_distill.Candidates.v1. label_names: how the question names a label
    (default "a fashion brand" for FASHION_BRAND). examples: spacy.FewShotReader.v1 in the NER.v3
    format (spans with is_entity); each example also gets `negatives_per_example` candidates as "no".
    threshold: the lowest probability kept (choose it on a dev set). Needs a scorer model.
    """
    return CandidateSpansTask(
        labels, candidates, label_definitions, label_names, examples, description, question,
        negatives_per_example, threshold, spans_key=None,
    )  # fmt: skip


@registry.llm_tasks("spacy_distill.CandidateSpanCat.v1")
def make_candidate_spancat(
    labels: List[str],
    candidates: CandidateGenerator,
    spans_key: str = "sc",
    label_definitions: Optional[Dict[str, str]] = None,
    label_names: Optional[Dict[str, str]] = None,
    examples: ExampleReader = None,
    description: str = "",
    question: str = DEFAULT_QUESTION,
    negatives_per_example: int = 2,
    threshold: float = 0.5,
) -> CandidateSpansTask:
    """Like CandidateNER.v1, for doc.spans[spans_key]; the probabilities also in its attrs["scores"]."""
    return CandidateSpansTask(
        labels, candidates, label_definitions, label_names, examples, description, question,
        negatives_per_example, threshold, spans_key=spans_key,
    )  # fmt: skip


@registry.llm_tasks("spacy_distill.ScoredTextCat.v1")
def make_scored_textcat(
    labels: List[str],
    label_definitions: Optional[Dict[str, str]] = None,
    examples: ExampleReader = None,
    description: str = "",
) -> ScoredTextCatTask:
    """Exclusive text classes, every label scored by log-probability (examples: the TextCat.v3 format)."""
    return ScoredTextCatTask(labels, label_definitions, examples, description)
