#!/usr/bin/env bash
# Builds the trainer's Python virtualenv once per machine, outside the repository, from the pinned
# trainer/requirements.txt; reused while that file is unchanged. ~/.cache/flywheel-tools/trainer-venv
# points at the current one (the TypeScript side and `npm run test:trainer` look there, or at
# FLYWHEEL_TRAINER_PYTHON). CI only needs the CPU code paths of these wheels.
set -euo pipefail
cd "$(dirname "$0")/.."

TOOLS_DIR="${FLYWHEEL_TOOLS_DIR:-$HOME/.cache/flywheel-tools}"
PYTHON="${PYTHON:-python3}"
stamp=$( (cat trainer/requirements.txt; "$PYTHON" --version) | sha256sum | cut -c1-16)
VENV="$TOOLS_DIR/trainer-venv-$stamp"
mkdir -p "$TOOLS_DIR"

if [ -x "$VENV/bin/python" ] && [ -f "$VENV/.complete" ]; then
  echo "trainer virtualenv: cached in $VENV"
else
  echo "building the trainer virtualenv in $VENV (once per machine; a few GB of wheels)"
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --no-input -r trainer/requirements.txt
  "$VENV/bin/python" -c 'import torch, transformers, peft; print(f"trainer virtualenv: torch {torch.__version__}, transformers {transformers.__version__}, peft {peft.__version__}")'
  touch "$VENV/.complete"   # written last, once the packages import: a half-built environment is rebuilt, never used
fi
ln -sfn "$VENV" "$TOOLS_DIR/trainer-venv"
