#!/usr/bin/env bash
# Installs the system tools the benchmark suite (npm run bench) uses, only those missing:
#   iperf3      peers scenario (iperf3 -u beside udp-blast)
#   sockperf    peers scenario (sockperf throughput beside udp-blast)
#   linux-perf  kernel-counted syscalls (perf stat -e syscalls:sys_enter_*)
#   gcc         compiles the C reference senders in bench/c/ at bench time
#   libssl-dev  OpenSSL headers and libcrypto for bench/c/srtp_fanout.c (the relay egress ceiling)
#
#   scripts/install-bench-deps.sh            install what is missing (apt-get), then report
#   scripts/install-bench-deps.sh --check    only report, install nothing
#
# Prints one line per tool: "ok <tool> <path>" or "missing <tool> (<why>)". Never fails the
# bench: a tool that cannot be installed is reported missing and the scenarios that need it
# say so in the results. Exit code 0 unless the arguments are wrong.
set -uo pipefail

check_only=0
for arg in "$@"; do
  case "$arg" in
    --check) check_only=1 ;;
    *) echo "install-bench-deps: unknown option $arg" >&2; exit 2 ;;
  esac
done

# tool → Debian package
declare -A pkg_of=([iperf3]=iperf3 [sockperf]=sockperf [perf]=linux-perf [gcc]=gcc [libcrypto]=libssl-dev)
tools=(iperf3 sockperf perf gcc libcrypto)

# Where a tool is: a command on PATH, or for libcrypto the OpenSSL development header.
locate() {
  if [ "$1" = libcrypto ]; then
    for d in /usr/include /usr/local/include; do
      [ -f "$d/openssl/evp.h" ] && { echo "$d/openssl"; return 0; }
    done
    return 1
  fi
  command -v "$1" 2>/dev/null
}

missing_pkgs=()
for t in "${tools[@]}"; do
  locate "$t" >/dev/null || missing_pkgs+=("${pkg_of[$t]}")
done

install_note=""
if [ ${#missing_pkgs[@]} -gt 0 ] && [ $check_only -eq 0 ]; then
  if ! command -v apt-get >/dev/null 2>&1; then
    install_note="no apt-get on this system; install ${missing_pkgs[*]} by hand"
  else
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then
      if command -v sudo >/dev/null 2>&1; then SUDO="sudo -n"; else install_note="not root and no sudo"; fi
    fi
    if [ -z "$install_note" ]; then
      echo "install-bench-deps: installing ${missing_pkgs[*]}" >&2
      if ! { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing_pkgs[@]}" >/dev/null; } 2>/tmp/install-bench-deps.err; then
        install_note="apt-get failed: $(tail -n 1 /tmp/install-bench-deps.err)"
      fi
    fi
  fi
fi

for t in "${tools[@]}"; do
  if p="$(locate "$t")"; then
    echo "ok $t $p"
  elif [ $check_only -eq 1 ]; then
    echo "missing $t (not installed; scripts/install-bench-deps.sh installs Debian package ${pkg_of[$t]})"
  else
    echo "missing $t (${install_note:-package ${pkg_of[$t]} did not provide it})"
  fi
done
exit 0
