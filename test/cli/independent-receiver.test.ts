/**
 * udp-blast against an independent receiver (scripts/ubl1-receiver.py: Python, plain
 * recvfrom) and against the kernel's own UDP counters, in a private network namespace
 * (scripts/verify-independent.sh, `unshare -n`) where /proc/net/snmp counts nothing but
 * this run. With perf available, the sender's send system calls are counted by
 * tracepoints too, and must equal the library's own counter.
 */
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { probeBatchBackend } from '../../src/cli/backend.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const script = join(root, 'scripts', 'verify-independent.sh');

const has = (cmd: string): boolean => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const canNetns = process.getuid?.() === 0 && has('unshare') && has('ip') && has('python3') && spawnSync('unshare', ['-n', 'true']).status === 0;
const perfWorks = canNetns && has('perf') && spawnSync('perf', ['stat', '-e', 'syscalls:sys_enter_sendmmsg', '--', 'true']).status === 0;
const batch = probeBatchBackend().ok;

interface Verified {
  sender: { backend: string; sent: number; enqueued: number; failed: number; dropped: number; resent: number; syscalls: number; bytes: number; gso?: boolean; gsoMessages?: number; gsoSegments?: number };
  receiver: { received: number; lost: number; reordered: number; duplicates: number; inOrder: boolean; bytes: number; sizes: { min: number; max: number } };
  snmp: Record<string, number>;
  perf?: Record<string, number>;
}

function verify(args: string[]): Verified {
  const r = spawnSync('bash', [script, ...(perfWorks ? ['--perf'] : []), ...args], { cwd: root, encoding: 'utf8', timeout: 110_000 });
  if (r.status !== 0) throw new Error(`verify-independent.sh failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout) as Verified;
}

describe.skipIf(!canNetns)('independent receiver and kernel counters (private netns; needs root, unshare, ip, python3)', () => {
  const cases: [string, string[]][] = batch ? [['batch', []], ['batch', ['--no-gso']], ['dgram', []]] : [['dgram', []]];
  it.each(cases)('%s backend %j: every datagram arrives once, in order; kernel counters agree', (backend, extra) => {
    const v = verify(['--backend', backend, '--count', '30000', '--rate', '30000', '--size', '1200', '--flows', '3', '--batch', '64', ...extra]);
    expect(v.sender.backend).toBe(backend);
    expect(v.sender.sent).toBe(30000);
    expect(v.sender.failed).toBe(0);
    // A send() the library refused for backpressure (dropped, then 'drain') is sent again
    // with the same sequence number: on a busy machine that happens, and it loses nothing.
    expect(v.sender.enqueued).toBe(v.sender.sent);
    expect(v.sender.dropped).toBe(v.sender.resent);
    expect(v.receiver).toMatchObject({ received: 30000, lost: 0, reordered: 0, duplicates: 0, inOrder: true, sizes: { min: 1200, max: 1200 } });
    expect(v.receiver.bytes).toBe(v.sender.bytes);
    // The kernel saw exactly what both ends say. udp_send_skb counts a GSO message once in
    // OutDatagrams; the plain receiver's socket gets it segmented, one InDatagram each.
    if (v.sender.gso) expect(v.sender.gsoMessages).toBeGreaterThan(0);
    // (+ 1: the end marker the driver sends once the sender has exited.)
    expect(v.snmp.OutDatagrams).toBe(v.sender.sent - (v.sender.gsoSegments ?? 0) + (v.sender.gsoMessages ?? 0) + 1);
    expect(v.snmp.InDatagrams).toBe(v.receiver.received + 1);
    expect(v.snmp.RcvbufErrors + v.snmp.SndbufErrors + v.snmp.InErrors).toBe(0);
    if (v.perf && backend === 'batch') {
      expect(v.perf.sendmmsg).toBe(v.sender.syscalls);
      expect(v.perf.sendto + v.perf.sendmsg).toBe(0);
      expect(v.perf.sendmmsg).toBeLessThanOrEqual(v.sender.sent / 32);
    }
    if (v.perf && backend === 'dgram') {
      expect(v.perf.sendmmsg + v.perf.sendmsg + v.perf.sendto).toBeGreaterThanOrEqual(v.sender.sent * 0.9);
    }
  }, 120_000);
});
