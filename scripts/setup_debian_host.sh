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
command -v apt-get >/dev/null 2>&1 || unavailable "no apt-get on this machine to install ${packages[*]}."

say "installing ${packages[*]} from Debian's packages"
export DEBIAN_FRONTEND=noninteractive
log="$ROOT/.build/setup-debian-host.log"
if ! timeout 300 apt-get update -qq >"$log" 2>&1; then
  unavailable "apt-get update failed ($(tail -n 1 "$log")); see $log."
fi
if ! timeout 600 apt-get install -y -qq --no-install-recommends "${packages[@]}" >>"$log" 2>&1; then
  unavailable "apt-get install ${packages[*]} failed ($(tail -n 1 "$log")); see $log."
fi
rm -f "$MARK"
say "done"
