/**
 * What werift's `RTCRtpSender` did for each viewer, for outputs whose RTP werift never
 * sees (the native fast path): RTCP sender reports with the fast path's counts, NACK →
 * retransmission from the fast path's per-output history, and PLI/FIR → the stream's
 * keyframe policy. werift keeps ICE and DTLS. Incoming SRTCP reaches
 * {@link SenderRtcp.handleRtcp} parsed in werift's shape: unprotected and parsed by the relay
 * itself on the fast path (inbound-rtcp.ts, src/rtcp/parse.ts), by werift's DTLS transport
 * (`onRtcp`) where the relay cannot take it.
 *
 * - Sender reports (RFC 3550 §6.4.1): per output, at werift's interval (a random 0.5–1.5 s,
 *   werift packages/webrtc/src/media/rtpSender.ts `runRtcp`; the timers of all viewers share
 *   wake-ups, src/relay/coalesced-timers.ts, so each is up to 50 ms late), once it has sent a packet: SR
 *   + SDES CNAME (src/rtcp/sender-report.ts) with the fast path's packet and payload-octet
 *   counts; the NTP time is the wall clock at build time and the RTP time the last sent
 *   timestamp advanced by the wall-clock time since it was sent × the clock rate. It goes
 *   out through an {@link RtcpPath}: SRTCP-protected and queued to the viewer on the socket
 *   its RTP leaves on, after the RTP it counts. werift's own report for these tracks (it
 *   would count 0 packets) is suppressed by {@link suppressWeriftSenderReports}. Where the
 *   egress sends them itself ({@link RtcpOutput.nativeReports}: the native fan-out, in the
 *   batch that finds one due), no timer runs for the output here: this only starts, stops
 *   and counts them, and a relay-wide check ({@link NATIVE_REPORT_CHECK_MS}) sends those
 *   overdue because the stream stopped forwarding.
 * - Generic NACK (RFC 4585 §6.2.1): the lost sequence numbers (wrapped, de-duplicated,
 *   at most 512: src/rtcp/feedback.ts) are resent from the output's history, as far as the
 *   output's {@link RetransmitGuard} allows (no resend of a number resent < 100 ms ago,
 *   resends ≤ 50 % of the media rate: retransmit-guard.ts); counted as requested =
 *   retransmitted + not in history + throttled.
 * - PLI (RFC 4585 §6.3.1) and FIR (RFC 5104 §4.3.1, a repeated command sequence number
 *   counted once): handed to the viewer's keyframe policy (viewer.ts, stream.ts).
 *
 * Source: werift 0.24.4–0.25.x packages/webrtc/src/media/rtpSender.ts (`runRtcp`,
 * `handleRtcpPacket`), packages/webrtc/src/transport/dtls.ts (`onRtcp`, `sendRtcp`).
 */
import { FirSequence, senderFeedback } from '../rtcp/feedback.js';
import { rtpTimestampAt, senderReportLength, writeSenderReport } from '../rtcp/sender-report.js';
import { relayTimers, type CancelTimer, type TimerSource } from './coalesced-timers.js';
import { RetransmitGuard } from './retransmit-guard.js';

/** Sender reports go out every 500 + random × 1000 ms per output, as werift's do. */
export const SR_INTERVAL_MIN_MS = 500;
export const SR_INTERVAL_SPREAD_MS = 1000;

/** What one output has sent, as its egress counts it (RTP data packets only, no retransmissions). */
export interface OutputSent {
  /** RTP packets sent. */
  packets: number;
  /** Their payload octets (no headers, no padding). */
  octets: number;
  /** RTP timestamp of the last packet sent (u32). */
  lastTs: number;
  /** When the last packet was sent, Unix ms (the clock {@link SenderRtcpOptions.now} reads). */
  lastSentAtMs: number;
}

/** What {@link RtcpOutput.retransmit} did with one NACK's sequence numbers. */
export interface RetransmitResult {
  /** Packets queued again. */
  retransmitted: number;
  /** Sequence numbers no longer (or never) in the output's history. */
  missed: number;
}

/** One outgoing RTP stream (viewer × kind) whose RTP the fast path sends. */
export interface RtcpOutput {
  kind: 'video' | 'audio';
  /** Outgoing SSRC (werift's sender SSRC, the one in the answer SDP). */
  ssrc: number;
  /** RTP clock rate, Hz. */
  clockRate: number;
  /** What has been sent so far (read per report; native memory on the fast path). */
  sent(): OutputSent;
  /** Queues again the packets sent with these outgoing sequence numbers, in this order. */
  retransmit(sequenceNumbers: readonly number[]): RetransmitResult;
  /**
   * Where the egress sends the output's sender reports itself (the native fan-out,
   * src/fanout/fanout.ts `startSenderReports`): {@link SenderRtcp} then runs no timer for
   * the output and only starts, stops and counts them.
   */
  nativeReports?: NativeSenderReports;
}

