"""The shipped student needs neither spacy-llm, llama-cpp-python nor spacy-distill.

A student is trained from corrections, turned into an installable package with
`spacy package`, installed into a folder of its own, and loaded with
`spacy.load` by a Python that sees this environment's packages minus those three
(a site folder of links to everything else, `python -S`).
"""

import re
import subprocess
import sys
import sysconfig
from pathlib import Path

from spacy.cli.train import train

ROOT = Path(__file__).parent.parent
LLM_STACK = re.compile(
    r"^(__editable__[._])?(spacy_llm|spacy-llm|llama_cpp|llama-cpp|spacy_distill|spacy-distill)", re.I
)
LOAD = """
import spacy
nlp = spacy.load("en_fashion_student")
doc = nlp("I bought new Levi's jeans and Nike shoes.")
print(nlp.pipe_names, [(e.text, e.label_) for e in doc.ents])
"""


def test_student_packages_and_loads_without_llm_stack(tmp_path):
    data = ROOT / "assets" / "fashion_brands"
    train(
        ROOT / "configs" / "student_ner.cfg",
        tmp_path / "training",
        overrides={
            "paths.train": str(data / "train.jsonl"),
            "paths.dev": str(data / "dev.jsonl"),
            "training.max_steps": 30,
            "training.eval_frequency": 10,
        },
    )
    site = package_and_install(tmp_path / "training" / "model-best", tmp_path, "fashion_student")
    production = production_site(tmp_path / "production")
    result = run_isolated(LOAD, [site, production], tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith("['tok2vec', 'ner']")
    for module in ("spacy_llm", "llama_cpp", "spacy_distill"):
        assert run_isolated(f"import {module}", [site, production], tmp_path).returncode != 0


def package_and_install(model: Path, tmp_path: Path, name: str) -> Path:
    """`spacy package` the pipeline as en_NAME 0.0.1 (an sdist) and pip-install it into tmp_path/site."""
    packages = tmp_path / "packages"
    packages.mkdir()
    subprocess.run(
        [sys.executable, "-m", "spacy", "package", str(model), str(packages)]
        + ["--name", name, "--version", "0.0.1", "--build", "sdist"],
        check=True,
        capture_output=True,
    )
    (sdist,) = (packages / f"en_{name}-0.0.1" / "dist").glob("*.tar.gz")
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation"]
        + ["--target", str(site), str(sdist)],
        check=True,
        capture_output=True,
    )
    return site


def production_site(target: Path) -> Path:
    """Links to this environment's site-packages, without the LLM stack and spacy-distill."""
    target.mkdir()
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        if not LLM_STACK.match(entry.name) and not entry.name.endswith(".pth"):
            (target / entry.name).symlink_to(entry)
    return target


def run_isolated(code: str, paths, cwd: Path) -> subprocess.CompletedProcess:
    path = ":".join(str(p) for p in paths)
    return subprocess.run(
        [sys.executable, "-S", "-c", f"import sys; sys.path[:0] = {path.split(':')!r}\n{code}"],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={"PATH": "/usr/bin:/bin"},
    )
