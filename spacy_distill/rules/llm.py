"""Rule candidates from the teacher's LLM: term lists, token patterns and regexes per label, checked,
never trusted.

The teacher config gives the labels, their definitions and the model (any backend). For each
label the model continues a numbered list of the label's corrected span texts ("more terms like
these", as Prodigy's `terms.llm.fetch`), writes spaCy Matcher token patterns for samples of them,
and, for labels whose spans look like codes, IDs, amounts or dates, writes a regular expression.
Every prompt and answer goes through the model's response store, so a rerun sends nothing twice.
Terms become lower-cased token patterns, patterns and regexes rules of their own; what does not
parse or compile is counted and dropped. Whether a rule is any good
is for the data to judge (`rules propose`).
"""

import contextlib
import json
import random
from collections import Counter
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

from spacy.language import Language
from spacy.tokens import Doc
from spacy_llm.util import split_labels
from tqdm import tqdm

from ..formats.common import stable_hash
from ..task import Task
from ..teacher.annotate import load_teacher
from ..teacher.spacy_llm import llm_component_name, llm_model, quiet_llm_warnings
from .llm_prompts import (
    has_regular_surface,
    is_junk_term,
    parse_regex,
    parse_terms,
    parse_token_pattern,
    regex_grammar,
    regex_prompt,
    terms_grammar,
    terms_prompt,
    tokens_grammar,
    tokens_prompt,
)
from .matching import RuleError, RuleMatcher
from .rule import Rule

# Sampling options per model kind for list answers: without a repetition penalty a tiny model
# greedily repeats one term to the end of the list.
LIST_OPTIONS: Dict[str, Dict[str, Any]] = {
    "LlamaCpp": {"repeat_penalty": 1.3, "max_tokens": 160},
    "OpenAICompatible": {"frequency_penalty": 0.5, "max_tokens": 160},
}
REGEX_OPTIONS: Dict[str, Dict[str, Any]] = {"LlamaCpp": {"max_tokens": 48}, "OpenAICompatible": {"max_tokens": 48}}
TOKENS_OPTIONS: Dict[str, Dict[str, Any]] = {"LlamaCpp": {"max_tokens": 96}, "OpenAICompatible": {"max_tokens": 96}}
KINDS = ("terms", "tokens", "regex")
COUNT_KEYS = (
    "prompts",
    "answers",
    "unanswered",
    "llm_calls",
    "cache_hits",
    "proposed",
    "unparseable",
    "junk",
    "invalid",
    "rules",
)


