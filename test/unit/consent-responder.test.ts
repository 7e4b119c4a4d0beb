/**
 * The consent responder (src/werift/consent-responder.ts) against werift's own STUN code:
 * requests are built by werift's `Message` (as a werift viewer's consent checks are), and
 * every response must pass werift's `parseMessage` with the integrity key — an encoder and
 * a verifier that are not ours. What it must not answer goes to werift (false, nothing sent).
 */
import { describe, expect, it } from 'vitest';
import * as werift from 'werift';
import { ConsentResponder } from '../../src/werift/consent-responder.js';

const { Message, methods, classes, parseMessage } = werift;
const LOCAL = 'rLcl';
const REMOTE = 'vWxy';
const PASSWORD = 'relay-local-ice-password-24';

interface Check {
  username?: string;
  key?: string;
  role?: 'ICE-CONTROLLING' | 'ICE-CONTROLLED' | null;
  useCandidate?: boolean;
  fingerprint?: boolean;
  integrity?: boolean;
  extra?: [Parameters<InstanceType<typeof Message>['setAttribute']>[0], unknown];
}

function check(o: Check = {}): InstanceType<typeof Message> {
  const m = new Message(methods.BINDING, classes.REQUEST);
  m.setAttribute('USERNAME', o.username ?? `${LOCAL}:${REMOTE}`);
  m.setAttribute('PRIORITY', 1853824767);
  if (o.role !== null) m.setAttribute(o.role ?? 'ICE-CONTROLLING', BigInt('0x1234567890abcdef'));
  if (o.useCandidate) m.setAttribute('USE-CANDIDATE', null);
  if (o.extra) m.setAttribute(o.extra[0], o.extra[1] as never);
  if (o.integrity !== false) m.addMessageIntegrity(Buffer.from(o.key ?? PASSWORD, 'utf8'));
  if (o.fingerprint !== false) m.addFingerprint();
  return m;
}

function responder(): { r: ConsentResponder; sent: { data: Buffer; address: string; port: number }[]; alive: number[] } {
  const sent: { data: Buffer; address: string; port: number }[] = [];
  const alive: number[] = [];
  const r = new ConsentResponder(LOCAL, PASSWORD, REMOTE, (data, address, port) => sent.push({ data: Buffer.from(data), address, port }), () => alive.push(1));
  return { r, sent, alive };
}

/** `bytes` as a view in the middle of a larger buffer, as the receive ring lends it. */
function inRing(bytes: Buffer, pad = 13): Uint8Array {
  const ring = new Uint8Array(pad + bytes.length + 9).fill(0xee);
  ring.set(bytes, pad);
  return ring.subarray(pad, pad + bytes.length);
}

describe('ConsentResponder', () => {
  it('answers a check with a Binding success werift verifies: transaction id, XOR-MAPPED-ADDRESS, integrity, fingerprint', () => {
    const { r, sent, alive } = responder();
    for (const [address, port, useCandidate] of [['127.0.0.1', 50123, false], ['192.0.2.254', 1, true], ['10.1.2.3', 65535, false]] as const) {
      const req = check({ useCandidate });
      expect(r.answer(inRing(req.bytes), address, port)).toBe(true);
      const { data } = sent.at(-1)!;
      expect(sent.at(-1)).toMatchObject({ address, port });
      const res = parseMessage(data, Buffer.from(PASSWORD, 'utf8'));
      expect(res, 'werift rejects the response (integrity or fingerprint)').toBeDefined();
      expect(res!.messageMethod).toBe(methods.BINDING);
      expect(res!.messageClass).toBe(classes.RESPONSE);
      expect(res!.transactionId.equals(req.transactionId)).toBe(true);
      expect(res!.getAttributeValue('XOR-MAPPED-ADDRESS')).toEqual([address, port]);
      expect(res!.attributesKeys).toEqual(['XOR-MAPPED-ADDRESS', 'MESSAGE-INTEGRITY', 'FINGERPRINT']);
      // The wrong key does not verify it: the integrity is really keyed with the password.
      expect(parseMessage(data, Buffer.from('another-password', 'utf8'))).toBeUndefined();
    }
    expect(r.counters).toEqual({ answered: 3, passed: 0 });
    expect(alive.length).toBe(3);
  });

  it('a check without FINGERPRINT is answered too (it is optional in a request)', () => {
    const { r, sent } = responder();
    expect(r.answer(check({ fingerprint: false }).bytes, '127.0.0.1', 4000)).toBe(true);
    expect(parseMessage(sent[0].data, Buffer.from(PASSWORD, 'utf8'))).toBeDefined();
  });

  it('leaves to werift what is not a valid consent check for this connection, and sends nothing', () => {
    const { r, sent, alive } = responder();
    const badFingerprint = Buffer.from(check().bytes);
    badFingerprint[badFingerprint.length - 1] ^= 1;
    const badIntegrity = Buffer.from(check({ fingerprint: false }).bytes);
    badIntegrity[badIntegrity.length - 1] ^= 1;
    const response = new Message(methods.BINDING, classes.RESPONSE);
    response.setAttribute('XOR-MAPPED-ADDRESS', ['127.0.0.1', 1]);
    const cases: [string, Uint8Array, string][] = [
      ['keyed with another password', check({ key: 'not-the-password' }).bytes, '127.0.0.1'],
      ['for another connection (ufrag)', check({ username: `other:${REMOTE}` }).bytes, '127.0.0.1'],
      ['from another peer ufrag', check({ username: `${LOCAL}:zzzz` }).bytes, '127.0.0.1'],
      ['ICE-CONTROLLED: a role conflict for werift', check({ role: 'ICE-CONTROLLED' }).bytes, '127.0.0.1'],
      ['no ICE role attribute', check({ role: null }).bytes, '127.0.0.1'],
      ['no MESSAGE-INTEGRITY', check({ integrity: false }).bytes, '127.0.0.1'],
      ['a corrupted FINGERPRINT', badFingerprint, '127.0.0.1'],
      ['a corrupted MESSAGE-INTEGRITY', badIntegrity, '127.0.0.1'],
      ['an unknown comprehension-required attribute (CHANGE-REQUEST)', check({ extra: ['CHANGE-REQUEST', 0] }).bytes, '127.0.0.1'],
      ['a Binding response, not a request', response.bytes, '127.0.0.1'],
      ['truncated', check().bytes.subarray(0, 40), '127.0.0.1'],
      ['shorter than a header', new Uint8Array(12), '127.0.0.1'],
      ['from an IPv6 sender', check().bytes, '::1'],
    ];
    for (const [name, bytes, address] of cases) expect(r.answer(inRing(Buffer.from(bytes)), address, 5000), name).toBe(false);
    expect(sent).toEqual([]);
    expect(alive).toEqual([]);
    expect(r.counters).toEqual({ answered: 0, passed: cases.length });
  });
});
