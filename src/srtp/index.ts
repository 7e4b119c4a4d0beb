/**
 * Native SRTP/SRTCP (RFC 3711, RFC 7714) with OpenSSL's EVP as linked into Node.
 * See {@link SrtpContextTable} and {@link SrtpBatch}.
 *
 * Folder src/srtp/: the typed wrapper of the addon's SRTP context table. Imports the bottom
 * layer (address.ts) and native/; werift/ (the native SRTP egress) and relay/ (the fast
 * path's inbound SRTCP) build on it.
 */
export { SrtpContextTable, SrtpBatch, srtpOverhead, profileId, SRTP_MAX_OVERHEAD } from './table.js';
export type { SrtpKeyMaterial, SrtpProfile } from './table.js';
export { SrtpError, SrtpTypeError, SrtpRangeError, statusError } from './errors.js';
export type { SrtpErrorCode } from './errors.js';
