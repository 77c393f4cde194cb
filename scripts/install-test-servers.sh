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

cached() { # name version: the tools cache has this version already
  if [ -x "$BIN/$1" ] && [ "$(cat "$BIN/.$1.version" 2>/dev/null)" = "$2" ]; then
    echo "$1 $2: cached in $BIN"
    return 0
  fi
  return 1
}

install() { # name module version
  cached "$1" "$3" && return
  echo "building $1 $3 (once per machine; a few minutes)"
  GOBIN="$BIN" GOFLAGS=-trimpath go install "$2@$3"
  echo "$3" > "$BIN/.$1.version"
}

install minio github.com/minio/minio "$MINIO_VERSION"
install mc github.com/minio/mc "$MC_VERSION"

# A module whose go.mod carries replace directives cannot be built with `go install module@version`: it
# is built as the tool of a throwaway module instead (`go get -tool`, then `go install tool`).
install_as_tool() { # name package version
  cached "$1" "$3" && return
  echo "building $1 $3 (once per machine; several minutes)"
  local module
  module="$(mktemp -d)"
  (cd "$module" && go mod init "flywheel-tools/$1" >/dev/null 2>&1 && go get -tool "$2@$3" && GOBIN="$BIN" GOFLAGS=-trimpath go install tool)
  rm -rf "$module"
  echo "$3" > "$BIN/.$1.version"
}

# Later Temporal CLI tags carry a replace directive and cannot be built with `go install`.
TEMPORAL_VERSION="v1.5.1"
install temporal github.com/temporalio/cli/cmd/temporal "$TEMPORAL_VERSION"

# Jaeger (its v2 `jaeger` binary, all-in-one with a configuration file): the tracing tests read traces back from it.
JAEGER_VERSION="v1.75.0"
install_as_tool jaeger github.com/jaegertracing/jaeger/cmd/jaeger "$JAEGER_VERSION"
