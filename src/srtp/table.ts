/**
 * Native SRTP/SRTCP (RFC 3711 AES-CM + HMAC-SHA1-80, RFC 7714 AEAD AES-128-GCM) with
 * OpenSSL's EVP as linked into Node, through the addon's `SrtpTable`.
 *
 * A {@link SrtpContextTable} holds many contexts (one per direction of an SRTP session: a
 * viewer, a werift DTLS transport) addressed by integer ids; an {@link SrtpBatch} lays out a
 * batch of packets, each naming its context, in one arena, and
 * {@link SrtpContextTable.protectBatch} protects them all in one native call, in place.
 * Single-packet methods (which copy) exist for tests and rare packets (RTCP).
 *
 * Each context keeps a rollover counter per SSRC (packets to protect and packets to
 * unprotect separately, at most 64 SSRCs each) and, for SRTCP, the next index per SSRC.
 * Not implemented: MKI, key derivation rate > 0, replay protection on unprotect, RFC 6904
 * header extension encryption.
 */
import { loadNative } from '../native/binding.js';
import { describe } from '../address.js';
import { PROFILE, SRTP_OP, SRTP_FLAG_SESSION_KEYS, type NativeSrtpTable, type NativeSrtpTableClass, type SrtpOp } from './native.js';
import { SrtpError, SrtpRangeError, SrtpTypeError, statusError } from './errors.js';

/** SRTP protection profiles by their RFC 5764 / RFC 7714 names. */
export type SrtpProfile = keyof typeof PROFILE;

/** Key material of one direction: what DTLS-SRTP exports for it (RFC 5764 §4.2). */
export interface SrtpKeyMaterial {
  /** Profile name, or its IANA id (0x0001, 0x0007) as werift reports it. */
  profile: SrtpProfile | number;
  /** 16 bytes. */
  masterKey: Uint8Array;
  /** 14 bytes (AES-CM) or 12 bytes (GCM). */
  masterSalt: Uint8Array;
}

/** Bytes protect adds: RTP 10 (AES-CM) / 16 (GCM); RTCP 14 / 20. */
export function srtpOverhead(profile: SrtpProfile | number, kind: 'rtp' | 'rtcp'): number {
  const id = profileId(profile);
  const tag = id === PROFILE.SRTP_AEAD_AES_128_GCM ? 16 : 10;
  return kind === 'rtp' ? tag : tag + 4;
}

/** Most bytes protect adds for any supported profile (room to leave after a packet). */
export const SRTP_MAX_OVERHEAD = 20;

/**
 * The IANA id (0x0001, 0x0007) of a supported profile given by name or id.
 * @throws SrtpTypeError (ERR_INVALID_ARG_VALUE) for anything else.
 */
export function profileId(profile: unknown): number {
  if (typeof profile === 'string' && Object.prototype.hasOwnProperty.call(PROFILE, profile)) return PROFILE[profile as SrtpProfile];
  if (profile === PROFILE.SRTP_AES128_CM_HMAC_SHA1_80 || profile === PROFILE.SRTP_AEAD_AES_128_GCM) return profile;
  throw new SrtpTypeError(
    'ERR_INVALID_ARG_VALUE',
    `The SRTP profile must be 'SRTP_AES128_CM_HMAC_SHA1_80' (0x0001) or 'SRTP_AEAD_AES_128_GCM' (0x0007). Received ${describe(profile)}`,
  );
}

function checkBytes(value: unknown, name: string): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) {
    throw new SrtpTypeError('ERR_INVALID_ARG_TYPE', `The "${name}" argument must be an instance of Buffer or Uint8Array. Received ${describe(value)}`);
  }
}

function loadTableClass(): NativeSrtpTableClass {
  const r = loadNative();
  if (!r.ok) throw new SrtpError('ERR_SRTP_UNAVAILABLE', `native SRTP is unavailable: ${r.reason}`);
  const cls = (r.binding as unknown as { SrtpTable?: NativeSrtpTableClass }).SrtpTable;
  if (typeof cls !== 'function') {
    throw new SrtpError('ERR_SRTP_UNAVAILABLE', `native SRTP is unavailable: the addon at ${r.path} predates it (rebuild with \`npm run build:native\`)`);
  }
  return cls;
}

