/**
 * Issue 4 item 7 — the relay at 64 streams: 64 ingest streams (the bundled recording
 * replayed with distinct SSRCs/ports at real-time pace) × werift WHEP viewers in separate
 * processes; relay CPU per forwarded datagram, syscalls and memory, with and without
 * batching (`--no-batching`).
 *
 * Not measurable yet: it needs `rtp-relay` (issue 3), which is being written. This module
 * only detects it and reports, in the result and the report, exactly what is missing. It
 * produces no numbers until the measurement itself is written here; when rtp-relay lands,
 * the detection below says "present but scenario not written" rather than pretending.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export const id = 'relay';
export const title = 'Relay: 64 ingest streams × WHEP viewers';
export const item = 7;

/** Where rtp-relay is expected: the `rtp-relay` bin of package.json, built into dist/. */
export function detectRelay(root) {
  let bin = null;
  try {
    bin = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).bin?.['rtp-relay'] ?? null;
  } catch {
    // no package.json: reported below
  }
  const built = bin !== null && existsSync(join(root, bin));
  const sources = existsSync(join(root, 'src', 'relay'));
  return { bin, built, sources };
}

export async function run(ctx) {
  const d = detectRelay(ctx.root);
  if (!d.built) {
    const where = d.bin
      ? `package.json declares bin rtp-relay → ${d.bin}, but that file does not exist (build it: npm run build)`
      : d.sources
        ? 'src/relay/ exists but package.json has no rtp-relay bin yet (issue 3 in progress)'
        : 'no src/relay/ and no rtp-relay bin in package.json (issue 3 in progress)';
    return {
      status: 'missing',
      missing: [{ what: 'rtp-relay', reason: `not yet available: rtp-relay not built — ${where}` }],
      notes: ['No relay numbers are reported: nothing here is estimated or simulated.'],
      params: null,
      data: null,
    };
  }
  return {
    status: 'missing',
    missing: [{ what: 'relay scenario', reason: `rtp-relay is built (${d.bin}) but this scenario (issue 4 item 7) is not written yet: bench/scenarios/relay.mjs` }],
    notes: [],
    params: null,
    data: null,
  };
}
