/**
 * Answers one ICE connection's consent checks (RFC 7675: STUN binding requests the peer
 * keeps sending on the selected pair, RFC 8445 §7.3) in the receive loop, without werift.
 *
 * Why: werift answers each check by parsing every attribute into objects, building its
 * response through its `Message` class, serialising the pair and the message for a debug
 * log that is off, and routing through its event emitters — about 0.6 ms of CPU per check
 * on the bench VM. A relay with 64 viewers gets ~13 checks a second, 4 % of its CPU at
 * 1 stream × 64 viewers (perf). Here a check costs two HMAC-SHA1s and one CRC-32.
 *
 * Only what is certain is answered here; everything else goes to werift unchanged (it
 * returns false): a request that is not a Binding request for exactly this connection's
 * `local:remote` USERNAME, without a valid MESSAGE-INTEGRITY (RFC 8489 §14.5, HMAC-SHA1
 * keyed with the local ICE password) or with a bad FINGERPRINT (§14.7), one carrying
 * ICE-CONTROLLED (a role conflict: werift resolves it, RFC 8445 §7.3.1.1) or no
 * ICE-CONTROLLING, or any other comprehension-required attribute this reader does not
 * know, or a sender that is not IPv4 (the relay's candidates are IPv4). Meant for an ICE-lite agent (the relay), which sends no checks of its own and
 * so has no state for werift to update on a check once the pair is nominated.
 *
 * The response (RFC 8489 §6.3.1, RFC 8445 §7.3.1.4): Binding success with the request's
 * transaction id, XOR-MAPPED-ADDRESS of the sender (§14.2), MESSAGE-INTEGRITY and
 * FINGERPRINT.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { isIPv4 } from 'node:net';
import * as zlib from 'node:zlib';
import { ATTR_USERNAME, MAGIC_COOKIE, STUN_HEADER as HEADER, STUN_REQUEST, stunClass } from './stun.js';

const BINDING_REQUEST = 0x0001;
const BINDING_SUCCESS = 0x0101;
const ATTR_MESSAGE_INTEGRITY = 0x0008;
const ATTR_XOR_MAPPED_ADDRESS = 0x0020;
const ATTR_PRIORITY = 0x0024;
const ATTR_USE_CANDIDATE = 0x0025;
const ATTR_FINGERPRINT = 0x8028;
const ATTR_ICE_CONTROLLED = 0x8029;
const ATTR_ICE_CONTROLLING = 0x802a;
const FINGERPRINT_XOR = 0x5354554e;
/** Comprehension-required attributes (type < 0x8000, RFC 8489 §14) a check may carry here. */
const KNOWN_REQUIRED = new Set([ATTR_USERNAME, ATTR_MESSAGE_INTEGRITY, ATTR_PRIORITY, ATTR_USE_CANDIDATE]);

type Crc32 = (data: Uint8Array, value?: number) => number;
/** node:zlib's CRC-32 (Node ≥ 20.15); without it no responder is made and werift answers. */
const crc32: Crc32 | undefined = (zlib as unknown as { crc32?: Crc32 }).crc32;

/** Whether this Node can answer checks here (it has `zlib.crc32`). */
export const consentResponderAvailable = (): boolean => typeof crc32 === 'function';

/** What a {@link ConsentResponder} answered; werift's share is not counted here. */
export interface ConsentResponderCounters {
  /** Checks answered here. */
  answered: number;
  /** Checks left to werift (not a check for this connection, integrity or fingerprint wrong, role conflict, unknown attribute). */
  passed: number;
}

/** Where a response leaves: the connection's transport (a copy is queued; `data` may be reused). */
export type SendResponse = (data: Buffer, address: string, port: number) => void;

export class ConsentResponder {
  readonly counters: ConsentResponderCounters = { answered: 0, passed: 0 };
  private readonly username: Buffer;
  private readonly key: Buffer;
  /** Response scratch: header + XOR-MAPPED-ADDRESS (IPv4) + MESSAGE-INTEGRITY + FINGERPRINT. */
  private readonly out = Buffer.alloc(HEADER + 12 + 24 + 8);

  /**
   * @param localUfrag, localPassword the connection's local ICE credentials (RFC 8445 §5.3):
   *   checks for it carry USERNAME `localUfrag:remoteUfrag` and are keyed with `localPassword`.
   * @param remoteUfrag the peer's ufrag.
   * @param send queues the response to the check's sender.
   * @param onAnswered called after each answered check (e.g. a sign of life).
   * @throws Error when this Node has no `zlib.crc32` ({@link consentResponderAvailable}).
   */
  constructor(
    localUfrag: string,
    localPassword: string,
    remoteUfrag: string,
    private readonly send: SendResponse,
    private readonly onAnswered: () => void = () => {},
  ) {
    if (!consentResponderAvailable()) throw new Error('ConsentResponder needs zlib.crc32 (Node >= 20.15)');
    this.username = Buffer.from(`${localUfrag}:${remoteUfrag}`, 'utf8');
    this.key = Buffer.from(localPassword, 'utf8');
  }

