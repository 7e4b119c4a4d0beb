/**
 * A fix for werift's DTLS client: a repeated HelloVerifyRequest no longer fails the
 * handshake.
 *
 * DTLS 1.2 (RFC 6347 §4.2.1, §4.2.4): the client's first flight (ClientHello) is
 * retransmitted when the server's HelloVerifyRequest has not arrived by the retransmit
 * timer, and the server answers every ClientHello without a cookie with a
 * HelloVerifyRequest. So a client whose timer fired early gets two of them; the second
 * one arrives after it has already sent its ClientHello with the cookie (flight 3).
 * werift's client (packages/dtls/src/flight/client/flight3.ts, `Flight3#exec`, 0.24.4 to
 * 0.25.x) throws on a HelloVerifyRequest in flight 3 — the DTLS transport, and with it
 * the peer connection, goes `failed` — and in flight 5 it restarts flight 3 and drops the
 * handshake messages it collected. werift's first retransmit comes after 500 ms
 * (packages/dtls/src/flight/flight.ts), so on a busy machine (an event loop that does not
 * turn for 500 ms while both ends are in one process, or a loaded relay) this happens in
 * ordinary use.
 *
 * The fix drops, at the DTLS socket's handshake intake
 * (`DtlsSocket.prototype.handleFragmentHandshake`, packages/dtls/src/socket.ts), a
 * HelloVerifyRequest that reaches a client past flight 1 and carries the cookie it
 * already sends: that message answers a retransmitted ClientHello and asks for nothing
 * the client has not done (a lost ClientHello with the cookie is retransmitted by the
 * client's own flight-3 timer). A HelloVerifyRequest with another cookie goes to werift
 * unchanged. Servers are untouched.
 */

/** werift's `SessionType.CLIENT` (packages/dtls/src/cipher/suites/abstract.ts). */
const CLIENT = 1;
/** `HandshakeType.hello_verify_request_3` (RFC 6347 §4.3.2). */
const HELLO_VERIFY_REQUEST = 3;

/** A handshake message as `handleFragmentHandshake` receives it (packages/dtls/src/record/message/fragment.ts). */
interface HandshakeFragmentLike {
  msg_type: number;
  fragment_offset: number;
  fragment_length: number;
  length: number;
  fragment: Buffer;
}
interface DtlsSocketLike {
  sessionType?: number;
  dtls?: { flight?: number; cookie?: Buffer };
}
type HandleFragmentHandshake = (this: DtlsSocketLike, messages: HandshakeFragmentLike[]) => unknown;

/** A werift module exposing `DtlsSocket` (both builds export it). */
export interface WeriftDtlsSocketModuleLike {
  DtlsSocket?: { prototype: { handleFragmentHandshake?: unknown } };
}

/** One holder's use of the fix on one werift module. */
export interface DtlsHelloVerifyFix {
  /** Repeated HelloVerifyRequests dropped on this module so far, by every holder (each one a handshake werift would have failed or restarted). */
  readonly dropped: number;
  /** Releases this holder's use; werift's own `handleFragmentHandshake` is back when the last holder released. Idempotent. */
  uninstall(): void;
}

interface Installed {
  original: HandleFragmentHandshake;
  dropped: number;
  holders: number;
}
const installed = new WeakMap<object, Installed>();

/**
 * The cookie of a HelloVerifyRequest body (RFC 6347 §4.2.1: server_version(2),
 * cookie<0..2^8-1>), or undefined when the message is fragmented or malformed.
 */
function helloVerifyCookie(m: HandshakeFragmentLike): Buffer | undefined {
  if (m.fragment_offset !== 0 || m.fragment_length !== m.length || m.fragment.length < 3) return undefined;
  const n = m.fragment[2];
  return m.fragment.length >= 3 + n ? m.fragment.subarray(3, 3 + n) : undefined;
}

/** True for a HelloVerifyRequest that only repeats the one a client past flight 1 already answered. */
function isRepeatedHelloVerify(socket: DtlsSocketLike, m: HandshakeFragmentLike): boolean {
  if (m.msg_type !== HELLO_VERIFY_REQUEST || socket.sessionType !== CLIENT) return false;
  const sent = socket.dtls?.cookie;
  if (!sent || (socket.dtls?.flight ?? 0) < 3) return false;
  const cookie = helloVerifyCookie(m);
  return cookie !== undefined && cookie.equals(sent);
}

/**
 * Installs the fix on the werift module the app loaded (ESM namespace or CJS exports:
 * each build has its own `DtlsSocket`), for every DTLS client of that module created
 * before or after. Several holders (two relays in one process) share one installation.
 * Returns undefined, changing nothing, when the module has no
 * `DtlsSocket.prototype.handleFragmentHandshake` (a werift this was not written for).
 */
export function fixWeriftDtlsHelloVerify(werift: WeriftDtlsSocketModuleLike): DtlsHelloVerifyFix | undefined {
  const proto = werift.DtlsSocket?.prototype as { handleFragmentHandshake?: HandleFragmentHandshake } | undefined;
  if (!proto || typeof proto.handleFragmentHandshake !== 'function') return undefined;
  let state = installed.get(proto);
  if (!state) {
    const s: Installed = { original: proto.handleFragmentHandshake, dropped: 0, holders: 0 };
    proto.handleFragmentHandshake = function (this: DtlsSocketLike, messages: HandshakeFragmentLike[]) {
      const kept = messages.filter((m) => !isRepeatedHelloVerify(this, m));
      s.dropped += messages.length - kept.length;
      return s.original.call(this, kept);
    };
    installed.set(proto, s);
    state = s;
  }
  const s = state;
  s.holders++;
  let held = true;
  return {
    get dropped() {
      return s.dropped;
    },
    uninstall() {
      if (!held) return;
      held = false;
      if (--s.holders === 0) {
        proto.handleFragmentHandshake = s.original;
        installed.delete(proto);
      }
    },
  };
}
