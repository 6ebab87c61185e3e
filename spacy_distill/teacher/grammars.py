"""llama.cpp grammars (GBNF) that make even a tiny model answer in the task's format.

`SpanGrammar` is built per prompt: it allows only lines ``phrase | LABEL``
where LABEL is from the label set and phrase is a run of at most
`max_phrase_tokens` tokens copied from the prompt's text (or the single answer
``none``); v2 also lets a phrase start with a sign like "§" and allows 8 tokens. A tiny model then cannot invent spans or labels. The
text-classification grammar allows only the labels. Models take either a
grammar string or one of these objects as their ``grammar`` option.
"""

import re
from typing import Any, Dict, List, Optional, Union

from spacy_llm.registry import registry
from spacy_llm.util import split_labels

from ..errors import ConfigError

_TOKEN = re.compile(r"\w+|[^\w\s]")


def gbnf_literal(text: str) -> str:
    """A GBNF string literal for text."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    escaped = escaped.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    escaped = escaped.replace("\x00", "\\x00")  # a raw NUL ends the C string llama.cpp parses
    return f'"{escaped}"'


def _alternatives(options: List[str]) -> str:
    return " | ".join(gbnf_literal(option) for option in options)


def text_phrases(text: str, max_tokens: int, start_signs: str = "") -> List[str]:
    """Every run of 1..max_tokens tokens in text that starts with a word token (or one of
    `start_signs`, e.g. "§") and ends with a word token."""
    tokens = list(_TOKEN.finditer(text))
    phrases = set()
    for i, first in enumerate(tokens):
        if not first.group()[0].isalnum() and first.group() not in start_signs:
            continue
        for last in tokens[i : i + max_tokens]:
            if last.group()[-1].isalnum():
                phrase = text[first.start() : last.end()]
                if "|" not in phrase and "\n" not in phrase:
                    phrases.add(phrase)
    return sorted(phrases)


class SpanGrammar:
    """Callable prompt -> GBNF: span lines whose phrases are copied from the prompt's text."""

    def __init__(
        self,
        labels: Union[str, List[str]],
        max_spans: int = 8,
        max_phrase_tokens: int = 6,
        text_marker: str = "\nText: ",
        answer_marker: str = "\nEntities:",
    ):
        self.labels = split_labels(labels)
        if not self.labels:
            raise ConfigError("SpanGrammar needs at least one label")
        self.max_spans = max_spans
        self.max_phrase_tokens = max_phrase_tokens
        self.text_marker = text_marker
        self.answer_marker = answer_marker

    @property
    def identity(self) -> Dict[str, Any]:
        return {"grammar": "spacy_distill.SpanGrammar.v1", **self.__dict__}

    def prompt_text(self, prompt: str) -> str:
        """The text to annotate: after the last text marker, before the answer marker."""
        if self.text_marker not in prompt:
            raise ConfigError(f"SpanGrammar: the prompt has no text marker {self.text_marker!r}")
        return prompt.rsplit(self.text_marker, 1)[1].rsplit(self.answer_marker, 1)[0]

    def answer_problem(self, prompt: str, answer: str) -> Optional[str]:
        """What in an answer breaks this grammar (None: nothing). The stop sequence may have cut the final newline."""
        body = answer.rstrip("\n")
        if body == "none":
            return None
        lines = body.split("\n")
        if len(lines) > self.max_spans:
            return f"{len(lines)} lines, at most {self.max_spans} allowed"
        phrases = set(self.phrases(prompt))
        for line in lines:
            phrase, bar, label = line.rpartition(" | ")
            if not bar or label not in self.labels or phrase not in phrases:
                return f"{line[:80]!r} is not 'phrase | LABEL' with a phrase from the text and a known label"
        return None

    def phrases(self, prompt: str) -> List[str]:
        """The phrases an answer may name for this prompt."""
        return text_phrases(self.prompt_text(prompt), self.max_phrase_tokens)

    def __call__(self, prompt: str) -> str:
        phrases = self.phrases(prompt)
        if not phrases:
            return 'root ::= "none\\n"'
        return "\n".join(
            [
                f'root ::= ("none\\n" | line{{1,{self.max_spans}}}) "\\n"',
                'line ::= phrase " | " label "\\n"',
                f"phrase ::= {_alternatives(phrases)}",
                f"label ::= {_alternatives(self.labels)}",
            ]
        )


