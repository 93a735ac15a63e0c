#!/usr/bin/env bash
# Installs, from Debian's own packages, the headless browser the HTML report tests lay the page out in:
# chromium (and chromium-driver, for anyone who wants to drive it through WebDriver).
# Idempotent and quiet: nothing is fetched when /usr/bin/chromium is there. It never fails the test run: when
# the browser cannot be installed (not root, no apt-get, no network) it prints why, writes that sentence to
# .build/browser-unavailable (the browser tests skip with it) and exits 0.
#
# Usage: bash scripts/setup_browser.sh        (then the Chromium tests of the fleet report run)
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MARK="$ROOT/.build/browser-unavailable"
mkdir -p "$ROOT/.build"

say() { printf '[setup-browser] %s\n' "$*" >&2; }
unavailable() {
  say "the HTML report's browser tests will skip: $*"
  printf '%s\n' "$*" >"$MARK"
  exit 0
}

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
if [ "${#missing[@]}" -eq 0 ]; then
  rm -f "$MARK"
  exit 0
fi

# shellcheck source=scripts/apt_install.sh
. "$ROOT/scripts/apt_install.sh"
apt_install "$ROOT/.build/setup-browser.log" 900 "${missing[@]}"
command -v chromium >/dev/null 2>&1 || unavailable "apt-get installed ${missing[*]} but no chromium command is on PATH."
rm -f "$MARK"
say "done"