/**
 * Packets laid out for one {@link SrtpContextTable.protectBatch} call: each is copied into
 * one growable arena with room for the tag after it. Reuse it (`clear()`) batch after batch;
 * views from {@link SrtpBatch.packet} are valid until the next `clear()` or `push()`.
 */
export class SrtpBatch {
  /** The arena; packet i is `arena[offsets[i] .. offsets[i] + lengths[i])`. */
  arena: Buffer;
  /** Byte offset of each packet in `arena`. */
  offsets: Uint32Array;
  /** Length of each packet, bytes (after a protect/unprotect call: the new length). */
  lengths: Uint32Array;
  /** Context id of each packet. */
  ids: Int32Array;
  /** After a batch call: 0, or the native status (< 0) of a packet that failed (it is unchanged). */
  status: Int32Array;
  /** Packets in the batch. */
  count = 0;
  /** Bytes of the arena in use (packets plus their reserved room). */
  used = 0;

  /** @param bytes initial arena size; @param packets initial packet slots (both grow). */
  constructor(bytes = 64 * 1024, packets = 256) {
    this.arena = Buffer.allocUnsafe(bytes);
    this.offsets = new Uint32Array(packets);
    this.lengths = new Uint32Array(packets);
    this.ids = new Int32Array(packets);
    this.status = new Int32Array(packets);
  }

  /**
   * Appends one packet for context `id`: the concatenation of `head` and `body` (e.g. a
   * serialized RTP header and its payload; `body` may be omitted), followed by
   * {@link SRTP_MAX_OVERHEAD} free bytes. Returns its index.
   */
  push(id: number, head: Uint8Array, body?: Uint8Array): number {
    const length = head.length + (body ? body.length : 0);
    const need = length + SRTP_MAX_OVERHEAD;
    if (this.used + need > this.arena.length) this.growArena(this.used + need);
    if (this.count === this.offsets.length) this.growSlots();
    const off = this.used;
    this.arena.set(head, off);
    if (body) this.arena.set(body, off + head.length);
    const i = this.count++;
    this.offsets[i] = off;
    this.lengths[i] = length;
    this.ids[i] = id;
    this.status[i] = 0;
    this.used = off + need;
    return i;
  }

  /** View of packet i (no copy). */
  packet(i: number): Buffer {
    const off = this.offsets[i];
    return this.arena.subarray(off, off + this.lengths[i]);
  }

  /** Empties the batch (keeps the memory). */
  clear(): void {
    this.count = 0;
    this.used = 0;
  }

  /**
   * Replaces the arena with a fresh one of the same size, leaving the old one (and views
   * of it) to whoever still holds them, e.g. a transport that sends asynchronously.
   */
  detachArena(): void {
    this.arena = Buffer.allocUnsafe(this.arena.length);
    this.clear();
  }

  private growArena(min: number): void {
    const next = Buffer.allocUnsafe(Math.max(min, this.arena.length * 2));
    this.arena.copy(next, 0, 0, this.used);
    this.arena = next;
  }

  private growSlots(): void {
    const n = this.offsets.length * 2;
    const grow = <T extends Uint32Array | Int32Array>(a: T, make: (n: number) => T): T => {
      const b = make(n);
      b.set(a);
      return b;
    };
    this.offsets = grow(this.offsets, (k) => new Uint32Array(k));
    this.lengths = grow(this.lengths, (k) => new Uint32Array(k));
    this.ids = grow(this.ids, (k) => new Int32Array(k));
    this.status = grow(this.status, (k) => new Int32Array(k));
  }
}

/**
 * SRTP/SRTCP contexts in native memory, addressed by integer ids.
 *
 * ```ts
 * const table = new SrtpContextTable();
 * const id = table.add({ profile: 'SRTP_AEAD_AES_128_GCM', masterKey, masterSalt });
 * const srtp = table.protectRtp(id, rtpPacket);          // one packet (copies)
 * const batch = new SrtpBatch();
 * batch.push(id, header, payload); batch.push(id2, header2, payload2);
 * table.protectBatch('rtp', batch);                        // one native call, in place
 * ```
 *
 * @throws ERR_SRTP_UNAVAILABLE (constructor) where the native addon does not load.
 */
export class SrtpContextTable {
  private readonly native: NativeSrtpTable;
  private readonly live = new Map<number, number>(); // id → profile id

