/**
 * Turns a parsed endpoint into an IP literal and address family for a socket.
 */
import { lookup } from 'node:dns/promises';
import type { Endpoint } from './args.js';

/** Resolves a destination to an IP literal and family ('localhost' → 127.0.0.1; names through DNS). */
export async function resolveTarget(ep: Endpoint): Promise<{ ip: string; family: 4 | 6 }> {
  if (ep.host.toLowerCase() === 'localhost') return { ip: '127.0.0.1', family: 4 };
  if (ep.family !== null) return { ip: ep.host, family: ep.family };
  const r = await lookup(ep.host);
  return { ip: r.address, family: r.family === 6 ? 6 : 4 };
}
