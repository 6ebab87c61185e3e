"""The one module that touches spacy-llm's internals (written against spacy-llm 0.7.4).

Whatever we need from spacy-llm beyond its registries and documented config is reached
through these functions, so an upgrade of spacy-llm is checked, and fixed, here:

- the `llm` component's class name and its private `_model` attribute;
- the per-doc prompts and responses it keeps under `doc.user_data["llm_io"]` (with `save_io`);
- a built-in task's few-shot examples (`_prompt_examples`) and their type (`_prompt_example_type`);
- the TextCat.v1-v3 response parser;
- a task's shard reducer (`_shard_reducer`), wrapped to keep our parse records of sharded docs;
- the two warnings spacy-llm raises for our pipelines (silenced where our pipelines run).
"""

import contextlib
import re
import warnings
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional

from confection import ConfigValidationError
from spacy.language import Language
from spacy.tokens import Doc
from spacy_llm.tasks.textcat.parser import parse_responses_v1_v2_v3
from spacy_llm.util import assemble

from ..errors import ConfigError
from . import logprob_models, scored_tasks  # noqa: F401  (registers the scoring teacher where entry points are not installed)

LLM_COMPONENT_CLASS = "LLMWrapper"


def assemble_pipeline(config_path: Path, overrides: Optional[Dict[str, Any]] = None) -> Language:
    """The pipeline of a config with an `llm` component (spaCy-style dotted overrides)."""
    with quiet_llm_warnings():
        try:
            return assemble(config_path, overrides=overrides or {})
        except ConfigValidationError as e:  # a typo in the config or an override: name the file
            raise ConfigError(f"{config_path}: {e}") from None


def keep_user_data_on_merge(nlp: Language, merges: Dict[str, Callable[[List[Doc]], Any]]) -> None:
    """Make the `llm` components' tasks keep `doc.user_data[key]` for each key of `merges` when they
    merge a doc's shards.

    spacy-llm cuts a doc longer than the model's context into shards, parses each shard's
    answer, and joins the shards with `Doc.from_docs`, which drops such user data (spaCy's
    warning W102). The task's shard reducer is wrapped: `merges[key](shards)` computes the joined value.
    """
    keys = "|".join(re.escape(key) for key in merges)
    for _, pipe in nlp.pipeline:
        task = getattr(pipe, "_task", None)
        reducer = getattr(task, "_shard_reducer", None)
        if (
            type(pipe).__name__ != LLM_COMPONENT_CLASS
            or reducer is None
            or set(merges) <= getattr(reducer, "keeps", set())
        ):
            continue

        def reduce(task: Any, shards: Iterable[Doc], _reducer: Callable = reducer) -> Doc:
            shards = list(shards)
            with warnings.catch_warnings():  # W102 for our keys: merged below
                warnings.filterwarnings("ignore", message=rf"\[W102\] Skipping unsupported user data '({keys})")
                doc = _reducer(task, shards)
            for key, merge in merges.items():
                value = merge(shards)
                if value is not None:
                    doc.user_data[key] = value
            return doc

        reduce.keeps = set(merges)
        task._shard_reducer = reduce


def llm_component_name(nlp: Language) -> str:
    """The name of the pipeline's (first) spacy-llm `llm` component."""
    names = [name for name, pipe in nlp.pipeline if type(pipe).__name__ == LLM_COMPONENT_CLASS]
    if not names:
        raise ConfigError("The teacher config has no spacy-llm `llm` component")
    return names[0]


def llm_model(nlp: Language, name: Optional[str] = None) -> Any:
    """The model object inside the `llm` component (ours: a `StoredModel`)."""
    return nlp.get_pipe(name or llm_component_name(nlp))._model


def llm_saves_io(nlp: Language, name: str) -> bool:
    """Whether the `llm` component keeps each doc's prompts and responses (`save_io = true`)."""
    return bool(getattr(nlp.get_pipe(name), "_save_io", False))


def llm_io(doc: Doc, name: str) -> Dict[str, List[str]]:
    """The prompts and responses the `llm` component `name` kept for the doc ({} if none)."""
    return doc.user_data.get("llm_io", {}).get(name, {})


def prompt_examples(task: Any) -> List[Any]:
    """A built-in task's few-shot examples (from its config)."""
    return list(getattr(task, "_prompt_examples", None) or [])


def set_prompt_examples(task: Any, examples: List[Any]) -> None:
    task._prompt_examples = examples


def prompt_example_type(task: Any) -> Optional[Any]:
    """The class that turns an `Example` into one of the task's few-shot examples (None: not a built-in task)."""
    return getattr(task, "_prompt_example_type", None)


def builtin_textcat_parse(task: Any, shards: Iterable[Iterable[Doc]], responses: Iterable[Iterable[str]]) -> Iterable:
    """spacy-llm's own TextCat.v1-v3 parser."""
    return parse_responses_v1_v2_v3(task, shards, responses)


@contextlib.contextmanager
def quiet_llm_warnings() -> Iterator[None]:
    """Silence the two spacy-llm warnings that say nothing to a user of our pipelines:

    - W102 "Skipping unsupported user data 'spacy_distill...'": `keep_user_data_on_merge` merges
      our parse records of a sharded doc itself;
    - "Task supports sharding, but model does not provide context length": our models fail with
      a clear message naming the doc when a prompt exceeds the context.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"\[W102\] Skipping unsupported user data 'spacy_distill")
        warnings.filterwarnings("ignore", message="Task supports sharding, but model does not provide context length")
        yield
