/**
 * src/relay/sender-rtcp.ts on scripted outputs and a recording path: sender reports carry
 * the egress's counts and the RTP time advanced by the wall clock, at werift's interval and
 * only after the first packet; NACKs become retransmissions counted requested /
 * retransmitted / missed; PLI and new FIRs reach the keyframe policy; werift's own report
 * loop is switched off.
 */
import { createRequire } from 'node:module';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type * as WeriftNs from 'werift';
import { NATIVE_REPORT_CHECK_MS, NATIVE_REPORT_OVERDUE_MS, SenderRtcp, suppressWeriftSenderReports, weriftRtcpPath, type OutputSent, type RtcpOutput } from '../../src/relay/sender-rtcp.js';
import { unixMsFromNtp } from '../../src/rtcp/sender-report.js';
import { fanoutRtcp } from '../../src/relay/fanout-rtcp.js';

const werift = createRequire(import.meta.url)('werift') as typeof WeriftNs;

interface Sr {
  type: number;
  ssrc: number;
  senderInfo: { ntpTimestamp: bigint; rtpTimestamp: number; packetCount: number; octetCount: number };
  chunks?: { items: { text: string }[] }[];
}

function fakeOutput(kind: 'video' | 'audio', ssrc: number, clockRate: number, history: Set<number>): RtcpOutput & { state: OutputSent; resent: number[][] } {
  const o = {
    kind,
    ssrc,
    clockRate,
    state: { packets: 0, octets: 0, lastTs: 0, lastSentAtMs: 0 },
    resent: [] as number[][],
    sent: () => ({ ...o.state }),
    retransmit(seqs: readonly number[]) {
      o.resent.push([...seqs]);
      const hit = seqs.filter((s) => history.has(s)).length;
      return { retransmitted: hit, missed: seqs.length - hit };
    },
  };
  return o;
}

function recorder(): { path: { send(p: Uint8Array, n: number): boolean }; packets: Buffer[]; parsed: () => Sr[][] } {
  const packets: Buffer[] = [];
  return {
    packets,
    path: {
      send(p, n) {
        packets.push(Buffer.from(p.subarray(0, n)));
        return true;
      },
    },
    parsed: () => packets.map((b) => werift.RtcpPacketConverter.deSerialize(b) as unknown as Sr[]),
  };
}

/** A werift-parsed RTCP packet from raw bytes, as the DTLS transport hands it over. */
function rtcp(bytes: number[] | Buffer): unknown[] {
  return werift.RtcpPacketConverter.deSerialize(Buffer.from(bytes)) as unknown[];
}
function nack(mediaSsrc: number, pid: number, blp: number): unknown[] {
  const b = Buffer.alloc(16);
  b[0] = 0x81;
  b[1] = 205;
  b.writeUInt16BE(3, 2);
  b.writeUInt32BE(1, 4);
  b.writeUInt32BE(mediaSsrc, 8);
  b.writeUInt16BE(pid, 12);
  b.writeUInt16BE(blp, 14);
  return rtcp(b);
}
function pli(mediaSsrc: number): unknown[] {
  const b = Buffer.alloc(12);
  b[0] = 0x81;
  b[1] = 206;
  b.writeUInt16BE(2, 2);
  b.writeUInt32BE(1, 4);
  b.writeUInt32BE(mediaSsrc, 8);
  return rtcp(b);
}
function fir(ssrc: number, commandSeq: number): unknown[] {
  const b = Buffer.alloc(20);
  b[0] = 0x84;
  b[1] = 206;
  b.writeUInt16BE(4, 2);
  b.writeUInt32BE(1, 4);
  b.writeUInt32BE(ssrc, 12);
  b[16] = commandSeq;
  return rtcp(b);
}

afterEach(() => {
  vi.useRealTimers();
});

