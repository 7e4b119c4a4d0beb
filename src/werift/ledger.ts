/**
 * The plug's sockets: creates them with the install's options and keeps their
 * counters — live sockets are read when asked, a closed socket's final counters are
 * folded into running totals and the socket is forgotten, so a long-running gateway with
 * connections coming and going keeps a bounded set.
 */
import { createBatchSocket } from '../index.js';
import { addStats, zeroTotals } from '../socket/stats.js';
import type { BackendName, BatchSocket, BatchSocketOptions, SocketType } from '../types.js';
import type { WeriftBatchingStats, WeriftPlugCounters } from './types.js';

export class SocketLedger {
  readonly counters: WeriftPlugCounters = {
    socketsOpened: 0,
    socketsOpen: 0,
    transportsCreated: 0,
    delivered: 0,
    droppedTruncated: 0,
    droppedUnknown: 0,
    droppedUnroutableStun: 0,
    remotesLearned: 0,
    socketErrors: 0,
  };
  private readonly open = new Set<BatchSocket>();
  private readonly closedTotals = zeroTotals();
  private readonly backends = new Set<BackendName>();

  constructor(private readonly options: Omit<BatchSocketOptions, 'type'>) {}

  /**
   * A new socket with the install's options. It gets an `'error'` listener (counted):
   * receive errors such as ECONNREFUSED would otherwise be thrown, and werift never
   * listens to its own socket's `'error'` either.
   */
  create(type: SocketType, extra?: Partial<BatchSocketOptions>): BatchSocket {
    const sock = createBatchSocket({ ...this.options, ...extra, type });
    this.open.add(sock);
    this.backends.add(sock.backend);
    this.counters.socketsOpened++;
    this.counters.socketsOpen++;
    sock.on('error', () => {
      this.counters.socketErrors++;
    });
    return sock;
  }

  /** Closes `sock` (if still open) and folds its final counters into the totals. */
  close(sock: BatchSocket): Promise<void> {
    if (!this.open.delete(sock)) return Promise.resolve();
    this.counters.socketsOpen--;
    return new Promise((resolve) => {
      try {
        sock.close(() => resolve());
      } catch {
        resolve(); // already closed by someone else
      }
      // close() dropped what the kernel had not taken; these are the final counters.
      addStats(this.closedTotals, sock.stats(), false);
    });
  }

  snapshot(sharedPorts: WeriftBatchingStats['sharedPorts']): WeriftBatchingStats {
    const t = zeroTotals();
    addStats(t, this.closedTotals, false);
    for (const s of this.open) addStats(t, s.stats(), true);
    return { ...t, backends: [...this.backends], plug: { ...this.counters }, sharedPorts };
  }
}