/**
 * Sender reports an egress builds and queues itself, with its own counts and clock, in the
 * batches it forwards (so none while its stream forwards nothing).
 */
export interface NativeSenderReports {
  /** From now on (again): the next due at `dueAt` (Unix ms, the egress's clock), SDES CNAME `cname`. */
  start(clockRate: number, dueAt: number, cname: string | undefined): void;
  /** No more (idempotent). */
  stop(): void;
  /** Sender reports sent so far. */
  sent(): number;
  /** When the next is due (Unix ms), 0 when stopped. */
  dueAt(): number;
}

/** How often the relay-wide check of egress-sent reports runs, ms. */
export const NATIVE_REPORT_CHECK_MS = 500;
/** A report this overdue means its stream forwards nothing: the check sends it, ms. */
export const NATIVE_REPORT_OVERDUE_MS = 250;

/**
 * One check per timer source of every output whose sender reports the egress sends: when
 * one is overdue — its stream forwarded nothing since it fell due (a paused source) — the
 * report goes out from here and the next is drawn, so a receiver still gets the final
 * counts after the media stops (RFC 3550 §6.4: a sender reports for two intervals after its
 * last packet), as with werift's own loop.
 */
class NativeReportCheck {
  private readonly members = new Set<SenderRtcp>();
  private cancel: CancelTimer | undefined;
  constructor(private readonly timers: TimerSource) {}
  add(r: SenderRtcp): void {
    this.members.add(r);
    this.arm();
  }
  delete(r: SenderRtcp): void {
    this.members.delete(r);
  }
  private arm(): void {
    if (this.cancel || this.members.size === 0) return;
    this.cancel = this.timers.after(NATIVE_REPORT_CHECK_MS, () => {
      this.cancel = undefined;
      for (const r of this.members) r.sendOverdueReports();
      this.arm();
    });
  }
}
const nativeReportChecks = new WeakMap<TimerSource, NativeReportCheck>();

/** How the viewer's RTCP leaves: SRTCP-protected and queued to the viewer in order with its RTP. */
export interface RtcpPath {
  /**
   * Protects and sends one plain compound RTCP packet (`packet[0..length)`; the buffer
   * is reused after the call returns). Returns false when it could not be sent
   * (no keys yet, closed, queue full).
   */
  send(packet: Uint8Array, length: number): boolean;
}

/** Counters of one viewer's RTCP on the fast path. */
export interface SenderRtcpCounters {
  /** Sender reports sent by the timers (one per output per interval); with {@link RtcpOutput.nativeReports} see {@link SenderRtcp.senderReportsSent}. */
  senderReports: number;
  /** Sender reports that could not be sent (the path refused them). */
  senderReportsFailed: number;
  /** Generic NACK packets received for our SSRCs. */
  nacks: number;
  /** Sequence numbers they asked for. */
  nackRequested: number;
  /** Packets resent for them. */
  retransmitted: number;
  /** Asked-for sequence numbers not in the history (too old, never sent, or retransmission off). */
  nackMissed: number;
  /** Asked-for sequence numbers not resent now: resent < 100 ms ago, or over the retransmission budget (retransmit-guard.ts). */
  nackThrottled: number;
  /** Picture loss indications received. */
  pli: number;
  /** Full intra requests received (new command sequence numbers only). */
  fir: number;
}

export interface SenderRtcpOptions {
  outputs: readonly RtcpOutput[];
  /** Where sender reports go; omitted: none are sent (werift sends its own). */
  path?: RtcpPath;
  /** SDES CNAME of the session (werift's `sender.cname`); read per report. */
  cname?: () => string | undefined;
  /** Retransmit on NACK (default true). False: NACKs are only counted (werift resends from its own cache). */
  retransmit?: boolean;
  /** A viewer asked for a keyframe: PLI, or a FIR with a new command sequence number. */
  onKeyframeRequest?: (kind: 'video' | 'audio', why: 'pli' | 'fir') => void;
  /** Wall clock, Unix ms (default `performance.timeOrigin + performance.now()`); the clock `sent().lastSentAtMs` uses. */
  now?: () => number;
  /** Uniform [0, 1) for the report interval (default Math.random). */
  random?: () => number;
  /** Where the report timers come from (default {@link relayTimers}: shared wake-ups, ≤ 50 ms late). */
  timers?: TimerSource;
}

