/**
 * `dgram-sendmmsg-native/werift`: batched egress (and batched receive) under werift's
 * ICE/UDP sockets, per connection or with every connection on one shared port.
 *
 * Folder src/werift/: the plug (install.ts), its transports (transport.ts, mux.ts), the
 * STUN reader the mux routes by, the socket ledger, native SRTP egress (srtp-egress.ts)
 * and a fix for werift's DTLS client (dtls-hello-verify.ts). Builds on the public API
 * (../index.ts), the bottom layer and socket/listen.ts, socket/stats.ts; only relay/
 * imports from here.
 *
 * ```ts
 * import * as werift from 'werift';                      // or: const werift = require('werift')
 * import { installWeriftBatching } from 'dgram-sendmmsg-native/werift';
 * const batching = installWeriftBatching(werift, { sharedPort: 8189 });
 * ```
 *
 * See {@link installWeriftBatching} and the README section "werift plug".
 */
export { installWeriftBatching } from './install.js';
export { fixWeriftDtlsHelloVerify, type DtlsHelloVerifyFix, type WeriftDtlsSocketModuleLike } from './dtls-hello-verify.js';
export type {
  WeriftBatching,
  WeriftBatchingOptions,
  WeriftBatchingStats,
  WeriftPlugCounters,
  WeriftInterfaceAddresses,
  WeriftModuleLike,
  WeriftUdpTransportClass,
  UdpTransportInitOptions,
} from './types.js';
export type { WeriftSrtpCounters } from './srtp-egress.js';
