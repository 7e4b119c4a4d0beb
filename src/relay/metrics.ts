/**
 * Prometheus metrics of the relay (prom-client), served at `GET /metrics`. Values are
 * read from the relay's own counters at scrape time, so the hot path keeps plain
 * integer increments. Counters end in `_total`; rates (datagrams/s) are Prometheus'
 * `rate()` over them.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { RelayStream } from './stream.js';
import type { UdpEgressStats } from './relay.js';

export function createMetrics(streams: () => Iterable<RelayStream>, udp: () => UdpEgressStats | undefined): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'rtp_relay_process_' });

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
    (collect) => new Counter({ name: 'rtp_relay_ingest_dropped_total', help: 'Ingest datagrams dropped: not RTP (kind=invalid) or unknown payload type', labelNames: ['stream', 'kind'], registers: [registry], collect }),
    (s) => ({ invalid: s.counters.ingestInvalid, unknown_payload_type: s.counters.ingestUnknownPayloadType }),
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
    (s) => ({ '': [...s.viewers].filter((v) => v.connected && !v.videoLive).length }),
  );
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
  new Gauge({
    name: 'rtp_relay_udp_batch_size_mean',
    help: 'Mean datagrams per flush on the WebRTC UDP sockets since start',
    registers: [registry],
    collect(this: Gauge<string>) {
      const u = udp();
      this.set(u && u.batches > 0 ? u.sent / u.batches : 0);
    },
  });
  return registry;
}