def llm_candidates(
    config_path: Path,
    overrides: Optional[Dict[str, Any]],
    docs: Sequence[Doc],
    task: Task,
    *,
    store_path: Optional[Path] = None,
    show_progress: bool = False,
    n_prompts: int = 12,
    n_seeds: int = 8,
    n_pattern_prompts: int = 3,
    ask_regex: Optional[bool] = None,
    seed: int = 0,
) -> Tuple[List[Rule], Dict[str, int]]:
    """Rules (source "llm") the teacher's LLM proposes for the task's span labels, and counts.

    docs: corrected docs; their spans of each label are the seeds of the label's term lists.
    store_path: the response store (default: the config's `paths.responses`).
    n_prompts / n_seeds: term-list prompts per label, corrected span texts shown in each.
    n_pattern_prompts: token-pattern prompts per label (each shows a different sample of span texts).
    ask_regex: ask for regexes for every label (True), none (False), or the labels whose
        corrected spans mostly hold a digit (None).
    Counts: prompts, answers, unanswered (no usable answer after the model's retries: cut off, empty;
    not stored, asked again by a rerun), llm_calls, cache_hits, proposed (terms, patterns and regexes read),
    unparseable (lines that could not be read), junk, invalid (did not compile), rules.
    """
    overrides = dict(overrides or {})
    if store_path is not None:
        overrides["paths.responses"] = str(store_path)
    counts: Counter = Counter({key: 0 for key in COUNT_KEYS})
    with quiet_llm_warnings():
        nlp = load_teacher(Path(config_path), overrides)
    model = llm_model(nlp)
    try:
        definitions = label_definitions(nlp)
        texts = span_texts(docs, task)
        labels = [label for label in definitions if label in task.span_labels] or list(task.span_labels)
        plans = []
        for label in labels:
            rng = random.Random(stable_hash(label, seed))
            seeds_per_prompt = seed_samples(texts.get(label, []), n_prompts, n_seeds, rng)
            plans += [("terms", label, terms_prompt(label, definitions.get(label), s)) for s in seeds_per_prompt]
            examples_per_prompt = seed_samples(texts.get(label, []), n_pattern_prompts, 6, rng)[:n_pattern_prompts]
            plans += [("tokens", label, tokens_prompt(label, definitions.get(label), e)) for e in examples_per_prompt]
            if ask_regex or (ask_regex is None and has_regular_surface(texts.get(label, []))):
                examples = unique_texts(texts.get(label, []))[:6]
                plans.append(("regex", label, regex_prompt(label, definitions.get(label), examples)))
        counts["prompts"] = len(plans)
        before = dict(getattr(model, "stats", {}))
        failures_before = len(getattr(model, "failures", {}))
        grammars = {"terms": terms_grammar(), "tokens": tokens_grammar(), "regex": regex_grammar()}
        options = {"terms": LIST_OPTIONS, "tokens": TOKENS_OPTIONS, "regex": REGEX_OPTIONS}
        answers = {
            kind: iter(ask(model, [p for k, _, p in plans if k == kind], grammars[kind], options[kind], show_progress))
            for kind in KINDS
        }
        after = getattr(model, "stats", {})
        for key in ("llm_calls", "cache_hits"):
            counts[key] = int(after.get(key, 0) - before.get(key, 0))
        counts["unanswered"] = len(getattr(model, "failures", {})) - failures_before
        found: Dict[Tuple[str, str, str], int] = Counter()  # (kind, label, text) -> answers naming it
        for kind, label, _ in plans:
            answer = next(answers[kind])
            counts["answers"] += 1
            for text in read_answer(kind, label, answer, counts):
                found[(kind, label, text)] += 1
        rules = build_rules(nlp, found, counts)
    finally:
        close = getattr(model, "close", None)
        if close is not None:
            close()
    counts["rules"] = len(rules)
    return rules, dict(counts)


def label_definitions(nlp: Language) -> Dict[str, Optional[str]]:
    """The `llm` task's labels (in config order) with their definitions (None where there is none)."""
    task_config = nlp.config["components"][llm_component_name(nlp)]["task"]
    definitions = task_config.get("label_definitions") or {}
    return {label: definitions.get(label) for label in split_labels(task_config.get("labels", []))}


def span_texts(docs: Sequence[Doc], task: Task) -> Dict[str, List[str]]:
    """Each label's span texts in the docs, one entry per span."""
    texts: Dict[str, List[str]] = {}
    for doc in docs:
        for span in task.spans(doc):
            texts.setdefault(span.label_, []).append(span.text)
    return texts


def unique_texts(texts: Sequence[str], max_chars: int = 30) -> List[str]:
    """One-line texts, most frequent first, one spelling per lower-cased form."""
    counter = Counter(text.strip() for text in texts if text.strip() and "\n" not in text and len(text) <= max_chars)
    seen, unique = set(), []
    for text, _ in sorted(counter.items(), key=lambda item: (-item[1], item[0])):
        if text.lower() not in seen:
            seen.add(text.lower())
            unique.append(text)
    return unique


def seed_samples(texts: Sequence[str], n_prompts: int, n_seeds: int, rng: random.Random) -> List[List[str]]:
    """`n_prompts` different samples of `n_seeds` corrected texts (fewer prompts if there are few texts;
    one prompt with no seeds if there are none: the definition alone)."""
    unique = unique_texts(texts)
    if len(unique) <= n_seeds:
        return [unique]
    samples = []
    for _ in range(n_prompts):
        sample = rng.sample(unique, n_seeds)
        if sample not in samples:
            samples.append(sample)
    return samples


