/**
 * Which socket backend udp-blast uses: the one asked for, or 'batch' where the
 * native addon loads and 'dgram' otherwise.
 */
import { batchBackendStatus, createBatchSocket } from '../index.js';
import type { BackendName } from '../types.js';

/**
 * Resolves the requested backend. An explicit 'batch' that cannot load is an error
 * (thrown with the loader's reason) rather than a silent fallback that would make a
 * measurement lie about what it measured. The default is 'batch' only when a batch
 * socket can really be created ({@link probeBatchBackend}).
 */
export function resolveBackend(requested: BackendName | null): BackendName {
  if (requested === 'dgram') return 'dgram';
  if (requested === 'batch') {
    const status = batchBackendStatus();
    if (!status.available) throw new Error(`--backend batch is not available: ${status.reason}`);
    return 'batch';
  }
  return probeBatchBackend().ok ? 'batch' : 'dgram';
}

/**
 * Stronger than the library's `batchBackendStatus()`: also constructs (and closes) a
 * 'batch' socket, so an addon that loads but cannot make a socket here is reported as
 * unavailable instead of failing every run.
 */
export function probeBatchBackend(): { ok: true } | { ok: false; reason: string } {
  const status = batchBackendStatus();
  if (!status.available) return { ok: false, reason: status.reason };
  try {
    const s = createBatchSocket({ type: 'udp4', backend: 'batch' });
    s.close();
    return { ok: true };
  } catch (err) {
    return { ok: false, reason: `the native addon loads but a batch socket cannot be created (${(err as Error).message})` };
  }
}