  /**
   * Answers `datagram` when it is a consent check for this connection (module doc) and
   * returns true; otherwise returns false and the caller hands it to werift. `datagram`
   * is only read during the call. Never throws.
   */
  answer(datagram: Uint8Array, address: string, port: number): boolean {
    if (this.tryAnswer(datagram, address, port)) {
      this.counters.answered++;
      this.onAnswered();
      return true;
    }
    this.counters.passed++;
    return false;
  }

  private tryAnswer(m: Uint8Array, address: string, port: number): boolean {
    const len = m.length;
    if (!isIPv4(address)) return false; // werift answers IPv6 senders
    // A well-formed STUN request (header, length, cookie: stun.ts) of the Binding method.
    if (stunClass(m, 0, len) !== STUN_REQUEST || ((m[0] << 8) | m[1]) !== BINDING_REQUEST) return false;
    let usernameOk = false;
    let controlling = false;
    let integrity = -1; // offset of the MESSAGE-INTEGRITY attribute
    let fingerprint = -1;
    for (let p = HEADER; p < len; ) {
      if (p + 4 > len || fingerprint >= 0) return false; // FINGERPRINT must be last (§14.7)
      const type = (m[p] << 8) | m[p + 1];
      const alen = (m[p + 2] << 8) | m[p + 3];
      const v = p + 4;
      if (v + alen > len) return false;
      if (integrity >= 0 && type !== ATTR_FINGERPRINT) return false; // only FINGERPRINT may follow MESSAGE-INTEGRITY (§14.5)
      if (type === ATTR_USERNAME) usernameOk = alen === this.username.length && this.username.equals(m.subarray(v, v + alen));
      else if (type === ATTR_MESSAGE_INTEGRITY) {
        if (alen !== 20) return false;
        integrity = p;
      } else if (type === ATTR_FINGERPRINT) {
        if (alen !== 4) return false;
        fingerprint = p;
      } else if (type === ATTR_ICE_CONTROLLING) controlling = true;
      else if (type === ATTR_ICE_CONTROLLED) return false;
      else if (type < 0x8000 && !KNOWN_REQUIRED.has(type)) return false;
      p = v + ((alen + 3) & ~3);
    }
    if (!usernameOk || !controlling || integrity < 0) return false;
    if (fingerprint >= 0 && ((crc32 as Crc32)(m.subarray(0, fingerprint)) ^ FINGERPRINT_XOR) >>> 0 !== readU32(m, fingerprint + 4)) return false;
    // MESSAGE-INTEGRITY covers the message up to itself, with the header's length as if
    // it ended right after MESSAGE-INTEGRITY (§14.5).
    const hmac = createHmac('sha1', this.key);
    const head = Buffer.from(m.subarray(0, 4));
    head.writeUInt16BE(integrity + 24 - HEADER, 2);
    hmac.update(head).update(m.subarray(4, integrity));
    if (!timingSafeEqual(hmac.digest(), m.subarray(integrity + 4, integrity + 24))) return false;
    this.send(this.response(m, address, port), address, port);
    return true;
  }

  /** The Binding success response to request `req` from `address`:`port` (module doc). */
  private response(req: Uint8Array, address: string, port: number): Buffer {
    const out = this.out;
    out.writeUInt16BE(BINDING_SUCCESS, 0);
    out.writeUInt32BE(MAGIC_COOKIE, 4);
    out.set(req.subarray(8, HEADER), 8);
    // XOR-MAPPED-ADDRESS (§14.2), IPv4: port ^ cookie>>16, address ^ cookie.
    let p = HEADER;
    out.writeUInt16BE(ATTR_XOR_MAPPED_ADDRESS, p);
    out.writeUInt16BE(8, p + 2);
    out[p + 4] = 0;
    out[p + 5] = 1;
    out.writeUInt16BE(port ^ (MAGIC_COOKIE >>> 16), p + 6);
    const octets = address.split('.', 4);
    for (let i = 0; i < 4; i++) out[p + 8 + i] = Number(octets[i]) ^ out[4 + i];
    p += 12;
    // MESSAGE-INTEGRITY: HMAC-SHA1 over the message so far, length as if it ended after it.
    out.writeUInt16BE(p + 24 - HEADER, 2);
    out.writeUInt16BE(ATTR_MESSAGE_INTEGRITY, p);
    out.writeUInt16BE(20, p + 2);
    createHmac('sha1', this.key).update(out.subarray(0, p)).digest().copy(out, p + 4);
    p += 24;
    // FINGERPRINT: CRC-32 of the message before it, length covering it, XOR 0x5354554e.
    out.writeUInt16BE(p + 8 - HEADER, 2);
    out.writeUInt16BE(ATTR_FINGERPRINT, p);
    out.writeUInt16BE(4, p + 2);
    out.writeUInt32BE(((crc32 as Crc32)(out.subarray(0, p)) ^ FINGERPRINT_XOR) >>> 0, p + 4);
    p += 8;
    return out.subarray(0, p);
  }
}

function readU32(m: Uint8Array, at: number): number {
  return ((m[at] << 24) | (m[at + 1] << 16) | (m[at + 2] << 8) | m[at + 3]) >>> 0;
}
