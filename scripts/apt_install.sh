# Sourced by setup_browser.sh and setup_debian_host.sh: install Debian packages for an optional test tool, or say
# why not. The caller defines say() and unavailable() (which writes its marker and exits 0: a missing optional
# tool never fails the test run).
#
# Usage: apt_install <log file> <install timeout in s> <package>...
apt_install() {
  local log="$1" limit="$2"
  shift 2
  [ "$(id -u)" = 0 ] || unavailable "not root, so $* cannot be installed (as root: apt-get install $*)."
  command -v apt-get >/dev/null 2>&1 || unavailable "no apt-get on this machine to install $*."
  say "installing $* from Debian's packages"
  export DEBIAN_FRONTEND=noninteractive
  if ! timeout 300 apt-get update -qq >"$log" 2>&1; then
    unavailable "apt-get update failed ($(tail -n 1 "$log")); see $log."
  fi
  if ! timeout "$limit" apt-get install -y -qq --no-install-recommends "$@" >>"$log" 2>&1; then
    unavailable "apt-get install $* failed ($(tail -n 1 "$log")); see $log."
  fi
}
