/**
 * IPv6 link-local (issue 11 item 8), on a veth link between two private network namespaces
 * the test creates (`unshare -n`; nothing leaves them): a sender's link-local address comes
 * with its scope in `rinfo.address` (`fe80::1%v1`) exactly as node:dgram writes it, a reply
 * to that address leaves on that link, and a scope naming no interface is
 * ERR_INVALID_IP_ADDRESS, thrown before the implicit bind.
 *
 * Namespace A (the test's child): lo, v0 = fe80::1. Namespace B (a process A
 * starts): v1 = fe80::2, the echo server, which answers each datagram to rinfo.address with
 * the address it saw. Each end runs a backend: ours (batch, dgram) or node:dgram itself.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batchAvailable } from './helpers.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const entry = join(root, 'dist', 'index.js');
const has = (cmd: string): boolean => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const canNetns = process.getuid?.() === 0 && has('unshare') && has('nsenter') && has('ip') && spawnSync('unshare', ['-n', 'true']).status === 0;
const ends = batchAvailable ? (['batch', 'dgram', 'node:dgram'] as const) : (['dgram', 'node:dgram'] as const);

const dir = mkdtempSync(join(tmpdir(), 'dsn-linklocal-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** One UDP end over either our socket (backend batch/dgram) or node:dgram itself. */
const common = `
import dgram from 'node:dgram';
import * as lib from ${JSON.stringify(entry)};
const KIND = process.argv[2];
const open = () => KIND === 'node:dgram' ? dgram.createSocket('udp6') : lib.createBatchSocket({ type: 'udp6', backend: KIND });
const bind = (s, port, address) => new Promise((res, rej) => { s.once('error', rej); s.bind(port, address, () => { s.off('error', rej); res(); }); });
const codeOf = (f) => { try { f(); return 'ok'; } catch (e) { return e.code ?? String(e); } };
`;

writeFileSync(
  join(dir, 'echo.mjs'),
  `${common}
const s = open();
await bind(s, 9000, '::');
let n = 0;
s.on('message', (msg, rinfo) => {
  // Only the client's a/b/c: node:dgram as a client sends its bad-scope 'x' datagrams anyway.
  if (!['a', 'b', 'c'].includes(msg.toString())) return;
  // Echo to where it came from, with what we saw: the scope is what sends it back on v1.
  s.send(Buffer.from(JSON.stringify({ seq: msg.toString(), from: rinfo.address })), rinfo.port, rinfo.address, (err) => {
    if (err) process.stderr.write('echo send failed: ' + err.code + '\\n');
    if (++n === 3) s.close();
  });
});
process.stdout.write('listening\\n');
setTimeout(() => { process.stderr.write('echo: timed out\\n'); process.exit(2); }, 30000).unref();
`,
);

writeFileSync(
  join(dir, 'client.mjs'),
  `${common}
const out = { asyncErrors: [] };
// A bad scope throws before the implicit bind: the socket stays unbound.
const fresh = open();
fresh.on('error', (e) => out.asyncErrors.push(e.code)); // node:dgram reports some of them late
out.badName = codeOf(() => fresh.send('x', 9000, 'fe80::2%nosuchif'));
out.badIndex = codeOf(() => fresh.send('x', 9000, 'fe80::2%4000000000'));
out.badEmpty = codeOf(() => fresh.send('x', 9000, 'fe80::2%'));
out.unboundAfter = codeOf(() => fresh.address());
out.badConnect = codeOf(() => fresh.connect(9000, 'fe80::2%nosuchif'));
out.badBind = codeOf(() => fresh.bind(0, 'fe80::1%nosuchif'));
await new Promise((r) => setTimeout(r, 200)); // let node:dgram's lookups fail
fresh.close();
// A scope by name and by index both reach B over the veth; replies come back on v0.
const s = open();
const replies = [];
const done = new Promise((resolve) => s.on('message', (msg, rinfo) => { replies.push({ ...JSON.parse(msg.toString()), rinfo: rinfo.address, family: rinfo.family }); if (replies.length === 3) resolve(); }));
await bind(s, 0, '::');
const index = ${'`'}\${process.env.V0_INDEX}${'`'};
s.send('a', 9000, 'fe80::2%v0');
s.send('b', 9000, 'fe80::2%' + index);
s.send('c', 9000, 'fe80::2%v0');
await Promise.race([done, new Promise((r) => setTimeout(r, 20000))]);
out.replies = replies.sort((x, y) => x.seq.localeCompare(y.seq));
s.close();
process.stdout.write(JSON.stringify(out) + '\\n');
`,
);

