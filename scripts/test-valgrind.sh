#!/usr/bin/env bash
# npm run test:valgrind
#
# Runs a focused workload (scripts/valgrind-workload.mjs: the raw binding's send, receive,
# GSO, misuse, detached buffers and close paths, then the public API on both backends and
# both families, with a close() in the middle of a flush) under valgrind memcheck, against
# the normal Release build of the addon. Node under valgrind is ~50x slower, so this is a
# small set; the whole suite runs under ASan instead (npm run test:asan).
#
# Fails on
#   - any memcheck error (invalid read/write, use of uninitialised values, bad free, ...):
#     --error-exitcode;
#   - any "definitely lost" block allocated through the addon (dgram_sendmmsg_native.node).
#     Node's own allocations still reachable or lost at exit are not ours and are ignored:
#     leaks are not errors (--errors-for-leak-kinds=none) and are filtered by allocation stack.
# V8 generates code at run time: --smc-check=all-non-file keeps valgrind's translations right;
# --jitless makes it cheaper still.
set -uo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "test:valgrind: valgrind missing (scripts/install-system-deps.sh --valgrind)" >&2; exit 1; }
[ -f build/Release/dgram_sendmmsg_native.node ] || node scripts/build-native.mjs --required || exit 1
npx tsc -p tsconfig.build.json || exit 1
log=$(mktemp "${TMPDIR:-/tmp}/dsn-valgrind.XXXXXX")
trap 'rm -f "$log"' EXIT
export DGRAM_SENDMMSG_REQUIRE_NATIVE=1
timeout 1200 valgrind --tool=memcheck --error-exitcode=99 --smc-check=all-non-file --track-origins=yes \
  --leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=none --num-callers=30 \
  --log-file="$log" node --jitless scripts/valgrind-workload.mjs
status=$?
grep -E "ERROR SUMMARY|definitely lost:|valgrind workload" "$log" || true
ours=$(awk '/definitely lost in loss record/{blk=$0; keep=0; next} blk!=""{ if ($0 ~ /dgram_sendmmsg_native/) keep=1; if ($0 ~ /^==[0-9]+== *$/) { if (keep) print blk; blk=""; keep=0 } }' "$log")
if [ $status -ne 0 ]; then
  echo "test:valgrind: FAILED (exit $status; 99 = memcheck errors)" >&2
  grep -E -A25 "Invalid|uninitialised|Mismatched|invalid free" "$log" | head -120 >&2
  exit 1
fi
if [ -n "$ours" ]; then
  echo "test:valgrind: FAILED: blocks definitely lost through the addon:" >&2
  echo "$ours" >&2
  exit 1
fi
echo "test:valgrind: passed (no memcheck error, no definite leak through the addon)"
