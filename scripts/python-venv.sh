# Sourced by the install scripts: a pinned Python virtualenv built once per machine in the tools cache
# (FLYWHEEL_TOOLS_DIR, default ~/.cache/flywheel-tools), named by a stamp of what it pins and the
# Python it runs on, and linked as $TOOLS_DIR/<name> for the tests.

TOOLS_DIR="${FLYWHEEL_TOOLS_DIR:-$HOME/.cache/flywheel-tools}"
PYTHON="${PYTHON:-python3}"

# ensure_venv <name> <what it pins (text)> <what it is, for messages> <import check (python)> <pip install arguments...>
ensure_venv() {
  local name=$1 pins=$2 what=$3 check=$4
  shift 4
  local stamp venv
  stamp=$( (echo "$pins"; "$PYTHON" --version) | sha256sum | cut -c1-16)
  venv="$TOOLS_DIR/$name-$stamp"
  mkdir -p "$TOOLS_DIR"
  if [ -x "$venv/bin/python" ] && [ -f "$venv/.complete" ]; then
    echo "$what: cached in $venv"
  else
    echo "building $what in $venv (once per machine)"
    rm -rf "$venv"
    "$PYTHON" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --no-input "$@"
    "$venv/bin/python" -c "$check"
    touch "$venv/.complete"   # written last, once the packages import: a half-built environment is rebuilt, never used
  fi
  ln -sfn "$venv" "$TOOLS_DIR/$name"
}