class SpanGrammarV2(SpanGrammar):
    """v2: a phrase may also start with a sign that belongs to a name or citation
    ("§ 2 Abs. 1 Satz 1 VetbKostG", "$5 bill", "#metoo", "@zara"), and max_phrase_tokens is 8."""

    start_signs = "§$€£¥#@"

    def __init__(
        self,
        labels: Union[str, List[str]],
        max_spans: int = 8,
        max_phrase_tokens: int = 8,
        text_marker: str = "\nText: ",
        answer_marker: str = "\nEntities:",
    ):
        super().__init__(labels, max_spans, max_phrase_tokens, text_marker, answer_marker)

    @property
    def identity(self) -> Dict[str, Any]:
        return {"grammar": "spacy_distill.SpanGrammar.v2", **self.__dict__}

    def phrases(self, prompt: str) -> List[str]:
        return text_phrases(self.prompt_text(prompt), self.max_phrase_tokens, self.start_signs)


def textcat_grammar(labels: Union[str, List[str]], exclusive: bool = True) -> str:
    """GBNF for TextCat.v3 answers: POS/NEG for one label, else one (or a list of) labels."""
    labels = split_labels(labels)
    if len(labels) == 1:
        return 'root ::= ("POS" | "NEG") "\\n"'
    if exclusive:
        return f'root ::= label "\\n"\nlabel ::= {_alternatives(labels)}'
    return f'root ::= ("==NONE==" | label (", " label)*) "\\n"\nlabel ::= {_alternatives(labels)}'


def grammar_for(grammar: Any, prompt: str) -> str:
    """The GBNF text for one prompt, from a fixed string or a per-prompt grammar object."""
    return grammar(prompt) if callable(grammar) else grammar


def grammar_problem(grammar: Any, prompt: str, answer: str) -> Optional[str]:
    """What in the answer breaks the grammar, for grammars that can tell (SpanGrammar); else None."""
    check = getattr(grammar, "answer_problem", None)
    return check(prompt, answer) if check is not None else None


def grammar_identity(grammar: Any) -> Any:
    """What identifies a grammar in the response store's key."""
    return getattr(grammar, "identity", grammar)


@registry.llm_misc("spacy_distill.SpanGrammar.v1")
def make_span_grammar(
    labels: Union[str, List[str]],
    max_spans: int = 8,
    max_phrase_tokens: int = 6,
    text_marker: str = "\nText: ",
    answer_marker: str = "\nEntities:",
) -> SpanGrammar:
    """Per-prompt grammar: lines ``phrase | LABEL``, phrases copied from the text, labels from the set.

    text_marker / answer_marker: where the text to annotate starts and ends in the prompt
    (they match the packaged span_compact template).
    """
    return SpanGrammar(labels, max_spans, max_phrase_tokens, text_marker, answer_marker)


@registry.llm_misc("spacy_distill.SpanGrammar.v2")
def make_span_grammar_v2(
    labels: Union[str, List[str]],
    max_spans: int = 8,
    max_phrase_tokens: int = 8,
    text_marker: str = "\nText: ",
    answer_marker: str = "\nEntities:",
) -> SpanGrammar:
    """Per-prompt grammar: lines ``phrase | LABEL``, phrases copied from the text, labels from the set.

    max_phrase_tokens: the longest span the model can name, in tokens (a word, or one punctuation
        sign: "§ 2 Abs. 1 Satz 1 VetbKostG" is 8); the grammar grows with it (about 2x from 4 to 8).
    Unlike v1 (default 6), a phrase may also start with § $ € £ ¥ # @.
    text_marker / answer_marker: where the text to annotate starts and ends in the prompt
    (they match the packaged span_compact template).
    """
    return SpanGrammarV2(labels, max_spans, max_phrase_tokens, text_marker, answer_marker)


@registry.llm_misc("spacy_distill.TextCatGrammar.v1")
def make_textcat_grammar(labels: Union[str, List[str]], exclusive: bool = True) -> str:
    """Grammar for text-classification answers: only the task's labels."""
    return textcat_grammar(labels, exclusive=exclusive)
