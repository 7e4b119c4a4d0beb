/**
 * RTCP for a media sender (RFC 3550, RFC 4585, RFC 5104): sender reports built from plain
 * counters, the parsing of what receivers send back, and the feedback (NACK, PLI, FIR) a
 * sender acts on.
 *
 * Folder src/rtcp/: pure protocol code with no imports from the rest of the package;
 * relay/ builds on it.
 */
export { buildSenderReport, writeSenderReport, senderReportLength, ntpFromUnixMs, unixMsFromNtp, compactNtp, rtpTimestampAt, NTP_UNIX_OFFSET_S, RTCP_MAX_PLAIN_BYTES } from './sender-report.js';
export type { NtpTimestamp, SenderReportInfo } from './sender-report.js';
export { senderFeedback, nackSequenceNumbers, FirSequence, MAX_NACK_SEQUENCES, RTCP_PT } from './feedback.js';
export type { SenderFeedback } from './feedback.js';
export { parseRtcp, RtcpParseError } from './parse.js';
export type { ParsedRtcp, ReportBlock } from './parse.js';
