/**
 * The fast egress across the plug's shared socket closing and reopening: the plug closes
 * its shared port with the last connection; the next viewer's ICE pair is on a new socket,
 * and the fast egress makes a new fan-out over it instead of sending that viewer to werift.
 * Also the explicit --egress werift choice: viewers stay on werift's sender.
 */
import { afterEach, describe, expect, it } from 'vitest';
import * as weriftEsm from 'werift';
import { startRelay, type Relay } from '../../src/relay/relay.js';
import { fanoutUnavailableReason } from '../../src/fanout/index.js';
import { contiguous, makeOffer, until, type ViewerPc } from './whep-client.js';

let relay: Relay | undefined;
const pcs: ViewerPc[] = [];
afterEach(async () => {
  await Promise.all(pcs.splice(0).map((pc) => pc.close().catch(() => {})));
  await relay?.stop();
  relay = undefined;
});

async function join(r: Relay): Promise<{ pc: ViewerPc; location: string; video: number[] }> {
  const { pc, sdp } = await makeOffer(['video']);
  pcs.push(pc);
  const v = { pc, location: '', video: [] as number[] };
  pc.onTrack.subscribe((t) => t.onReceiveRtp.subscribe((p) => v.video.push(p.header.sequenceNumber)));
  const res = await fetch(`http://127.0.0.1:${r.httpPort}/whep/demo`, { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: sdp });
  expect(res.status).toBe(201);
  v.location = res.headers.get('location')!;
  await pc.setRemoteDescription({ type: 'answer', sdp: await res.text() });
  return v;
}

/**
 * A viewer that received video; one whose ICE failed before anything arrived (werift's
 * checks time out on a starved machine) is replaced, at most twice.
 */
async function joinAndReceive(r: Relay, n: number): Promise<{ pc: ViewerPc; location: string; video: number[] }> {
  for (let attempt = 0; ; attempt++) {
    const v = await join(r);
    await until(() => v.video.length > n || v.pc.connectionState === 'failed', 45_000);
    if (v.video.length > n || attempt === 2 || v.pc.connectionState !== 'failed') return v;
  }
}

describe.skipIf(fanoutUnavailableReason() !== undefined)('fast egress lifecycle', () => {
  it('a viewer after the shared socket closed and reopened is served by a new fan-out', async () => {
    const logs: string[] = [];
    relay = await startRelay({ httpPort: 0, webrtcPort: 0, werift: weriftEsm, log: (l) => logs.push(l) });
    const r = relay;
    const demo = r.streams.get('demo')!;
    const first = await joinAndReceive(r, 30);
    expect(first.video.length).toBeGreaterThan(30);
    const fanout1 = r.fast!.fanout;
    expect(fanout1).toBeDefined();
    expect((await fetch(`http://127.0.0.1:${r.httpPort}${first.location}`, { method: 'DELETE' })).status).toBe(200);
    await first.pc.close();
    // The plug closes the shared socket with its last connection.
    expect(await until(() => r.webrtcPort() === undefined || demo.viewers.size === 0, 10_000)).toBe(true);
    const second = await joinAndReceive(r, 30);
    expect(second.video.length).toBeGreaterThan(30);
    expect(contiguous(second.video)).toBe(true);
    const v = [...demo.viewers].find((x) => x.connected)!;
    expect(v.egress).toBe('fast');
    expect(logs.filter((l) => l.includes('werift egress'))).toEqual([]);
  }, 150_000);

  it('--egress werift keeps every viewer on werift\'s sender', async () => {
    relay = await startRelay({ httpPort: 0, webrtcPort: 0, werift: weriftEsm, egress: 'werift', log: () => {} });
    const v = await joinAndReceive(relay, 30);
    expect(v.video.length).toBeGreaterThan(30);
    const rv = [...relay.streams.get('demo')!.viewers].find((x) => x.connected)!;
    expect(rv.egress).toBe('werift');
    expect(relay.fast).toBeUndefined();
    expect((rv.senders().video as { packetCount: number }).packetCount).toBeGreaterThan(30);
  }, 150_000);
});
