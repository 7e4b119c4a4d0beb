/**
 * The ICE UDP mux's routing rules (src/werift/mux.ts module doc), driven with synthetic
 * receive batches on a mux whose socket is bound to loopback: STUN responses by
 * transaction id, claimed addresses, binding requests by USERNAME (current and earlier
 * ufrags), address moves on ICE restart, and what is dropped and counted.
 */
import { Buffer } from 'node:buffer';
import type { RemoteInfo } from 'node:dgram';
import { afterEach, describe, expect, test } from 'vitest';
import * as werift from 'werift';
import type { RecvBatch } from '../../src/types.js';
import { SocketLedger } from '../../src/werift/ledger.js';
import { UdpMux, type MuxTransport } from '../../src/werift/mux.js';
import type { WeriftConnectionLike } from '../../src/werift/types.js';

const { Message, methods, classes } = werift;

interface In {
  data: Buffer;
  address: string;
  port: number;
  truncated?: boolean;
}

/** A receive batch as the socket hands it over: one buffer, datagrams at offsets. */
function batchOf(items: In[]): RecvBatch {
  const bytes = Buffer.concat(items.map((x) => x.data));
  const offsets: number[] = [];
  let off = 0;
  for (const x of items) {
    offsets.push(off);
    off += x.data.length;
  }
  return {
    count: items.length,
    bytes,
    offset: (i) => offsets[i],
    length: (i) => items[i].data.length,
    datagram: (i) => bytes.subarray(offsets[i], offsets[i] + items[i].data.length),
    remote: (i) => ({ address: items[i].address, family: items[i].address.includes(':') ? 'IPv6' : 'IPv4', port: items[i].port, size: items[i].data.length }) as RemoteInfo,
    sameRemote: (i, j) => items[i].address === items[j].address && items[i].port === items[j].port,
    truncated: (i) => items[i].truncated === true,
  };
}

const request = (username: string): Buffer => {
  const m = new Message(methods.BINDING, classes.REQUEST);
  m.setAttribute('USERNAME', username);
  return m.bytes;
};
const rtp = (seq: number): Buffer => Buffer.from([0x80, 96, seq >> 8, seq & 255, 0, 0, 0, 0, 0, 0, 0, 1]);

let ledger: SocketLedger;
let mux: UdpMux;

async function rig(...connections: WeriftConnectionLike[]) {
  ledger = new SocketLedger({ backend: 'dgram' });
  mux = new UdpMux('udp4', 0, '127.0.0.1', ledger, () => {});
  const got: [number, string, string, number][] = [];
  const views: MuxTransport[] = [];
  for (const [n, c] of connections.entries()) {
    const v = await mux.attach(c);
    v.onData = (data, [address, port]) => got.push([n, data.toString('hex'), address, port]);
    views.push(v);
  }
  const feed = (...items: In[]) => mux.socket.emit('batch', batchOf(items));
  return { got, views, feed, counters: ledger.counters };
}

afterEach(async () => {
  await mux?.close();
});

describe('UdpMux routing', () => {
  test('a binding request names its connection by the USERNAME’s first part; the address is then that connection’s', async () => {
    const { got, feed, counters } = await rig({ localUsername: 'ufA' }, { localUsername: 'ufB' });
    feed({ data: request('ufB:r1'), address: '127.0.0.9', port: 4000 }, { data: rtp(1), address: '127.0.0.9', port: 4000 });
    expect(got.map((g) => g[0])).toEqual([1, 1]);
    expect(got[1]).toEqual([1, rtp(1).toString('hex'), '127.0.0.9', 4000]);
    expect(counters).toMatchObject({ delivered: 2, remotesLearned: 1 });
    // Another port of the same host is another address: not claimed.
    feed({ data: rtp(2), address: '127.0.0.9', port: 4001 });
    expect(got).toHaveLength(2);
    expect(counters.droppedUnknown).toBe(1);
  });

  test('unknown senders: non-STUN is droppedUnknown, a request for no known ufrag droppedUnroutableStun, a truncated datagram droppedTruncated', async () => {
    const { got, feed, counters } = await rig({ localUsername: 'ufA' });
    feed(
      { data: rtp(1), address: '127.0.0.2', port: 1 },
      { data: request('nobody:x'), address: '127.0.0.2', port: 1 },
      { data: request('ufA:x'), address: '127.0.0.3', port: 1, truncated: true },
    );
    expect(got).toEqual([]);
    expect(counters).toMatchObject({ delivered: 0, droppedUnknown: 1, droppedUnroutableStun: 1, droppedTruncated: 1, remotesLearned: 0 });
  });

  test('a STUN response goes to the view whose request had its transaction id, whoever claimed the address', async () => {
    const { got, views, feed } = await rig({ localUsername: 'ufA' }, { localUsername: 'ufB' });
    feed({ data: request('ufA:r'), address: '127.0.0.5', port: 3478 }); // 127.0.0.5:3478 is A's now
    const req = new Message(methods.BINDING, classes.REQUEST);
    await views[1].send(req.bytes, ['127.0.0.5', 3478]); // B asks (e.g. server-reflexive gathering)
    const res = new Message(methods.BINDING, classes.RESPONSE, req.transactionId).bytes;
    feed({ data: res, address: '127.0.0.5', port: 3478 });
    expect(got.map((g) => g[0])).toEqual([0, 1]);
    // Used once: a replayed response falls back to the address owner.
    feed({ data: res, address: '127.0.0.5', port: 3478 });
    expect(got.map((g) => g[0])).toEqual([0, 1, 0]);
  });

  test('ICE restart: a request from a known address for another connection’s ufrag moves the address', async () => {
    const { got, feed } = await rig({ localUsername: 'ufA' }, { localUsername: 'ufB' });
    const from = { address: '127.0.0.7', port: 5000 };
    feed({ data: request('ufA:r'), ...from }, { data: rtp(1), ...from });
    feed({ data: request('ufB:r'), ...from }, { data: rtp(2), ...from });
    expect(got.map((g) => g[0])).toEqual([0, 0, 1, 1]);
  });

  test('an earlier ufrag (userHistory) still finds its connection; among several, the remote ufrag decides', async () => {
    const { got, feed } = await rig(
      { localUsername: 'new1', userHistory: { old: 'pw' }, remoteUsername: 'peerX' },
      { localUsername: 'new2', userHistory: { old: 'pw' }, remoteUsername: 'peerY' },
    );
    feed({ data: request('old:peerY'), address: '127.0.0.8', port: 1 }, { data: request('old:peerX'), address: '127.0.0.8', port: 2 });
    expect(got.map((g) => [g[0], g[3]])).toEqual([
      [1, 1],
      [0, 2],
    ]);
  });

  test('a view that closes releases its addresses; closing the mux inside a handler stops the batch', async () => {
    const { got, views, feed, counters } = await rig({ localUsername: 'ufA' }, { localUsername: 'ufB' });
    feed({ data: request('ufA:r'), address: '127.0.0.4', port: 9 });
    await views[0].close();
    feed({ data: rtp(1), address: '127.0.0.4', port: 9 });
    expect(got).toHaveLength(1);
    expect(counters.droppedUnknown).toBe(1);
    views[1].onData = () => void mux.close();
    feed({ data: request('ufB:r'), address: '127.0.0.6', port: 9 }, { data: rtp(2), address: '127.0.0.6', port: 9 });
    expect(counters.delivered).toBe(2); // the first request of each batch; nothing after the close
  });
});
