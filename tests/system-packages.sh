#!/usr/bin/env bash
# Installs the Debian packages a make target needs, only those that are missing:
#
#   tests/system-packages.sh redis-server openssl curl modsecurity-crs wrk
#
# redis-server (global rate limits), openssl and curl (the mutual-TLS API test), Debian's
# modsecurity-crs (CRS 3.3.4, policy-compiler/tests/crs3.rs and examples/crs3) and wrk
# (make bench, make soak). As root with apt-get (CI, containers) it installs them; otherwise
# it names the command to run and exits 1, so that a test run does not start without them.
set -euo pipefail

present() {
  case "$1" in
    modsecurity-crs) [ -d /usr/share/modsecurity-crs/rules ] ;;
    *) command -v "$1" >/dev/null 2>&1 ;;
  esac
}

missing=()
for p in "$@"; do
  present "$p" || missing+=("$p")
done
[ "${#missing[@]}" -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "system-packages: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
  exit 0
fi
echo "system-packages: missing ${missing[*]}; install them first:" >&2
echo "  sudo apt-get install -y ${missing[*]}" >&2
exit 1
