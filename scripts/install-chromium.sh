#!/usr/bin/env bash
# Installs Debian's chromium package for the UI's browser tests (driven by playwright-core with
# executablePath /usr/bin/chromium: browsers cannot be downloaded here), once per machine. Does nothing
# when it is there. FLYWHEEL_CHROMIUM=<path> names another browser binary and skips this.
set -euo pipefail

[ -n "${FLYWHEEL_CHROMIUM:-}" ] && exit 0
[ -x /usr/bin/chromium ] && exit 0
command -v apt-get >/dev/null 2>&1 || { echo "no /usr/bin/chromium and no apt-get: install Chromium, or set FLYWHEEL_CHROMIUM to a Chromium binary" >&2; exit 1; }
sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo"
echo "installing Debian's chromium package for the browser tests (once per machine; a minute or two)"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
