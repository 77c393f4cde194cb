#!/usr/bin/env bash
# Runs the Python trainer's pytest suite in the trainer virtualenv (scripts/install-trainer-env.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${FLYWHEEL_TRAINER_PYTHON:-${FLYWHEEL_TOOLS_DIR:-$HOME/.cache/flywheel-tools}/trainer-venv/bin/python}"
if [ ! -x "$PYTHON" ]; then
  echo "no trainer virtualenv at $PYTHON: run bash scripts/install-trainer-env.sh first (or set FLYWHEEL_TRAINER_PYTHON)" >&2
  exit 1
fi
cd trainer
exec "$PYTHON" -m pytest -q -p no:cacheprovider tests "$@"