describe('sender reports', () => {
  it('carry the egress counts, the wall clock as NTP and the last RTP timestamp advanced by it; SDES CNAME follows', () => {
    let now = 1_700_000_000_000;
    const video = fakeOutput('video', 0xabc, 90000, new Set());
    const rec = recorder();
    const s = new SenderRtcp({ outputs: [video], path: rec.path, cname: () => 'cn-1', now: () => now });
    expect(s.sendReport(video)).toBe(false); // nothing sent yet: no report (werift starts its loop at the first packet too)
    video.state = { packets: 1234, octets: 1_200_000, lastTs: 0xfffff000, lastSentAtMs: now - 40 };
    expect(s.sendReport(video)).toBe(true);
    const [[sr, sdes]] = rec.parsed();
    expect(sr.type).toBe(200);
    expect(sr.ssrc).toBe(0xabc);
    expect(sr.senderInfo.packetCount).toBe(1234);
    expect(sr.senderInfo.octetCount).toBe(1_200_000);
    expect(sr.senderInfo.rtpTimestamp).toBe((0xfffff000 + 3600) % 2 ** 32); // 40 ms at 90 kHz, wrapped
    const ntp = sr.senderInfo.ntpTimestamp;
    expect(unixMsFromNtp({ seconds: Number(ntp >> 32n), fraction: Number(ntp & 0xffffffffn) })).toBeCloseTo(now, 3);
    expect(sdes.chunks![0].items[0].text).toBe('cn-1');
    // Counts past 2^32 wrap as RFC 3550 says.
    now += 1000;
    video.state = { ...video.state, packets: 2 ** 32 + 5, octets: 2 ** 33 + 7 };
    s.sendReport(video);
    expect(rec.parsed()[1][0].senderInfo.packetCount).toBe(5);
    expect(rec.parsed()[1][0].senderInfo.octetCount).toBe(7);
    expect(s.counters.senderReports).toBe(2);
  });

  it('leave every 0.5–1.5 s per output once started, stop on stop(), and count a refused send', () => {
    vi.useFakeTimers();
    const video = fakeOutput('video', 1, 90000, new Set());
    const audio = fakeOutput('audio', 2, 48000, new Set());
    video.state = { packets: 10, octets: 1000, lastTs: 5, lastSentAtMs: Date.now() };
    audio.state = { packets: 3, octets: 300, lastTs: 9, lastSentAtMs: Date.now() };
    const rec = recorder();
    let refuse = false;
    const path = { send: (p: Uint8Array, n: number) => !refuse && rec.path.send(p, n) };
    let r = 0;
    const s = new SenderRtcp({ outputs: [video, audio], path, random: () => [0, 0.999, 0.5][r++ % 3] });
    s.start();
    vi.advanceTimersByTime(499);
    expect(rec.packets.length).toBe(0);
    vi.advanceTimersByTime(1); // video's first at 500 ms
    expect(rec.parsed().map((p) => p[0].ssrc)).toEqual([1]);
    vi.advanceTimersByTime(1000); // video again at 1500 (0.5 s spread), audio's first at 1499
    expect(rec.parsed().map((p) => p[0].ssrc).sort()).toEqual([1, 1, 2]);
    refuse = true;
    vi.advanceTimersByTime(3000);
    expect(s.counters.senderReportsFailed).toBeGreaterThan(0);
    refuse = false;
    s.stop();
    const n = rec.packets.length;
    vi.advanceTimersByTime(10_000);
    expect(rec.packets.length).toBe(n);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('without a path sends nothing (werift reports itself)', () => {
    vi.useFakeTimers();
    const video = fakeOutput('video', 1, 90000, new Set());
    video.state.packets = 5;
    const s = new SenderRtcp({ outputs: [video] });
    s.start();
    expect(vi.getTimerCount()).toBe(0);
    expect(s.sendReport(video)).toBe(false);
  });
});

describe('feedback', () => {
  it('a NACK for our SSRC is resent from the history and counted; another SSRC is ignored', () => {
    const video = fakeOutput('video', 0xabc, 90000, new Set([100, 101, 103]));
    const s = new SenderRtcp({ outputs: [video] });
    s.start();
    for (const p of nack(0xabc, 100, 0b1111)) s.handleRtcp(p); // 100..104
    for (const p of nack(0xdef, 1, 0)) s.handleRtcp(p);
    expect(video.resent).toEqual([[100, 101, 102, 103, 104]]);
    expect(s.counters).toMatchObject({ nacks: 1, nackRequested: 5, retransmitted: 3, nackMissed: 2 });
    s.stop();
    for (const p of nack(0xabc, 7, 0)) s.handleRtcp(p); // after stop: counted, not resent
    expect(video.resent.length).toBe(1);
    expect(s.counters).toMatchObject({ nacks: 2, nackRequested: 6, nackMissed: 3 });
  });

  it('a NACK repeated within 100 ms is not resent again, and resends stay within the guard’s budget (throttled counted)', () => {
    let t = 1_000_000;
    const video = fakeOutput('video', 0xabc, 90000, new Set(Array.from({ length: 400 }, (_, i) => i)));
    video.state.packets = 10;
    const s = new SenderRtcp({ outputs: [video], now: () => t });
    s.start();
    for (const p of nack(0xabc, 100, 0b11)) s.handleRtcp(p); // 100..102
    t += 50;
    for (const p of nack(0xabc, 100, 0b11)) s.handleRtcp(p); // the same, 50 ms later: throttled
    expect(video.resent).toEqual([[100, 101, 102]]);
    expect(s.counters).toMatchObject({ nacks: 2, nackRequested: 6, retransmitted: 3, nackThrottled: 3 });
    t += 100;
    for (const p of nack(0xabc, 100, 0)) s.handleRtcp(p); // later: resent again
    expect(video.resent.at(-1)).toEqual([100]);
    // A flood of distinct numbers: only what the bucket holds (128 in all, 4 spent).
    for (let pid = 200; pid < 400; pid += 17) for (const p of nack(0xabc, pid, 0xffff)) s.handleRtcp(p);
    const c = s.counters;
    expect(c.retransmitted).toBe(128);
    expect(c.nackRequested).toBe(c.retransmitted + c.nackMissed + c.nackThrottled);
    s.stop();
  });

  it('retransmit: false only counts (werift resends from its own cache)', () => {
    const video = fakeOutput('video', 0xabc, 90000, new Set([1]));
    const s = new SenderRtcp({ outputs: [video], retransmit: false });
    s.start();
    for (const p of nack(0xabc, 1, 0)) s.handleRtcp(p);
    expect(video.resent).toEqual([]);
    expect(s.counters).toMatchObject({ nacks: 1, nackRequested: 1, retransmitted: 0, nackMissed: 0 });
  });

  it('PLI and FIR reach the keyframe policy with the output kind; a repeated FIR is one request', () => {
    const video = fakeOutput('video', 0xabc, 90000, new Set());
    const audio = fakeOutput('audio', 0xdef, 48000, new Set());
    const asks: string[] = [];
    const s = new SenderRtcp({ outputs: [video, audio], onKeyframeRequest: (k, why) => asks.push(`${k}:${why}`) });
    s.start();
    for (const p of [...pli(0xabc), ...fir(0xabc, 3), ...fir(0xabc, 3), ...fir(0xabc, 4), ...pli(0x999)]) s.handleRtcp(p);
    expect(asks).toEqual(['video:pli', 'video:fir', 'video:fir']);
    expect(s.counters).toMatchObject({ pli: 1, fir: 2 });
  });
});

describe('werift glue', () => {
  it("switches werift's report loop off for a sender (a running loop is cancelled)", async () => {
    const pc = new werift.RTCPeerConnection();
    const t = pc.addTransceiver('video', { direction: 'sendonly' });
    const sender = t.sender as unknown as { runRtcp(): Promise<void>; rtcpRunning: boolean; rtcpCancel: AbortController };
    suppressWeriftSenderReports(sender);
    await sender.runRtcp();
    expect(sender.rtcpRunning).toBe(false);
    const running = { rtcpRunning: true, rtcpCancel: new AbortController() };
    suppressWeriftSenderReports(running);
    expect(running.rtcpRunning).toBe(false);
    expect(running.rtcpCancel.signal.aborted).toBe(true);
    await pc.close();
  });

  it("weriftRtcpPath hands a copy to the DTLS transport's sendRtcp, and refuses before DTLS is connected", () => {
    const sent: Buffer[] = [];
    const dtls = { state: 'new', sendRtcp: async (ps: { serialize(): Buffer }[]) => void sent.push(Buffer.concat(ps.map((p) => p.serialize()))) };
    const path = weriftRtcpPath(dtls);
    const buf = Buffer.from([1, 2, 3, 4, 5]);
    expect(path.send(buf, 4)).toBe(false);
    dtls.state = 'connected';
    expect(path.send(buf, 4)).toBe(true);
    buf.fill(0);
    expect(sent).toEqual([Buffer.from([1, 2, 3, 4])]);
  });
});

describe('fanoutRtcp: the native fan-out as the RTCP side sees it', () => {
  function fakeFanout() {
    const calls: string[] = [];
    const f = {
      failSend: false,
      queueFull: false,
      packets: (id: number) => 100 + id,
      octets: (id: number) => 1000 + id,
      lastTs: (id: number) => 5000 + id,
      lastSentAt: (id: number) => 1_700_000_000_000 + id,
      retransmit(id: number, seqs: ArrayLike<number>) {
        calls.push(`retransmit ${id} ${Array.from(seqs).join(',')}`);
        return { queued: 2, misses: 1, dropped: 1 };
      },
      sendRtcp(id: number, packet: Uint8Array) {
        if (f.failSend) throw new Error('output gone');
        calls.push(`sendRtcp ${id} ${packet.length}`);
        return !f.queueFull;
      },
    };
    return { f, calls };
  }

  it('reads counts from the state, resends through retransmit (what the queue dropped counts as missed), sends RTCP through the output', () => {
    const { f, calls } = fakeFanout();
    const fast = fanoutRtcp(f, { video: 3 });
    expect(fast.audio).toBeUndefined();
    expect(fast.video!.sent()).toEqual({ packets: 103, octets: 1003, lastTs: 5003, lastSentAtMs: 1_700_000_000_003 });
    expect(fast.video!.retransmit([7, 8, 9, 10])).toEqual({ retransmitted: 2, missed: 2 });
    expect(fast.path.send(Buffer.from([1, 2, 3, 4, 5, 6, 7, 8]), 4)).toBe(true);
    expect(calls).toEqual(['retransmit 3 7,8,9,10', 'sendRtcp 3 4']);
    expect(fast.now).toBe(Date.now); // the clock forward() is given
  });

  it('an audio-only viewer sends through its audio output; a full queue, a gone output or no output is "not sent", not a throw', () => {
    const { f, calls } = fakeFanout();
    const fast = fanoutRtcp(f, { audio: 1 });
    expect(fast.path.send(Buffer.alloc(28), 28)).toBe(true);
    expect(calls).toEqual(['sendRtcp 1 28']);
    f.queueFull = true;
    expect(fast.path.send(Buffer.alloc(28), 28)).toBe(false);
    f.failSend = true;
    expect(fast.path.send(Buffer.alloc(28), 28)).toBe(false);
    expect(fanoutRtcp(f, {}).path.send(Buffer.alloc(28), 28)).toBe(false);
  });
});

describe('SenderRtcp with sender reports the egress sends itself (the native fan-out)', () => {
  it('starts them with the clock rate, a due time in werift’s interval and the CNAME instead of a timer; sends an overdue one itself (stream paused); stops them; counts them', () => {
    const calls: unknown[][] = [];
    let sentByEgress = 0;
    let due = 0;
    const video = Object.assign(fakeOutput('video', 0x1234, 90_000, new Set()), {
      nativeReports: {
        start: (rate: number, at: number, cname: string | undefined) => {
          calls.push(['start', rate, at, cname]);
          due = at;
        },
        stop: () => {
          calls.push(['stop']);
          due = 0;
        },
        sent: () => sentByEgress,
        dueAt: () => due,
      },
    });
    const audio = fakeOutput('audio', 0x5678, 48_000, new Set()); // no egress reports: a timer
    const timers: { ms: number; fn: () => void }[] = [];
    const source = {
      after: (ms: number, fn: () => void) => {
        timers.push({ ms, fn });
        return () => {};
      },
    };
    const fire = (ms: number): void => {
      const i = timers.findIndex((t) => t.ms === ms);
      expect(i).toBeGreaterThanOrEqual(0);
      timers.splice(i, 1)[0].fn();
    };
    let now = 10_000;
    const rec = recorder();
    const rtcp = new SenderRtcp({ outputs: [video, audio], path: rec.path, cname: () => 'cname-1', now: () => now, random: () => 0.25, timers: source });
    rtcp.start();
    expect(calls).toEqual([['start', 90_000, 10_750, 'cname-1']]);
    expect(timers.map((t) => t.ms)).toEqual([750, NATIVE_REPORT_CHECK_MS]); // the audio output's report timer, the relay-wide check
    // The egress sent one and drew the next: the check finds nothing overdue.
    sentByEgress = 1;
    due = 11_800;
    now = 12_000;
    fire(NATIVE_REPORT_CHECK_MS);
    expect(rec.packets).toHaveLength(0);
    // Its stream stopped forwarding: once overdue, the check sends it (with the egress's counts) and hands over the next due time.
    video.state = { packets: 5, octets: 500, lastTs: 9000, lastSentAtMs: 11_000 };
    now = 11_800 + NATIVE_REPORT_OVERDUE_MS;
    fire(NATIVE_REPORT_CHECK_MS);
    expect(rec.parsed()).toHaveLength(1);
    expect(rec.parsed()[0][0]).toMatchObject({ type: 200, ssrc: 0x1234, senderInfo: { packetCount: 5, octetCount: 500 } });
    expect(calls.at(-1)).toEqual(['start', 90_000, now + 750, 'cname-1']);
    expect(rtcp.senderReportsSent()).toBe(2);
    rtcp.stop();
    expect(calls.at(-1)).toEqual(['stop']);
    now += 10_000;
    fire(NATIVE_REPORT_CHECK_MS); // the last run of the check: a stopped viewer is no longer in it
    expect(rec.packets).toHaveLength(1);
  });

  it('without a path nothing is started (werift sends its own)', () => {
    const start = vi.fn();
    const video = { ...fakeOutput('video', 1, 90_000, new Set()), nativeReports: { start, stop: () => {}, sent: () => 0, dueAt: () => 0 } };
    new SenderRtcp({ outputs: [video] }).start();
    expect(start).not.toHaveBeenCalled();
  });

  it('fanoutRtcp gives outputs the fan-out’s own reports when it knows the session, and none without it', () => {
    const calls: string[] = [];
    const f = {
      packets: () => 0,
      octets: () => 0,
      lastTs: () => 0,
      lastSentAt: () => 0,
      retransmit: () => ({ queued: 0, misses: 0, dropped: 0 }),
      sendRtcp: () => true,
      startSenderReports: (id: number, rate: number, due: number) => calls.push(`start ${id} ${rate} ${due}`),
      stopSenderReports: (id: number) => calls.push(`stop ${id}`),
      senderReports: (id: number) => 10 + id,
      setCname: (session: number, cname: string | undefined) => calls.push(`cname ${session} ${cname}`),
      senderReportDueAt: (id: number) => 1000 + id,
    };
    expect(fanoutRtcp(f, { video: 3 }).video!.nativeReports).toBeUndefined();
    const fast = fanoutRtcp(f, { video: 3, audio: 4, session: 7 });
    fast.video!.nativeReports!.start(90_000, 1234, 'c');
    fast.audio!.nativeReports!.stop();
    expect(calls).toEqual(['cname 7 c', 'start 3 90000 1234', 'stop 4']);
    expect(fast.audio!.nativeReports!.sent()).toBe(14);
    expect(fast.video!.nativeReports!.dueAt()).toBe(1003);
  });
});
