#!/usr/bin/env bash
# npm run fuzz:native [-- <seconds>]   (default 60)
#
# libFuzzer harness for the addon's control-message code (GSO UDP_SEGMENT writer, GRO
# UDP_GRO parser, segment counting: addon/udp_offload.*), built with clang
# -fsanitize=fuzzer,address,undefined into build-fuzz/ and run for N seconds on one core.
# A crash, a sanitizer report or a violated property (harness: test/fuzz/native/) fails the
# run and leaves the input as build-fuzz/crash-*. The corpus grows in build-fuzz/corpus.
# Needs clang and its libFuzzer runtime: scripts/install-system-deps.sh --fuzz.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
command -v clang++ >/dev/null || { echo "fuzz:native: clang++ missing (scripts/install-system-deps.sh --fuzz)" >&2; exit 1; }
mkdir -p build-fuzz/corpus
clang++ -std=c++17 -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  test/fuzz/native/gro_cmsg_fuzzer.cc addon/udp_offload.cc -o build-fuzz/gro_cmsg_fuzzer
echo "fuzz:native: running gro_cmsg_fuzzer for ${seconds}s"
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  ./build-fuzz/gro_cmsg_fuzzer -max_total_time="$seconds" -print_final_stats=1 -artifact_prefix=build-fuzz/ build-fuzz/corpus
