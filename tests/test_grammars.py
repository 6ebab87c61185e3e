"""GBNF grammars, checked by llama.cpp itself.

llama-cpp-python 0.3.x's `LlamaGrammar.from_string` only stores the text (it
accepts 'root ::= "a' too), so these tests hand every grammar to llama.cpp's
own parser (`llama_sampler_init_grammar`, with the vocabulary of the bundled
GGUF model loaded vocab-only, ~0.2 s) and then walk answers through the
grammar sampler token by token to see which answers it allows.
"""

import ctypes
import re
from pathlib import Path
from typing import List

import pytest
from spacy.util import load_config
from spacy_llm.registry import registry
from spacy_llm.util import assemble_from_config

from spacy_distill.teacher.grammars import (
    SpanGrammar,
    SpanGrammarV2,
    gbnf_literal,
    grammar_for,
    grammar_identity,
    text_phrases,
    textcat_grammar,
)
from spacy_distill.teacher.store import prompt_key

llama_cpp = pytest.importorskip("llama_cpp")
ROOT = Path(__file__).parent.parent
LABELS = ["FASHION_BRAND", "SHOP"]
pytestmark = [
    pytest.mark.filterwarnings("ignore:.*Skipping unsupported user data 'spacy_distill"),
    pytest.mark.filterwarnings("ignore:Task supports sharding"),
]


class LlamaCppGrammars:
    """llama.cpp's grammar parser and sampler over a real vocabulary."""

    def __init__(self, gguf: Path):
        self.logs: List[str] = []

        @llama_cpp.llama_log_callback
        def collect(level, text, user_data):
            self.logs.append(text.decode("utf-8", "replace"))

        self._callback = collect  # keep a reference: C holds only the pointer
        llama_cpp.llama_log_set(collect, ctypes.c_void_p(0))
        llama_cpp.llama_backend_init()
        params = llama_cpp.llama_model_default_params()
        params.vocab_only = True
        self.model = llama_cpp.llama_model_load_from_file(str(gguf).encode(), params)
        assert self.model, f"could not load the vocabulary of {gguf}: {''.join(self.logs)}"
        self.vocab = llama_cpp.llama_model_get_vocab(self.model)

    def close(self):
        llama_cpp.llama_model_free(self.model)
        from llama_cpp import _logger

        llama_cpp.llama_log_set(_logger.llama_log_callback, ctypes.c_void_p(0))

    def sampler(self, grammar: str):
        self.logs.clear()
        return llama_cpp.llama_sampler_init_grammar(self.vocab, grammar.encode("utf-8"), b"root")

    def compiles(self, grammar: str) -> bool:
        sampler = self.sampler(grammar)
        if sampler:
            llama_cpp.llama_sampler_free(sampler)
        return bool(sampler)

    def assert_compiles(self, grammar: str) -> None:
        assert self.compiles(grammar), f"llama.cpp rejected the grammar:\n{''.join(self.logs)}\n{grammar}"

    def tokenize(self, text: str) -> List[int]:
        data = text.encode("utf-8")
        tokens = (llama_cpp.llama_token * (len(data) + 8))()
        n = llama_cpp.llama_tokenize(self.vocab, data, len(data), tokens, len(tokens), False, False)
        assert n >= 0
        return list(tokens[:n])

    def _allowed(self, sampler, token: int) -> bool:
        data = (llama_cpp.llama_token_data * 1)(llama_cpp.llama_token_data(token, 0.0, 0.0))
        candidates = llama_cpp.llama_token_data_array(data, 1, -1, False)
        llama_cpp.llama_sampler_apply(sampler, ctypes.byref(candidates))
        return data[0].logit != float("-inf")

    def accepts(self, grammar: str, answer: str) -> bool:
        """Whether the grammar allows exactly `answer` (every token, then end of generation)."""
        sampler = self.sampler(grammar)
        assert sampler, f"llama.cpp rejected the grammar:\n{''.join(self.logs)}"
        try:
            for token in self.tokenize(answer):
                if not self._allowed(sampler, token):
                    return False
                llama_cpp.llama_sampler_accept(sampler, token)
            return self._allowed(sampler, llama_cpp.llama_vocab_eos(self.vocab))
        finally:
            llama_cpp.llama_sampler_free(sampler)


@pytest.fixture(scope="module")
def gbnf():
    from spacy_distill.teacher.bundled import bundled_model_path

    try:
        gguf = bundled_model_path("smollm2-135m-instruct")
    except ValueError:
        gguf = bundled_model_path("gemma3-270m")
    checker = LlamaCppGrammars(gguf)
    yield checker
    checker.close()


