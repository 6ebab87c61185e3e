#!/usr/bin/env bash
# Install everything, then run the whole workflow of project.yml on the bundled sample data.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
.venv/bin/python -m spacy project run all
