/**
 * The bench's C ceiling of the relay egress (bench/c/srtp_fanout.c): it must do the work it
 * claims, or its figure means nothing. Its SRTP matches the RFC vectors (its selftest) and
 * the addon's SRTP byte for byte (both profiles, keys through the RFC 3711 key derivation,
 * headers with CSRCs and an extension); a short fan-out run delivers every datagram it
 * counts as sent to the draining receiver in another process, and its JSON adds up.
 * Speed is not asserted: the bench reports it.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SrtpContextTable, type SrtpProfile } from '../../src/srtp/index.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
// OpenSSL's headers come with Debian libssl-dev (scripts/install-system-deps.sh --bench, which CI runs).
const haveOpenssl = ['/usr/include/openssl/evp.h', '/usr/local/include/openssl/evp.h'].some((p) => existsSync(p));
const dir = mkdtempSync(join(tmpdir(), 'srtp-fanout-'));
const bin = join(dir, 'srtp_fanout');

beforeAll(() => {
  if (!haveOpenssl) return;
  const r = spawnSync('cc', ['-O2', '-Wall', '-Wextra', '-o', bin, join(root, 'bench', 'c', 'srtp_fanout.c'), '-lcrypto'], { encoding: 'utf8', timeout: 60_000 });
  expect(r.status, r.stderr).toBe(0);
  expect(r.stderr.trim(), 'warning-free with -Wall -Wextra').toBe('');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const rtpPacket = (opts: { seq: number; ssrc: number; csrcs?: number; extWords?: number; payload: Buffer }): Buffer => {
  const cc = opts.csrcs ?? 0;
  const ext = opts.extWords !== undefined;
  const h = Buffer.alloc(12 + 4 * cc + (ext ? 4 + 4 * opts.extWords! : 0));
  h[0] = 0x80 | (ext ? 0x10 : 0) | cc;
  h[1] = 96;
  h.writeUInt16BE(opts.seq, 2);
  h.writeUInt32BE(opts.seq * 3000, 4);
  h.writeUInt32BE(opts.ssrc, 8);
  for (let i = 0; i < cc; i++) h.writeUInt32BE(0x1000 + i, 12 + 4 * i);
  if (ext) {
    const at = 12 + 4 * cc;
    h.writeUInt16BE(0xbede, at);
    h.writeUInt16BE(opts.extWords!, at + 2);
    for (let i = 0; i < 4 * opts.extWords!; i++) h[at + 4 + i] = i + 1;
  }
  return Buffer.concat([h, opts.payload]);
};

describe.skipIf(!haveOpenssl)('bench/c/srtp_fanout.c: the C ceiling of the relay egress', () => {
  it('passes the RFC 3711 B.2/B.3 and RFC 7714 16.1.1 vectors', () => {
    const r = spawnSync(bin, ['selftest'], { encoding: 'utf8', timeout: 15_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toContain('selftest passed');
    expect(r.stderr).not.toContain('FAIL');
  });

  const profiles: [SrtpProfile, string, number][] = [
    ['SRTP_AES128_CM_HMAC_SHA1_80', 'aes-cm', 14],
    ['SRTP_AEAD_AES_128_GCM', 'gcm', 12],
  ];
  for (const [profile, flag, saltLen] of profiles) {
    it(`protects exactly as the addon does: ${profile}`, () => {
      const shapes = [{}, { csrcs: 2 }, { extWords: 1 }, { csrcs: 1, extWords: 3 }];
      for (const [i, shape] of shapes.entries()) {
        const masterKey = randomBytes(16);
        const masterSalt = randomBytes(saltLen);
        const pkt = rtpPacket({ seq: 1000 + i, ssrc: 0x11223344 + i, payload: randomBytes(200 + 333 * i), ...shape });
        const table = new SrtpContextTable();
        const id = table.add({ profile, masterKey, masterSalt });
        const want = table.protectRtp(id, pkt).toString('hex');
        const r = spawnSync(bin, ['protect', '--profile', flag, '--key', masterKey.toString('hex'), '--salt', masterSalt.toString('hex'), '--packet', pkt.toString('hex')], { encoding: 'utf8', timeout: 15_000 });
        expect(r.status, r.stderr).toBe(0);
        expect(r.stdout.trim(), JSON.stringify(shape)).toBe(want);
      }
    });
  }

  it('refuses bad arguments with a message and exit code 2', () => {
    for (const args of [['send'], ['send', '--dump', join(root, 'assets', 'demo.rtpdump'), '--base-port', '80'], ['send', '--dump', join(root, 'assets', 'demo.rtpdump'), '--base-port', '30000', '--profile', 'rot13'], ['bogus']]) {
      const r = spawnSync(bin, args, { encoding: 'utf8', timeout: 15_000 });
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/^srtp_fanout: /);
    }
  });

  for (const profile of ['aes-cm', 'gcm']) {
    it(`fans the recording out to 8 outputs and the receiver in another process gets every datagram (${profile})`, async () => {
      const base = 31000 + (profile === 'gcm' ? 100 : 0) + (process.pid % 40) * 200;
      const drain = spawn(bin, ['drain', '--base-port', String(base), '--outputs', '8'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let dout = '';
      let derr = '';
      drain.stdout.on('data', (d: Buffer) => (dout += d.toString()));
      const listening = new Promise<void>((resolve, reject) => {
        drain.stderr.on('data', (d: Buffer) => {
          derr += d.toString();
          if (derr.includes('listening on')) resolve();
        });
        drain.once('exit', (c) => reject(new Error(`drain exited ${c}: ${derr}`)));
      });
      // 'close', not 'exit': the report on stdout may still be unread when the process exits.
      const drained = new Promise<void>((resolve) => drain.once('close', () => resolve()));
      try {
        await listening;
        // 2 streams × 4 viewers, 4× real time for 1 s: ~4 s of the recording.
        const r = spawnSync(bin, ['send', '--dump', join(root, 'assets', 'demo.rtpdump'), '--base-port', String(base), '--streams', '2', '--viewers', '4', '--profile', profile, '--seconds', '1', '--speed', '4'], { encoding: 'utf8', timeout: 30_000 });
        expect(r.status, r.stderr).toBe(0);
        const s = JSON.parse(r.stdout) as Record<string, number>;
        expect(s.outputs).toBe(8);
        expect(s.errors).toBe(0);
        expect(s.ingestPackets).toBeGreaterThan(100);
        expect(s.sent).toBe(s.ingestPackets * 4); // each stream's packet to its 4 viewers
        expect(s.syscalls).toBeGreaterThanOrEqual(s.wakes - 1);
        expect(s.syscallsPerDatagram).toBeLessThan(1);
        expect(s.cpuUsPerDatagram).toBeGreaterThan(0);
        expect(s.protectUsPerDatagram + s.sendUsPerDatagram + s.otherUsPerDatagram).toBeCloseTo(s.cpuUsPerDatagram, 2);
        // Loopback delivery happens inside sendmmsg: everything sent is queued at the receiver
        // (its 4 MiB buffers hold the whole run) before the drain is asked to stop.
        drain.kill('SIGTERM');
        await drained;
        const d = JSON.parse(dout) as Record<string, number>;
        expect(d.datagrams).toBe(s.sent);
        expect(d.perOutputMin).toBe(s.sent / 8);
        expect(d.perOutputMax).toBe(s.sent / 8);
      } finally {
        drain.kill('SIGKILL');
      }
    });
  }
});
