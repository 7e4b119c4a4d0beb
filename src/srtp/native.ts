/**
 * Typed view of the addon's `SrtpTable` (addon/srtp_table.cc over addon/srtp.{h,cc}).
 * Low level and unvalidated beyond memory safety: {@link SrtpContextTable} (table.ts) is
 * the checked API. Mirrors the enums of addon/srtp.h and addon/srtp_table.cc.
 */

/** IANA DTLS-SRTP protection profile ids (RFC 5764 §4.1.2, RFC 7714 §14.2). */
export const PROFILE = {
  SRTP_AES128_CM_HMAC_SHA1_80: 0x0001,
  SRTP_AEAD_AES_128_GCM: 0x0007,
} as const;

/** `op` of {@link NativeSrtpTable.transform} / {@link NativeSrtpTable.transformBatch}. */
export const SRTP_OP = {
  PROTECT_RTP: 0,
  PROTECT_RTCP: 1,
  UNPROTECT_RTP: 2,
  UNPROTECT_RTCP: 3,
} as const;
export type SrtpOp = (typeof SRTP_OP)[keyof typeof SRTP_OP];

/** Negative results of a transform (srtp::Status in addon/srtp.h). */
export const SRTP_STATUS = {
  OK: 0,
  INVALID_PACKET: -1,
  NO_ROOM: -2,
  AUTH_FAILED: -3,
  CRYPTO_ERROR: -4,
  TOO_MANY_SSRCS: -5,
  INDEX_EXHAUSTED: -6,
  NOT_INITIALIZED: -7,
} as const;

/** `flags` of {@link NativeSrtpTable.add}: key/salt are session keys (test vectors only). */
export const SRTP_FLAG_SESSION_KEYS = 1;

/**
 * Many SRTP contexts addressed by integer ids, so one call protects a batch of packets for
 * many outputs. Transforms never throw on packet problems: they return a length (>= 0) or a
 * status (< 0). Wrong argument types throw TypeError; out-of-range numbers, unknown ids and
 * packets outside the arena throw RangeError before anything is touched.
 */
export interface NativeSrtpTable {
  /**
   * New context: profile id, master key (16 bytes), master salt (14 bytes AES-CM, 12 GCM).
   * Session keys are derived at once (RFC 3711 §4.3). Returns its id (ids are reused after
   * `remove`). Throws `ERR_SRTP_CRYPTO` if OpenSSL fails.
   */
  add(profile: number, key: Uint8Array, salt: Uint8Array, flags: number): number;
  /** Frees a context (keys wiped). */
  remove(id: number): void;
  /**
   * One packet in place: `length` bytes at `buf[offset]`, room up to `capacity` bytes.
   * Returns the new length or a status < 0.
   */
  transform(op: SrtpOp, id: number, buf: Uint8Array, offset: number, length: number, capacity: number): number;
  /**
   * Packets `start .. start+count-1`: packet i is `lengths[i]` bytes at `arena[offsets[i]]`
   * for context `ids[i]`; it may grow (protect) up to the end of the arena, so the caller
   * leaves the profile's overhead free after each packet. Writes the new length into
   * `lengths[i]` and 0 or a status < 0 into `status[i]`. Returns how many succeeded.
   */
  transformBatch(
    op: SrtpOp,
    arena: Uint8Array,
    offsets: Uint32Array,
    lengths: Uint32Array,
    ids: Int32Array,
    status: Int32Array,
    start: number,
    count: number,
  ): number;
  /** The SRTCP index the next protected RTCP packet of `ssrc` carries. Returns a status. */
  setNextRtcpIndex(id: number, ssrc: number, index: number): number;
  /** TEST ONLY: the derived session keys (RTP key 16, salt 14, auth 20; the same for RTCP). */
  sessionKeys(id: number): Uint8Array;
  /** Contexts alive. */
  size(): number;
}

export type NativeSrtpTableClass = new () => NativeSrtpTable;
