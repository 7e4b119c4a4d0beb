/**
 * Native SRTP/SRTCP (addon/srtp.cc through src/srtp/): the published test vectors
 * (RFC 3711 Appendix B.2 and B.3, RFC 7714 §16.1 and §17.1), the rollover counter across
 * sequence number 65535 → 0, interoperation with werift's own SRTP in both directions and
 * both profiles, authentication failures, the batch call and argument validation.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import * as werift from 'werift';
import { SrtpBatch, SrtpContextTable, type SrtpProfile } from '../../src/srtp/index.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const available = SrtpContextTable.available();
const PROFILES: SrtpProfile[] = ['SRTP_AES128_CM_HMAC_SHA1_80', 'SRTP_AEAD_AES_128_GCM'];
const PROFILE_ID = { SRTP_AES128_CM_HMAC_SHA1_80: 0x0001, SRTP_AEAD_AES_128_GCM: 0x0007 } as const;

function keysFor(profile: SrtpProfile): { masterKey: Buffer; masterSalt: Buffer } {
  return { masterKey: randomBytes(16), masterSalt: randomBytes(profile === 'SRTP_AEAD_AES_128_GCM' ? 12 : 14) };
}

function rtp(seq: number, ssrc: number, payload: Buffer, ts = seq * 3000): Buffer {
  const h = new werift.RtpHeader({ payloadType: 96, sequenceNumber: seq, timestamp: ts >>> 0, ssrc, marker: false });
  return Buffer.concat([h.serialize(h.serializeSize), payload]);
}

/** werift's SRTP session whose *remote* (decrypting) side has `keys`, and local side too. */
function weriftSessions(profile: SrtpProfile, keys: { masterKey: Buffer; masterSalt: Buffer }) {
  const config = {
    keys: { localMasterKey: keys.masterKey, localMasterSalt: keys.masterSalt, remoteMasterKey: keys.masterKey, remoteMasterSalt: keys.masterSalt },
    profile: PROFILE_ID[profile],
  };
  return { srtp: new werift.SrtpSession(config as never), srtcp: new werift.SrtcpSession(config as never) };
}

