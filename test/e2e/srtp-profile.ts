/**
 * Forcing the SRTP protection profile a run negotiates: the relay's werift DTLS transports
 * offer (as DTLS client) or accept (as server) only the given profile, so whatever the
 * browser prefers (Chromium offers SRTP_AEAD_AES_128_GCM and SRTP_AES128_CM_HMAC_SHA1_80;
 * use_srtp, RFC 5764 §4.1.1), the handshake lands on it. DTLS-SRTP profiles are not in the
 * SDP, so munging the offer cannot choose one. werift keeps the list on each
 * RTCDtlsTransport (`srtpProfiles`, packages/webrtc/src/transport/dtls.ts), read by
 * `start()`; the wrapper sets it right before.
 */
export const SRTP_PROFILES = { SRTP_AES128_CM_HMAC_SHA1_80: 0x0001, SRTP_AEAD_AES_128_GCM: 0x0007 } as const;
export type SrtpProfileName = keyof typeof SRTP_PROFILES;

interface DtlsModule {
  RTCDtlsTransport: { prototype: { start(...args: unknown[]): unknown } };
}

/** Until the returned undo runs, `werift`'s DTLS transports negotiate only `profile`. */
export function forceSrtpProfile(werift: unknown, profile: SrtpProfileName): () => void {
  const proto = (werift as DtlsModule).RTCDtlsTransport.prototype;
  const start = proto.start;
  const id = SRTP_PROFILES[profile];
  proto.start = function (this: { srtpProfiles: number[] }, ...args: unknown[]) {
    this.srtpProfiles = [id];
    return start.apply(this, args);
  };
  return () => {
    proto.start = start;
  };
}

/** The SRTP profile a relay-side viewer's DTLS transport negotiated (werift's `srtp.config.profile`). */
export function negotiatedProfile(senders: { video?: unknown; audio?: unknown }): number | undefined {
  const s = (senders.video ?? senders.audio) as { dtlsTransport?: { srtp?: { config?: { profile?: number } } } } | undefined;
  return s?.dtlsTransport?.srtp?.config?.profile;
}
