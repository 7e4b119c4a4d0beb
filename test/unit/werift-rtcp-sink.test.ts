/**
 * src/werift/transport.ts `deliverBatch` with an `rtcpSink`: RTCP (RFC 5761 §4: first byte
 * 128–191, second 192–223) from a transport with a sink goes to the sink as a view of the
 * receive ring (no copy), everything else (STUN, DTLS, RTP) to werift as a copy; the sink's
 * flush runs once per batch after the last datagram — also when the transport closes in
 * the middle — and every datagram is counted as delivered once.
 */
import { describe, expect, it } from 'vitest';
import { BaseWeriftTransport, deliverBatch, type RtcpSink } from '../../src/werift/transport.js';
import type { BatchSocket, RecvBatch } from '../../src/types.js';
import type { WeriftPlugCounters } from '../../src/werift/types.js';

class Recording extends BaseWeriftTransport {
  readonly got: Buffer[] = [];
  constructor() {
    super('udp4');
    this.onData = (d) => {
      this.got.push(d);
    };
  }
  get socket(): BatchSocket {
    throw new Error('not used');
  }
  protected enqueue(): void {}
  close = async (): Promise<void> => {};
}

/** A receive batch over one arena holding `datagrams` back to back, all from 127.0.0.1:5000. */
function batchOf(datagrams: Buffer[]): RecvBatch {
  const bytes = Buffer.concat(datagrams);
  const offsets: number[] = [];
  let o = 0;
  for (const d of datagrams) {
    offsets.push(o);
    o += d.length;
  }
  return {
    count: datagrams.length,
    bytes,
    offset: (i) => offsets[i],
    length: (i) => datagrams[i].length,
    datagram: (i) => bytes.subarray(offsets[i], offsets[i] + datagrams[i].length),
    remote: () => ({ address: '127.0.0.1', family: 'IPv4', port: 5000, size: 0 }),
    sameRemote: () => true,
    truncated: () => false,
  };
}

const counters = (): WeriftPlugCounters => ({ socketsOpened: 0, socketsOpen: 0, transportsCreated: 0, delivered: 0, droppedTruncated: 0, droppedUnknown: 0, droppedUnroutableStun: 0, remotesLearned: 0, socketErrors: 0 });
const stun = Buffer.concat([Buffer.from([0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42]), Buffer.alloc(12, 7)]);
const dtls = Buffer.from([22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
const rtp = Buffer.concat([Buffer.from([0x80, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2]), Buffer.alloc(20, 1)]);
const rr = Buffer.from([0x80, 201, 0, 1, 0xaa, 0xbb, 0xcc, 0xdd]);
const pli = Buffer.from([0x81, 206, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2]);

describe('deliverBatch with an rtcpSink', () => {
  it('lends RTCP to the sink and copies the rest to werift; one flush after the batch', () => {
    const t = new Recording();
    const events: string[] = [];
    const lent: Uint8Array[] = [];
    const sink: RtcpSink = {
      push: (d) => {
        events.push(`push ${d[1]}`);
        lent.push(d);
      },
      flush: () => events.push('flush'),
    };
    t.rtcpSink = sink;
    const b = batchOf([stun, rr, dtls, rtp, pli]);
    const c = counters();
    deliverBatch(b, c, () => true, () => t);
    expect(events).toEqual(['push 201', 'push 206', 'flush']);
    expect(t.got.map((d) => d[0])).toEqual([0x00, 22, 0x80]);
    // The sink got views of the receive ring, werift copies: the ring is reused after the batch.
    (b.bytes as Buffer).fill(0xff);
    expect(lent.map((d) => d[1])).toEqual([0xff, 0xff]);
    expect(t.got.map((d) => d[0])).toEqual([0x00, 22, 0x80]);
    expect(c.delivered).toBe(5);
  });

  it('without a sink, RTCP goes to werift like everything else', () => {
    const t = new Recording();
    const c = counters();
    deliverBatch(batchOf([rr, pli]), c, () => true, () => t);
    expect(t.got.map((d) => d[1])).toEqual([201, 206]);
    expect(c.delivered).toBe(2);
  });

  it('flushes what it lent when the transport closes in the middle of the batch', () => {
    const t = new Recording();
    let open = true;
    const flushed: number[] = [];
    let pushed = 0;
    t.rtcpSink = {
      push: () => {
        pushed++;
        open = false; // the handler closed the connection
      },
      flush: () => flushed.push(pushed),
    };
    const c = counters();
    deliverBatch(batchOf([rr, pli, rr]), c, () => open, () => t);
    expect(flushed).toEqual([1]);
    expect(c.delivered).toBe(1);
  });

  it('runs each distinct flush once when two owners share the batch', () => {
    const a = new Recording();
    const b = new Recording();
    const calls: string[] = [];
    const flushA = (): void => void calls.push('flush A');
    a.rtcpSink = { push: () => calls.push('push A'), flush: flushA };
    b.rtcpSink = { push: () => calls.push('push B'), flush: () => calls.push('flush B') };
    const route = [a, a, b, a];
    const batch = batchOf([rr, pli, rr, pli]);
    deliverBatch(batch, counters(), () => true, (_b, i) => route[i]);
    expect(calls).toEqual(['push A', 'push A', 'flush A', 'push B', 'flush B', 'push A', 'flush A']);
  });
});