def alternatives(grammar: str, rule: str) -> List[str]:
    """The string literals of one rule, unescaped."""
    [line] = [g for g in grammar.splitlines() if g.startswith(f"{rule} ::= ")]
    literals = re.findall(r'"((?:[^"\\]|\\.)*)"', line.split("::=", 1)[1])
    escapes = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\", '"': '"'}
    return [re.sub(r"\\(x00|.)", lambda m: "\x00" if m.group(1) == "x00" else escapes[m.group(1)], s) for s in literals]


@pytest.fixture(scope="module")
def real_prompt():
    """A prompt rendered by configs/teacher_ner.cfg (span_compact template, few-shot examples)."""
    config = load_config(ROOT / "configs" / "teacher_ner.cfg", interpolate=False)
    config["paths"]["examples"] = str(ROOT / "assets" / "fashion_brands" / "ner_examples.yml")
    config["components"]["llm"]["model"] = {"@llm_models": "spacy_distill_test.Canned.v1", "answers": {}}
    doc = assemble_from_config(config)("Found Dr. Martens boots at Zalando, cheaper than Zara.")
    [prompt] = doc.user_data["llm_io"]["llm"]["prompt"]
    assert "Amazon" in prompt and "Club Monaco" in prompt  # the examples are in it
    return prompt


def test_gbnf_checker_rejects_bad_grammars(gbnf):
    """The check can fail: llama.cpp rejects broken GBNF (LlamaGrammar.from_string would not)."""
    assert gbnf.compiles('root ::= "a"')
    for bad in ['root ::= "a', "root ::= undefined", 'root ::= "\\q"', 'root ::= "a\x00b"']:
        assert not gbnf.compiles(bad), bad
    assert llama_cpp.LlamaGrammar.from_string('root ::= "a', verbose=False) is not None


def test_span_grammar_on_a_real_prompt(gbnf, real_prompt):
    grammar = SpanGrammar(LABELS)(real_prompt)
    gbnf.assert_compiles(grammar)
    assert alternatives(grammar, "label") == LABELS
    accepts = lambda answer: gbnf.accepts(grammar, answer)  # noqa: E731
    assert accepts("Dr. Martens | FASHION_BRAND\n\n")
    assert accepts("Zara | FASHION_BRAND\nZalando | SHOP\n\n")
    assert accepts("none\n\n")
    assert not accepts("Prada | FASHION_BRAND\n\n")  # not in the text
    assert not accepts("Amazon | SHOP\n\n")  # only in a few-shot example
    assert not accepts("Club Monaco | FASHION_BRAND\n\n")
    assert not accepts("Zara | BRAND\n\n")  # not a label
    assert not accepts("Zara|FASHION_BRAND\n\n")
    assert not accepts("Dr | FASHION_BRAND\nnone\n\n")


def test_phrases_are_substrings_of_the_text_between_the_markers(real_prompt):
    grammar_obj = SpanGrammar(LABELS, max_phrase_tokens=3)
    text = grammar_obj.prompt_text(real_prompt)
    assert text == "Found Dr. Martens boots at Zalando, cheaper than Zara."
    phrases = alternatives(grammar_obj(real_prompt), "phrase")
    assert phrases == text_phrases(text, 3)
    assert all(p in text for p in phrases)
    assert {"Dr. Martens", "Zara", "Zalando", "Found", "Martens boots"} <= set(phrases)
    assert "Dr. Martens boots" not in phrases  # 4 tokens > max_phrase_tokens
    assert not any(p[0] in " .," or p[-1] in " .," for p in phrases)  # starts and ends on a word


def test_text_after_answer_marker_is_not_used():
    prompt = "Intro\nText: Zara shirt\nEntities:\nGucci | FASHION_BRAND\n"
    grammar = SpanGrammar(LABELS)
    assert grammar.prompt_text(prompt) == "Zara shirt"
    assert "Gucci" not in alternatives(grammar(prompt), "phrase")