def ask(
    model: Any, prompts: List[str], grammar: str, options: Dict[str, Dict[str, Any]], show_progress: bool = False
) -> List[str]:
    """The model's answers to the prompts (one per prompt), asked with the rule grammar and options."""
    answers: List[str] = []
    chunk = 4 * getattr(model, "concurrency", 1)
    with (
        rule_settings(model, grammar, options.get(getattr(model, "name", ""), {})),
        tqdm(
            total=len(prompts), desc="LLM rule prompts", unit="prompt", disable=not show_progress or not prompts
        ) as progress,
    ):
        for start in range(0, len(prompts), chunk):
            part = prompts[start : start + chunk]
            answers += [next(iter(shards), "") for shards in model([[prompt] for prompt in part])]
            progress.update(len(part))
    return answers


@contextlib.contextmanager
def rule_settings(model: Any, grammar: str, options: Dict[str, Any]) -> Iterator[None]:
    """Our models (`StoredModel`s) ask with `grammar` and extra `options` for the duration.

    The grammar replaces the config's (the span grammar of annotation) only where the config sets
    one, i.e. where the backend takes a grammar; both are part of the model's identity, so rule
    answers are stored under their own keys. A prompt the model cannot answer (after its retries)
    gets "" (`on_error = "skip"`; its reason in `model.failures`). Other models are asked as they are.
    """
    saved = {name: getattr(model, name) for name in ("grammar", "options", "on_error") if hasattr(model, name)}
    try:
        if saved.get("grammar") is not None:
            model.grammar = grammar
        if "options" in saved:
            model.options = {**saved["options"], **options}
        if "on_error" in saved:  # a prompt with no usable answer (cut off, empty) is counted, not fatal
            model.on_error = "skip"
        yield
    finally:
        for name, value in saved.items():
            setattr(model, name, value)


def read_answer(kind: str, label: str, answer: str, counts: Counter) -> List[str]:
    """The terms (or the token pattern as JSON, or the regex) in one answer, junk dropped; counts updated."""
    if kind == "tokens":
        pattern, unparseable = parse_token_pattern(answer)
        counts["unparseable"] += unparseable
        counts["proposed"] += pattern is not None
        return [json.dumps(pattern, sort_keys=True)] if pattern is not None else []
    if kind == "regex":
        regex, unparseable = parse_regex(answer)
        counts["unparseable"] += unparseable
        counts["proposed"] += regex is not None
        return [regex] if regex is not None else []
    terms, unparseable = parse_terms(answer)
    counts["unparseable"] += unparseable
    counts["proposed"] += len(terms)
    kept = [term for term in terms if not is_junk_term(term, label)]
    counts["junk"] += len(terms) - len(kept)
    return kept


def build_rules(nlp: Language, found: Dict[Tuple[str, str, str], int], counts: Counter) -> List[Rule]:
    """One rule per distinct (label, pattern), in the order first found; those that do not compile
    are counted as invalid. `stats["llm_answers"]`: how many answers proposed it."""
    matcher = RuleMatcher(nlp)
    rules: List[Rule] = []
    for (kind, label, text), n_answers in found.items():
        if kind == "regex":
            pattern, regex = None, text
        elif kind == "tokens":
            pattern, regex = json.loads(text), None
        else:
            pattern, regex = [{"LOWER": token.lower_} for token in nlp.make_doc(text)], None
        rule = Rule(
            id="llm-" + f"{stable_hash(label, pattern, regex) & 0xFFFFFFFF:08x}",
            label=label,
            pattern=pattern,
            regex=regex,
            source="llm",
            stats={"llm_answers": n_answers},
        )
        if rule.id in matcher.rules:  # another spelling of the same pattern ("Levi's" / "levi's")
            matcher.rules[rule.id].stats["llm_answers"] += n_answers
            continue
        try:
            matcher.add(rule)
        except RuleError:
            counts["invalid"] += 1
            continue
        rules.append(rule)
    return rules
