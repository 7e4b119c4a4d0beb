/**
 * The native RTP fan-out: one call per receive batch copies, rewrites, SRTP-protects and
 * queues every packet to every live output. See {@link RtpFanout}.
 */
export { RtpFanout, FanoutBatch, FANOUT, FANOUT_DEFAULT_MTU, FANOUT_HISTORY, fanoutUnavailableReason } from './fanout.js';
export type { FanoutKind, FanoutOutputOptions, ForwardResult, RetransmitResult } from './fanout.js';
