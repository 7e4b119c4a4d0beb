/**
 * The glue between the native fan-out (src/fanout/, addon/fanout.cc) and a viewer's RTCP
 * (sender-rtcp.ts, viewer.ts `useFastPathRtcp`): per output, the sender-report counts
 * come from the fan-out's shared state array (no native call per read) and NACKs go to
 * its per-output history (`retransmit`, one native call per NACK); the relay's RTCP is
 * SRTCP-protected with the viewer's native session (`protectRtcp`, so its SRTCP index
 * continues in native memory) and handed to the viewer's ICE connection, which queues it
 * on the shared socket behind the RTP already queued there.
 *
 * Typed structurally, so the relay can be built and tested with any object of this shape.
 */
import type { FastPathRtcp } from './viewer.js';

/** The parts of `RtpFanout` (src/fanout/fanout.ts) the RTCP side uses. */
export interface FanoutRtcpSource {
  packets(id: number): number;
  octets(id: number): number;
  lastTs(id: number): number;
  /** The `now` (Unix ms, `Date.now()`) of the forward() that queued the output's last packet. */
  lastSentAt(id: number): number;
  retransmit(id: number, seqs: ArrayLike<number>): { queued: number; misses: number; dropped: number };
  protectRtcp(session: number, packet: Uint8Array): Buffer;
}

/**
 * The fast-path side of one viewer's RTCP.
 * @param ids the viewer's output ids per kind in `fanout`.
 * @param session the viewer's SRTP session id in `fanout`.
 * @param send queues one protected datagram to the viewer (werift's
 *   `iceTransport.connection.send`, which the plug routes to the shared socket); false or a
 *   throw: not sent.
 */
export function fanoutRtcp(fanout: FanoutRtcpSource, ids: { video?: number; audio?: number }, session: number, send: (datagram: Buffer) => boolean | void): FastPathRtcp {
  const output = (id: number | undefined): FastPathRtcp['video'] =>
    id === undefined
      ? undefined
      : {
          sent: () => ({ packets: fanout.packets(id), octets: fanout.octets(id), lastTs: fanout.lastTs(id), lastSentAtMs: fanout.lastSentAt(id) }),
          retransmit: (seqs) => {
            const r = fanout.retransmit(id, seqs);
            // What the send queue could not take is not in the viewer's hands either: counted as missed.
            return { retransmitted: r.queued, missed: r.misses + r.dropped };
          },
        };
  return {
    video: output(ids.video),
    audio: output(ids.audio),
    now: Date.now,
    path: {
      send(packet, length) {
        let enc: Buffer;
        try {
          enc = fanout.protectRtcp(session, packet.subarray(0, length));
        } catch {
          return false; // session gone (the viewer is leaving)
        }
        try {
          return send(enc) !== false;
        } catch {
          return false;
        }
      },
    },
  };
}
