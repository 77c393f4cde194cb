#!/usr/bin/env bash
# Builds the real servers the tests talk to, once per machine, into a cache outside the repository
# (reused when present). Nothing is downloaded at test time.
set -euo pipefail

TOOLS_DIR="${FLYWHEEL_TOOLS_DIR:-$HOME/.cache/flywheel-tools}"
BIN="$TOOLS_DIR/bin"
mkdir -p "$BIN"

# Pinned versions (the module proxy serves MinIO and mc as pseudo-versions of their release commits).
MINIO_VERSION="v0.0.0-20260212201848-7aac2a2c5b7c"
MC_VERSION="v0.0.0-20250313080218-cf909e1063a9"

install() { # name module version
  local stamp="$BIN/.$1.version"
  if [ -x "$BIN/$1" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$3" ]; then
    echo "$1 $3: cached in $BIN"
    return
  fi
  echo "building $1 $3 (once per machine; a few minutes)"
  GOBIN="$BIN" GOFLAGS=-trimpath go install "$2@$3"
  echo "$3" > "$stamp"
}

install minio github.com/minio/minio "$MINIO_VERSION"
install mc github.com/minio/mc "$MC_VERSION"

# Later Temporal CLI tags carry a replace directive and cannot be built with `go install`.
TEMPORAL_VERSION="v1.5.1"
install temporal github.com/temporalio/cli/cmd/temporal "$TEMPORAL_VERSION"
