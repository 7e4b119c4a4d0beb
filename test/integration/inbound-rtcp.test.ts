/**
 * src/relay/inbound-rtcp.ts: viewers' SRTCP, protected by werift's own SrtcpSession (what a
 * werift viewer runs), unprotected by the relay natively per receive batch and handed to each
 * viewer parsed at the end of the batch — both SRTP profiles; a forged or corrupted packet is rejected and counted,
 * authenticated garbage counted as malformed, a viewer that leaves before the flush gets
 * nothing and its packets count as orphaned; every datagram is accounted for once.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { InboundRtcp } from '../../src/relay/inbound-rtcp.js';
import { SrtpContextTable } from '../../src/srtp/index.js';
import type { ParsedRtcp } from '../../src/rtcp/parse.js';
import { rawNack, rawPsfb, rawReceiverReport } from '../unit/rtcp-packets.js';
import { viewerSide } from './srtcp-viewer.js';

const available = InboundRtcp.available();
const PROFILES = [
  ['SRTP_AES128_CM_HMAC_SHA1_80', 0x0001, 14],
  ['SRTP_AEAD_AES_128_GCM', 0x0007, 12],
] as const;


const identity = (c: InboundRtcp['counters']): number => c.handled + c.rejected + c.malformed + c.orphaned;

afterEach(() => {
  vi.restoreAllMocks();
});

describe.skipIf(!available)('InboundRtcp: the fast path unprotects viewers’ SRTCP itself', () => {
  for (const [name, profile, saltLength] of PROFILES) {
    it(`${name}: two viewers' RR + NACK + PLI arrive parsed, in order, with one native call for the batch`, () => {
      const inbound = new InboundRtcp();
      const spy = vi.spyOn(SrtpContextTable.prototype, 'unprotectBatch');
      const a = viewerSide(profile, saltLength);
      const b = viewerSide(profile, saltLength);
      const got: { who: string; packets: ParsedRtcp[] }[] = [];
      const va = inbound.add(a.keys, (packets) => got.push({ who: 'a', packets }));
      const vb = inbound.add(b.keys, (packets) => got.push({ who: 'b', packets }));
      const rr = rawReceiverReport(0xaaaa0001, [{ ssrc: 0x1111, fractionLost: 12, packetsLost: 3, highestSequence: 500, jitter: 90, lsr: 0, dlsr: 0 }]);
      va.sink.push(a.protect(Buffer.concat([rr, rawNack(0x1111, [[41, 0b1]])])));
      vb.sink.push(b.protect(rawPsfb(1, 0x2222)));
      va.sink.push(a.protect(rawPsfb(1, 0x1111)));
      expect(got).toEqual([]); // handled at the end of the receive batch, not per datagram
      expect(va.sink.flush).toBe(vb.sink.flush); // one flush for every viewer: the receive loop calls it once
      va.sink.flush();
      expect(spy).toHaveBeenCalledTimes(1);
      expect(got.map((g) => [g.who, g.packets.map((p) => p.type)])).toEqual([
        ['a', [201, 205]],
        ['b', [206]],
        ['a', [206]],
      ]);
      expect(got[0].packets[0].reports![0]).toMatchObject({ ssrc: 0x1111, fractionLost: 12, packetsLost: 3, jitter: 90 });
      expect(got[0].packets[1].feedback).toMatchObject({ mediaSourceSsrc: 0x1111, lost: [41, 42] });
      expect(got[1].packets[0].feedback).toMatchObject({ count: 1, mediaSsrc: 0x2222 });
      expect(inbound.counters).toEqual({ received: 3, handled: 3, rejected: 0, malformed: 0, orphaned: 0, handlerErrors: 0 });
      va.close();
      vb.close();
    });

    it(`${name}: a corrupted or foreign packet is rejected, authenticated garbage is malformed, both counted; the rest still arrive`, () => {
      const inbound = new InboundRtcp();
      const a = viewerSide(profile, saltLength);
      const stranger = viewerSide(profile, saltLength);
      const got: number[][] = [];
      const va = inbound.add(a.keys, (packets) => got.push(packets.map((p) => p.type)));
      const good = a.protect(rawPsfb(1, 0x1111));
      const flipped = Buffer.from(good);
      flipped[14] ^= 0x40; // inside the encrypted part
      va.sink.push(flipped);
      va.sink.push(stranger.protect(rawPsfb(1, 0x1111))); // someone else's keys
      va.sink.push(Buffer.from([0x80, 200, 0, 1])); // too short to be SRTCP
      const garbage = rawPsfb(1, 0x1111);
      garbage.writeUInt16BE(9, 2); // claims 40 bytes: authenticates, but is not valid RTCP
      va.sink.push(a.protect(garbage));
      va.sink.push(good);
      inbound.flush();
      expect(got).toEqual([[206]]);
      expect(inbound.counters).toEqual({ received: 5, handled: 1, rejected: 3, malformed: 1, orphaned: 0, handlerErrors: 0 });
      expect(identity(inbound.counters)).toBe(inbound.counters.received);
      va.close();
    });
  }

  it('a viewer that leaves before the flush gets nothing; its packets are orphaned, the others handled', () => {
    const inbound = new InboundRtcp();
    const a = viewerSide(0x0001, 14);
    const b = viewerSide(0x0007, 12);
    const got: string[] = [];
    const va = inbound.add(a.keys, () => got.push('a'));
    const vb = inbound.add(b.keys, () => got.push('b'));
    va.sink.push(a.protect(rawPsfb(1, 1)));
    vb.sink.push(b.protect(rawPsfb(1, 2)));
    va.sink.push(a.protect(rawPsfb(1, 3)));
    va.close();
    va.sink.push(a.protect(rawPsfb(1, 4))); // after close: orphaned at once
    inbound.flush();
    expect(got).toEqual(['b']);
    expect(inbound.counters).toEqual({ received: 4, handled: 1, rejected: 0, malformed: 0, orphaned: 3, handlerErrors: 0 });
    va.close(); // idempotent
    vb.close();
  });

  it('a handler that throws does not cost the other viewers their packets, and nothing reaches the receive loop: counted, kept as lastError', () => {
    const inbound = new InboundRtcp();
    const a = viewerSide(0x0001, 14);
    const got: string[] = [];
    const va = inbound.add(a.keys, () => {
      got.push('a');
      throw new Error('handler bug');
    });
    const vb = inbound.add(a.keys, () => got.push('b'));
    va.sink.push(a.protect(rawPsfb(1, 1)));
    vb.sink.push(a.protect(rawPsfb(1, 2)));
    expect(() => va.sink.flush()).not.toThrow();
    expect(got).toEqual(['a', 'b']);
    expect(inbound.counters).toMatchObject({ received: 2, handled: 2, handlerErrors: 1 });
    expect((inbound.lastError as Error).message).toBe('handler bug');
    vb.sink.flush(); // nothing left: a no-op
    expect(got).toEqual(['a', 'b']);
    va.close();
    vb.close();
  });

  it('refuses unusable key material with a typed error', () => {
    const inbound = new InboundRtcp();
    expect(() => inbound.add({ profile: 0x0001, masterKey: randomBytes(16), masterSalt: randomBytes(12) }, () => {})).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(() => inbound.add({ profile: 0x0002, masterKey: randomBytes(16), masterSalt: randomBytes(14) }, () => {})).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
  });
});
