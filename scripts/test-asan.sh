#!/usr/bin/env bash
# npm run test:asan [-- <vitest args>]
#
# Builds the addon with AddressSanitizer + UndefinedBehaviorSanitizer and frame pointers
# (CMake option SANITIZE, into build-asan/) and runs the whole vitest suite against that
# build: every test that touches native code (native binding, public API on both backends,
# fault injection, fuzzing, udp-blast end to end, the werift plug) plus the pure-JS ones,
# which cost little. Test files run one at a time: an ASan process is ~2x slower and the
# loopback throughput tests would otherwise lose datagrams to CPU starvation. No retries: a
# test that fails only because the sanitized process is slower is a test that depends on an
# idle machine, and is fixed as such (wait on events, size buffers, tell kernel loss apart).
#
# How the sanitizers get into node (which is not instrumented):
#   LD_PRELOAD=libasan.so:libubsan.so (paths from `gcc -print-file-name`): the ASan runtime
#     must be loaded before anything else; the addon links against the same runtimes.
#   DGRAM_SENDMMSG_NATIVE_PATH points the loader (src/native/binding.ts) at the sanitized
#     build. Children that tests spawn (CLI runs, netns helpers, crash-isolation children)
#     inherit the environment, so they are sanitized too.
#   ASAN_OPTIONS=detect_leaks=0: Node itself does not free everything at exit (V8 isolate,
#     static singletons, libuv loop), so LeakSanitizer would report on every process.
#     Leaks of ours are covered by valgrind (npm run test:valgrind) and the soak's RSS rule.
#
# Fails on ANY sanitizer report, wherever it happened (vitest worker, child, grandchild):
#   - reports are written to files under a fresh directory (log_path), which must stay empty;
#   - sanitized processes exit with 86 (ASan) / 87 (UBSan) and UBSan halts on the first error;
#   - the combined output is also scanned for "ERROR: AddressSanitizer" / "runtime error:".
# A canary program with a deliberate heap overflow and a deliberate signed overflow is run
# first through the same detection, so a broken detector fails the pass instead of passing it.
#
# DSN_ASAN_VERDICT=<file>: also write the detector's verdict as a check result
# ({"check", "passed", "detail"}) that scripts/ci-summary.mjs counts as one test.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD

verdict() { # verdict <passed:true|false> <detail>
  [ -n "${DSN_ASAN_VERDICT:-}" ] || return 0
  node -e 'require("fs").writeFileSync(process.argv[1], JSON.stringify({ check: "zero ASan/UBSan reports", passed: process.argv[2] === "true", detail: process.argv[3] }) + "\n")' "$DSN_ASAN_VERDICT" "$1" "$2"
}
die() { echo "test:asan: $*" >&2; verdict false "$*"; exit 1; }
[ -z "${DSN_ASAN_VERDICT:-}" ] || rm -f "$DSN_ASAN_VERDICT"

libasan=$(gcc -print-file-name=libasan.so)
libubsan=$(gcc -print-file-name=libubsan.so)
[ -f "$libasan" ] && [ -f "$libubsan" ] || die "libasan/libubsan not found (gcc -print-file-name); install g++ (scripts/install-system-deps.sh)"

echo "== test:asan: building the sanitized addon (build-asan/)"
node scripts/build-native.mjs --required -- --CDSANITIZE=ON --out build-asan || die "sanitized build failed"
addon="$root/build-asan/Release/dgram_sendmmsg_native.node"
[ -f "$addon" ] || die "no sanitized addon at $addon"
syms=$(nm -D "$addon")   # (not piped into grep -q: with pipefail, nm's SIGPIPE would fail the test)
grep -q '__asan_report' <<<"$syms" || die "$addon is not instrumented (CMake cache without SANITIZE=ON?)"
grep -q '__ubsan_handle' <<<"$syms" || die "$addon has no UBSan instrumentation"

