/**
 * A WHEP viewer's side for tests: a werift peer connection (the CJS build, so it never
 * sits on the plug installed on the ESM build) with recvonly video + audio (or the kinds asked for), host
 * candidates on 127.0.0.1 only, and its offer once gathering is complete (no trickle);
 * plus the small waits and checks the relay tests share.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type * as WeriftNs from 'werift';

export type Werift = typeof WeriftNs;
export const weriftCjs = createRequire(import.meta.url)('werift') as Werift;
export type ViewerPc = InstanceType<Werift['RTCPeerConnection']>;

export async function makeOffer(kinds: readonly ('video' | 'audio')[] = ['video', 'audio']): Promise<{ pc: ViewerPc; sdp: string }> {
  const pc = new weriftCjs.RTCPeerConnection({
    iceServers: [],
    iceUseIpv4: false,
    iceUseIpv6: false,
    iceAdditionalHostAddresses: ['127.0.0.1'],
    iceInterfaceAddresses: { udp4: '127.0.0.1' },
    codecs: { video: [weriftCjs.useH264()], audio: [weriftCjs.useOPUS()] },
  });
  for (const kind of kinds) pc.addTransceiver(kind, { direction: 'recvonly' });
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

/**
 * The viewer's ICE connectivity/consent checks (RFC 8445, RFC 7675), summed over its
 * candidate pairs from werift's getStats(): checks it sent, checks the relay sent it
 * (none when the relay is ICE-lite) and the relay's answers to its own.
 */
export async function iceChecks(pc: ViewerPc): Promise<{ requestsSent: number; requestsReceived: number; responsesReceived: number }> {
  const sum = { requestsSent: 0, requestsReceived: 0, responsesReceived: 0 };
  const report = await pc.getStats();
  for (const s of report.values() as Iterable<{ type: string } & Partial<typeof sum>>) {
    if (s.type !== 'candidate-pair') continue;
    sum.requestsSent += s.requestsSent ?? 0;
    sum.requestsReceived += s.requestsReceived ?? 0;
    sum.responsesReceived += s.responsesReceived ?? 0;
  }
  return sum;
}

/** True when RTP sequence numbers increase by exactly 1 (mod 2^16) throughout. */
export const contiguous = (seqs: number[]): boolean => seqs.every((s, i) => i === 0 || s === ((seqs[i - 1] + 1) & 0xffff));

/**
 * Datagrams the kernel dropped at the receive queue of every UDP socket bound to local
 * `port` (the `drops` column of /proc/net/udp and /proc/net/udp6: full SO_RCVBUF, the
 * per-socket share of Udp RcvbufErrors). Loss it explains happened before any code of ours
 * saw the datagram — a busy machine, not a library fault.
 */
export function udpDrops(port: number): number {
  let drops = 0;
  for (const file of ['/proc/net/udp', '/proc/net/udp6']) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 13) continue;
      const local = f[1];
      if (parseInt(local.slice(local.lastIndexOf(':') + 1), 16) === port) drops += Number(f[f.length - 1]) || 0;
    }
  }
  return drops;
}

/** The UDP port of a peer connection's host candidate (its ICE socket), from its local description. */
export function candidatePort(pc: ViewerPc): number {
  const m = / udp \d+ \S+ (\d+) typ host/i.exec(pc.localDescription?.sdp ?? '');
  if (!m) throw new Error('no host candidate in the local description');
  return Number(m[1]);
}

/**
 * Sequence-number gaps in `seqs` (RTP, mod 2^16): how many packets are missing between
 * consecutive entries. 0 means contiguous.
 */
export const seqGaps = (seqs: number[]): number => seqs.reduce((n, s, i) => (i === 0 ? 0 : n + ((s - seqs[i - 1] - 1) & 0xffff)), 0);

/**
 * Holes in the RTP sequence space (mod 2^16) that `seqs` covers: each sequence number
 * counted once, so a late retransmission (werift answers NACKs with the same SSRC) or a
 * duplicate is no hole and no jump. 0 means every packet from the first to the last arrived.
 */
export function missingSeqs(seqs: number[]): number {
  if (seqs.length === 0) return 0;
  const seen = new Set<number>();
  let ext = seqs[0];
  let min = ext;
  let max = ext;
  for (let i = 0; i < seqs.length; i++) {
    if (i > 0) ext += ((((seqs[i] - seqs[i - 1]) & 0xffff) + 0x8000) & 0xffff) - 0x8000; // signed 16-bit step
    seen.add(ext);
    if (ext < min) min = ext;
    if (ext > max) max = ext;
  }
  return max - min + 1 - seen.size;
}
