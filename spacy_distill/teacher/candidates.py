"""Candidate spans for the scoring teacher: cheap, high-recall guesses that the LLM then scores.

From the tokenizer and simple rules: capitalised or unusual tokens (mixed case, digits, `&`)
that are not stop words, lower-case content words if asked, n-grams of them up to
`max_ngram` tokens (with `&`, `-`, `'`, `.`, `of`, `and`, `de` allowed inside), noun chunks
where the pipeline has a parser, and the matches of a patterns JSONL (spaCy's
EntityRuler/SpanRuler format, e.g. the rules `spacy-distill rules propose` wrote).
"""

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, List, Optional, Set, Tuple, Union

import srsly
from spacy.tokens import Doc, Token
from spacy_llm.registry import registry

from ..errors import ConfigError

TokenSpan = Tuple[int, int]  # token start, token end (exclusive)
CONNECTORS = frozenset({"&", "-", "'", ".", "of", "and", "de", "'s"})


def is_capitalised(token: Token) -> bool:
    """Starts upper-case, or looks like a name: inner capitals, digits, or `&` in a word."""
    text = token.text
    if text[:1].isupper() or any(c.isupper() for c in text[1:]):
        return True
    return (any(c.isdigit() for c in text) and not token.like_num) or ("&" in text and len(text) > 1)


@dataclass
class CandidateGenerator:
    """Candidate (start, end) token spans of a doc, in order, each once."""

    max_ngram: int = 3
    lowercase: bool = False
    min_chars: int = 2
    max_candidates: int = 40
    noun_chunks: bool = True
    patterns: Optional[Union[str, Path]] = None
    lang: str = "en"
    common_words_from: Optional[Union[str, Path]] = None
    min_lowercase_count: int = 2
    _common: Counter = field(default_factory=Counter, init=False, repr=False)
    _ruler: Any = field(default=None, init=False, repr=False)
    _nlp: Any = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.max_ngram < 1 or self.max_candidates < 1:
            raise ConfigError("max_ngram and max_candidates must be at least 1")
        if self.patterns:
            self._ruler = load_patterns(Path(self.patterns))
        if self.common_words_from:
            for text in read_texts(Path(self.common_words_from)):
                self._common.update(t.text for t in self.make_doc(text) if t.text.islower())

    def make_doc(self, text: str) -> Doc:
        """The text tokenized by a blank pipeline of `lang` (for the few-shot examples)."""
        if self._nlp is None:
            import spacy

            self._nlp = spacy.blank(self.lang)
        return self._nlp.make_doc(text)

    def is_candidate_token(self, token: Token) -> bool:
        if token.is_punct or token.is_space or token.like_url or token.like_email or token.like_num:
            return False
        text = token.text
        if len(text) < self.min_chars or token.is_stop or not any(c.isalpha() for c in text):
            return False
        if text.istitle() and self._common[token.lower_] >= self.min_lowercase_count:
            return self.lowercase  # a common word, capitalised at the start of a sentence
        return is_capitalised(token) or (self.lowercase and token.is_alpha)

    def __call__(self, doc: Doc) -> List[TokenSpan]:
        spans: List[TokenSpan] = []
        seen: Set[TokenSpan] = set()

        def add(start: int, end: int) -> None:
            if (start, end) not in seen and end > start:
                seen.add((start, end))
                spans.append((start, end))

        if self._ruler is not None:
            for start, end in self._ruler(doc):
                add(start, end)
        if self.noun_chunks and doc.has_annotation("DEP"):
            for chunk in doc.noun_chunks:
                start = chunk.start + (chunk[0].is_stop or chunk[0].pos_ == "DET")
                add(start, chunk.end)
        for start, end in self.ngrams(doc):
            add(start, end)
        capitalised_first = sorted(spans, key=lambda s: (not is_capitalised(doc[s[0]]), s[1] - s[0], s[0]))
        return sorted(capitalised_first[: self.max_candidates])

    def ngrams(self, doc: Doc) -> List[TokenSpan]:
        """Spans of 1..max_ngram tokens that start and end on a candidate token, with only
        candidate tokens or connectors between them."""
        ok = [self.is_candidate_token(t) for t in doc]
        inner = [ok[i] or doc[i].lower_ in CONNECTORS for i in range(len(doc))]
        out = []
        for start in range(len(doc)):
            if not ok[start]:
                continue
            for end in range(start + 1, min(len(doc), start + self.max_ngram) + 1):
                if not inner[end - 1]:
                    break
                if ok[end - 1]:
                    out.append((start, end))
        return out


def read_texts(path: Path) -> List[str]:
    """The texts of a .txt file (one per line) or a JSONL file (its "text" fields)."""
    if not path.exists():
        raise ConfigError(f"{path}: file of texts (common_words_from) not found")
    if path.suffix == ".jsonl":
        return [str(row.get("text", "")) for row in srsly.read_jsonl(path) if isinstance(row, dict)]
    return path.read_text(encoding="utf8").splitlines()


def load_patterns(path: Path) -> Callable[[Doc], List[TokenSpan]]:
    """A SpanRuler on a blank pipeline with the patterns of a JSONL file (EntityRuler format)."""
    import spacy

    if not path.exists():
        raise ConfigError(f"{path}: patterns file not found")
    patterns = []
    for line, row in enumerate(srsly.read_jsonl(path), start=1):
        if not isinstance(row, dict) or "pattern" not in row or "label" not in row:
            raise ConfigError(f"{path}:{line}: a pattern needs 'label' and 'pattern'")
        patterns.append({"label": row["label"], "pattern": row["pattern"]})
    nlp = spacy.blank("en")
    ruler = nlp.add_pipe("span_ruler", config={"spans_key": "candidates", "phrase_matcher_attr": "LOWER"})
    ruler.add_patterns(patterns)

    def match(doc: Doc) -> List[TokenSpan]:
        matched = ruler(doc.copy())
        return [(span.start, span.end) for span in matched.spans["candidates"]]

    return match


@registry.llm_misc("spacy_distill.Candidates.v1")
def make_candidates(
    max_ngram: int = 3,
    lowercase: bool = False,
    min_chars: int = 2,
    max_candidates: int = 40,
    noun_chunks: bool = True,
    patterns: Optional[str] = None,
    lang: str = "en",
    common_words_from: Optional[str] = None,
    min_lowercase_count: int = 2,
) -> CandidateGenerator:
    """Candidate spans for spacy_distill.CandidateNER.v1 / CandidateSpanCat.v1.

    max_ngram: longest candidate in tokens. lowercase: also lower-case content words (not stop words),
    for labels that are not names (toxic words, diseases). max_candidates: per doc, capitalised and
    short ones first. patterns: a patterns JSONL whose matches are candidates too. lang: the
    tokenizer's language for the few-shot examples. common_words_from: a .txt or .jsonl of the
    project's raw texts; a title-case word written lower-case there at least `min_lowercase_count`
    times ("Came" at a sentence's start) is no candidate unless `lowercase`.
    """
    return CandidateGenerator(
        max_ngram=max_ngram,
        lowercase=lowercase,
        min_chars=min_chars,
        max_candidates=max_candidates,
        noun_chunks=noun_chunks,
        patterns=patterns,
        lang=lang,
        common_words_from=common_words_from,
        min_lowercase_count=min_lowercase_count,
    )
