#!/usr/bin/env bash
# Builds the Docker Compose v2 CLI plugin from the Go module proxy, once per machine, so that
# scripts/check-compose.sh can validate docker-compose.yml without a Docker engine. Does nothing
# where there is no docker client or it already has the plugin. FLYWHEEL_SKIP_COMPOSE_CHECK=1 skips it.
set -euo pipefail

COMPOSE_VERSION="v2.40.3"
[ "${FLYWHEEL_SKIP_COMPOSE_CHECK:-}" = 1 ] && exit 0
command -v docker >/dev/null 2>&1 || { echo "no docker client: the compose check will be skipped"; exit 0; }
docker compose version >/dev/null 2>&1 && exit 0

BIN="${FLYWHEEL_TOOLS_DIR:-$HOME/.cache/flywheel-tools}/bin"
compose_bin="$BIN/docker-compose-$COMPOSE_VERSION"
if [ ! -x "$compose_bin" ]; then
  echo "building docker compose $COMPOSE_VERSION (once per machine; a few minutes)"
  mkdir -p "$BIN"
  # `go install` refuses compose's go.mod (it has exclude directives): build inside the downloaded module.
  src=$(go mod download -json "github.com/docker/compose/v2@$COMPOSE_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  (cd "$src" && CGO_ENABLED=0 GOFLAGS="-trimpath -mod=readonly" go build -ldflags="-s -X github.com/docker/compose/v2/internal.Version=$COMPOSE_VERSION" -o "$compose_bin.tmp" ./cmd)
  mv "$compose_bin.tmp" "$compose_bin"
fi
mkdir -p "$HOME/.docker/cli-plugins"
ln -sf "$compose_bin" "$HOME/.docker/cli-plugins/docker-compose"
