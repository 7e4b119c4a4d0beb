/**
 * fixWeriftDtlsHelloVerify: werift's DTLS client survives a repeated HelloVerifyRequest
 * (RFC 6347 §4.2.1) — what a DTLS server sends when the client's ClientHello
 * retransmit timer (500 ms in werift) fires before the first one arrived, as on a busy
 * machine. werift's own DtlsClient and DtlsServer (both builds), joined by an in-memory
 * datagram link that can deliver one server datagram twice: deterministic, no timing.
 */
import { createRequire } from 'node:module';
import { afterEach, describe, expect, it } from 'vitest';
import * as weriftEsm from 'werift';
import { fixWeriftDtlsHelloVerify, type DtlsHelloVerifyFix } from '../../src/werift/index.js';

type Werift = typeof weriftEsm;
const weriftCjs = createRequire(import.meta.url)('werift') as Werift;

/** werift's DTLS transport shape (packages/dtls/src/context/transport.ts): it sets `onData`, calls `send`. */
interface Link {
  onData?: (buf: Buffer) => void;
  send(buf: Buffer): Promise<void>;
  close(): void;
}

/**
 * One DTLS handshake between werift's client and server. `edit(i, buf)` sees the i-th
 * server → client datagram (0 = the HelloVerifyRequest) and returns an extra copy to
 * deliver right after it, or undefined.
 */
async function handshake(werift: Werift, edit: (i: number, buf: Buffer) => Buffer | undefined): Promise<string> {
  const cert = await werift.RTCDtlsTransport.SetupCertificate();
  let i = 0;
  const fromServer: Link = {
    send: async (b) => {
      const copy = edit(i++, Buffer.from(b));
      setImmediate(() => {
        clientLink.onData?.(b);
        // The copy comes next, after the client answered the first (flight 3) and before
        // anything the server sends to that answer.
        if (copy) setImmediate(() => clientLink.onData?.(copy));
      });
    },
    close() {},
  };
  const clientLink: Link = { send: async (b) => void setImmediate(() => fromServer.onData?.(b)), close() {} };
  const keys = { cert: cert.certPem, key: cert.privateKey, signatureHash: cert.signatureHash, srtpProfiles: [1 as const], extendedMasterSecret: true };
  const server = new werift.DtlsServer({ ...keys, transport: fromServer as never, certificateRequest: true });
  const client = new werift.DtlsClient({ ...keys, transport: clientLink as never });
  try {
    return await new Promise<string>((resolve) => {
      client.onConnect.once(() => resolve('connected'));
      client.onError.once((e: unknown) => resolve(`failed: ${String(e)}`));
      setTimeout(() => resolve('timed out'), 20_000).unref();
      void client.connect();
    });
  } finally {
    client.close();
    server.close();
  }
}

const repeatFirst = (i: number, buf: Buffer): Buffer | undefined => (i === 0 ? buf : undefined);

describe.each([
  ['ESM', weriftEsm],
  ['CJS', weriftCjs],
] as const)('werift %s DTLS client and a repeated HelloVerifyRequest', (_name, werift) => {
  let fix: DtlsHelloVerifyFix | undefined;
  afterEach(() => {
    fix?.uninstall();
    fix = undefined;
  });

  it('stock werift fails the handshake (the bug the fix is for)', async () => {
    expect(await handshake(werift, repeatFirst)).toMatch(/^failed/);
  });

  it('with the fix the repeat is dropped and the handshake completes', async () => {
    fix = fixWeriftDtlsHelloVerify(werift);
    expect(fix).toBeDefined();
    expect(await handshake(werift, repeatFirst)).toBe('connected');
    expect(fix!.dropped).toBe(1);
    // A clean handshake drops nothing.
    expect(await handshake(werift, () => undefined)).toBe('connected');
    expect(fix!.dropped).toBe(1);
  });

  it('a HelloVerifyRequest with another cookie is not a repeat: it reaches werift', async () => {
    fix = fixWeriftDtlsHelloVerify(werift);
    // Record layer: 13-byte header, then the handshake header (12 bytes), then the body:
    // server_version(2), cookie length(1), cookie. Flip the cookie's first byte.
    const otherCookie = (i: number, buf: Buffer): Buffer | undefined => {
      if (i !== 0) return undefined;
      buf[13 + 12 + 3] ^= 0xff;
      return buf;
    };
    expect(await handshake(werift, otherCookie)).toMatch(/^failed/); // werift's own handling
    expect(fix!.dropped).toBe(0);
  });

  it('holders share one installation; the last uninstall restores werift', () => {
    const proto = werift.DtlsSocket.prototype as unknown as { handleFragmentHandshake: unknown };
    const stock = proto.handleFragmentHandshake;
    const a = fixWeriftDtlsHelloVerify(werift)!;
    const patched = proto.handleFragmentHandshake;
    expect(patched).not.toBe(stock);
    const b = fixWeriftDtlsHelloVerify(werift)!;
    expect(proto.handleFragmentHandshake).toBe(patched);
    a.uninstall();
    a.uninstall(); // idempotent: still held by b
    expect(proto.handleFragmentHandshake).toBe(patched);
    b.uninstall();
    expect(proto.handleFragmentHandshake).toBe(stock);
    expect(fixWeriftDtlsHelloVerify({})).toBeUndefined();
  });
});
