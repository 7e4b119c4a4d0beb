/**
 * werift ↔ werift on loopback with the plug on the sending side only: the sender uses the
 * module the plug was installed on, the receiver the other build of werift (ESM vs CJS
 * are distinct classes, so the receiver keeps werift's own dgram sockets).
 *
 * Network: 127.0.0.1 only. Host candidates come from `iceAdditionalHostAddresses` with
 * interface enumeration off (`iceUseIpv4/6: false`), sockets bind 127.0.0.1, and the
 * STUN server werift queries for a server-reflexive candidate is a responder on loopback
 * (werift-pair.ts; werift would otherwise query a public STUN server).
 */
import { createRequire } from 'node:module';
import dgram from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as weriftEsm from 'werift';
import { createBatchSocket } from '../../src/index.js';
import { installWeriftBatching, type WeriftBatching } from '../../src/werift/index.js';
import { fixDtlsHelloVerify, loopbackPcConfig, negotiate, startStunResponder, waitFor, type StunResponder } from './werift-pair.js';

type Werift = typeof weriftEsm;
const weriftCjs = createRequire(import.meta.url)('werift') as Werift;

/** 'batch' when the native addon works here, else 'dgram' (WERIFT_PLUG_BACKEND overrides). */
function pickBackend(): 'batch' | 'dgram' {
  const env = process.env.WERIFT_PLUG_BACKEND;
  if (env === 'batch' || env === 'dgram') return env;
  try {
    createBatchSocket({ type: 'udp4', backend: 'batch' }).close();
    return 'batch';
  } catch {
    return 'dgram';
  }
}
const BACKEND = pickBackend();

const CONNECT_TIMEOUT_MS = 15_000;
const PACKETS = 200;

let stun: StunResponder;
let unfixDtls: () => void = () => {};

// ---- one sender → receiver pair ------------------------------------------------------------

interface Pair {
  sender: InstanceType<Werift['RTCPeerConnection']>;
  receiver: InstanceType<Werift['RTCPeerConnection']>;
  /** Sequence numbers the receiver got, in arrival order, with the payload's tag byte. */
  received: { seq: number; tag: number }[];
  /** Sends `count` RTP packets tagged `tag`, paced (a burst of 20 per 2 ms, so the receiver's default 208 KiB buffer keeps up). */
  send(count: number, tag: number): Promise<void>;
  /** Writes one RTP packet now. */
  write(tag: number): void;
  close(): Promise<void>;
}

async function connectPair(tx: Werift, rx: Werift): Promise<Pair> {
  const sender = new tx.RTCPeerConnection(loopbackPcConfig(stun.port));
  const receiver = new rx.RTCPeerConnection(loopbackPcConfig(stun.port));
  const track = new tx.MediaStreamTrack({ kind: 'video' });
  sender.addTransceiver(track, { direction: 'sendonly' });
  const received: Pair['received'] = [];
  receiver.onTrack.subscribe((t) => {
    t.onReceiveRtp.subscribe((p) => received.push({ seq: p.header.sequenceNumber, tag: p.payload[0] }));
  });
  await negotiate(sender, receiver, CONNECT_TIMEOUT_MS);
  let seq = 0;
  const write = (tag: number): void => {
    const header = new tx.RtpHeader({ payloadType: 96, sequenceNumber: seq, timestamp: seq * 3000, ssrc: 0x1000 + tag, marker: true });
    seq++;
    track.writeRtp(new tx.RtpPacket(header, Buffer.alloc(200, tag)));
  };
  return {
    sender,
    receiver,
    received,
    write,
    async send(count, tag) {
      await paced(count, () => write(tag));
    },
    async close() {
      await Promise.allSettled([sender.close(), receiver.close()]);
    },
  };
}

/** Runs `fn` `count` times, 20 per event-loop turn with 2 ms between turns. */
async function paced(count: number, fn: () => void): Promise<void> {
  for (let i = 0; i < count; i++) {
    fn();
    if (i % 20 === 19) await new Promise((r) => setTimeout(r, 2));
  }
}

