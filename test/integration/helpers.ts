/** Helpers for integration tests on loopback. Every wait is bounded. */
import { batchBackendStatus, createBatchSocket, type BatchSocket, type BatchSocketOptions, type BackendName } from '../../src/index.js';

export const batchAvailable = batchBackendStatus().available;
/** Backends to run a suite against: always dgram, batch where the addon loads (CI requires it). */
export const backends: BackendName[] = batchAvailable ? ['batch', 'dgram'] : ['dgram'];

export function open(backend: BackendName, opts: Partial<BatchSocketOptions> = {}): BatchSocket {
  return createBatchSocket({ type: 'udp4', backend, ...opts });
}

/** Binds to `address`:0 and resolves with the port. */
export function bindLocal(sock: BatchSocket, address = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(0, address, () => {
      sock.off('error', reject);
      resolve(sock.address().port);
    });
  });
}

/** Collects sequence numbers (u32 BE at offset 0) of datagrams until `n` arrived or `timeoutMs` passed. */
export function collect(sock: BatchSocket, n: number, timeoutMs: number): { seqs: number[]; done: Promise<number[]> } {
  const seqs: number[] = [];
  const done = new Promise<number[]>((resolve) => {
    const timer = setTimeout(() => {
      sock.off('message', onMessage);
      resolve(seqs);
    }, timeoutMs);
    const onMessage = (msg: Buffer): void => {
      seqs.push(msg.readUInt32BE(0));
      if (seqs.length >= n) {
        clearTimeout(timer);
        sock.off('message', onMessage);
        resolve(seqs);
      }
    };
    sock.on('message', onMessage);
  });
  return { seqs, done };
}

export function until(pred: () => boolean, timeoutMs: number, stepMs = 2): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  return new Promise((resolve) => {
    const check = (): void => {
      if (pred()) resolve(true);
      else if (Date.now() > end) resolve(false);
      else setTimeout(check, stepMs);
    };
    check();
  });
}

export function closeAll(...socks: BatchSocket[]): Promise<void[]> {
  return Promise.all(
    socks.map(
      (s) =>
        new Promise<void>((resolve) => {
          try {
            s.close(() => resolve());
          } catch {
            resolve(); // already closed
          }
        }),
    ),
  );
}

export function expectIdentity(s: BatchSocket): void {
  const st = s.stats();
  if (st.enqueued !== st.sent + st.failed + st.dropped + st.queued) {
    throw new Error(`accounting identity broken: ${JSON.stringify(st)}`);
  }
}

export const seqDatagram = (i: number, size = 64): Buffer => {
  const b = Buffer.alloc(size, i & 255);
  b.writeUInt32BE(i, 0);
  return b;
};

/** True when `seqs` is exactly 0..n-1 in order. */
export function inOrder(seqs: number[], n: number): boolean {
  if (seqs.length !== n) return false;
  for (let i = 0; i < n; i++) if (seqs[i] !== i) return false;
  return true;
}
