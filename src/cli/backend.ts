/**
 * Which socket backend udp-blast uses: the one asked for, or 'batch' where the
 * native addon loads and 'dgram' otherwise.
 */
import { loadNative } from '../native/binding.js';
import type { BackendName } from '../types.js';

/** Whether the native addon loads here, with the reason when it does not. */
export function nativeAvailability(): { ok: true } | { ok: false; reason: string } {
  const r = loadNative();
  return r.ok ? { ok: true } : { ok: false, reason: r.reason };
}

/**
 * Resolves the requested backend. An explicit 'batch' that cannot load is an error
 * (thrown with the loader's reason) rather than a silent fallback that would make a
 * measurement lie about what it measured.
 */
export function resolveBackend(requested: BackendName | null): BackendName {
  const native = nativeAvailability();
  if (requested === 'dgram') return 'dgram';
  if (requested === 'batch') {
    if (!native.ok) throw new Error(`--backend batch is not available: ${native.reason}`);
    return 'batch';
  }
  return native.ok ? 'batch' : 'dgram';
}