  constructor() {
    this.native = new (loadTableClass())();
  }

  /** Whether native SRTP can be used here (the addon loads and has it). */
  static available(): boolean {
    try {
      loadTableClass();
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Creates a context from the key material of one direction (derives the session keys,
   * RFC 3711 §4.3) and returns its id. Ids of removed contexts are reused.
   * @throws ERR_INVALID_ARG_TYPE / ERR_INVALID_ARG_VALUE for a bad profile or non-byte keys,
   *   ERR_OUT_OF_RANGE for wrong key/salt lengths, ERR_SRTP_CRYPTO if OpenSSL fails.
   */
  add(keys: SrtpKeyMaterial): number {
    return this.addRaw(keys, 0);
  }

  /**
   * TEST ONLY: a context whose session keys are given as is (key, salt) instead of derived —
   * the form the RFC 3711 B.2 and RFC 7714 §16-17 test vectors publish. The AES-CM
   * authentication keys are then zero.
   */
  addWithSessionKeys(keys: SrtpKeyMaterial): number {
    return this.addRaw(keys, SRTP_FLAG_SESSION_KEYS);
  }

  private addRaw(keys: SrtpKeyMaterial, flags: number): number {
    if (keys === null || typeof keys !== 'object') {
      throw new SrtpTypeError('ERR_INVALID_ARG_TYPE', `The "keys" argument must be of type object. Received ${describe(keys)}`);
    }
    const profile = profileId(keys.profile);
    checkBytes(keys.masterKey, 'keys.masterKey');
    checkBytes(keys.masterSalt, 'keys.masterSalt');
    const saltLen = profile === PROFILE.SRTP_AEAD_AES_128_GCM ? 12 : 14;
    if (keys.masterKey.length !== 16 || keys.masterSalt.length !== saltLen) {
      throw new SrtpRangeError(
        'ERR_OUT_OF_RANGE',
        `SRTP key material for profile 0x${profile.toString(16).padStart(4, '0')} must be a 16-byte key and a ${saltLen}-byte salt. Received ${keys.masterKey.length} and ${keys.masterSalt.length} bytes`,
      );
    }
    const id = this.native.add(profile, keys.masterKey, keys.masterSalt, flags);
    this.live.set(id, profile);
    return id;
  }

  /** Frees a context; its keys are wiped. Idempotent for ids this table handed out. */
  remove(id: number): void {
    if (!this.live.delete(id)) return;
    this.native.remove(id);
  }

  /** Contexts alive. */
  get size(): number {
    return this.live.size;
  }

  /** Profile id (0x0001 / 0x0007) of a live context. @throws ERR_SRTP_CONTEXT_CLOSED */
  profileOf(id: number): number {
    const p = this.live.get(id);
    if (p === undefined) throw new SrtpError('ERR_SRTP_CONTEXT_CLOSED', `no SRTP context with id ${describe(id)} (removed, or from another table)`);
    return p;
  }

  /** Protects one RTP packet: returns a new Buffer (the packet plus the tag). @throws SrtpError */
  protectRtp(id: number, packet: Uint8Array): Buffer {
    return this.one(SRTP_OP.PROTECT_RTP, id, packet, 'SRTP protect');
  }
  /** Protects one compound RTCP packet (E = 1, next SRTCP index of its sender SSRC). */
  protectRtcp(id: number, packet: Uint8Array): Buffer {
    return this.one(SRTP_OP.PROTECT_RTCP, id, packet, 'SRTCP protect');
  }
  /** Authenticates and decrypts one SRTP packet: returns the plain RTP packet. @throws ERR_SRTP_AUTH_FAILED … */
  unprotectRtp(id: number, packet: Uint8Array): Buffer {
    return this.one(SRTP_OP.UNPROTECT_RTP, id, packet, 'SRTP unprotect');
  }
  /** Authenticates and (if E = 1) decrypts one SRTCP packet. */
  unprotectRtcp(id: number, packet: Uint8Array): Buffer {
    return this.one(SRTP_OP.UNPROTECT_RTCP, id, packet, 'SRTCP unprotect');
  }

  /**
   * Sets the SRTCP index the next protected RTCP packet of `ssrc` carries (0 .. 2^31-1), e.g.
   * to continue a session whose earlier packets another implementation protected.
   */
  setNextRtcpIndex(id: number, ssrc: number, index: number): void {
    this.profileOf(id);
    if (!Number.isInteger(ssrc) || ssrc < 0 || ssrc > 0xffffffff) throw new SrtpRangeError('ERR_OUT_OF_RANGE', `ssrc must be a 32-bit unsigned integer. Received ${describe(ssrc)}`);
    if (!Number.isInteger(index) || index < 0 || index > 0x7fffffff) throw new SrtpRangeError('ERR_OUT_OF_RANGE', `index must be in 0 .. 2^31-1. Received ${describe(index)}`);
    const rc = this.native.setNextRtcpIndex(id, ssrc, index);
    if (rc < 0) throw statusError(rc, 'SRTCP index');
  }

  /**
   * Protects (or unprotects) every packet of `batch` in place, in one native call; each
   * packet with the context its `ids[i]` names. Returns how many failed: a failed packet
   * keeps its bytes and gets `batch.status[i] < 0` (see {@link statusError}); the others get
   * their new length in `batch.lengths[i]`.
   * @throws ERR_SRTP_CONTEXT_CLOSED when a packet names no live context (nothing is touched).
   */
  protectBatch(kind: 'rtp' | 'rtcp', batch: SrtpBatch): number {
    return this.batch(kind === 'rtcp' ? SRTP_OP.PROTECT_RTCP : SRTP_OP.PROTECT_RTP, batch);
  }
  /** The inverse of {@link protectBatch} (received packets). */
  unprotectBatch(kind: 'rtp' | 'rtcp', batch: SrtpBatch): number {
    return this.batch(kind === 'rtcp' ? SRTP_OP.UNPROTECT_RTCP : SRTP_OP.UNPROTECT_RTP, batch);
  }

  /** TEST ONLY: the derived session keys of a context (RFC 3711 B.3 vector). */
  sessionKeys(id: number): {
    /** SRTP session encryption key, 16 bytes. */
    rtpKey: Buffer;
    /** SRTP session salt, 14 bytes. */
    rtpSalt: Buffer;
    /** SRTP session authentication key, 20 bytes. */
    rtpAuthKey: Buffer;
    /** SRTCP session encryption key, 16 bytes. */
    rtcpKey: Buffer;
    /** SRTCP session salt, 14 bytes. */
    rtcpSalt: Buffer;
    /** SRTCP session authentication key, 20 bytes. */
    rtcpAuthKey: Buffer;
  } {
    this.profileOf(id);
    const k = Buffer.from(this.native.sessionKeys(id));
    return {
      rtpKey: k.subarray(0, 16),
      rtpSalt: k.subarray(16, 30),
      rtpAuthKey: k.subarray(30, 50),
      rtcpKey: k.subarray(50, 66),
      rtcpSalt: k.subarray(66, 80),
      rtcpAuthKey: k.subarray(80, 100),
    };
  }

  private batch(op: SrtpOp, batch: SrtpBatch): number {
    if (!(batch instanceof SrtpBatch)) throw new SrtpTypeError('ERR_INVALID_ARG_TYPE', `The "batch" argument must be an SrtpBatch. Received ${describe(batch)}`);
    for (let i = 0; i < batch.count; i++) {
      if (!this.live.has(batch.ids[i])) throw new SrtpError('ERR_SRTP_CONTEXT_CLOSED', `packet ${i} of the batch names no live SRTP context (id ${batch.ids[i]})`);
    }
    const ok = this.native.transformBatch(op, batch.arena, batch.offsets, batch.lengths, batch.ids, batch.status, 0, batch.count);
    return batch.count - ok;
  }

  private one(op: SrtpOp, id: number, packet: Uint8Array, what: string): Buffer {
    const profile = this.profileOf(id);
    checkBytes(packet, 'packet');
    const room = op === SRTP_OP.PROTECT_RTP ? srtpOverhead(profile, 'rtp') : op === SRTP_OP.PROTECT_RTCP ? srtpOverhead(profile, 'rtcp') : 0;
    const buf = Buffer.allocUnsafe(packet.length + room);
    buf.set(packet, 0);
    const n = this.native.transform(op, id, buf, 0, packet.length, buf.length);
    if (n < 0) throw statusError(n, what);
    return buf.subarray(0, n);
  }
}
