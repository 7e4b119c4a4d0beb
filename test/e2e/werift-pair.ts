/**
 * werift ↔ werift on loopback for the plug's tests: a STUN binding responder on 127.0.0.1
 * (so werift never queries a public STUN server for its server-reflexive candidate), the
 * peer-connection options that keep ICE on 127.0.0.1 (host candidates from
 * `iceAdditionalHostAddresses`, interface enumeration off), the offer/answer exchange
 * that waits for both sides to connect, werift's DTLS client fixed on both builds, and a
 * bounded wait on a condition.
 */
import dgram from 'node:dgram';
import type * as WeriftNs from 'werift';
import { fixWeriftDtlsHelloVerify } from '../../src/werift/index.js';

type PeerConnection = InstanceType<(typeof WeriftNs)['RTCPeerConnection']>;

/** A STUN binding responder on loopback (RFC 8489 §5, §14.2 XOR-MAPPED-ADDRESS). */
export interface StunResponder {
  port: number;
  close(): void;
}

export function startStunResponder(): Promise<StunResponder> {
  const stun = dgram.createSocket('udp4');
  stun.on('message', (msg, rinfo) => {
    if (msg.length < 20 || msg.readUInt16BE(0) !== 0x0001 || msg.readUInt32BE(4) !== 0x2112a442) return;
    const res = Buffer.alloc(32);
    res.writeUInt16BE(0x0101, 0); // binding success response
    res.writeUInt16BE(12, 2);
    msg.copy(res, 4, 4, 20); // cookie + transaction id
    res.writeUInt16BE(0x0020, 20); // XOR-MAPPED-ADDRESS
    res.writeUInt16BE(8, 22);
    res.writeUInt16BE(0x0001, 24); // IPv4
    res.writeUInt16BE(rinfo.port ^ 0x2112, 26);
    const ip = rinfo.address.split('.').map(Number);
    res.writeUInt32BE((((ip[0] << 24) | (ip[1] << 16) | (ip[2] << 8) | ip[3]) ^ 0x2112a442) >>> 0, 28);
    stun.send(res, rinfo.port, rinfo.address);
  });
  return new Promise((resolve) =>
    stun.bind(0, '127.0.0.1', () => resolve({ port: stun.address().port, close: () => stun.close() })),
  );
}

/**
 * The answering peer is the DTLS client, and werift's client fails the handshake on a
 * repeated HelloVerifyRequest, which a busy test process provokes (src/werift/
 * dtls-hello-verify.ts): the fix the relay applies, on every werift build given, for
 * the file's duration. Returns the undo.
 */
export function fixDtlsHelloVerify(...builds: (typeof WeriftNs)[]): () => void {
  const fixes = builds.map((w) => fixWeriftDtlsHelloVerify(w));
  return () => fixes.forEach((f) => f?.uninstall());
}

/** RTCPeerConnection options for loopback only, with the STUN responder on `stunPort`. */
export function loopbackPcConfig(stunPort: number) {
  return {
    iceServers: [{ urls: `stun:127.0.0.1:${stunPort}` }],
    iceUseIpv4: false,
    iceUseIpv6: false,
    iceAdditionalHostAddresses: ['127.0.0.1'],
    iceInterfaceAddresses: { udp4: '127.0.0.1' },
  };
}

/**
 * Offer from `sender`, answer from `receiver` (no trickle: the descriptions carry the
 * candidates), then waits until both are 'connected' (ICE + DTLS). Rejects when either
 * goes 'failed' or after `timeoutMs`.
 */
export async function negotiate(sender: PeerConnection, receiver: PeerConnection, timeoutMs: number): Promise<void> {
  const connected = (pc: PeerConnection, name: string): Promise<void> => {
    let timer: NodeJS.Timeout | undefined;
    return new Promise<void>((resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`${name}: not connected after ${timeoutMs} ms`)), timeoutMs);
      pc.connectionStateChange.subscribe((s) => {
        if (s === 'connected') resolve();
        if (s === 'failed') reject(new Error(`${name} failed`));
      });
    }).finally(() => clearTimeout(timer));
  };
  const both = Promise.all([connected(sender, 'sender'), connected(receiver, 'receiver')]);
  try {
    await sender.setLocalDescription(await sender.createOffer());
    await receiver.setRemoteDescription(sender.localDescription!);
    await receiver.setLocalDescription(await receiver.createAnswer());
    await sender.setRemoteDescription(receiver.localDescription!);
  } catch (err) {
    both.catch(() => {}); // the exchange's error is the one to report
    throw err;
  }
  await both;
}

/** Polls `cond` every 10 ms; throws naming `what` (and `detail()`) after `ms`. */
export async function waitFor(cond: () => boolean, ms: number, what: string, detail?: () => string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms: ${what}${detail ? ` (${detail()})` : ''}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