const wallClock = (): number => performance.timeOrigin + performance.now();

/**
 * One viewer's RTCP on the fast path. Create it when the viewer's outputs exist, call
 * {@link SenderRtcp.start} when DTLS is up, feed it every RTCP packet werift parsed for
 * the viewer ({@link SenderRtcp.handleRtcp}), {@link SenderRtcp.stop} when it leaves.
 */
export class SenderRtcp {
  readonly counters: SenderRtcpCounters = { senderReports: 0, senderReportsFailed: 0, nacks: 0, nackRequested: 0, retransmitted: 0, nackMissed: 0, nackThrottled: 0, pli: 0, fir: 0 };
  private readonly outputs: readonly RtcpOutput[];
  private readonly ssrcs: Set<number>;
  private readonly fir = new Map<number, FirSequence>();
  private readonly timers = new Map<RtcpOutput, CancelTimer>();
  private readonly guards = new Map<RtcpOutput, RetransmitGuard>();
  private readonly timerSource: TimerSource;
  private readonly now: () => number;
  private readonly random: () => number;
  private scratch = Buffer.alloc(128);
  private running = false;

  constructor(private readonly opts: SenderRtcpOptions) {
    this.outputs = [...opts.outputs];
    this.ssrcs = new Set(this.outputs.map((o) => o.ssrc >>> 0));
    this.now = opts.now ?? wallClock;
    this.random = opts.random ?? Math.random;
    this.timerSource = opts.timers ?? relayTimers;
  }

  /** Starts the sender reports (no-op without a path or when running): the egress's own where it has them ({@link RtcpOutput.nativeReports}), else a timer per output. */
  start(): void {
    if (this.running) return;
    this.running = true;
    if (!this.opts.path) return;
    let native = false;
    for (const o of this.outputs) {
      if (o.nativeReports) {
        o.nativeReports.start(o.clockRate, this.nextDue(), this.opts.cname?.() || undefined);
        native = true;
      } else {
        this.schedule(o);
      }
    }
    if (native) this.nativeCheck().add(this);
  }

  /** Stops the sender reports (idempotent). */
  stop(): void {
    this.running = false;
    for (const cancel of this.timers.values()) cancel();
    this.timers.clear();
    for (const o of this.outputs) o.nativeReports?.stop();
    nativeReportChecks.get(this.timerSource)?.delete(this);
  }

  /**
   * @internal The relay-wide check ({@link NATIVE_REPORT_CHECK_MS}): sends the reports the
   * egress should have sent over {@link NATIVE_REPORT_OVERDUE_MS} ago (its stream
   * forwards nothing) and hands it the next due time.
   */
  sendOverdueReports(): void {
    if (!this.running) return;
    const now = this.now();
    for (const o of this.outputs) {
      const r = o.nativeReports;
      const due = r?.dueAt() ?? 0;
      if (!r || !(due > 0) || now - due < NATIVE_REPORT_OVERDUE_MS) continue;
      this.sendReport(o);
      r.start(o.clockRate, this.nextDue(), this.opts.cname?.() || undefined);
    }
  }

  private nextDue(): number {
    return this.now() + SR_INTERVAL_MIN_MS + this.random() * SR_INTERVAL_SPREAD_MS;
  }

  private nativeCheck(): NativeReportCheck {
    let c = nativeReportChecks.get(this.timerSource);
    if (!c) nativeReportChecks.set(this.timerSource, (c = new NativeReportCheck(this.timerSource)));
    return c;
  }

  /** Sender reports sent: by this object's timers ({@link SenderRtcp.counters}) and by the egress itself. */
  senderReportsSent(): number {
    let n = this.counters.senderReports;
    for (const o of this.outputs) n += o.nativeReports?.sent() ?? 0;
    return n;
  }

