/**
 * Errors of the SRTP layer, Node-style: a class per JS error kind and a `code`.
 */
import { SRTP_STATUS } from './native.js';

/** Codes of the SRTP layer's errors: Node's own for bad arguments, `ERR_SRTP_*` for SRTP conditions (RFC 3711, RFC 7714). */
export type SrtpErrorCode =
  | 'ERR_INVALID_ARG_TYPE'
  | 'ERR_INVALID_ARG_VALUE'
  | 'ERR_OUT_OF_RANGE'
  /** The native addon (and so native SRTP) is not available on this machine/build. */
  | 'ERR_SRTP_UNAVAILABLE'
  /** Not a well-formed RTP/RTCP (or SRTP/SRTCP) packet: too short, not version 2, header longer than the packet. */
  | 'ERR_SRTP_INVALID_PACKET'
  /** The packet did not authenticate: wrong key, tampered bytes, wrong index/rollover counter. */
  | 'ERR_SRTP_AUTH_FAILED'
  /** No room after the packet for the authentication tag (and SRTCP index). */
  | 'ERR_SRTP_NO_ROOM'
  /** More SSRCs in one direction of one context than it tracks (64). */
  | 'ERR_SRTP_TOO_MANY_SSRCS'
  /** The packet index (SRTP 2^48, SRTCP 2^31) is used up: re-key (RFC 3711 §9.2). */
  | 'ERR_SRTP_INDEX_EXHAUSTED'
  /** OpenSSL failed. */
  | 'ERR_SRTP_CRYPTO'
  /** The context was removed. */
  | 'ERR_SRTP_CONTEXT_CLOSED';

/** An SRTP failure (protect/unprotect status, unavailable addon, closed context) with its `code`. */
export class SrtpError extends Error {
  /** Which failure, e.g. `'ERR_SRTP_AUTH_FAILED'`. */
  readonly code: SrtpErrorCode;
  constructor(code: SrtpErrorCode, message: string) {
    super(message);
    this.code = code;
  }
  /** `Error [<code>]`, so stacks and `toString()` read like Node's own errors. */
  override get name(): string {
    return `Error [${this.code}]`;
  }
}

/** Wrong argument type for the SRTP API. Thrown synchronously. */
export class SrtpTypeError extends TypeError {
  /** Node-style code, e.g. `'ERR_INVALID_ARG_TYPE'`. */
  readonly code: SrtpErrorCode;
  constructor(code: SrtpErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

/** SRTP argument out of range (key material of the wrong length, an SSRC or index outside its bounds). Thrown synchronously. */
export class SrtpRangeError extends RangeError {
  /** Node-style code, e.g. `'ERR_OUT_OF_RANGE'`. */
  readonly code: SrtpErrorCode;
  constructor(code: SrtpErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

/** Error code of a native status (< 0). */
export function statusCode(status: number): SrtpErrorCode {
  switch (status) {
    case SRTP_STATUS.INVALID_PACKET:
      return 'ERR_SRTP_INVALID_PACKET';
    case SRTP_STATUS.NO_ROOM:
      return 'ERR_SRTP_NO_ROOM';
    case SRTP_STATUS.AUTH_FAILED:
      return 'ERR_SRTP_AUTH_FAILED';
    case SRTP_STATUS.TOO_MANY_SSRCS:
      return 'ERR_SRTP_TOO_MANY_SSRCS';
    case SRTP_STATUS.INDEX_EXHAUSTED:
      return 'ERR_SRTP_INDEX_EXHAUSTED';
    default:
      return 'ERR_SRTP_CRYPTO';
  }
}

const MESSAGES: Record<string, string> = {
  ERR_SRTP_INVALID_PACKET: 'not a well-formed packet',
  ERR_SRTP_NO_ROOM: 'no room for the authentication tag after the packet',
  ERR_SRTP_AUTH_FAILED: 'authentication failed (wrong key, tampered packet or wrong index)',
  ERR_SRTP_TOO_MANY_SSRCS: 'too many SSRCs in one SRTP context (at most 64 per direction)',
  ERR_SRTP_INDEX_EXHAUSTED: 'the packet index is exhausted: re-key',
  ERR_SRTP_CRYPTO: 'OpenSSL failed',
};

/** The error for a native status (< 0), naming the operation (`'SRTP protect'`, …). */
export function statusError(status: number, what: string): SrtpError {
  const code = statusCode(status);
  return new SrtpError(code, `${what}: ${MESSAGES[code]}`);
}