describe.skipIf(!available)('native SRTP: published test vectors', () => {
  it('RFC 3711 B.3: key derivation (AES-CM PRF, kdr 0)', () => {
    const t = new SrtpContextTable();
    const id = t.add({ profile: 'SRTP_AES128_CM_HMAC_SHA1_80', masterKey: hex('E1F97A0D3E018BE0D64FA32C06DE4139'), masterSalt: hex('0EC675AD498AFEEBB6960B3AABE6') });
    const k = t.sessionKeys(id);
    expect(k.rtpKey.toString('hex')).toBe('c61e7a93744f39ee10734afe3ff7a087');
    expect(k.rtpSalt.toString('hex')).toBe('30cbbc08863d8c85d49db34a9ae1');
    expect(k.rtpAuthKey.toString('hex')).toBe('cebe321f6ff7716b6fd4ab49af256a156d38baa4');
  });

  it('RFC 3711 B.2: AES-CM keystream for SSRC 0, ROC 0, SEQ 0', () => {
    const t = new SrtpContextTable();
    const id = t.addWithSessionKeys({ profile: 'SRTP_AES128_CM_HMAC_SHA1_80', masterKey: hex('2B7E151628AED2A6ABF7158809CF4F3C'), masterSalt: hex('F0F1F2F3F4F5F6F7F8F9FAFBFCFD') });
    const plain = rtp(0, 0, Buffer.alloc(48), 0);
    const out = t.protectRtp(id, plain);
    expect(out.length).toBe(plain.length + 10);
    // Payload XOR keystream with a zero payload is the keystream (blocks 0000, 0001, 0002).
    expect(out.subarray(12, 60).toString('hex')).toBe(
      'e03ead0935c95e80e166b16dd92b4eb4' + 'd23513162b02d0f72a43a2fe4a5f97ab' + '41e95b3bb0a2e8dd477901e4fca894c0',
    );
    expect(out.subarray(0, 12)).toEqual(plain.subarray(0, 12)); // the header stays in clear
  });

  // RFC 7714 §16: key 000102…0f, salt "Quid pro quo"; the RTP packet carries "Gallia est omnis divisa in partes tres".
  const gcmKey = { profile: 'SRTP_AEAD_AES_128_GCM' as const, masterKey: hex('000102030405060708090a0b0c0d0e0f'), masterSalt: hex('517569642070726f2071756f') };
  const rfc7714Rtp = hex('8040f17b 8041f8d3 5501a0b2 47616c6c 69612065 7374206f 6d6e6973 20646976 69736120 696e2070 61727465 73207472 6573');
  const rfc7714Srtp = hex(
    '8040f17b 8041f8d3 5501a0b2 f24de3a3 fb34de6c acba861c 9d7e4bca be633bd5 0d294e6f 42a5f47a 51c7d19b 36de3adf 8833899d 7f27beb1 6a9152cf 765ee439 0cce',
  );
  const rfc7714Rtcp = hex('81c8000d 4d617273 4e545031 4e545032 52545020 0000042a 0000e930 4c756e61 deadbeef deadbeef deadbeef deadbeef deadbeef');
  const rfc7714Srtcp = hex(
    '81c8000d 4d617273 63e94885 dcdab67c a727d766 2f6b7e99 7ff5c0f7 6c06f32d c676a5f1 730d6fda 4ce09b46 86303ded 0bb9275b c84aa458 96cf4d2f c5abf872 45d9eade 800005d4',
  );

  it('RFC 7714 §16.1.1 / §16.1.2: AEAD_AES_128_GCM SRTP protect and unprotect', () => {
    const t = new SrtpContextTable();
    const tx = t.addWithSessionKeys(gcmKey);
    expect(t.protectRtp(tx, rfc7714Rtp).toString('hex')).toBe(rfc7714Srtp.toString('hex'));
    const rx = t.addWithSessionKeys(gcmKey);
    expect(t.unprotectRtp(rx, rfc7714Srtp).toString('hex')).toBe(rfc7714Rtp.toString('hex'));
    const tampered = Buffer.from(rfc7714Srtp);
    tampered[20] ^= 0x01;
    expect(() => t.unprotectRtp(t.addWithSessionKeys(gcmKey), tampered)).toThrow(expect.objectContaining({ code: 'ERR_SRTP_AUTH_FAILED' }));
  });

  it('RFC 7714 §17.1: AEAD_AES_128_GCM SRTCP protect (index 0x5d4) and unprotect', () => {
    const t = new SrtpContextTable();
    const tx = t.addWithSessionKeys(gcmKey);
    t.setNextRtcpIndex(tx, 0x4d617273, 0x5d4);
    expect(t.protectRtcp(tx, rfc7714Rtcp).toString('hex')).toBe(rfc7714Srtcp.toString('hex'));
    expect(t.unprotectRtcp(tx, rfc7714Srtcp).toString('hex')).toBe(rfc7714Rtcp.toString('hex'));
    const tampered = Buffer.from(rfc7714Srtcp);
    tampered[30] ^= 0x08;
    expect(() => t.unprotectRtcp(tx, tampered)).toThrow(expect.objectContaining({ code: 'ERR_SRTP_AUTH_FAILED' }));
    const wrongIndex = Buffer.from(rfc7714Srtcp);
    wrongIndex[wrongIndex.length - 1] ^= 0x01; // the index is authenticated (AAD and IV)
    expect(() => t.unprotectRtcp(tx, wrongIndex)).toThrow(expect.objectContaining({ code: 'ERR_SRTP_AUTH_FAILED' }));
  });
});

