#!/usr/bin/env bash
# Installs the Debian packages the project needs, only those that are missing.
#   scripts/install-system-deps.sh            build tools (cmake, g++, make, python3)
#   scripts/install-system-deps.sh --perf     + linux-perf (independent syscall counts)
#   scripts/install-system-deps.sh --asan     + the ASan/UBSan runtimes g++ links (npm run test:asan)
#   scripts/install-system-deps.sh --valgrind + valgrind (npm run test:valgrind)
#   scripts/install-system-deps.sh --fuzz     + clang and its libFuzzer runtime (npm run fuzz:native)
#   scripts/install-system-deps.sh --media    + chromium (browser test of the relay's player),
#                                               ffmpeg (scripts/record-demo.mjs, live ingest) and
#                                               GStreamer (gst-launch-1.0 with videotestsrc, x264enc,
#                                               rtph264pay, audiotestsrc, opusenc, rtpopuspay, udpsink)
#                                               for the relay's real-encoder tests
#   scripts/install-system-deps.sh --cross    + the arm64 cross compiler and qemu-user: npm pack builds the
#                                               linux-arm64 prebuild (scripts/prebuild.mjs), and
#                                               scripts/test-package.mjs loads it on arm64 Node under qemu
#   scripts/install-system-deps.sh --bench    + gcc and libssl-dev: the bench compiles its C references at run
#                                               time (bench/c/), the relay egress ceiling links OpenSSL's
#                                               libcrypto (bench/c/srtp_fanout.c; the bench smoke test runs it)
#   scripts/install-system-deps.sh --netns    + iproute2 (ip, tc) and util-linux (unshare) for the
#                                               private-namespace fault tests (they skip without)
# Flags combine.
# Idempotent; runs `apt-get update` only when something has to be installed.
set -euo pipefail

want=(cmake g++ make python3)
for arg in "$@"; do
  case "$arg" in
    --perf) want+=(linux-perf) ;;
    --asan) want+=(libasan8 libubsan1) ;;
    --valgrind) want+=(valgrind) ;;
    --fuzz) want+=(clang libclang-rt-14-dev) ;;
    --netns) want+=(iproute2 util-linux) ;;
    --bench) want+=(gcc libssl-dev) ;;
    --media) want+=(chromium ffmpeg gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly) ;;
    --cross) want+=(g++-aarch64-linux-gnu binutils-aarch64-linux-gnu qemu-user) ;;
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
