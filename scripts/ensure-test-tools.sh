#!/usr/bin/env bash
# What the test suites need beyond npm packages, built once per machine into the tools cache
# (FLYWHEEL_TOOLS_DIR, default ~/.cache/flywheel-tools) and reused when present: MinIO, mc, the
# Temporal CLI and Jaeger (Go), the trainer's Python virtualenv, and Chromium for the run view's browser tests.
# `npm test` and `npm run test:trainer` call it first; `trainer` asks only for the virtualenv.
# A missing toolchain is named once, with what to install, before anything is built.
set -euo pipefail
cd "$(dirname "$0")/.."

TOOLS_DIR="${FLYWHEEL_TOOLS_DIR:-$HOME/.cache/flywheel-tools}"
PYTHON="${PYTHON:-python3}"
only="${1:-all}"

servers_ready() { for tool in minio mc temporal jaeger; do [ -x "$TOOLS_DIR/bin/$tool" ] || return 1; done; }
venv_ready() { [ -n "${FLYWHEEL_TRAINER_PYTHON:-}" ] || [ -f "$TOOLS_DIR/trainer-venv/.complete" ]; }
chromium_ready() { [ -n "${FLYWHEEL_CHROMIUM:-}" ] || [ -x /usr/bin/chromium ]; }
has_go() { command -v go >/dev/null 2>&1; }
has_python() { "$PYTHON" -c 'import sys, venv; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1; }

missing=()
if [ "$only" = all ] && ! servers_ready && ! has_go; then
  missing+=("Go 1.24 or later (https://go.dev/dl/): it builds MinIO, mc, the Temporal CLI and Jaeger the S3, Temporal and tracing suites start")
fi
if ! venv_ready && ! has_python; then
  missing+=("Python 3.11 or later with venv (or PYTHON=<python3.11+>): the trainer's virtualenv, for the trainer and fine-tune suites")
fi
if [ "$only" = all ] && ! chromium_ready && ! command -v apt-get >/dev/null 2>&1; then
  missing+=("Chromium: Debian's chromium package (apt-get install chromium), or FLYWHEEL_CHROMIUM=<a Chromium binary>, for the run view's browser tests")
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "The tests need tools this machine does not have. Install:" >&2
  for m in "${missing[@]}"; do echo "  - $m" >&2; done
  echo "They are built once into $TOOLS_DIR and reused." >&2
  exit 1
fi

# The install scripts check their pinned versions and return at once when the cache has them.
if [ "$only" = all ] && has_go; then
  servers_ready || echo "First test run on this machine: building MinIO, mc, the Temporal CLI and Jaeger into $TOOLS_DIR/bin (about 15 minutes)"
  bash scripts/install-test-servers.sh
fi
if [ -z "${FLYWHEEL_TRAINER_PYTHON:-}" ] && has_python; then
  venv_ready || echo "First test run on this machine: building the trainer's virtualenv in $TOOLS_DIR (a few minutes, a few GB of wheels)"
  bash scripts/install-trainer-env.sh
fi
if [ "$only" = all ] && has_python; then bash scripts/install-attest-env.sh; fi
if [ "$only" = all ] && ! chromium_ready; then bash scripts/install-chromium.sh; fi
