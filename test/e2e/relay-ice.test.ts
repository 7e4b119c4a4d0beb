/**
 * The relay's ICE role (RelayOptions.ice, rtp-relay --ice). The default, ICE-lite, is
 * covered by relay.test.ts (a=ice-lite in the answer, no check sent by the relay); here the
 * full agent: werift's own connectivity and consent checks towards the viewer, with the
 * fast egress, and a bad mode refused before anything binds.
 */
import { afterEach, describe, expect, it } from 'vitest';
import * as weriftEsm from 'werift';
import { startRelay, type Relay } from '../../src/relay/relay.js';
import { KeyframeMark, keyframeMark } from '../../src/relay/h264.js';
import { fanoutUnavailableReason } from '../../src/fanout/index.js';
import { contiguous, iceChecks, makeOffer, until, type ViewerPc } from './whep-client.js';

let relay: Relay | undefined;
let pc: ViewerPc | undefined;
afterEach(async () => {
  await pc?.close().catch(() => {});
  await relay?.stop();
  pc = relay = undefined;
});

describe('rtp-relay with ice: full', () => {
  it("werift's full agent: no a=ice-lite, the relay checks the viewer too, media flows in order", async () => {
    relay = await startRelay({ httpPort: 0, webrtcPort: 0, werift: weriftEsm, ice: 'full' });
    expect(relay.ice).toBe('full');
    expect(relay.egress).toBe(fanoutUnavailableReason() === undefined ? 'fast' : 'werift');
    const offer = await makeOffer(['video']);
    pc = offer.pc;
    const video: { seq: number; mark: KeyframeMark }[] = [];
    pc.onTrack.subscribe((t) => t.onReceiveRtp.subscribe((p) => video.push({ seq: p.header.sequenceNumber, mark: keyframeMark(p.payload) })));
    const res = await fetch(`http://127.0.0.1:${relay.httpPort}/whep/demo`, { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: offer.sdp });
    expect(res.status).toBe(201);
    const answer = await res.text();
    expect(answer).not.toMatch(/^a=ice-lite/m);
    await pc.setRemoteDescription({ type: 'answer', sdp: answer });
    const v = pc;
    expect(await until(() => video.length > 60, 45_000), `video ${video.length}, ${v.connectionState}`).toBe(true);
    expect(video[0].mark).toBe(KeyframeMark.Sps);
    expect(contiguous(video.map((p) => p.seq))).toBe(true);
    // The relay, a full agent, sent the viewer connectivity checks of its own.
    expect((await iceChecks(pc)).requestsReceived).toBeGreaterThan(0);
  }, 60_000);

  it('an unknown ICE mode is a TypeError before anything binds', async () => {
    await expect(startRelay({ httpPort: 0, webrtcPort: 0, werift: weriftEsm, ice: 'controlling' as never })).rejects.toThrow(TypeError);
    await expect(startRelay({ httpPort: 0, webrtcPort: 0, werift: weriftEsm, ice: 'controlling' as never })).rejects.toThrow(/ice must be one of lite, full, got "controlling"/);
  });
});
