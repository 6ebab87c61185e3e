"""A Doc with a record's own tokens (Prodigy tokens, CoNLL words, the review database's)."""

from typing import List

from spacy.tokens import Doc
from spacy.vocab import Vocab

from ..formats.common import Correction, FormatError


class BadTokens(FormatError):
    """A record's tokens do not cover its text."""

    def __init__(self, source: str, message: str):
        super().__init__(message)
        self.source = source


def doc_from_tokens(vocab: Vocab, text: str, correction: Correction) -> Doc:
    """A Doc with the file's own tokens; whitespace between tokens becomes spaces or whitespace tokens."""
    words: List[str] = []
    spaces: List[bool] = []
    pos = 0
    for t_text, start, end in correction.tokens:
        if not t_text:
            continue
        gap = text[pos:start]
        if start < pos or gap.strip():
            raise BadTokens(
                correction.source,
                f"{correction.source}: the tokens do not cover the text: {gap!r} before token {t_text!r} "
                f"at {start} is in no token (tokens and text differ)",
            )
        _add_gap(words, spaces, gap)
        words.append(t_text)
        spaces.append(False)
        pos = end
    if text[pos:].strip():
        raise BadTokens(
            correction.source, f"{correction.source}: the text after the last token, {text[pos:]!r:.40}, is in no token"
        )
    _add_gap(words, spaces, text[pos:])
    return Doc(vocab, words=words, spaces=spaces)


def _add_gap(words: List[str], spaces: List[bool], gap: str) -> None:
    if gap and words and not spaces[-1] and gap[0] == " ":
        spaces[-1] = True
        gap = gap[1:]
    if gap:
        words.append(gap)
        spaces.append(False)
