/**
 * The few bytes of STUN the ICE UDP mux needs to route a datagram, read in place (no
 * parse of the whole message, no allocation except the strings it returns).
 *
 * - RFC 7983 §7 demultiplexing: a datagram whose first byte is 0–3 may be STUN (DTLS is
 *   20–63, RTP/RTCP 128–191).
 * - RFC 8489 §5 header: 2 zero bits, 14-bit message type, 16-bit length (multiple of 4,
 *   attributes only), magic cookie `0x2112A442`, 96-bit transaction id. The class is in
 *   type bits C1 (`0x0100`) and C0 (`0x0010`): request 0b00, indication 0b01, success
 *   response 0b10, error response 0b11.
 * - RFC 8445 §7.2.2: a connectivity check's USERNAME is `"<receiver ufrag>:<sender
 *   ufrag>"`, so the part before the colon is the local ufrag of the ICE agent the
 *   request is for (RFC 8489 §14.3: attributes are TLVs padded to 4 bytes).
 *
 * werift has a full STUN parser (`parseMessage`, packages/ice/src/stun/message.ts); it
 * parses every attribute into objects, which is more than a router needs per datagram.
 */

/** STUN message classes (RFC 8489 §5), and -1 for "not STUN". */
export const NOT_STUN = -1;
export const STUN_REQUEST = 0;
export const STUN_INDICATION = 1;
export const STUN_SUCCESS = 2;
export const STUN_ERROR = 3;

/** RFC 8489 §5: the magic cookie, the header length (bytes), and USERNAME's attribute type (§14.3). */
export const MAGIC_COOKIE = 0x2112a442;
export const STUN_HEADER = 20;
export const ATTR_USERNAME = 0x0006;

/**
 * Class of the STUN message in `bytes[off, off+len)` ({@link STUN_REQUEST} …
 * {@link STUN_ERROR}), or {@link NOT_STUN} when the datagram is not a well-formed STUN
 * header (first byte, length, magic cookie).
 */
export function stunClass(bytes: Uint8Array, off: number, len: number): number {
  if (len < STUN_HEADER || bytes[off] > 3) return NOT_STUN;
  const msgLen = (bytes[off + 2] << 8) | bytes[off + 3];
  if ((msgLen & 3) !== 0 || msgLen + STUN_HEADER !== len) return NOT_STUN;
  const cookie = ((bytes[off + 4] << 24) | (bytes[off + 5] << 16) | (bytes[off + 6] << 8) | bytes[off + 7]) >>> 0;
  if (cookie !== MAGIC_COOKIE) return NOT_STUN;
  const type = (bytes[off] << 8) | bytes[off + 1];
  return ((type >> 7) & 2) | ((type >> 4) & 1);
}

/** The 12-byte transaction id as a map key (latin1: one char per byte). */
export function transactionKey(bytes: Uint8Array, off: number): string {
  let s = '';
  for (let i = off + 8; i < off + STUN_HEADER; i++) s += String.fromCharCode(bytes[i]);
  return s;
}

/**
 * USERNAME of a STUN message split at the first colon: `[local, remote]` from the
 * receiver's point of view (RFC 8445 §7.2.2), or undefined when there is none. Call only
 * on a message {@link stunClass} accepted.
 */
export function usernameParts(bytes: Uint8Array, off: number, len: number): [string, string] | undefined {
  let p = off + STUN_HEADER;
  const end = off + len;
  while (p + 4 <= end) {
    const type = (bytes[p] << 8) | bytes[p + 1];
    const alen = (bytes[p + 2] << 8) | bytes[p + 3];
    const vstart = p + 4;
    if (vstart + alen > end) return undefined;
    if (type === ATTR_USERNAME) {
      const value = Buffer.from(bytes.buffer, bytes.byteOffset + vstart, alen).toString('utf8');
      const colon = value.indexOf(':');
      return colon < 0 ? [value, ''] : [value.slice(0, colon), value.slice(colon + 1)];
    }
    p = vstart + ((alen + 3) & ~3);
  }
  return undefined;
}
