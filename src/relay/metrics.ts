/**
 * Prometheus metrics of the relay (prom-client), served at `GET /metrics`. Values are
 * read from the relay's own counters at scrape time, so the hot path keeps plain
 * integer increments. Counters end in `_total`; rates (datagrams/s) are Prometheus'
 * `rate()` over them.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { RelayStream } from './stream.js';
import type { UdpEgressStats } from './relay.js';
import { EGRESS_PATHS, type FastEgress } from './fast-egress.js';

/**
 * Sampling period of the event-loop delay histogram behind `rtp_relay_process_nodejs_eventloop_lag_*`
 * (ms; prom-client's `eventLoopMonitoringPrecision`, default 10). Each sample is a libuv timer
 * that wakes the loop, and every loop iteration pays two epoll_pwait calls (Node measures idle
 * time): with 64 viewers at 1 stream × 64 the relay made 579 epoll_pwait calls a second at
 * 10 ms and 427 at 100 ms (perf stat -e syscalls:sys_enter_epoll_pwait on its PID, 8 s), i.e.
 * ~75 fewer wake-ups a second that carried no packet. At 100 ms a stall longer than 100 ms is always
 * recorded; a shorter one when a sample falls due during it.
 */
export const EVENT_LOOP_MONITOR_MS = 100;

