/**
 * The relay's HTTP surface (node:http):
 *
 * - `POST /whep/<stream>` with an SDP offer (`Content-Type: application/sdp`) → `201
 *   Created`, the SDP answer and `Location: /whep/<stream>/<id>` (RFC 9725 §4.2);
 * - `DELETE /whep/<stream>/<id>` → `200`, the viewer leaves (RFC 9725 §4.3);
 * - `PATCH` → `405` (no trickle ICE: answers carry every candidate), `OPTIONS` → `204`;
 * - `GET /` → the player page; `GET /metrics` → Prometheus metrics.
 *
 * Errors are 4xx/5xx with a one-line `text/plain` reason: 400 bad SDP, 401 missing or
 * wrong Bearer token (when one is configured), 404 unknown stream or viewer, 413 body
 * over 64 KiB, 415 wrong content type, 503 viewer limit reached.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import type { Registry } from 'prom-client';
import { playerPage } from './player.js';

/** Largest accepted request body (an SDP offer is a few KiB), bytes. */
export const MAX_BODY_BYTES = 64 * 1024;

export interface WhepBackend {
  streamNames(): string[];
  hasStream(name: string): boolean;
  /** Creates a viewer for `stream` and answers `offer`; throws {@link HttpError}. */
  createViewer(stream: string, offer: string): Promise<{ id: string; answer: string }>;
  /** Removes a viewer; false when unknown. */
  deleteViewer(stream: string, id: string): Promise<boolean>;
}

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

const CORS = {
  'Access-Control-Allow-Origin': '*',
  'Access-Control-Allow-Methods': 'GET, POST, DELETE, PATCH, OPTIONS',
  'Access-Control-Allow-Headers': 'Authorization, Content-Type, If-Match',
  'Access-Control-Expose-Headers': 'Location, Accept-Post',
};

function send(res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  if (res.headersSent) return;
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store', ...CORS, ...headers });
  res.end(body);
}

/** Reads the body, rejecting with 413 past {@link MAX_BODY_BYTES} (and stopping the upload). */
function readBody(req: IncomingMessage): Promise<string> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > MAX_BODY_BYTES) return Promise.reject(new HttpError(413, `request body over ${MAX_BODY_BYTES} bytes`));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        req.pause();
        reject(new HttpError(413, `request body over ${MAX_BODY_BYTES} bytes`, { Connection: 'close' }));
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** A percent-decoded path segment; a malformed escape (`%E0%A4%A`) is the client's error: 400. */
function decodePathSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new HttpError(400, 'malformed percent-encoding in the URL path');
  }
}

function checkToken(req: IncomingMessage, token: string | undefined): void {
  if (token === undefined) return;
  const header = req.headers.authorization ?? '';
  const given = Buffer.from(header.startsWith('Bearer ') ? header.slice(7) : '');
  const want = Buffer.from(token);
  if (given.length !== want.length || !timingSafeEqual(given, want)) {
    throw new HttpError(401, 'missing or wrong Bearer token', { 'WWW-Authenticate': 'Bearer' });
  }
}

export interface HttpOptions {
  backend: WhepBackend;
  metrics: Registry;
  token?: string;
}

/** Creates (does not start) the relay's HTTP server. */
export function createRelayServer(opts: HttpOptions): Server {
  const { backend, metrics, token } = opts;
  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (err instanceof HttpError) send(res, err.status, `${err.message}\n`, err.headers);
      else send(res, 500, 'internal error\n');
    });
  });
  // Slow or stuck clients cannot hold sockets open for long.
  server.requestTimeout = 15_000;
  server.headersTimeout = 10_000;
  server.maxHeadersCount = 64;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://relay');
    const parts = url.pathname.split('/').filter(Boolean).map(decodePathSegment);
    if (req.method === 'GET' && url.pathname === '/') {
      send(res, 200, playerPage(backend.streamNames()), { 'Content-Type': 'text/html; charset=utf-8' });
      return;
    }
    if (req.method === 'GET' && url.pathname === '/metrics') {
      send(res, 200, await metrics.metrics(), { 'Content-Type': metrics.contentType });
      return;
    }
    if (parts[0] !== 'whep' || parts.length < 2 || parts.length > 3) throw new HttpError(404, 'not found');
    const stream = parts[1];
    if (req.method === 'OPTIONS') {
      send(res, 204, '', { 'Accept-Post': 'application/sdp' });
      return;
    }
    if (parts.length === 2) {
      if (req.method !== 'POST') throw new HttpError(405, 'use POST with an SDP offer', { Allow: 'POST, OPTIONS' });
      checkToken(req, token);
      const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
      if (type !== 'application/sdp') throw new HttpError(415, 'Content-Type must be application/sdp', { 'Accept-Post': 'application/sdp' });
      if (!backend.hasStream(stream)) throw new HttpError(404, `unknown stream ${JSON.stringify(stream)}`);
      const offer = await readBody(req);
      if (!offer.startsWith('v=0')) throw new HttpError(400, 'the body is not an SDP offer (it must start with v=0)');
      const { id, answer } = await backend.createViewer(stream, offer);
      send(res, 201, answer, {
        'Content-Type': 'application/sdp',
        Location: `/whep/${encodeURIComponent(stream)}/${id}`,
      });
      return;
    }
    // /whep/<stream>/<id>
    if (req.method === 'PATCH') throw new HttpError(405, 'trickle ICE is not supported: the answer carries every candidate', { Allow: 'DELETE, OPTIONS' });
    if (req.method !== 'DELETE') throw new HttpError(405, 'use DELETE to leave', { Allow: 'DELETE, OPTIONS' });
    checkToken(req, token);
    if (!(await backend.deleteViewer(stream, parts[2]))) throw new HttpError(404, 'unknown viewer');
    send(res, 200, 'left\n');
  }

  return server;
}
