/**
 * The mux's minimal STUN reader against messages werift itself encodes (its `Message`
 * class), so the two agree on the wire format the mux routes by.
 */
import { describe, expect, it } from 'vitest';
import * as werift from 'werift';
import {
  NOT_STUN,
  STUN_ERROR,
  STUN_INDICATION,
  STUN_REQUEST,
  STUN_SUCCESS,
  stunClass,
  transactionKey,
  usernameParts,
} from '../../src/werift/stun.js';

const { Message, methods, classes } = werift;

function at(buf: Buffer, pad: number): { bytes: Uint8Array; off: number; len: number } {
  const bytes = new Uint8Array(pad + buf.length + 7);
  bytes.set(buf, pad);
  return { bytes, off: pad, len: buf.length };
}

describe('STUN reader (src/werift/stun.ts)', () => {
  it('classifies werift-encoded messages and reads USERNAME and the transaction id, at any offset', () => {
    const req = new Message(methods.BINDING, classes.REQUEST);
    req.setAttribute('USERNAME', 'abcd:wxyz');
    req.setAttribute('PRIORITY', 1853824767);
    req.addMessageIntegrity(Buffer.from('0123456789abcdef0123456789'));
    req.addFingerprint();
    const bytes = req.bytes;
    for (const pad of [0, 3, 64]) {
      const v = at(bytes, pad);
      expect(stunClass(v.bytes, v.off, v.len)).toBe(STUN_REQUEST);
      expect(usernameParts(v.bytes, v.off, v.len)).toEqual(['abcd', 'wxyz']);
      expect(Buffer.from(transactionKey(v.bytes, v.off), 'latin1')).toEqual(req.transactionId);
    }
    const ok = new Message(methods.BINDING, classes.RESPONSE, req.transactionId);
    ok.setAttribute('XOR-MAPPED-ADDRESS', ['127.0.0.1', 5000]);
    expect(stunClass(ok.bytes, 0, ok.bytes.length)).toBe(STUN_SUCCESS);
    expect(transactionKey(ok.bytes, 0)).toBe(transactionKey(bytes, 0));
    expect(usernameParts(ok.bytes, 0, ok.bytes.length)).toBeUndefined();
    const err = new Message(methods.BINDING, classes.ERROR, req.transactionId);
    err.setAttribute('ERROR-CODE', [487, 'Role Conflict']);
    expect(stunClass(err.bytes, 0, err.bytes.length)).toBe(STUN_ERROR);
    const ind = new Message(methods.BINDING, classes.INDICATION);
    expect(stunClass(ind.bytes, 0, ind.bytes.length)).toBe(STUN_INDICATION);
  });

  it('rejects what is not STUN (RFC 7983 ranges, cookie, length)', () => {
    const req = new Message(methods.BINDING, classes.REQUEST).bytes;
    expect(stunClass(Buffer.from([0x80, 0x60, 0, 1, ...new Array(20).fill(0)]), 0, 24)).toBe(NOT_STUN); // RTP
    expect(stunClass(Buffer.from([22, 0xfe, 0xfd, ...new Array(30).fill(0)]), 0, 33)).toBe(NOT_STUN); // DTLS
    const badCookie = Buffer.from(req);
    badCookie[4] ^= 1;
    expect(stunClass(badCookie, 0, badCookie.length)).toBe(NOT_STUN);
    expect(stunClass(req, 0, req.length - 4)).toBe(NOT_STUN); // length field disagrees
    expect(stunClass(req, 0, 19)).toBe(NOT_STUN);
  });

  it('USERNAME without a colon, and a truncated attribute', () => {
    const m = new Message(methods.BINDING, classes.REQUEST);
    m.setAttribute('USERNAME', 'lonely');
    expect(usernameParts(m.bytes, 0, m.bytes.length)).toEqual(['lonely', '']);
    const cut = Buffer.from(m.bytes);
    cut.writeUInt16BE(200, 22); // attribute claims more bytes than the message has
    expect(usernameParts(cut, 0, cut.length)).toBeUndefined();
  });
});
