"""Prompt templates shipped with the package, readable from a config."""

from pathlib import Path

from spacy_llm.registry import registry

from ..errors import ConfigError

TEMPLATE_DIR = Path(__file__).parent / "templates"


@registry.llm_misc("spacy_distill.Template.v1")
def make_template(name: str) -> str:
    """Text of a packaged Jinja template, e.g. name = "span_compact"."""
    path = TEMPLATE_DIR / f"{name}.jinja"
    if not path.exists():
        available = sorted(p.stem for p in TEMPLATE_DIR.glob("*.jinja"))
        raise ConfigError(f"No packaged template {name!r}; available: {available}")
    return path.read_text(encoding="utf8")