@pytest.mark.parametrize(
    "text,phrase",
    [
        ('She said "Zara" rocks', 'said "Zara'),
        ("C:\\Zara\\Gucci dir", "Zara\\Gucci"),
        ('the \\" trap Zara', 'the \\" trap Zara'),
        ("Café Hermès à Paris", "Café Hermès"),
        ("Zara 👗 Gucci", "Zara 👗 Gucci"),
        ("日本のユニクロ", "日本のユニクロ"),
        ("Zara\tGucci\rPrada", "Zara\tGucci\rPrada"),
        ("Zara\x00Gucci", "Zara\x00Gucci"),
        ("Zara [x] {1,2} # ::= Gucci", "Zara [x] {1,2} # ::= Gucci"),
    ],
    ids=["quotes", "backslashes", "escaped-quote", "accents", "emoji", "cjk", "tab-cr", "nul", "gbnf-syntax"],
)
def test_special_characters_are_escaped_and_compile(gbnf, text, phrase):
    grammar = SpanGrammar(LABELS, max_phrase_tokens=20)(f"Intro\nText: {text}\nEntities:")
    gbnf.assert_compiles(grammar)
    assert phrase in alternatives(grammar, "phrase")
    if "\x00" in phrase:  # llama.cpp matches token pieces as C strings: no NUL, but the rest still works
        phrase = "Gucci"
    assert gbnf.accepts(grammar, f"{phrase} | SHOP\n\n")
    assert not gbnf.accepts(grammar, f"{phrase}x | SHOP\n\n")


def test_gbnf_literal_escapes():
    assert gbnf_literal('a"b\\c\nd\re\tf') == '"a\\"b\\\\c\\nd\\re\\tf"'
    assert gbnf_literal("👗é") == '"👗é"'


def test_max_spans(gbnf):
    grammar = SpanGrammar(["B"], max_spans=2)("x\nText: Zara Gucci Prada\nEntities:")
    assert gbnf.accepts(grammar, "Zara | B\nGucci | B\n\n")
    assert not gbnf.accepts(grammar, "Zara | B\nGucci | B\nPrada | B\n\n")


def test_text_without_words_allows_only_none(gbnf):
    grammar = SpanGrammar(LABELS)("x\nText: !!! ... ???\nEntities:")
    gbnf.assert_compiles(grammar)
    assert gbnf.accepts(grammar, "none\n")
    assert not gbnf.accepts(grammar, "! | SHOP\n\n")


def test_phrases_never_contain_the_separator_or_newlines():
    phrases = text_phrases("Zara | Gucci\nPrada", 6)
    assert phrases == ["Gucci", "Prada", "Zara"]


def test_missing_text_marker_is_a_clear_error():
    with pytest.raises(ValueError, match=re.escape("no text marker '\\nText: '")):
        SpanGrammar(LABELS)("Classify this: Zara\nEntities:")
    with pytest.raises(ValueError, match="no text marker"):
        SpanGrammar(LABELS, text_marker="\nInput: ")("x\nText: Zara\nEntities:")
    with pytest.raises(ValueError, match="at least one label"):
        SpanGrammar([])


def test_custom_markers(gbnf):
    grammar = SpanGrammar("A,B", text_marker="\n### Input:\n", answer_marker="\n### Output:")
    gbnf_text = grammar("x\n### Input:\nZara here\n### Output:")
    gbnf.assert_compiles(gbnf_text)
    assert alternatives(gbnf_text, "phrase") == ["Zara", "Zara here", "here"]
    assert alternatives(gbnf_text, "label") == ["A", "B"]


def test_span_grammar_identity_goes_into_the_store_key():
    a, b = SpanGrammar(["A"]), SpanGrammar(["A", "B"])
    assert grammar_identity(a)["grammar"] == "spacy_distill.SpanGrammar.v1"
    assert prompt_key({"grammar": grammar_identity(a)}, "p") != prompt_key({"grammar": grammar_identity(b)}, "p")
    assert grammar_identity("root ::= x") == "root ::= x"
    assert grammar_for("root ::= x", "any prompt") == "root ::= x"
    assert grammar_for(a, "x\nText: Zara\nEntities:") == a("x\nText: Zara\nEntities:")


def test_registered_span_grammar():
    grammar = registry.llm_misc.get("spacy_distill.SpanGrammar.v1")(labels="A, B", max_spans=3)
    assert isinstance(grammar, SpanGrammar)
    assert grammar.labels == ["A", "B"] and grammar.max_spans == 3


LAW = "Die Gebühr nach § 2 Abs. 1 Satz 1 VetbKostG wird erhoben."
CITATION = "§ 2 Abs. 1 Satz 1 VetbKostG"


