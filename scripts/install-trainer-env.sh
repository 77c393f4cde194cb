#!/usr/bin/env bash
# Builds the trainer's Python virtualenv once per machine, outside the repository, from the pinned
# trainer/requirements.txt; reused while that file is unchanged. ~/.cache/flywheel-tools/trainer-venv
# points at the current one (the TypeScript side and `npm run test:trainer` look there, or at
# FLYWHEEL_TRAINER_PYTHON). CI only needs the CPU code paths of these wheels (a few GB of them).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/python-venv.sh

ensure_venv trainer-venv "$(cat trainer/requirements.txt)" 'the trainer virtualenv' \
  'import torch, transformers, peft; print(f"trainer virtualenv: torch {torch.__version__}, transformers {transformers.__version__}, peft {peft.__version__}")' \
  -r trainer/requirements.txt
