/**
 * A WHEP viewer's side for tests: a werift peer connection (the CJS build, so it never
 * sits on the plug installed on the ESM build) with recvonly video + audio, host
 * candidates on 127.0.0.1 only, and its offer once gathering is complete (no trickle);
 * plus the small waits and checks the relay tests share.
 */
import { createRequire } from 'node:module';
import type * as WeriftNs from 'werift';

export type Werift = typeof WeriftNs;
export const weriftCjs = createRequire(import.meta.url)('werift') as Werift;
export type ViewerPc = InstanceType<Werift['RTCPeerConnection']>;

export async function makeOffer(): Promise<{ pc: ViewerPc; sdp: string }> {
  const pc = new weriftCjs.RTCPeerConnection({
    iceServers: [],
    iceUseIpv4: false,
    iceUseIpv6: false,
    iceAdditionalHostAddresses: ['127.0.0.1'],
    iceInterfaceAddresses: { udp4: '127.0.0.1' },
    codecs: { video: [weriftCjs.useH264()], audio: [weriftCjs.useOPUS()] },
  });
  pc.addTransceiver('video', { direction: 'recvonly' });
  pc.addTransceiver('audio', { direction: 'recvonly' });
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise<void>((resolve) => {
    if (pc.iceGatheringState === 'complete') return resolve();
    pc.iceGatheringStateChange.subscribe((s) => s === 'complete' && resolve());
  });
  return { pc, sdp: pc.localDescription!.sdp };
}

/** Polls `pred` every 25 ms until it holds or `ms` pass; resolves with its last value. */
export async function until(pred: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (pred()) return true;
    await new Promise((r) => setTimeout(r, 25));
  }
  return pred();
}

/** True when RTP sequence numbers increase by exactly 1 (mod 2^16) throughout. */
export const contiguous = (seqs: number[]): boolean => seqs.every((s, i) => i === 0 || s === ((seqs[i - 1] + 1) & 0xffff));
