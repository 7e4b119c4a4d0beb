/**
 * Checks a WHEP offer before a peer connection is made for it, with werift's own SDP
 * parser (`SessionDescription.parse`, werift packages/webrtc/src/sdp.ts): a WebRTC offer
 * must carry ICE credentials and a DTLS fingerprint (RFC 8839 §5.4, RFC 8842 §5); a
 * video m-line must offer H.264 (packetization-mode 1), an audio-only offer Opus — what
 * the relay forwards. Anything else is refused up front with a reason, instead of a
 * viewer that can never connect.
 */
import type { WeriftModule } from './viewer.js';

/** Returns null when the offer is usable, else the reason it is not. */
export function offerProblem(werift: WeriftModule, sdp: string): string | null {
  let desc: InstanceType<WeriftModule['SessionDescription']>;
  try {
    desc = werift.SessionDescription.parse(sdp);
  } catch (err) {
    return `the SDP does not parse: ${(err as Error).message}`;
  }
  const video = desc.media.find((m) => m.kind === 'video' && m.port !== 0);
  const audio = desc.media.find((m) => m.kind === 'audio' && m.port !== 0);
  if (!video && !audio) return 'the offer has no video or audio m-line';
  for (const m of desc.media) {
    if (m.port === 0) continue; // rejected m-line
    const ufrag = m.iceParams?.usernameFragment || desc.iceUsernameFragment;
    const pwd = m.iceParams?.password || desc.icePassword;
    if (!ufrag || !pwd) return `the ${m.kind} m-line has no ICE credentials (a=ice-ufrag, a=ice-pwd)`;
    const fingerprints = m.dtlsParams?.fingerprints?.length ? m.dtlsParams.fingerprints : desc.dtlsFingerprints;
    if (!fingerprints || fingerprints.length === 0) return `the ${m.kind} m-line has no DTLS fingerprint (a=fingerprint)`;
  }
  if (video) {
    const h264 = video.rtp.codecs.some((c) => c.mimeType.toLowerCase() === 'video/h264' && /packetization-mode=1/.test(c.parameters ?? ''));
    if (!h264) return 'the offer has no H.264 video with packetization-mode=1';
  } else {
    const opus = audio!.rtp.codecs.some((c) => c.mimeType.toLowerCase() === 'audio/opus');
    if (!opus) return 'the audio-only offer has no Opus';
  }
  return null;
}