describe.skipIf(!available)('native SRTP with werift as the peer', () => {
  for (const profile of PROFILES) {
    it(`${profile}: werift decrypts what we protect across sequence 65535 → 0 (rollover counter), and we decrypt werift's`, () => {
      const keys = keysFor(profile);
      const t = new SrtpContextTable();
      const tx = t.add({ profile, ...keys });
      const rx = t.add({ profile, ...keys });
      const w = weriftSessions(profile, keys);
      const ssrc = 0x11223344;
      // Contiguous across the wrap, a retransmission from before the wrap (ROC - 1), then
      // steps of 1000 up to a second wrap: ROC 0 → 1 → 2 on both sides.
      const seqs = [65530, 65531, 65532, 65533, 65534, 65535, 0, 1, 2, 3, 65533, 4];
      for (let s = 1000; s <= 65000; s += 1000) seqs.push(s);
      seqs.push(65535, 0, 1, 5);
      let lastCipher: Buffer = Buffer.alloc(0);
      for (const [i, seq] of seqs.entries()) {
        const payload = randomBytes(50 + (i % 40));
        const plain = rtp(seq, ssrc, payload);
        const enc = t.protectRtp(tx, plain);
        expect(enc.length).toBe(plain.length + (profile === 'SRTP_AEAD_AES_128_GCM' ? 16 : 10));
        expect(enc.subarray(12, plain.length).equals(payload)).toBe(false);
        expect(w.srtp.decrypt(enc)).toEqual(plain); // werift infers the same ROC
        expect(t.unprotectRtp(rx, enc)).toEqual(plain);
        lastCipher = enc;
      }
      // After two wraps the packets carry ROC 2: a receiver that starts there (ROC 0) cannot
      // authenticate them, the one that followed the stream can.
      expect(() => t.unprotectRtp(t.add({ profile, ...keys }), lastCipher)).toThrow(expect.objectContaining({ code: 'ERR_SRTP_AUTH_FAILED' }));

      // werift → native, also across the wrap.
      const wt = weriftSessions(profile, keys);
      const rx2 = t.add({ profile, ...keys });
      for (const seq of [65534, 65535, 0, 1]) {
        const header = new werift.RtpHeader({ payloadType: 111, sequenceNumber: seq, timestamp: seq * 960, ssrc: 0xabcdef01, marker: true });
        const payload = randomBytes(80);
        const enc = wt.srtp.encrypt(payload, header);
        expect(t.unprotectRtp(rx2, enc)).toEqual(Buffer.concat([header.serialize(header.serializeSize), payload]));
      }
    });

    it(`${profile}: SRTCP both ways with werift`, () => {
      const keys = keysFor(profile);
      const t = new SrtpContextTable();
      const id = t.add({ profile, ...keys });
      const w = weriftSessions(profile, keys);
      const sr = new werift.RtcpSrPacket({
        ssrc: 0x01020304,
        senderInfo: new werift.RtcpSenderInfo({ ntpTimestamp: 0x0102030405060708n, rtpTimestamp: 1234, packetCount: 10, octetCount: 2000 }),
      });
      const plain = sr.serialize();
      for (let i = 0; i < 3; i++) {
        const enc = t.protectRtcp(id, plain);
        expect(enc.length).toBe(plain.length + (profile === 'SRTP_AEAD_AES_128_GCM' ? 20 : 14));
        expect(w.srtcp.decrypt(enc)).toEqual(plain);
        expect(t.unprotectRtcp(id, enc)).toEqual(plain);
        const fromWerift = w.srtcp.encrypt(plain);
        expect(t.unprotectRtcp(id, fromWerift)).toEqual(plain);
      }
    });

    it(`${profile}: a wrong key or a tampered packet fails authentication; nothing moves`, () => {
      const keys = keysFor(profile);
      const t = new SrtpContextTable();
      const tx = t.add({ profile, ...keys });
      const wrong = t.add({ profile, ...keysFor(profile) });
      const enc = t.protectRtp(tx, rtp(1, 5, randomBytes(100)));
      expect(() => t.unprotectRtp(wrong, enc)).toThrow(expect.objectContaining({ code: 'ERR_SRTP_AUTH_FAILED', name: 'Error [ERR_SRTP_AUTH_FAILED]' }));
      for (const at of [1, 8, 40, enc.length - 1]) {
        const bad = Buffer.from(enc);
        bad[at] ^= 0x40;
        expect(() => t.unprotectRtp(t.add({ profile, ...keys }), bad)).toThrow(expect.objectContaining({ code: 'ERR_SRTP_AUTH_FAILED' }));
      }
      const rtcp = t.protectRtcp(tx, new werift.RtcpRrPacket({ ssrc: 9, reports: [] }).serialize());
      expect(() => t.unprotectRtcp(wrong, rtcp)).toThrow(expect.objectContaining({ code: 'ERR_SRTP_AUTH_FAILED' }));
      // werift rejects a packet protected under another key too.
      const w = weriftSessions(profile, keysFor(profile));
      expect(() => w.srtp.decrypt(enc)).toThrow();
    });
  }
});