function expectInOrder(received: Pair['received'], count: number, tag: number): void {
  expect(received.map((r) => r.tag).every((t) => t === tag)).toBe(true);
  expect(received.map((r) => r.seq)).toEqual(Array.from({ length: count }, (_, i) => i));
}

/** The transport under the sender's selected candidate pair (werift internals, for the test only). */
function senderTransportName(pc: Pair['sender']): string {
  const conn = (pc as unknown as { iceTransports: { connection: { nominated?: { protocol: { transport: object } } } }[] }).iceTransports[0].connection;
  return conn.nominated?.protocol.transport.constructor.name ?? 'none';
}

function candidatePorts(sdp: string): number[] {
  return sdp
    .split(/\r?\n/)
    .filter((l) => l.startsWith('a=candidate:') && l.includes(' typ host'))
    .map((l) => Number(l.split(' ')[5]));
}

// ---- tests -----------------------------------------------------------------------------------

beforeAll(async () => {
  console.log(`werift plug e2e: backend ${BACKEND}, werift ESM and CJS builds, Node ${process.version}`);
  stun = await startStunResponder();
  unfixDtls = fixDtlsHelloVerify(weriftEsm, weriftCjs);
});
afterAll(() => {
  stun?.close();
  unfixDtls();
});

describe(`werift plug (backend ${BACKEND})`, () => {
  it('per connection: ICE, DTLS and RTP go through a batched socket; N packets arrive in order', async () => {
    const plug = installWeriftBatching(weriftEsm, { backend: BACKEND });
    let pair: Pair | undefined;
    try {
      expect(plug.topology).toBe('per-connection');
      pair = await connectPair(weriftEsm, weriftCjs);
      expect(senderTransportName(pair.sender)).toBe('BatchUdpTransport');
      await pair.send(PACKETS, 1);
      await waitFor(() => pair!.received.length >= PACKETS, 10_000, 'RTP at the receiver', () => `${pair!.received.length} received; ${JSON.stringify(plug.stats())}`);
      expectInOrder(pair.received, PACKETS, 1);
      const s = plug.stats();
      expect(s.backends).toEqual([BACKEND]);
      expect(s.plug.socketsOpen).toBeGreaterThanOrEqual(1);
      expect(s.sent).toBeGreaterThan(PACKETS);
      if (BACKEND === 'batch') expect(s.batches).toBeGreaterThan(0); // the dgram backend has no flushes
      expect(s.received).toBeGreaterThan(0); // STUN + DTLS + RTCP came in by the batch receive path
      expect(s.plug.delivered).toBeGreaterThan(0);
      expect(s.enqueued).toBe(s.sent + s.failed + s.dropped + s.queued);
      if (BACKEND === 'batch') expect(s.batches).toBeLessThan(s.sent); // tick mode grouped something
    } finally {
      await pair?.close();
      await plug.uninstall();
    }
    expect(plug.stats().plug.socketsOpen).toBe(0); // werift closed its transports with the connection
  });

  it('shared port: several connections on one socket, each gets only its own packets, in order', async () => {
    const plug = installWeriftBatching(weriftEsm, { sharedPort: true, sharedAddress: '127.0.0.1', backend: BACKEND });
    const pairs: Pair[] = [];
    const N = 4;
    try {
      for (let i = 0; i < N; i++) pairs.push(await connectPair(weriftEsm, weriftCjs));
      const port = plug.stats().sharedPorts.udp4;
      expect(port).toBeGreaterThan(0);
      for (const p of pairs) {
        expect(candidatePorts(p.sender.localDescription!.sdp)).toEqual([port]);
        expect(senderTransportName(p.sender)).toBe('MuxTransport');
      }
      expect(plug.stats().plug.socketsOpen).toBe(1);
      // Interleaved fan-out, one packet to every viewer at a time, as a relay does (5 rounds per turn).
      for (let k = 0; k < PACKETS; k += 5) {
        for (let j = 0; j < 5; j++) pairs.forEach((p, i) => p.write(i + 1));
        await new Promise((r) => setTimeout(r, 2));
      }
      await waitFor(() => pairs.every((p) => p.received.length >= PACKETS), 10_000, 'RTP at every receiver');
      pairs.forEach((p, i) => expectInOrder(p.received, PACKETS, i + 1));
      const s = plug.stats();
      expect(s.backends).toEqual([BACKEND]);
      expect(s.sent).toBeGreaterThan(N * PACKETS);
      if (BACKEND === 'batch') expect(s.batches).toBeGreaterThan(0);
      expect(s.plug.remotesLearned).toBeGreaterThanOrEqual(N);
      if (BACKEND === 'batch') expect(s.sent / s.batches).toBeGreaterThan(2);
      // A connection that closes unregisters; the mux stays for the others.
      await pairs.shift()!.close();
      expect(plug.stats().plug.socketsOpen).toBe(1);
      pairs.forEach((p) => p.received.splice(0));
      for (let k = 0; k < 20; k++) pairs.forEach((p, i) => p.write(i + 2));
      await waitFor(() => pairs.every((p) => p.received.length >= 20), 10_000, 'RTP after one connection left');
      // The mux closes with its last user.
      await Promise.all(pairs.splice(0).map((p) => p.close()));
      await waitFor(() => plug.stats().plug.socketsOpen === 0, 5_000, 'mux closed after the last connection');
    } finally {
      await Promise.all(pairs.map((p) => p.close()));
      await plug.uninstall();
    }
  });

  it('shared port: unknown non-STUN datagrams are dropped and counted; uninstall closes the mux', async () => {
    const plug = installWeriftBatching(weriftEsm, { sharedPort: 0, sharedAddress: '127.0.0.1', backend: BACKEND });
    let pair: Pair | undefined;
    const stranger = dgram.createSocket('udp4');
    try {
      pair = await connectPair(weriftEsm, weriftCjs);
      const port = plug.stats().sharedPorts.udp4!;
      const before = plug.stats().plug;
      await new Promise<void>((r) => stranger.bind(0, '127.0.0.1', () => r()));
      const rtpLike = Buffer.alloc(100, 0x80);
      const stunNoUser = Buffer.alloc(20);
      stunNoUser.writeUInt16BE(0x0001, 0);
      stunNoUser.writeUInt32BE(0x2112a442, 4);
      for (let i = 0; i < 5; i++) stranger.send(rtpLike, port, '127.0.0.1');
      stranger.send(stunNoUser, port, '127.0.0.1');
      await waitFor(() => plug.stats().plug.droppedUnknown >= before.droppedUnknown + 5, 5_000, 'drops counted');
      await waitFor(() => plug.stats().plug.droppedUnroutableStun >= before.droppedUnroutableStun + 1, 5_000, 'STUN drop counted');
      await pair.send(10, 7);
      await waitFor(() => pair!.received.length >= 10, 5_000, 'RTP still flows');
      expect(plug.stats().plug.socketsOpen).toBe(1);
      await plug.uninstall();
      expect(plug.stats().plug.socketsOpen).toBe(0);
      expect(plug.installed).toBe(false);
    } finally {
      stranger.close();
      await pair?.close();
      await plug.uninstall();
    }
  });

  it('send resolves at enqueue, not at flush', async () => {
    // A 200 ms window: if werift's `await transport.send()` waited for the flush, 50 sends would take 10 s.
    const plug = installWeriftBatching(weriftEsm, { windowUs: 200_000, maxBatch: 1024, backend: BACKEND });
    const sink = dgram.createSocket('udp4');
    try {
      await new Promise<void>((r) => sink.bind(0, '127.0.0.1', () => r()));
      const got: Buffer[] = [];
      sink.on('message', (m) => got.push(m));
      const t = (await weriftEsm.UdpTransport.init('udp4', { interfaceAddresses: { udp4: '127.0.0.1' } })) as unknown as {
        send(d: Buffer, a: [string, number]): Promise<void>;
        close(): Promise<void>;
      };
      const t0 = performance.now();
      for (let i = 0; i < 50; i++) await t.send(Buffer.from([0x80, i]), ['127.0.0.1', sink.address().port]);
      const elapsed = performance.now() - t0;
      expect(elapsed).toBeLessThan(150);
      if (BACKEND === 'batch') expect(plug.stats().queued).toBe(50);
      await waitFor(() => got.length === 50, 5_000, 'the window flush');
      expect(got.map((m) => m[1])).toEqual(Array.from({ length: 50 }, (_, i) => i));
      if (BACKEND === 'batch') expect(plug.stats().batches).toBe(1);
      await t.close();
    } finally {
      sink.close();
      await plug.uninstall();
    }
  });

  it('uninstall restores stock werift', async () => {
    // ensureProtocol is TypeScript-private in werift's typings; the plug wraps it at run time.
    const connectionProto = weriftEsm.Connection.prototype as unknown as { ensureProtocol: unknown };
    const originalInit = weriftEsm.UdpTransport.init;
    const originalEnsure = connectionProto.ensureProtocol;
    const plug = installWeriftBatching(weriftEsm, { sharedPort: true, backend: BACKEND });
    expect(weriftEsm.UdpTransport.init).not.toBe(originalInit);
    expect(connectionProto.ensureProtocol).not.toBe(originalEnsure);
    expect(() => installWeriftBatching(weriftEsm)).toThrow(/already installed/);
    await plug.uninstall();
    await plug.uninstall(); // idempotent
    expect(weriftEsm.UdpTransport.init).toBe(originalInit);
    expect(connectionProto.ensureProtocol).toBe(originalEnsure);
    const sentBefore = plug.stats().sent;
    const pair = await connectPair(weriftEsm, weriftCjs);
    try {
      expect(senderTransportName(pair.sender)).toMatch(/^_?UdpTransport$/);
      await pair.send(20, 3);
      await waitFor(() => pair.received.length >= 20, 5_000, 'RTP over stock werift');
      expectInOrder(pair.received, 20, 3);
      expect(plug.stats().sent).toBe(sentBefore);
    } finally {
      await pair.close();
    }
    // And it can be installed again afterwards.
    const again = installWeriftBatching(weriftEsm, { backend: BACKEND });
    await again.uninstall();
  });

  it('works on the CommonJS build of werift too (the module object the app loaded)', async () => {
    const plug = installWeriftBatching(weriftCjs, { sharedPort: true, sharedAddress: '127.0.0.1', backend: BACKEND });
    let pair: Pair | undefined;
    try {
      pair = await connectPair(weriftCjs, weriftEsm);
      expect(senderTransportName(pair.sender)).toBe('MuxTransport');
      await pair.send(PACKETS, 5);
      await waitFor(() => pair!.received.length >= PACKETS, 10_000, 'RTP at the receiver', () => `${pair!.received.length} received; ${JSON.stringify(plug.stats())}`);
      expectInOrder(pair.received, PACKETS, 5);
      expect(plug.stats().sent).toBeGreaterThan(PACKETS);
    } finally {
      await pair?.close();
      await plug.uninstall();
    }
  });

  it('rejects what is not a werift module, and bad options', () => {
    expect(() => installWeriftBatching({})).toThrow(/UdpTransport/);
    expect(() => installWeriftBatching(null)).toThrow(TypeError);
    expect(() => installWeriftBatching(weriftEsm, { sharedPort: 70000 })).toThrow(/sharedPort/);
    expect(() => installWeriftBatching(weriftEsm, { maxBatch: 0 })).toThrow(/maxBatch/);
    expect(() => installWeriftBatching(weriftEsm, { sharedAddress: 'example.com' })).toThrow(/IP literal/);
    // nothing was left installed by the failed calls
    installWeriftBatching(weriftEsm).uninstall();
  });
});
