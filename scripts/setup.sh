#!/usr/bin/env bash
# Prepares everything the project needs on a fresh machine, idempotently:
#   - finds a Python >= 3.12 (MDE_PYTHON, python3.12, python3.13, python3, then pyenv versions);
#   - builds .venv with the collection's and the tests' requirements (rebuilt when they change);
#   - builds .venv-ansible219 with ansible-core 2.19 (the oldest release the collection supports);
#   - lays out .build/collections/ansible_collections/defender/endpoint -> this checkout;
#   - installs the ansible-test pip bootstrap stand-in (ansible-test cannot fetch its own here).
# Source it (". scripts/setup.sh") or run it; it exports nothing when run.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
VENV219="$ROOT/.venv-ansible219"
BUILD="$ROOT/.build"

say() { printf '[setup] %s\n' "$*" >&2; }

python_ok() {
  "$1" -c 'import sys, venv; sys.exit(0 if sys.version_info >= (3, 12) else 1)' >/dev/null 2>&1
}

find_python() {
  local cand
  for cand in ${MDE_PYTHON:-} python3.12 python3.13 python3.14 python3; do
    if command -v "$cand" >/dev/null 2>&1 && python_ok "$cand"; then
      command -v "$cand"; return 0
    fi
  done
  # pyenv shims answer "command not found" unless a version selects them.
  if command -v pyenv >/dev/null 2>&1; then
    local v path
    for v in $(pyenv versions --bare 2>/dev/null | grep -E '^3\.(1[2-9]|[2-9][0-9])(\.|$)' | sort -V); do
      path="$(PYENV_VERSION="$v" pyenv which python3 2>/dev/null || true)"
      if [ -n "$path" ] && python_ok "$path"; then
        echo "$path"; return 0
      fi
    done
  fi
  return 1
}

PY="$(find_python)" || {
  say "no Python 3.12 or newer found (tried \$MDE_PYTHON, python3.12, python3.13, python3.14, python3, pyenv)."
  say "ansible-core 2.20+ needs Python >= 3.12 on the controller: install one, or set MDE_PYTHON=/path/to/python3.12."
  exit 1
}

stamp() { cat "$@" | sha256sum | cut -c1-16; }

make_venv() {  # dir, stamp, pip args...
  local dir="$1" want="$2"; shift 2
  if [ -x "$dir/bin/python" ] && [ "$(cat "$dir/.stamp" 2>/dev/null)" = "$want" ]; then
    return 0
  fi
  say "building $(basename "$dir") with $("$PY" --version 2>&1) ($PY)"
  rm -rf "$dir"
  "$PY" -m venv "$dir"
  local log="$BUILD/$(basename "$dir").pip.log"
  mkdir -p "$BUILD"
  if ! { "$dir/bin/python" -m pip install --upgrade pip && "$dir/bin/python" -m pip install "$@"; } >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    say "pip failed for $(basename "$dir"); full log: $log"
    exit 1
  fi
  echo "$want" > "$dir/.stamp"
}

make_venv "$VENV" "$(stamp "$ROOT/requirements.txt" "$ROOT/tests/requirements.txt" "$ROOT/scripts/setup.sh")" \
  -r "$ROOT/requirements.txt" -r "$ROOT/tests/requirements.txt"
make_venv "$VENV219" "$(stamp "$ROOT/scripts/setup.sh")" 'ansible-core>=2.19,<2.20' 'pywinrm>=0.4.3'

# The collection must sit at ansible_collections/<namespace>/<name>/.
mkdir -p "$BUILD/collections/ansible_collections/defender"
ln -sfn "$ROOT" "$BUILD/collections/ansible_collections/defender/endpoint"

# ansible-test fetches get-pip from a host that may be unreachable; serve it from ensurepip.
"$VENV/bin/python" "$ROOT/scripts/ansible_test_pip_bootstrap.py"

say "ready: $VENV ($("$VENV/bin/ansible" --version | sed -n 1p))"
