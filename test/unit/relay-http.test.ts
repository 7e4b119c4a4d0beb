/**
 * rtp-relay's HTTP front: a malformed percent-escape in the path is the client's error (400),
 * never an internal error (500). The server runs on 127.0.0.1 with a backend that must not be
 * reached.
 */
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRelayServer, type WhepBackend } from '../../src/relay/http.js';

const untouched = (): never => {
  throw new Error('the backend must not be reached');
};
const backend: WhepBackend = { streamNames: () => ['demo'], hasStream: untouched, createViewer: untouched, deleteViewer: untouched };
const server = createRelayServer({ backend, metrics: new Registry() });
let base = '';

beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

describe('rtp-relay HTTP paths', () => {
  it.each(['/whep/%E0%A4%A', '/whep/demo/%', '/whep/%ZZ'])('%s → 400, not 500', async (path) => {
    const res = await fetch(base + path, { method: 'POST', body: 'v=0', headers: { 'Content-Type': 'application/sdp' } });
    expect(res.status).toBe(400);
    expect(await res.text()).toMatch(/malformed percent-encoding/);
  });
});
