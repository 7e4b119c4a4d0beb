/**
 * RTCP sender reports (RFC 3550 §6.4.1) with an SDES CNAME (§6.5.1) in one compound
 * packet (§6.1), built from plain numbers: what a media sender that is not werift's
 * `RTCRtpSender` (the relay's native fast path) sends for each outgoing stream, so the
 * receiver keeps its packet/octet statistics and its RTP↔wall-clock mapping (lip sync,
 * jitter-buffer timing, round-trip time from LSR/DLSR).
 *
 * Pure: no I/O, no clock reads. Callers pass the wall-clock time (Unix ms) the report is
 * built at; {@link rtpTimestampAt} advances the last sent RTP timestamp to that instant.
 *
 * Units: NTP timestamps are 64-bit fixed point (seconds since 1900-01-01 UTC in the high
 * word, 2^-32 s in the low word, RFC 3550 §4), RTP timestamps are ticks of the stream's
 * clock rate (Hz), counts are packets and payload octets (RTP header and padding
 * excluded), all mod 2^32.
 */

/** Seconds from the NTP epoch (1900-01-01) to the Unix epoch (1970-01-01). */
export const NTP_UNIX_OFFSET_S = 2_208_988_800;
/** RTCP packet type of a sender report (RFC 3550 §12.1). */
export const RTCP_PT_SR = 200;
/** RTCP packet type of source description items (RFC 3550 §12.1). */
export const RTCP_PT_SDES = 202;
/** SDES item type CNAME (RFC 3550 §12.2). */
export const SDES_CNAME = 1;
/** Bytes of an SR without report blocks: header 4 + SSRC 4 + sender info 20. */
export const SR_BYTES = 28;
/**
 * Largest plain RTCP compound the relay sends, bytes: the 1200-byte WebRTC path MTU
 * minus the largest SRTCP overhead (AEAD_AES_128_GCM: 4-byte E+index and a 16-byte tag).
 */
export const RTCP_MAX_PLAIN_BYTES = 1200 - 20;

/** An NTP timestamp split into its two 32-bit words. */
export interface NtpTimestamp {
  /** Seconds since 1900-01-01 UTC, mod 2^32 (era 0 until 2036-02-07, then era 1). */
  seconds: number;
  /** Fraction of a second, units of 2^-32 s (0 .. 2^32-1). */
  fraction: number;
}

/** What one sender report says about one outgoing RTP stream. */
export interface SenderReportInfo {
  /** SSRC of the sender (the outgoing stream), u32. */
  ssrc: number;
  /** Wall-clock time the report describes, Unix ms (fractions allowed). */
  ntpMs: number;
  /** RTP timestamp that corresponds to `ntpMs` (the same instant on the media clock), u32. */
  rtpTimestamp: number;
  /** RTP data packets sent on `ssrc` since it started, mod 2^32. */
  packetCount: number;
  /** Payload octets of those packets (headers and padding excluded), mod 2^32. */
  octetCount: number;
  /** SDES CNAME (1–255 bytes of UTF-8); omitted: the compound is the SR alone. */
  cname?: string;
}

/**
 * NTP timestamp of a Unix time in ms (RFC 3550 §4; RFC 5905 §6 for the eras).
 * @throws RangeError for a time that is not a finite number ≥ 0.
 */
export function ntpFromUnixMs(unixMs: number): NtpTimestamp {
  if (typeof unixMs !== 'number' || !Number.isFinite(unixMs) || unixMs < 0) {
    throw new RangeError(`unixMs must be a finite number of milliseconds >= 0. Received ${String(unixMs)}`);
  }
  const wholeS = Math.floor(unixMs / 1000);
  const fracS = (unixMs - wholeS * 1000) / 1000;
  let fraction = Math.round(fracS * 0x1_0000_0000);
  let seconds = wholeS + NTP_UNIX_OFFSET_S;
  if (fraction >= 0x1_0000_0000) {
    fraction -= 0x1_0000_0000;
    seconds += 1;
  }
  return { seconds: seconds % 0x1_0000_0000, fraction };
}

/**
 * Unix time in ms of an NTP timestamp, taking era 0 (1900–2036) when `seconds` is at or
 * after the Unix epoch's NTP seconds and era 1 otherwise (RFC 5905 §6), so times from
 * 1968 to 2104 map back correctly.
 */
export function unixMsFromNtp(ntp: NtpTimestamp): number {
  let s = ntp.seconds - NTP_UNIX_OFFSET_S;
  if (s < 0) s += 0x1_0000_0000;
  return s * 1000 + (ntp.fraction / 0x1_0000_0000) * 1000;
}

/**
 * The middle 32 bits of an NTP timestamp (RFC 3550 §6.4.1 "LSR"): what a receiver echoes
 * in its reports' last-SR field, for round-trip time.
 */
export function compactNtp(ntp: NtpTimestamp): number {
  return (((ntp.seconds & 0xffff) << 16) | (ntp.fraction >>> 16)) >>> 0;
}

