#!/usr/bin/env bash
# Builds the Python virtualenv holding DVC, the peer that bench part (h) (bench/dvc.ts) compares
# against, once per machine and outside the repository; reused while it holds the pinned version.
# Bench-only: neither `npm test` nor .ci/run needs it. Prints the path of its `dvc` last, on stdout.
set -euo pipefail

DVC_VERSION=3.67.1
TOOLS_DIR="${FLYWHEEL_TOOLS_DIR:-$HOME/.cache/flywheel-tools}"
PYTHON="${PYTHON:-python3.11}"
VENV="$TOOLS_DIR/dvc-bench-venv"
mkdir -p "$TOOLS_DIR"

installed() {
  [ -x "$VENV/bin/python" ] && [ -f "$VENV/.complete" ] \
    && "$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("dvc"))' 2>/dev/null
}

have=$(installed || true)
if [ "$have" = "$DVC_VERSION" ]; then
  echo "dvc bench virtualenv: dvc $have cached in $VENV" >&2
else
  echo "building the dvc bench virtualenv in $VENV (dvc==$DVC_VERSION; found: ${have:-none}; once per machine)" >&2
  started=$SECONDS
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --no-input "dvc==$DVC_VERSION"
  DVC_NO_ANALYTICS=1 "$VENV/bin/dvc" --version >/dev/null
  touch "$VENV/.complete" # written last, once dvc starts: a half-built environment is rebuilt, never used
  echo "dvc bench virtualenv: dvc $DVC_VERSION installed in $((SECONDS - started)) s" >&2
fi
echo "$VENV/bin/dvc"