  /**
   * One RTCP packet of the viewer's, parsed in werift's shape: by the relay on the fast
   * path (inbound-rtcp.ts, src/rtcp/parse.ts) or by werift's DTLS transport (`onRtcp`).
   * Acts on NACK, PLI and FIR for our SSRCs; ignores everything else.
   */
  handleRtcp(packet: unknown): void {
    for (const fb of senderFeedback(packet, this.ssrcs)) {
      const out = this.outputs.find((o) => o.ssrc >>> 0 === fb.ssrc);
      if (!out) continue;
      const c = this.counters;
      if (fb.kind === 'nack') {
        c.nacks++;
        c.nackRequested += fb.sequenceNumbers.length;
        if (this.opts.retransmit === false) continue; // werift resends from its own cache
        if (!this.running) {
          c.nackMissed += fb.sequenceNumbers.length;
          continue;
        }
        let guard = this.guards.get(out);
        if (!guard) this.guards.set(out, (guard = new RetransmitGuard()));
        const { allowed, throttled } = guard.admit(fb.sequenceNumbers, this.now(), out.sent().packets);
        c.nackThrottled += throttled;
        if (allowed.length === 0) continue;
        const r = out.retransmit(allowed);
        c.retransmitted += r.retransmitted;
        c.nackMissed += r.missed;
      } else if (fb.kind === 'pli') {
        c.pli++;
        this.opts.onKeyframeRequest?.(out.kind, 'pli');
      } else {
        let seq = this.fir.get(fb.ssrc);
        if (!seq) this.fir.set(fb.ssrc, (seq = new FirSequence()));
        if (!seq.isNew(fb.commandSequence)) continue;
        c.fir++;
        this.opts.onKeyframeRequest?.(out.kind, 'fir');
      }
    }
  }

  /**
   * Builds and sends the sender report of `out` now (the timer calls this). Returns false
   * when nothing was sent: no packet sent yet, no path, or the path refused it.
   */
  sendReport(out: RtcpOutput): boolean {
    const path = this.opts.path;
    if (!path) return false;
    const sent = out.sent();
    if (!(sent.packets > 0)) return false;
    const at = this.now();
    const cname = this.opts.cname?.() || undefined;
    const info = {
      ssrc: out.ssrc >>> 0,
      ntpMs: at,
      rtpTimestamp: rtpTimestampAt(sent.lastTs, sent.lastSentAtMs, at, out.clockRate),
      packetCount: sent.packets % 0x1_0000_0000,
      octetCount: sent.octets % 0x1_0000_0000,
      cname,
    };
    const n = senderReportLength(info);
    if (this.scratch.length < n) this.scratch = Buffer.alloc(n);
    writeSenderReport(info, this.scratch, 0);
    if (!path.send(this.scratch, n)) {
      this.counters.senderReportsFailed++;
      return false;
    }
    this.counters.senderReports++;
    return true;
  }

  private schedule(out: RtcpOutput): void {
    const cancel = this.timerSource.after(SR_INTERVAL_MIN_MS + this.random() * SR_INTERVAL_SPREAD_MS, () => {
      this.timers.delete(out);
      if (!this.running) return;
      try {
        this.sendReport(out);
      } finally {
        if (this.running) this.schedule(out);
      }
    });
    this.timers.set(out, cancel);
  }
}

/** The part of werift's `RTCRtpSender` whose RTCP loop is switched off. */
export interface WeriftSenderLike {
  rtcpRunning?: boolean;
  rtcpCancel?: { abort(): void };
  runRtcp?: () => Promise<void>;
}

/**
 * Keeps werift's own sender reports off for a sender whose RTP the fast path sends: werift
 * starts its `runRtcp` loop at its first `sendRtp` and would report 0 packets (its counts)
 * on the same SSRC. The instance's `runRtcp` becomes a no-op and a loop already running
 * is cancelled (werift's `stop()` uses the same abort signal).
 */
export function suppressWeriftSenderReports(sender: WeriftSenderLike): void {
  if (sender.rtcpRunning) {
    sender.rtcpRunning = false;
    sender.rtcpCancel?.abort();
  }
  Object.defineProperty(sender, 'runRtcp', { value: async (): Promise<void> => {}, configurable: true, writable: true, enumerable: false });
}

/** werift's `RTCDtlsTransport` as far as sending RTCP goes (packages/webrtc/src/transport/dtls.ts). */
export interface WeriftDtlsRtcpLike {
  state?: string;
  sendRtcp(packets: { serialize(): Buffer }[]): Promise<unknown>;
}

/**
 * An {@link RtcpPath} through werift's DTLS transport: its `sendRtcp` protects with the
 * session's SRTCP (werift's, or the addon's under `installWeriftBatching(werift, { srtp:
 * 'native' })`) and hands the datagram to the ICE connection, so it leaves on the
 * viewer's socket in order with what was queued there before.
 */
export function weriftRtcpPath(dtls: WeriftDtlsRtcpLike): RtcpPath {
  return {
    send(packet, length) {
      if (dtls.state !== undefined && dtls.state !== 'connected') return false;
      const copy = Buffer.from(packet.subarray(0, length));
      dtls.sendRtcp([{ serialize: () => copy }]).catch(() => {});
      return true;
    },
  };
}
