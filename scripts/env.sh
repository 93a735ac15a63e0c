# Sourced by the other scripts: the environment that points Ansible at this checkout and at the lab.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$ROOT/.venv/bin:$PATH"
export ANSIBLE_COLLECTIONS_PATH="$ROOT/.build/collections"
export ANSIBLE_CONNECTION_PLUGINS="$ROOT/tests/lab/connection_plugins"
export ANSIBLE_HOST_KEY_CHECKING=False
export ANSIBLE_RETRY_FILES_ENABLED=False
export ANSIBLE_NOCOLOR="${ANSIBLE_NOCOLOR:-1}"
export MDE_LAB_STATE_DIR="${MDE_LAB_STATE_DIR:-$ROOT/.build/lab-state}"
