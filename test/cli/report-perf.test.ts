import { describe, expect, it } from 'vitest';
import { SEND_SYSCALL_EVENTS, parsePerfStat, perfStatPrefix, totalSendSyscalls } from '../../src/cli/perf.js';
import { formatSelftestTable, renderTable, type SelftestRow } from '../../src/cli/report.js';
import type { SendResult } from '../../src/cli/send.js';
import type { SinkResult } from '../../src/cli/sink.js';

describe('perf stat wrapper', () => {
  it('parses -x, CSV output, skipping comments and unsupported counters', () => {
    const text = [
      '# started on Sat Nov 21 01:00:00 2026',
      '',
      '3125,,syscalls:sys_enter_sendmmsg,501083,100.00,,',
      '0,,syscalls:sys_enter_sendto,501083,100.00,,',
      '<not supported>,,syscalls:sys_enter_sendmsg,0,100.00,,',
    ].join('\n');
    const counts = parsePerfStat(text);
    expect(counts).toEqual({ 'syscalls:sys_enter_sendmmsg': 3125, 'syscalls:sys_enter_sendto': 0 });
    expect(totalSendSyscalls(counts)).toBe(3125);
    expect(totalSendSyscalls({})).toBeNull();
  });

  it('builds a perf stat prefix that writes to a file and counts all send syscalls', () => {
    const p = perfStatPrefix('/tmp/x.csv');
    expect(p).toEqual(['perf', 'stat', '-x,', '-o', '/tmp/x.csv', '-e', SEND_SYSCALL_EVENTS.join(','), '--']);
  });
});

function row(backend: 'batch' | 'dgram', perf: number | null): SelftestRow {
  const send = { backend, sent: 1000, pps: 123456.7, gbps: 1.2345, cpuUsPerDatagram: 0.5, syscallsPerDatagram: 0.0156 } as SendResult;
  const sink = { unique: 990, reordered: 0, latencyUs: { p50: 12, p99: 345, max: 400, mean: 20, count: 990 } } as SinkResult;
  return { label: backend, send, sink, perfSyscallsPerDatagram: perf };
}

describe('selftest table', () => {
  it('labels the syscall column by its source and never invents a dgram count', () => {
    const own = formatSelftestTable([row('batch', null), row('dgram', null)], false);
    expect(own).toContain('syscalls/dgram (own count)');
    expect(own).toMatch(/^batch .*\s0\.0156\s/m);
    expect(own).toMatch(/^dgram .*\sn\/a\s/m);
    const perf = formatSelftestTable([row('batch', 0.016), row('dgram', 1)], true);
    expect(perf).toContain('syscalls/dgram (perf)');
    expect(perf).toMatch(/^dgram .*\s1\.0000\s/m);
  });

  it('reports end-to-end loss as sent minus distinct received', () => {
    const t = formatSelftestTable([row('batch', null)], false);
    expect(t).toMatch(/^batch\s+1,000\s+123,457\s+1\.235\s+0\.500\s+0\.0156\s+10\s+1\.00\s+0\s+12\s+345$/m);
  });

  it('aligns columns', () => {
    const t = renderTable(['a', 'bb'], [['xxx', '1'], ['y', '22']]);
    expect(t.split('\n').slice(0, 4)).toEqual(['a    bb', '---  --', 'xxx   1', 'y    22']);
  });
});