/** Runs client (kind `client`) in namespace A against the echo server (kind `server`) in B. */
function run(client: string, server: string): Record<string, unknown> {
  const script = `
set -e
ip link set lo up
unshare -n sleep 60 & B=$!
trap 'kill $B 2>/dev/null || true' EXIT
sleep 0.1
ip link add v0 type veth peer name v1 netns $B
ip link set v0 addrgenmode none && ip link set v0 up && ip addr add fe80::1/64 dev v0 nodad
nsenter -t $B -n sh -c 'ip link set lo up && ip link set v1 addrgenmode none && ip link set v1 up && ip addr add fe80::2/64 dev v1 nodad'
nsenter -t $B -n ${JSON.stringify(process.execPath)} ${JSON.stringify(join(dir, 'echo.mjs'))} ${JSON.stringify(server)} > ${JSON.stringify(join(dir, `echo-${client}-${server}.out`))} &
E=$!
for i in $(seq 200); do grep -q listening ${JSON.stringify(join(dir, `echo-${client}-${server}.out`))} 2>/dev/null && break; sleep 0.05; done
V0_INDEX=$(ip -o link show v0 | cut -d: -f1) ${JSON.stringify(process.execPath)} ${JSON.stringify(join(dir, 'client.mjs'))} ${JSON.stringify(client)}
wait $E
`;
  const r = spawnSync('unshare', ['-n', 'bash', '-c', script], { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`link-local scenario failed (${r.status} ${r.signal}): ${r.stderr}\n${r.stdout}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, unknown>;
}

describe.skipIf(!canNetns)('IPv6 link-local over a veth between two private namespaces (needs root, unshare, nsenter, ip)', () => {
  // node:dgram at both ends first: the reference every other pairing must match.
  let reference: Record<string, unknown> = {};
  beforeAll(() => {
    reference = run('node:dgram', 'node:dgram');
  }, 90_000);

  it('node:dgram itself: scoped rinfo.address on both ends', () => {
    expect(reference.replies).toEqual([
      { seq: 'a', from: 'fe80::1%v1', rinfo: 'fe80::2%v0', family: 'IPv6' },
      { seq: 'b', from: 'fe80::1%v1', rinfo: 'fe80::2%v0', family: 'IPv6' },
      { seq: 'c', from: 'fe80::1%v1', rinfo: 'fe80::2%v0', family: 'IPv6' },
    ]);
  });

  it.each(ends.filter((e) => e !== 'node:dgram'))('%s backend at both ends: rinfo.address carries the scope as dgram writes it, replies to it arrive; a bad scope is ERR_INVALID_IP_ADDRESS before any bind', (kind) => {
    const out = run(kind, kind);
    expect(out.replies).toEqual(reference.replies);
    expect(out.asyncErrors).toEqual([]);
    expect(out).toMatchObject({ badName: 'ERR_INVALID_IP_ADDRESS', badIndex: 'ERR_INVALID_IP_ADDRESS', badEmpty: 'ERR_INVALID_IP_ADDRESS', badConnect: 'ERR_INVALID_IP_ADDRESS', badBind: 'ERR_INVALID_IP_ADDRESS' });
    // Nothing was bound by the failed sends (dgram: EBADF from getsockname on no fd).
    expect(out.unboundAfter).toBe('EBADF');
  }, 90_000);

  it('node:dgram takes a bad scope silently (a documented difference): no error, the datagram leaves unscoped', () => {
    expect(reference.badName).toBe('ok');
  });
});