describe.skipIf(!available)('native SRTP: batch, errors, validation', () => {
  it('one batch call protects packets of many contexts and profiles, equal to single-packet protects', () => {
    const t = new SrtpContextTable();
    const ref = new SrtpContextTable();
    const ids: number[] = [];
    const refIds: number[] = [];
    for (let i = 0; i < 40; i++) {
      const profile = PROFILES[i % 2];
      const keys = keysFor(profile);
      ids.push(t.add({ profile, ...keys }));
      refIds.push(ref.add({ profile, ...keys }));
    }
    const batch = new SrtpBatch(1024, 4); // both grow
    const plains: Buffer[] = [];
    for (let round = 0; round < 3; round++) {
      batch.clear();
      plains.length = 0;
      for (let i = 0; i < 40; i++) {
        const p = rtp((65534 + round) & 0xffff, 1000 + i, randomBytes(100 + i));
        plains.push(p);
        batch.push(ids[i], p.subarray(0, 12), p.subarray(12));
      }
      expect(t.protectBatch('rtp', batch)).toBe(0);
      for (let i = 0; i < 40; i++) {
        expect(batch.status[i]).toBe(0);
        expect(batch.packet(i)).toEqual(ref.protectRtp(refIds[i], plains[i]));
      }
      // and back
      expect(t.unprotectBatch('rtp', batch)).toBe(0);
      for (let i = 0; i < 40; i++) expect(batch.packet(i)).toEqual(plains[i]);
    }
  });

  it('a bad packet in a batch fails alone with its status; the rest are protected', () => {
    const t = new SrtpContextTable();
    const id = t.add({ profile: 'SRTP_AEAD_AES_128_GCM', ...keysFor('SRTP_AEAD_AES_128_GCM') });
    const batch = new SrtpBatch();
    batch.push(id, rtp(1, 1, Buffer.alloc(10)));
    batch.push(id, Buffer.from([0x40, 0, 0, 1])); // not RTP v2, too short
    batch.push(id, rtp(2, 1, Buffer.alloc(10)));
    expect(t.protectBatch('rtp', batch)).toBe(1);
    expect([...batch.status.subarray(0, 3)]).toEqual([0, -1, 0]);
    expect(batch.lengths[1]).toBe(4);
    expect(batch.packet(1)).toEqual(Buffer.from([0x40, 0, 0, 1]));
    expect(batch.lengths[2]).toBe(22 + 16);
  });

  it('typed errors at the boundary; malformed packets; removed contexts', () => {
    const t = new SrtpContextTable();
    expect(() => t.add({ profile: 'AES_256' as SrtpProfile, masterKey: Buffer.alloc(16), masterSalt: Buffer.alloc(14) })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => t.add({ profile: 'SRTP_AEAD_AES_128_GCM', masterKey: Buffer.alloc(16), masterSalt: Buffer.alloc(14) })).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(() => t.add({ profile: 1, masterKey: 'k' as unknown as Buffer, masterSalt: Buffer.alloc(14) })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    expect(() => t.add(null as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    const id = t.add({ profile: 1, masterKey: Buffer.alloc(16, 1), masterSalt: Buffer.alloc(14, 2) });
    expect(t.size).toBe(1);
    expect(() => t.protectRtp(id, Buffer.alloc(11))).toThrow(expect.objectContaining({ code: 'ERR_SRTP_INVALID_PACKET' }));
    const ext = rtp(1, 1, Buffer.from([0xbe, 0xde, 0, 1]));
    ext[0] |= 0x10; // X bit: a 1-word extension that runs past the end
    expect(() => t.protectRtp(id, ext)).toThrow(expect.objectContaining({ code: 'ERR_SRTP_INVALID_PACKET' }));
    expect(() => t.unprotectRtp(id, Buffer.alloc(15, 0x80))).toThrow(expect.objectContaining({ code: 'ERR_SRTP_INVALID_PACKET' }));
    expect(() => t.protectRtcp(id, Buffer.from([0x80, 200, 0]))).toThrow(expect.objectContaining({ code: 'ERR_SRTP_INVALID_PACKET' }));
    expect(() => t.protectRtp(id, 'x' as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    // CSRCs and a header extension are authenticated but not encrypted.
    const withExt = Buffer.concat([Buffer.from([0x91, 96, 0, 7, 0, 0, 0, 1, 0, 0, 0, 9, 0, 0, 0, 0x55, 0xbe, 0xde, 0, 1, 0x10, 0xaa, 0, 0]), Buffer.alloc(30, 3)]);
    const enc = t.protectRtp(id, withExt);
    expect(enc.subarray(0, 24)).toEqual(withExt.subarray(0, 24));
    expect(enc.subarray(24, 54).equals(withExt.subarray(24))).toBe(false);
    expect(t.unprotectRtp(t.add({ profile: 1, masterKey: Buffer.alloc(16, 1), masterSalt: Buffer.alloc(14, 2) }), enc)).toEqual(withExt);
    t.remove(id);
    t.remove(id); // idempotent
    expect(() => t.protectRtp(id, rtp(1, 1, Buffer.alloc(4)))).toThrow(expect.objectContaining({ code: 'ERR_SRTP_CONTEXT_CLOSED' }));
    const batch = new SrtpBatch();
    batch.push(id, rtp(1, 1, Buffer.alloc(4)));
    expect(() => t.protectBatch('rtp', batch)).toThrow(expect.objectContaining({ code: 'ERR_SRTP_CONTEXT_CLOSED' }));
    expect(() => t.setNextRtcpIndex(t.add({ profile: 1, masterKey: Buffer.alloc(16), masterSalt: Buffer.alloc(14) }), 1, 2 ** 31)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
  });

  it('more than 64 SSRCs in one direction of one context is a clear error, not a silent reset', () => {
    const t = new SrtpContextTable();
    const id = t.add({ profile: 1, masterKey: Buffer.alloc(16), masterSalt: Buffer.alloc(14) });
    for (let s = 0; s < 64; s++) t.protectRtp(id, rtp(1, s, Buffer.alloc(4)));
    expect(() => t.protectRtp(id, rtp(1, 64, Buffer.alloc(4)))).toThrow(expect.objectContaining({ code: 'ERR_SRTP_TOO_MANY_SSRCS' }));
  });

  it('the native layer bounds-checks what src/srtp would never pass', () => {
    const t = new SrtpContextTable();
    const native = (t as unknown as { native: { transformBatch: (...a: unknown[]) => number; transform: (...a: unknown[]) => number } }).native;
    const id = t.add({ profile: 1, masterKey: Buffer.alloc(16), masterSalt: Buffer.alloc(14) });
    const arena = Buffer.alloc(64);
    expect(() => native.transformBatch(0, arena, Uint32Array.of(60), Uint32Array.of(10), Int32Array.of(id), new Int32Array(1), 0, 1)).toThrow(RangeError);
    expect(() => native.transformBatch(0, arena, Uint32Array.of(0), Uint32Array.of(10), Int32Array.of(99), new Int32Array(1), 0, 1)).toThrow(RangeError);
    expect(() => native.transformBatch(0, arena, Uint32Array.of(0), Uint32Array.of(10), Int32Array.of(id), new Int32Array(1), 0, 2)).toThrow(RangeError);
    expect(() => native.transform(0, id, arena, 0, 60, 70)).toThrow(RangeError);
    expect(() => native.transform(7, id, arena, 0, 20, 40)).toThrow(RangeError);
    // capacity too small for the tag is a status, not a throw
    arena[0] = 0x80;
    expect(native.transform(0, id, arena, 0, 20, 25)).toBe(-2);
  });
});
