#!/usr/bin/env bash
# Every test, from a fresh machine: set-up, pytest (unit, lab, WinRM transport, real Debian host), PowerShell gate,
# ansible-test sanity, ansible-lint (production profile), molecule lab scenario, collection build.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup.sh"
# The real Debian 12 host's tools (debootstrap, apt-ftparchive, ...): never fails; the tests say why they skip.
bash "$ROOT/scripts/setup_debian_host.sh"
# Headless Chromium for the HTML report tests (setup_browser.sh): never fails; the tests say why they skip.
bash "$ROOT/scripts/setup_browser.sh"
# shellcheck source=scripts/env.sh
. "$ROOT/scripts/env.sh"
# Keep ansible-lint's and molecule's collection installs inside .build, never in ~/.ansible.
export ANSIBLE_HOME="$ROOT/.build/ansible-home"
cd "$ROOT"
step() { printf '\n==== %s ====\n' "$*"; }

step "PowerShell syntax gate (tree-sitter-pwsh)"
python scripts/pwsh_syntax.py

step "ansible-test sanity"
bash scripts/sanity.sh

step "ansible-lint (production profile)"
ansible-lint --nocolor

step "molecule lab scenario (converge, idempotence, verify)"
python tests/lab/package_factory.py .build/lab-packages --fleet-vars .build/lab-packages/fleet.json
MDE_LAB_STATE_DIR="$ROOT/.build/molecule-lab-state"
rm -rf "$MDE_LAB_STATE_DIR"
MDE_LAB_STATE_DIR="$MDE_LAB_STATE_DIR" molecule test -s lab

step "ansible-galaxy collection build"
rm -rf .build/dist && ansible-galaxy collection build --output-path .build/dist . 
ls .build/dist/defender-endpoint-*.tar.gz

# pytest last, so that its closing line is the last summary printed.
step "pytest (unit tests and the simulated lab)"
# Three workers on two cores: most lab tests wait on ansible-playbook subprocesses; a file stays on one worker
# (--dist loadfile) so its module fixtures (lab fleets, the Debian root, the HTTPS fakes) are built once.
python -m pytest -p no:cacheprovider -n "${MDE_TEST_WORKERS:-3}" --dist loadfile --durations=15 tests
