/**
 * bench/lib/perf-breakdown.mjs: `perf script -F tid,ip,sym` text → samples → categories.
 * The text below is in perf's format (a tid line, then tab-indented `address symbol` frames,
 * leaf first, a blank line between samples), with stacks shaped like the relay's.
 */
import { describe, expect, it } from 'vitest';
// @ts-expect-error: an .mjs module of the bench without type declarations
import { breakdown, CATEGORIES, parsePerfScript, topLeaves } from '../../bench/lib/perf-breakdown.mjs';

interface Row {
  id: string;
  samples: number;
  share: number;
}

const sample = (tid: number, frames: string[]): string => ` ${tid} \n${frames.map((f, i) => `\t${(0x1000 + i).toString(16)} ${f}`).join('\n')}\n`;

const PID = 4242;
const TEXT = [
  // V8's compiler thread: another tid, whatever its frames.
  sample(4250, ['v8::internal::compiler::PipelineImpl::OptimizeGraph', 'start_thread']),
  // OpenSSL: the stack ends at the assembly leaf.
  sample(PID, ['_aesni_ctr32_ghash_6x']),
  sample(PID, ['evp_cipher_init_internal', 'EVP_EncryptInit_ex']),
  // The kernel's send, under the addon's sendmmsg, under JS.
  sample(PID, ['_raw_spin_unlock_irqrestore', 'udp_sendmsg', '__sys_sendmmsg', '__x64_sys_sendmmsg', 'do_syscall_64', '__sendmmsg', 'JS:*flush file:///x/dist/scheduler/send-scheduler.js:177:10', 'uv__run_check']),
  sample(PID, ['copy_msghdr_from_user', 'do_recvmmsg', '__x64_sys_recvmmsg', '__recvmmsg', 'dsn::RecvDispatcher::OnCheck']),
  sample(PID, ['JS:*deliver file:///x/dist/socket/recv-dispatch.js:11:16', 'napi_make_callback', 'dsn::RecvDispatcher::OnCheck', 'uv__run_check', 'uv_run']),
  sample(PID, ['JS:*onBatch file:///x/dist/werift/mux.js:132:15', 'napi_make_callback', 'dsn::UdpSocket::CallJs', 'uv__io_poll', 'uv_run']),
  sample(PID, ['JS:*sendReport file:///x/dist/relay/sender-rtcp.js:131:15', 'JS:^processTimers node:internal/timers:504:25', 'uv__run_timers', 'uv_run']),
  sample(PID, ['JS:*onTick file:///x/dist/scheduler/send-scheduler.js:339:14', 'JS:*processImmediate node:internal/timers:438:28', 'uv__run_check', 'uv_run']),
  sample(PID, ['do_epoll_pwait', 'epoll_pwait', 'uv__io_poll', 'uv_run']),
  sample(PID, ['dsn::(anonymous namespace)::RtpFanout::ForwardInto']),
  sample(PID, ['[unknown]']),
].join('\n');

describe('perf breakdown of the relay', () => {
  it('parses perf script blocks into samples with their thread and frames, leaf first', () => {
    const samples = parsePerfScript(TEXT) as { tid: number; frames: string[] }[];
    expect(samples).toHaveLength(12);
    expect(samples[0]).toEqual({ tid: 4250, frames: ['v8::internal::compiler::PipelineImpl::OptimizeGraph', 'start_thread'] });
    expect(samples[3].frames[0]).toBe('_raw_spin_unlock_irqrestore');
    expect(samples[3].frames).toContain('JS:*flush file:///x/dist/scheduler/send-scheduler.js:177:10');
  });

  it('puts each sample in the first category that matches, in the documented order', () => {
    const r = breakdown(parsePerfScript(TEXT), PID) as { samples: number; jsNamedShare: number; rows: Row[] };
    const by = Object.fromEntries(r.rows.map((x) => [x.id, x.samples]));
    expect(r.samples).toBe(12);
    expect(r.jsNamedShare).toBeCloseTo(5 / 12, 12); // the samples with a JS: frame
    expect(by).toEqual({ threads: 1, crypto: 2, send: 1, recv: 1, ingest: 1, 'socket-js': 1, timers: 1, immediates: 1, poll: 1, addon: 1, other: 1 });
    // The send under the scheduler's flush counts as the kernel's send, not as the flush.
    expect(r.rows.reduce((a, x) => a + x.share, 0)).toBeCloseTo(1, 12);
    expect(r.rows.map((x) => x.id)).toEqual((CATEGORIES as Row[]).map((c) => c.id));
  });

  it('ranks leaf functions by self samples', () => {
    const text = [sample(PID, ['a']), sample(PID, ['b', 'a']), sample(PID, ['b']), sample(PID, ['c'])].join('\n');
    expect(topLeaves(parsePerfScript(text), 2)).toEqual([
      { name: 'b', samples: 2, share: 0.5 },
      { name: 'a', samples: 1, share: 0.25 },
    ]);
  });

  it('gives zero shares for an empty profile', () => {
    const r = breakdown(parsePerfScript(''), PID) as { samples: number; jsNamedShare: number; rows: Row[] };
    expect(r.samples).toBe(0);
    expect(r.jsNamedShare).toBe(0);
    expect(r.rows.every((x) => x.samples === 0 && x.share === 0)).toBe(true);
  });
});