export function createMetrics(streams: () => Iterable<RelayStream>, udp: () => UdpEgressStats | undefined, fast: () => FastEgress | undefined = () => undefined): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'rtp_relay_process_', eventLoopMonitoringPrecision: EVENT_LOOP_MONITOR_MS });

  const perStream = <T extends Counter<string> | Gauge<string>>(make: (collect: (this: T) => void) => T, read: (s: RelayStream) => Record<string, number>): T =>
    make(function (this: T) {
      this.reset();
      for (const s of streams()) {
        for (const [label, value] of Object.entries(read(s))) {
          const labels = label === '' ? { stream: s.name } : { stream: s.name, kind: label };
          // Counters mirror our own totals: reset, then add the absolute value.
          if (this instanceof Counter) this.inc(labels, value);
          else (this as Gauge<string>).set(labels, value);
        }
      }
    });

  perStream(
    (collect) => new Counter({ name: 'rtp_relay_ingest_datagrams_total', help: 'RTP datagrams received on the ingest port', labelNames: ['stream', 'kind'], registers: [registry], collect }),
    (s) => ({ video: s.counters.ingestVideo, audio: s.counters.ingestAudio }),
  );
  perStream(
    (collect) => new Counter({ name: 'rtp_relay_ingest_bytes_total', help: 'RTP bytes received on the ingest port', labelNames: ['stream'], registers: [registry], collect }),
    (s) => ({ '': s.counters.ingestBytes }),
  );
  perStream(
    (collect) =>
      new Counter({
        name: 'rtp_relay_ingest_dropped_total',
        help: 'Ingest datagrams dropped, by reason: not RTP (invalid), unknown payload type, from a sender that does not own the stream (foreign_source), a would-be source on RFC 3550 probation, a wild sequence jump of the owner (bad_sequence)',
        labelNames: ['stream', 'kind'],
        registers: [registry],
        collect,
      }),
    (s) => ({
      invalid: s.counters.ingestInvalid,
      unknown_payload_type: s.counters.ingestUnknownPayloadType,
      foreign_source: s.counters.ingestForeign,
      probation: s.counters.ingestProbation,
      bad_sequence: s.counters.ingestBadSequence,
    }),
  );
  perStream(
    (collect) => new Counter({ name: 'rtp_relay_ingest_oversize_total', help: 'Ingest RTP datagrams over 1200 bytes (too big for a WebRTC path; see the warning in the log)', labelNames: ['stream'], registers: [registry], collect }),
    (s) => ({ '': s.counters.ingestOversize }),
  );
  perStream(
    (collect) => new Counter({ name: 'rtp_relay_source_changes_total', help: 'Times the stream locked to a new source, by kind: first, restart (new SSRC/port from the owner address), switch (after the owner went silent)', labelNames: ['stream', 'kind'], registers: [registry], collect }),
    (s) => ({ ...s.counters.sourceChanges }),
  );
  perStream(
    (collect) => new Counter({ name: 'rtp_relay_discontinuities_total', help: 'Sequence (RFC 3550 A.1 resync) or timestamp jumps within one source; viewers were re-based', labelNames: ['stream'], registers: [registry], collect }),
    (s) => ({ '': s.counters.discontinuities }),
  );
  perStream(
    (collect) => new Gauge({ name: 'rtp_relay_seconds_since_keyframe', help: 'Seconds since the last keyframe arrived (since the stream opened, when none has)', labelNames: ['stream'], registers: [registry], collect }),
    (s) => ({ '': (Date.now() - s.lastKeyframeAt) / 1000 }),
  );
  perStream(
    (collect) => new Counter({ name: 'rtp_relay_bframes_total', help: 'H.264 frames whose timestamp went backwards in decode order (B-frames: encode with -bf 0)', labelNames: ['stream'], registers: [registry], collect }),
    (s) => ({ '': s.counters.bframes }),
  );
  perStream(
    (collect) => new Counter({ name: 'rtp_relay_warnings_total', help: 'Operator warnings logged, by kind: bframes, unknown_payload_type, oversize', labelNames: ['stream', 'kind'], registers: [registry], collect }),
    (s) => ({ ...s.counters.warnings }),
  );
  perStream(
    (collect) => new Counter({ name: 'rtp_relay_parameter_sets_sent_total', help: 'Viewer starts at an IDR where the cached SPS/PPS were sent first', labelNames: ['stream'], registers: [registry], collect }),
    (s) => ({ '': s.counters.parameterSetsSent }),
  );
  perStream(
    (collect) => new Counter({ name: 'rtp_relay_keyframes_total', help: 'Keyframes seen in the ingest', labelNames: ['stream'], registers: [registry], collect }),
    (s) => ({ '': s.counters.keyframes }),
  );
  perStream(
    (collect) => new Gauge({ name: 'rtp_relay_viewers', help: 'Viewers of the stream (connecting or connected)', labelNames: ['stream'], registers: [registry], collect }),
    (s) => ({ '': s.viewers.size }),
  );
  perStream(
    (collect) => new Gauge({ name: 'rtp_relay_viewers_waiting_keyframe', help: 'Connected viewers waiting for the next keyframe', labelNames: ['stream'], registers: [registry], collect }),
    (s) => ({ '': [...s.viewers].filter((v) => v.connected && v.video && !v.videoLive).length }),
  );
  perStream(
    (collect) => new Gauge({ name: 'rtp_relay_viewers_frozen', help: 'Connected viewers that asked for a picture (PLI) or reported loss and got no keyframe for over 2 s', labelNames: ['stream'], registers: [registry], collect }),
    (s) => ({ '': s.totals().frozen }),
  );
  perStream(
    (collect) => new Counter({ name: 'rtp_relay_viewer_freezes_total', help: 'Times a viewer froze (PLI or reported loss, then no keyframe for over 2 s)', labelNames: ['stream'], registers: [registry], collect }),
    (s) => ({ '': s.totals().freezes }),
  );
  perStream(
    (collect) => new Counter({ name: 'rtp_relay_viewers_closed_total', help: 'Viewers gone, by reason: deleted (WHEP DELETE), silent (no STUN/RTCP for 8 s), connect-timeout, disconnected, failed, relay-stop', labelNames: ['stream', 'kind'], registers: [registry], collect }),
    (s) => ({ ...s.closed }),
  );
  for (const [stat, help] of [
    ['fraction_lost_mean', 'Mean RTCP receiver-report fraction lost (0-1) over viewers, latest report of each (younger than 10 s)'],
    ['fraction_lost_max', 'Largest RTCP receiver-report fraction lost (0-1) over viewers'],
    ['jitter_seconds_mean', 'Mean RTCP receiver-report interarrival jitter over viewers, seconds'],
    ['jitter_seconds_max', 'Largest RTCP receiver-report interarrival jitter over viewers, seconds'],
  ] as const) {
    perStream(
      (collect) => new Gauge({ name: `rtp_relay_viewer_rr_${stat}`, help, labelNames: ['stream', 'kind'], registers: [registry], collect }),
      (s) => {
        const r = s.receiverReports();
        const pick = (o: (typeof r)['video']): number => (stat === 'fraction_lost_mean' ? o.lossMean : stat === 'fraction_lost_max' ? o.lossMax : stat === 'jitter_seconds_mean' ? o.jitterMean : o.jitterMax);
        return { video: pick(r.video), audio: pick(r.audio) };
      },
    );
  }
  perStream(
    (collect) => new Counter({ name: 'rtp_relay_egress_datagrams_total', help: 'RTP packets forwarded to viewers (summed over viewers)', labelNames: ['stream', 'kind'], registers: [registry], collect }),
    (s) => ({ video: s.counters.egressVideo, audio: s.counters.egressAudio }),
  );
  perStream(
    (collect) => new Counter({ name: 'rtp_relay_keyframe_waits_total', help: 'Times a viewer waited for a keyframe (join or fell behind)', labelNames: ['stream'], registers: [registry], collect }),
    (s) => ({ '': s.counters.keyframeWaits }),
  );
  perStream(
    (collect) => new Counter({ name: 'rtp_relay_keyframe_wait_seconds_total', help: 'Time viewers spent waiting for a keyframe, summed', labelNames: ['stream'], registers: [registry], collect }),
    (s) => ({ '': s.counters.keyframeWaitMs / 1000 }),
  );
  perStream(
    (collect) => new Counter({ name: 'rtp_relay_viewer_stalls_total', help: 'Times a viewer fell behind and was resynchronised at a keyframe', labelNames: ['stream'], registers: [registry], collect }),
    (s) => ({ '': s.totals().stalls }),
  );
  perStream(
    (collect) => new Counter({ name: 'rtp_relay_pli_total', help: 'Picture loss indications (RTCP PLI) received from viewers', labelNames: ['stream'], registers: [registry], collect }),
    (s) => ({ '': s.totals().pli }),
  );
  perStream(
    (collect) => new Counter({ name: 'rtp_relay_fir_total', help: 'Full intra requests (RTCP FIR, RFC 5104) received from viewers; a repeated request counted once', labelNames: ['stream'], registers: [registry], collect }),
    (s) => ({ '': s.totals().fir }),
  );
  perStream(
    (collect) =>
      new Counter({
        name: 'rtp_relay_parameter_sets_on_request_total',
        help: 'Keyframes a viewer asked for (PLI/FIR) that got the cached SPS/PPS inserted before them (the relay cannot ask the encoder for a keyframe)',
        labelNames: ['stream'],
        registers: [registry],
        collect,
      }),
    (s) => ({ '': s.counters.parameterSetsOnRequest }),
  );
  perStream(
    (collect) =>
      new Counter({
        name: 'rtp_relay_nack_total',
        help: 'Fast path: RTP sequence numbers viewers asked for in generic NACKs (requested), packets resent for them from the per-output history (retransmitted), those no longer in it (missed), and those not resent now (throttled: resent under 100 ms ago, or over the retransmission budget of half the media rate)',
        labelNames: ['stream', 'kind'],
        registers: [registry],
        collect,
      }),
    (s) => {
      const t = s.totals();
      return { requested: t.nackRequested, retransmitted: t.retransmitted, missed: t.nackMissed, throttled: t.nackThrottled };
    },
  );
  perStream(
    (collect) =>
      new Counter({
        name: 'rtp_relay_consent_checks_total',
        help: "ICE-lite: viewers' consent checks (RFC 7675) on the selected pair answered in the receive loop (answered), and those left to werift (passed: role conflict, new ICE credentials, bad integrity, unknown attribute)",
        labelNames: ['stream', 'kind'],
        registers: [registry],
        collect,
      }),
    (s) => {
      const t = s.totals();
      return { answered: t.consentAnswered, passed: t.consentPassed };
    },
  );
  perStream(
    (collect) => new Counter({ name: 'rtp_relay_sender_reports_total', help: 'Fast path: RTCP sender reports the relay sent for viewers whose RTP werift does not see', labelNames: ['stream'], registers: [registry], collect }),
    (s) => ({ '': s.totals().senderReports }),
  );

  const udpCounter = (name: string, help: string, read: (u: UdpEgressStats) => number): void => {
    new Counter({
      name,
      help,
      registers: [registry],
      collect(this: Counter<string>) {
        this.reset();
        const u = udp();
        if (u) this.inc(read(u));
      },
    });
  };
  udpCounter('rtp_relay_udp_datagrams_sent_total', 'WebRTC UDP datagrams the kernel took (batched sockets)', (u) => u.sent);
  udpCounter('rtp_relay_udp_send_syscalls_total', 'Send system calls on the WebRTC UDP sockets (sendmmsg)', (u) => u.syscalls);
  udpCounter('rtp_relay_udp_batches_total', 'Flushes of the WebRTC UDP sockets', (u) => u.batches);
  udpCounter('rtp_relay_udp_partial_sends_total', 'Flushes where the kernel took only part of the batch', (u) => u.partialSends);
  udpCounter('rtp_relay_udp_dropped_total', 'Datagrams dropped by the batch sockets (queue full, closed)', (u) => u.dropped);
  udpCounter('rtp_relay_udp_failed_total', 'Datagrams that failed with an errno of their own', (u) => u.failed);
  udpCounter('rtp_relay_udp_gso_segments_total', 'Datagrams that left as segments of UDP GSO messages (the rest went one per sendmmsg entry)', (u) => u.gsoSegments);
  udpCounter('rtp_relay_udp_gso_messages_total', 'UDP GSO messages sent (sendmmsg entries carrying several datagrams)', (u) => u.gsoMessages);
  new Gauge({
    name: 'rtp_relay_udp_batch_size_mean',
    help: 'Mean datagrams per flush on the WebRTC UDP sockets since start',
    registers: [registry],
    collect(this: Gauge<string>) {
      const u = udp();
      this.set(u && u.batches > 0 ? u.sent / u.batches : 0);
    },
  });
  new Gauge({
    name: 'rtp_relay_viewers_by_egress',
    help: "Connected viewers by the path their RTP takes: fast (native fan-out), werift (werift's sender over the batched port), werift-unbatched",
    labelNames: ['path'],
    registers: [registry],
    collect(this: Gauge<string>) {
      const n: Record<string, number> = Object.fromEntries(EGRESS_PATHS.map((p) => [p, 0]));
      for (const s of streams()) for (const v of s.viewers) if (v.connected) n[v.egress]++;
      for (const [path, value] of Object.entries(n)) this.set({ path }, value);
    },
  });
  new Counter({
    name: 'rtp_relay_fast_egress_datagrams_total',
    help: 'RTP datagrams of the fast egress by outcome: queued (to the shared socket), dropped (its send queue was full), oversize (over the 1200-byte path MTU after SRTP: not sent), error (SRTP failed), retransmitted (NACK)',
    labelNames: ['outcome'],
    registers: [registry],
    collect(this: Counter<string>) {
      this.reset();
      const t = fast()?.fanout?.totals;
      if (!t) return;
      this.inc({ outcome: 'queued' }, t.queued);
      this.inc({ outcome: 'dropped' }, t.dropped);
      this.inc({ outcome: 'oversize' }, t.oversize);
      this.inc({ outcome: 'error' }, t.errors);
      this.inc({ outcome: 'retransmitted' }, t.retransmitted);
    },
  });
  new Counter({
    name: 'rtp_relay_fast_rtcp_received_total',
    help: "SRTCP datagrams from fast-path viewers, unprotected by the relay instead of werift, by outcome: taken (receiver reports taken in natively in the receive loop, never seen by JS), handled, rejected (SRTCP authentication failed), malformed (not valid RTCP), orphaned (the viewer left first)",
    labelNames: ['outcome'],
    registers: [registry],
    collect(this: Counter<string>) {
      this.reset();
      const inbound = fast()?.inboundRtcp;
      const c = inbound?.counters;
      if (!c) return;
      this.inc({ outcome: 'taken' }, inbound.intakeCounters.taken);
      this.inc({ outcome: 'handled' }, c.handled);
      this.inc({ outcome: 'rejected' }, c.rejected);
      this.inc({ outcome: 'malformed' }, c.malformed);
      this.inc({ outcome: 'orphaned' }, c.orphaned);
    },
  });
  return registry;
}
