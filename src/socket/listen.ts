/**
 * Binding as a promise, for code that must not go on before the socket listens (the CLI's
 * sender and sink, the werift plug, the relay's ingest).
 */
import type { BatchSocket } from '../types.js';

/**
 * Binds `socket` to `address`:`port` (port 0: one the kernel picks; address undefined:
 * the wildcard of the socket's family) and resolves on `'listening'`. Rejects with the
 * bind error — an `'error'` event (e.g. EADDRINUSE) or a synchronous throw (e.g.
 * ERR_SOCKET_BAD_PORT) — and leaves no listener of its own behind either way.
 */
export function bindAndListen(socket: BatchSocket, port: number, address?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => {
      socket.off('listening', onListening);
      reject(err);
    };
    const onListening = (): void => {
      socket.off('error', onError);
      resolve();
    };
    socket.once('error', onError);
    try {
      socket.bind(port, address, onListening); // dgram-style: the callback listens once for 'listening'
    } catch (err) {
      socket.off('error', onError);
      socket.off('listening', onListening);
      reject(err);
    }
  });
}
