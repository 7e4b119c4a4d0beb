#!/usr/bin/env bash
# Installs the Debian packages the project needs, only those that are missing.
#   scripts/install-system-deps.sh            build tools (cmake, g++, make, python3)
#   scripts/install-system-deps.sh --perf     + linux-perf (independent syscall counts)
# Idempotent; runs `apt-get update` only when something has to be installed.
set -euo pipefail

want=(cmake g++ make python3)
for arg in "$@"; do
  case "$arg" in
    --perf) want+=(linux-perf) ;;
    *) echo "install-system-deps: unknown option $arg" >&2; exit 2 ;;
  esac
done

missing=()
for pkg in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-system-deps: all present (${want[*]})"
  exit 0
fi
if ! command -v apt-get >/dev/null; then
  echo "install-system-deps: missing ${missing[*]} and no apt-get here; install them by hand" >&2
  exit 1
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "install-system-deps: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