reports=$(mktemp -d "${TMPDIR:-/tmp}/dsn-asan-reports.XXXXXX")
log=$(mktemp "${TMPDIR:-/tmp}/dsn-asan-log.XXXXXX")
trap 'rm -f "$log"' EXIT

export ASAN_OPTIONS="detect_leaks=0:exitcode=86:abort_on_error=0:halt_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1:log_path=$reports/asan"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:exitcode=87:log_path=$reports/ubsan"

scan() { # scan <what>: fail if any report file or report text exists
  local found=0
  if [ -n "$(ls -A "$reports" 2>/dev/null)" ]; then
    echo "test:asan: sanitizer reports ($1):" >&2
    for f in "$reports"/*; do echo "--- $f" >&2; head -60 "$f" >&2; done
    found=1
  fi
  if grep -aE 'ERROR: (Address|Leak|Undefined)Sanitizer|runtime error:|SUMMARY: (Address|Undefined)' "$log" >/dev/null; then
    echo "test:asan: sanitizer output in the log ($1):" >&2
    grep -aE -A20 'ERROR: (Address|Leak|Undefined)Sanitizer|runtime error:' "$log" | head -80 >&2
    found=1
  fi
  return $found
}

echo "== test:asan: canary (the detector must see a deliberate overflow)"
canary_dir=$(mktemp -d "${TMPDIR:-/tmp}/dsn-asan-canary.XXXXXX")
cat >"$canary_dir/c.cc" <<'EOF'
#include <cstdio>
#include <cstdlib>
int main(int argc, char** argv) {
  if (argc > 1 && argv[1][0] == 'a') { int* p = static_cast<int*>(std::malloc(4 * sizeof(int))); volatile int v = p[argc + 2]; std::free(p); return v; }
  if (argc > 1 && argv[1][0] == 'u') { volatile int x = 0x7fffffff; x = x + argc; std::printf("%d\n", x); }
  return 0;
}
EOF
g++ -fsanitize=address,undefined -fno-sanitize-recover=undefined -g "$canary_dir/c.cc" -o "$canary_dir/c" || die "cannot build the canary"
for kind in a u; do
  : >"$log"
  "$canary_dir/c" "$kind" >>"$log" 2>&1
  rc=$?
  if [ $rc -eq 0 ] || scan canary >/dev/null 2>&1; then die "canary '$kind' was not detected (exit $rc, reports: $(ls "$reports"))"; fi
  rm -f "$reports"/*
done
rm -rf "$canary_dir"
echo "canary detected (heap overflow and signed overflow): the detector works"

npx tsc -p tsconfig.build.json || die "TypeScript build failed"
export LD_PRELOAD="$libasan:$libubsan${LD_PRELOAD:+:$LD_PRELOAD}"
export DGRAM_SENDMMSG_NATIVE_PATH="$addon"
export DGRAM_SENDMMSG_REQUIRE_NATIVE=1
loaded=$(node --input-type=module -e "const b = await import('$root/dist/native/binding.js'); const r = b.loadNative(); console.log(r.ok ? r.path : 'NOT LOADED: ' + r.reason)" 2>&1)
[ "$loaded" = "$addon" ] || die "the loader does not pick the sanitized build (got: $loaded)"
echo "loader picks $addon under LD_PRELOAD=$LD_PRELOAD"

echo "== test:asan: vitest (files one at a time)"
: >"$log"
npx vitest run --no-file-parallelism "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
unset LD_PRELOAD

if ! scan vitest; then
  echo "test:asan: FAILED: sanitizer reports (see above)" >&2
  verdict false "sanitizer reports: $(ls "$reports" | tr '\n' ' ')"
  rm -rf "$reports"
  exit 1
fi
rm -rf "$reports"
verdict true "no report files, no report text; canary detected; vitest exit $status"
if [ "$status" -ne 0 ]; then
  echo "test:asan: FAILED: vitest exited $status (no sanitizer report)" >&2
  exit "$status"
fi
echo "test:asan: passed with zero sanitizer reports"