def test_v2_fits_law_citations_and_v1_is_unchanged(gbnf):
    prompt = f"Intro\nText: {LAW}\nEntities:"
    v1 = registry.llm_misc.get("spacy_distill.SpanGrammar.v1")(labels="LAW")
    v2 = registry.llm_misc.get("spacy_distill.SpanGrammar.v2")(labels="LAW")
    assert (v1.max_phrase_tokens, v2.max_phrase_tokens) == (6, 8)
    assert CITATION not in alternatives(v1(prompt), "phrase")  # v1: no phrase starts with §
    assert v1.identity == {"grammar": "spacy_distill.SpanGrammar.v1", **v1.__dict__}  # v1's store keys kept
    grammar = v2(prompt)
    gbnf.assert_compiles(grammar)
    assert gbnf.accepts(grammar, f"{CITATION} | LAW\n\n")
    assert v2.answer_problem(prompt, f"{CITATION} | LAW\n") is None
    assert v2.identity["grammar"] == "spacy_distill.SpanGrammar.v2"
    assert grammar_identity(v1) != grammar_identity(v2)
    short = SpanGrammarV2(["LAW"], max_phrase_tokens=7)
    assert CITATION not in alternatives(short(prompt), "phrase")  # 8 tokens: § 2 Abs . 1 Satz 1 VetbKostG


def test_grammar_size_grows_about_linearly_with_max_phrase_tokens(real_prompt):
    sizes = {n: len(SpanGrammarV2(LABELS, max_phrase_tokens=n)(real_prompt)) for n in (4, 8)}
    assert sizes[4] < sizes[8] < 3 * sizes[4]


ANSWERS = [
    "Dr. Martens | FASHION_BRAND\n\n",
    "Zara | FASHION_BRAND\nZalando | SHOP\n\n",
    "none\n\n",
    "Prada | FASHION_BRAND\n\n",
    "Zara | BRAND\n\n",
    "Zara|FASHION_BRAND\n\n",
    "Dr | FASHION_BRAND\nnone\n\n",
    "cheaper than Zara | SHOP\n\n",
    "<html>502 Bad Gateway</html>\n\n",
]


@pytest.mark.parametrize("answer", ANSWERS)
def test_answer_check_agrees_with_llama_cpp(gbnf, real_prompt, answer):
    """The client's check of an answer (before it is stored) says what llama.cpp's grammar says."""
    grammar = SpanGrammarV2(LABELS)
    assert (grammar.answer_problem(real_prompt, answer) is None) == gbnf.accepts(grammar(real_prompt), answer)


# --- text classification ----------------------------------------------------------------------


def test_textcat_binary_grammar(gbnf):
    grammar = textcat_grammar(["POSITIVE"])
    gbnf.assert_compiles(grammar)
    assert gbnf.accepts(grammar, "POS\n") and gbnf.accepts(grammar, "NEG\n")
    assert not gbnf.accepts(grammar, "POSITIVE\n")


def test_textcat_exclusive_grammar(gbnf):
    grammar = textcat_grammar("POSITIVE, NEGATIVE", exclusive=True)
    gbnf.assert_compiles(grammar)
    assert gbnf.accepts(grammar, "POSITIVE\n") and gbnf.accepts(grammar, "NEGATIVE\n")
    assert not gbnf.accepts(grammar, "POSITIVE, NEGATIVE\n")
    assert not gbnf.accepts(grammar, "==NONE==\n")
    assert not gbnf.accepts(grammar, "NEUTRAL\n")


def test_textcat_multilabel_grammar(gbnf):
    grammar = textcat_grammar(["A", "B", "C"], exclusive=False)
    gbnf.assert_compiles(grammar)
    for answer in ["A\n", "A, C\n", "C, B, A\n", "==NONE==\n"]:
        assert gbnf.accepts(grammar, answer), answer
    assert not gbnf.accepts(grammar, "A,C\n")
    assert not gbnf.accepts(grammar, "D\n")


def test_textcat_grammar_with_odd_labels_compiles(gbnf):
    labels = ['say "hi"', "back\\slash", "émoji 👗"]
    for exclusive in (True, False):
        grammar = textcat_grammar(labels, exclusive=exclusive)
        gbnf.assert_compiles(grammar)
        assert gbnf.accepts(grammar, 'say "hi"\n')
    assert gbnf.accepts(textcat_grammar(labels), "back\\slash\n")


def test_registered_textcat_grammar(gbnf):
    make = registry.llm_misc.get("spacy_distill.TextCatGrammar.v1")
    assert make(labels="A,B") == textcat_grammar(["A", "B"], exclusive=True)
    assert make(labels=["A", "B"], exclusive=False) == textcat_grammar(["A", "B"], exclusive=False)
