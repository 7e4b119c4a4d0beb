#!/usr/bin/env bash
# Checks udp-blast against an independent receiver and the kernel, in a private network
# namespace (unshare -n, so root) where /proc/net/snmp counts only this run's traffic.
#
#   scripts/verify-independent.sh [--perf] [udp-blast send flags…]
#   e.g. scripts/verify-independent.sh --perf --count 200000 --rate 100000 --size 1200 --batch 64
#
# Prints one JSON object: sender (udp-blast --json), receiver (scripts/ubl1-receiver.py),
# snmp (Udp counter deltas: OutDatagrams, InDatagrams, RcvbufErrors, SndbufErrors, …) and,
# with --perf, perf (send/recv syscall tracepoint counts of the sender process).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
if [ -z "${UBL_IN_NETNS:-}" ]; then
  exec unshare -n env UBL_IN_NETNS=1 bash "$0" "$@"
fi
ip link set lo up

use_perf=0
args=()
count=100000
for a in "$@"; do
  if [ "$a" = "--perf" ]; then use_perf=1; else args+=("$a"); fi
done
for ((i = 0; i < ${#args[@]}; i++)); do
  [ "${args[$i]}" = "--count" ] && count="${args[$((i + 1))]}"
done
case " ${args[*]:-} " in *" --count "*) ;; *) args+=(--count "$count") ;; esac

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
snmp() { awk '/^Udp:/ { if (seen) print; seen = 1 }' /proc/net/snmp; }
header="$(awk '/^Udp:/ { print; exit }' /proc/net/snmp)"
before="$(snmp)"

# The receiver's buffer holds the whole run (count x 4 KiB covers a datagram's kernel
# truesize up to ~1.5 KiB payload; SO_RCVBUFFORCE as root), so a receiver starved by a busy
# machine is late, never lossy. It stops at the end marker sent once the sender has exited
# (counted in the kernel's Udp OutDatagrams/InDatagrams too); --idle-ms only bounds a run
# whose sender died.
rcvbuf=$((count * 4096))
python3 "$root/scripts/ubl1-receiver.py" --listen 127.0.0.1:9000 --count "$count" --until-end --idle-ms 30000 --rcvbuf "$rcvbuf" >"$tmp/rx.json" 2>"$tmp/rx.err" &
rx=$!
for _ in $(seq 100); do grep -q listening "$tmp/rx.err" 2>/dev/null && break; sleep 0.05; done
grep -q listening "$tmp/rx.err" || { echo "receiver did not start: $(cat "$tmp/rx.err")" >&2; exit 1; }

send=(node "$root/dist/cli/udp-blast.js" send --to 127.0.0.1:9000 --json "${args[@]}")
if [ $use_perf -eq 1 ]; then
  events=syscalls:sys_enter_sendmmsg,syscalls:sys_enter_sendmsg,syscalls:sys_enter_sendto,syscalls:sys_enter_recvmmsg,syscalls:sys_enter_recvfrom,syscalls:sys_enter_recvmsg
  perf stat -x, -o "$tmp/perf.csv" -e "$events" -- "${send[@]}" >"$tmp/tx.json"
else
  "${send[@]}" >"$tmp/tx.json"
fi
printf 'UBL1-END' >/dev/udp/127.0.0.1/9000 || true
wait "$rx"
after="$(snmp)"

node - "$tmp" "$header" "$before" "$after" "$use_perf" <<'JS'
const [tmp, header, before, after, usePerf] = process.argv.slice(2);
const fs = require('node:fs');
const names = header.split(/\s+/).slice(1);
const b = before.split(/\s+/).slice(1).map(Number);
const a = after.split(/\s+/).slice(1).map(Number);
const snmp = Object.fromEntries(names.map((n, i) => [n, a[i] - b[i]]));
const out = { sender: JSON.parse(fs.readFileSync(`${tmp}/tx.json`, 'utf8')), receiver: JSON.parse(fs.readFileSync(`${tmp}/rx.json`, 'utf8')), snmp };
if (usePerf === '1') {
  out.perf = {};
  for (const line of fs.readFileSync(`${tmp}/perf.csv`, 'utf8').split('\n')) {
    const f = line.split(',');
    if (f.length > 3 && f[2].startsWith('syscalls:')) out.perf[f[2].replace('syscalls:sys_enter_', '')] = Number(f[0]);
  }
}
console.log(JSON.stringify(out, null, 2));
JS
