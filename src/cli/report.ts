/**
 * Output formatting of udp-blast: human summaries, the live progress line, and the
 * selftest table. Pure string functions plus one small TTY progress helper.
 */
import type { SendResult } from './send.js';
import type { SinkResult } from './sink.js';

/** Formats a number with thousands separators and at most `digits` decimals. */
export function fmt(n: number, digits = 0): string {
  if (!Number.isFinite(n)) return String(n);
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

/** Human summary of a send run (multi-line, ends with a newline). */
export function formatSendSummary(r: SendResult): string {
  const lines = [
    `udp-blast send → ${r.to}  backend=${r.backend}  size=${r.size} B  flows=${r.flows}  rate=${r.rate === 0 ? 'max' : fmt(r.rate) + '/s'}` +
      (r.batch !== null ? `  batch=${r.batch}` : '') +
      (r.windowUs !== null ? `  window=${r.windowUs} µs` : ''),
    `  sent        ${fmt(r.sent)} datagrams, ${fmt(r.bytes)} B in ${fmt(r.durationS, 3)} s`,
    `  throughput  ${fmt(r.pps)} datagrams/s, ${fmt(r.gbps, 3)} Gbit/s (payload)`,
    `  cpu         user ${fmt(r.cpuUserUs)} µs + sys ${fmt(r.cpuSysUs)} µs = ${fmt(r.cpuUsPerDatagram, 3)} µs/datagram`,
    `  syscalls    ${fmt(r.syscalls)} (${fmt(r.syscallsPerDatagram, 4)}/datagram, own count), batches ${fmt(r.batches)}, hold p50/p99/max ${fmt(r.holdUs.p50)}/${fmt(r.holdUs.p99)}/${fmt(r.holdUs.max)} µs`,
    `  trouble     partial sends ${fmt(r.partialSends)}, EAGAIN waits ${fmt(r.eagain)}, failed ${fmt(r.failed)}, dropped ${fmt(r.dropped)} (${fmt(r.resent)} re-sent after drain)`,
  ];
  const failures = Object.entries(r.failures);
  if (failures.length) lines.push(`  failures    ${failures.map(([k, v]) => `${k}=${v}`).join(' ')}`);
  const errors = Object.entries(r.socketErrors);
  if (errors.length) lines.push(`  errors      ${errors.map(([k, v]) => `${k}=${v}`).join(' ')}`);
  return lines.join('\n') + '\n';
}

/** Human summary of a sink run (multi-line, ends with a newline). */
export function formatSinkSummary(r: SinkResult): string {
  const lines = [
    `udp-blast sink on ${r.listen}  backend=${r.backend}  stopped by ${r.stoppedBy}`,
    `  received    ${fmt(r.received)} UBL1 datagrams (${fmt(r.unique)} unique, ${r.flows} flow${r.flows === 1 ? '' : 's'}), ${fmt(r.bytes)} B in ${fmt(r.durationS, 3)} s`,
    `  throughput  ${fmt(r.pps)} datagrams/s, ${fmt(r.gbps, 3)} Gbit/s (payload)`,
    `  integrity   lost ${fmt(r.lost)}, reordered ${fmt(r.reordered)}, duplicates ${fmt(r.duplicates)}, not UBL1 ${fmt(r.invalid)}` +
      (r.outOfRange ? `, untracked ${fmt(r.outOfRange)}` : ''),
    `  latency     one-way p50 ${fmt(r.latencyUs.p50)} µs, p99 ${fmt(r.latencyUs.p99)} µs, max ${fmt(r.latencyUs.max)} µs` +
      (r.latencyInvalid ? ` (${fmt(r.latencyInvalid)} not measurable: other host's clock?)` : ''),
    `  receive     ${fmt(r.recvSyscalls)} recv syscalls, ${fmt(r.recvBatches)} batches, SO_RCVBUF ${fmt(r.recvBufferSize)} B, truncated ${fmt(r.recvTruncated)}, errors ${fmt(r.recvErrors)}`,
  ];
  return lines.join('\n') + '\n';
}

/**
 * A live progress line on a TTY stream, overwritten with `\r` each update; a no-op
 * when the stream is not a TTY (pipes and files get no progress noise).
 */
export class ProgressLine {
  private active = false;
  constructor(private readonly stream: NodeJS.WriteStream = process.stderr) {}

  /** Whether updates are shown at all. */
  get enabled(): boolean {
    return this.stream.isTTY === true;
  }

  update(text: string): void {
    if (!this.enabled) return;
    const width = this.stream.columns ? this.stream.columns - 1 : 100;
    this.stream.write('\r' + text.slice(0, width).padEnd(width));
    this.active = true;
  }

  /** Erases the line (call before printing anything else). */
  clear(): void {
    if (!this.active) return;
    const width = this.stream.columns ? this.stream.columns - 1 : 100;
    this.stream.write('\r' + ' '.repeat(width) + '\r');
    this.active = false;
  }
}

/** One row of the selftest table. */
export interface SelftestRow {
  label: string;
  send: SendResult;
  sink: SinkResult;
  /** Kernel-counted send syscalls per datagram (perf), or null. */
  perfSyscallsPerDatagram: number | null;
}

/** Renders rows as an aligned text table. */
export function renderTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n') + '\n';
}

/**
 * The selftest table: backend, datagrams/s, Gbit/s, CPU µs/datagram,
 * syscalls/datagram (kernel-counted with perf, else the library's own count; n/a for
 * dgram without perf), loss, reorder, one-way latency p50/p99.
 *
 * @param perf whether the syscall column comes from perf stat
 */
export function formatSelftestTable(rows: SelftestRow[], perf: boolean): string {
  const sysHeader = perf ? 'syscalls/dgram (perf)' : 'syscalls/dgram (own count)';
  const header = ['backend', 'sent', 'datagrams/s', 'Gbit/s', 'CPU µs/dgram', sysHeader, 'lost', 'loss %', 'reordered', 'lat p50 µs', 'lat p99 µs'];
  const body = rows.map((r) => {
    let sys: string;
    if (perf && r.perfSyscallsPerDatagram !== null) sys = fmt(r.perfSyscallsPerDatagram, 4);
    else if (r.send.backend === 'dgram') sys = 'n/a';
    else sys = fmt(r.send.syscallsPerDatagram, 4);
    // Loss seen end to end: what the sender got into the kernel but the sink never saw.
    const lost = Math.max(0, r.send.sent - r.sink.unique);
    return [
      r.label,
      fmt(r.send.sent),
      fmt(r.send.pps),
      fmt(r.send.gbps, 3),
      fmt(r.send.cpuUsPerDatagram, 3),
      sys,
      fmt(lost),
      r.send.sent ? fmt((100 * lost) / r.send.sent, 2) : '-',
      fmt(r.sink.reordered),
      fmt(r.sink.latencyUs.p50),
      fmt(r.sink.latencyUs.p99),
    ];
  });
  return renderTable(header, body);
}
