/**
 * The glue between the native fan-out (src/fanout/, addon/fanout.cc) and a viewer's RTCP
 * (sender-rtcp.ts, viewer.ts `useFastPathRtcp`): per output, the sender-report counts
 * come from the fan-out's shared state array (no native call per read) and NACKs go to
 * its per-output history (`retransmit`, one native call per NACK); the relay's RTCP is
 * SRTCP-protected with the viewer's native session and queued to the viewer on the shared
 * socket, behind the RTP already queued there (`sendRtcp`: one native call, no werift on
 * the way — like the viewer's RTP, it follows the output's peer when the ICE pair moves).
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
  /** Protects with the output's session and queues to its viewer; false: the queue did not take it. */
  sendRtcp(id: number, packet: Uint8Array): boolean;
  /** The fan-out's own sender reports for the output (first due at `firstDueAt`, Unix ms). */
  startSenderReports?(id: number, clockRate: number, firstDueAt: number): void;
  stopSenderReports?(id: number): void;
  senderReports?(id: number): number;
  senderReportDueAt?(id: number): number;
  /** The SDES CNAME of the session's sender reports. */
  setCname?(session: number, cname: string | undefined): void;
}

/**
 * The fast-path side of one viewer's RTCP.
 * @param ids the viewer's output ids per kind in `fanout` (its RTCP goes out by either: they
 *   share the viewer's session and address), and that session: with it, and a fan-out that
 *   can, the sender reports are built and queued by the fan-out itself, in the batch that
 *   finds them due (`startSenderReports`), not by timers in JS.
 */
export function fanoutRtcp(fanout: FanoutRtcpSource, ids: { video?: number; audio?: number; session?: number }): FastPathRtcp {
  const session = ids.session;
  const { startSenderReports, stopSenderReports, senderReports, senderReportDueAt, setCname } = fanout;
  const native = session !== undefined && startSenderReports && stopSenderReports && senderReports && senderReportDueAt && setCname;
  const output = (id: number | undefined): FastPathRtcp['video'] =>
    id === undefined
      ? undefined
      : {
          nativeReports: native
            ? {
                start: (clockRate, firstDueAt, cname) => {
                  setCname.call(fanout, session, cname);
                  startSenderReports.call(fanout, id, clockRate, firstDueAt);
                },
                stop: () => stopSenderReports.call(fanout, id),
                sent: () => senderReports.call(fanout, id),
                dueAt: () => senderReportDueAt.call(fanout, id),
              }
            : undefined,
          sent: () => ({ packets: fanout.packets(id), octets: fanout.octets(id), lastTs: fanout.lastTs(id), lastSentAtMs: fanout.lastSentAt(id) }),
          retransmit: (seqs) => {
            const r = fanout.retransmit(id, seqs);
            // What the send queue could not take is not in the viewer's hands either: counted as missed.
            return { retransmitted: r.queued, missed: r.misses + r.dropped };
          },
        };
  const via = ids.video ?? ids.audio;
  return {
    video: output(ids.video),
    audio: output(ids.audio),
    now: Date.now,
    path: {
      send(packet, length) {
        if (via === undefined) return false;
        try {
          return fanout.sendRtcp(via, packet.subarray(0, length));
        } catch {
          return false; // output gone (the viewer is leaving) or a packet native SRTCP refused
        }
      },
    },
  };
}
