#!/usr/bin/env bash
# Installs, from Debian's own packages, what the real Debian 12 host of tests/debian_host needs:
# debootstrap, apt-ftparchive (apt-utils), gpg, ssh, dpkg-deb, unshare/nsenter (util-linux), ip.
# Idempotent and quiet: nothing is fetched when every tool is there. It never fails the test run: when the
# tools cannot be installed (not root, no apt-get, no network) it prints why, writes that sentence to
# .build/debian-host-unavailable (the tests skip with it) and exits 0.
#
# Usage: bash scripts/setup_debian_host.sh        (then the tests in tests/integration/test_debian_host.py run)
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MARK="$ROOT/.build/debian-host-unavailable"
mkdir -p "$ROOT/.build"

say() { printf '[setup-debian-host] %s\n' "$*" >&2; }
unavailable() {
  say "the real Debian host tests will skip: $*"
  printf '%s\n' "$*" >"$MARK"
  exit 0
}

# command -> Debian package that provides it
declare -A NEEDS=(
  [debootstrap]=debootstrap [apt-ftparchive]=apt-utils [gpg]=gpg [gpg-agent]=gpg-agent [ssh]=openssh-client
  [ssh-keygen]=openssh-client [dpkg-deb]=dpkg [unshare]=util-linux
  [nsenter]=util-linux [ip]=iproute2 [tar]=tar
)
missing=()
for cmd in "${!NEEDS[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || PATH="$PATH:/usr/sbin:/sbin" command -v "$cmd" >/dev/null 2>&1 \
    || missing+=("${NEEDS[$cmd]}")
done
if [ "${#missing[@]}" -eq 0 ]; then
  rm -f "$MARK"
  exit 0
fi
mapfile -t packages < <(printf '%s\n' "${missing[@]}" | sort -u)

[ "$(id -u)" = 0 ] || unavailable "not root, so ${packages[*]} cannot be installed (and the host needs root anyway)."
# shellcheck source=scripts/apt_install.sh
. "$ROOT/scripts/apt_install.sh"
apt_install "$ROOT/.build/setup-debian-host.log" 600 "${packages[@]}"
rm -f "$MARK"
say "done"
