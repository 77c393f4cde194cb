#!/usr/bin/env bash
# Validates docker-compose.yml (syntax, schema, interpolation) without a Docker engine.
# Skips, successfully, where no docker client with the compose plugin is installed.
set -euo pipefail
cd "$(dirname "$0")/.."

if command -v docker >/dev/null 2>&1 && docker compose version >/dev/null 2>&1; then
  docker compose -f docker-compose.yml config --quiet
  echo "docker-compose.yml: valid ($(docker compose version --short))"
else
  echo "docker compose not available: skipped the compose check"
fi