/**
 * The RTP timestamp of the instant `atMs` on a stream whose last packet, with timestamp
 * `lastTs`, was sent at `lastSentAtMs` (both Unix ms): `lastTs` advanced by the wall-clock
 * time since then × the clock rate, mod 2^32 (RFC 3550 §6.4.1: "the same time as the NTP
 * timestamp … but in the same units and with the same random offset as the RTP
 * timestamps in data packets"). A report built before the last send (clock steps, or a
 * send stamped just after the report's clock read) moves backwards by that time.
 * @param clockRate RTP clock rate, Hz (90000 video, 48000 Opus).
 */
export function rtpTimestampAt(lastTs: number, lastSentAtMs: number, atMs: number, clockRate: number): number {
  const ticks = Math.round(((atMs - lastSentAtMs) * clockRate) / 1000);
  return (((lastTs + ticks) % 0x1_0000_0000) + 0x1_0000_0000) % 0x1_0000_0000;
}

function u32(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new RangeError(`${name} must be an integer in 0 .. 2^32-1. Received ${String(v)}`);
  return v;
}

/** Bytes {@link writeSenderReport} writes for `info` (a multiple of 4). */
export function senderReportLength(info: SenderReportInfo): number {
  if (info.cname === undefined) return SR_BYTES;
  // SDES: header 4, SSRC 4, CNAME item 2 + text, at least one null octet, padded to 32 bits.
  const item = 2 + Buffer.byteLength(info.cname, 'utf8');
  return SR_BYTES + 8 + ((item + 1 + 3) & ~3);
}

/**
 * Writes the compound RTCP packet SR [+ SDES CNAME] for one outgoing stream into
 * `out[offset..]` and returns its length in bytes. The SR has no report blocks (the relay
 * receives no media on these tracks).
 * @throws RangeError for fields out of range, a CNAME that is empty or over 255 bytes, a
 *   compound over {@link RTCP_MAX_PLAIN_BYTES}, or too little room in `out`.
 */
export function writeSenderReport(info: SenderReportInfo, out: Uint8Array, offset = 0): number {
  const ssrc = u32('ssrc', info.ssrc);
  const rtpTs = u32('rtpTimestamp', info.rtpTimestamp);
  const packets = u32('packetCount', info.packetCount);
  const octets = u32('octetCount', info.octetCount);
  const ntp = ntpFromUnixMs(info.ntpMs);
  let cname: Buffer | undefined;
  if (info.cname !== undefined) {
    cname = Buffer.from(info.cname, 'utf8');
    if (cname.length < 1 || cname.length > 255) throw new RangeError(`cname must be 1 to 255 bytes of UTF-8. Received ${cname.length} bytes`);
  }
  const total = senderReportLength(info);
  if (total > RTCP_MAX_PLAIN_BYTES) throw new RangeError(`the sender report would be ${total} bytes, over the ${RTCP_MAX_PLAIN_BYTES}-byte RTCP limit of a 1200-byte path`);
  if (!Number.isInteger(offset) || offset < 0 || offset + total > out.length) throw new RangeError(`no room for a ${total}-byte sender report at offset ${offset} of ${out.length} bytes`);
  const v = new DataView(out.buffer, out.byteOffset + offset, total);
  // SR (RFC 3550 §6.4.1): V=2 P=0 RC=0, PT=200, length in 32-bit words minus one.
  v.setUint8(0, 0x80);
  v.setUint8(1, RTCP_PT_SR);
  v.setUint16(2, SR_BYTES / 4 - 1);
  v.setUint32(4, ssrc);
  v.setUint32(8, ntp.seconds);
  v.setUint32(12, ntp.fraction);
  v.setUint32(16, rtpTs);
  v.setUint32(20, packets);
  v.setUint32(24, octets);
  if (cname) {
    // SDES (RFC 3550 §6.5): V=2 P=0 SC=1, PT=202; one chunk: SSRC, CNAME item, null octets to a 32-bit boundary.
    const sdes = total - SR_BYTES;
    v.setUint8(SR_BYTES, 0x81);
    v.setUint8(SR_BYTES + 1, RTCP_PT_SDES);
    v.setUint16(SR_BYTES + 2, sdes / 4 - 1);
    v.setUint32(SR_BYTES + 4, ssrc);
    v.setUint8(SR_BYTES + 8, SDES_CNAME);
    v.setUint8(SR_BYTES + 9, cname.length);
    out.set(cname, offset + SR_BYTES + 10);
    out.fill(0, offset + SR_BYTES + 10 + cname.length, offset + total);
  }
  return total;
}

/** {@link writeSenderReport} into a new Buffer of the exact length. */
export function buildSenderReport(info: SenderReportInfo): Buffer {
  const out = Buffer.alloc(senderReportLength(info));
  writeSenderReport(info, out, 0);
  return out;
}
