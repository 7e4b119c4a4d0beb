/**
 * The plug's sockets: creates them with the install's options and keeps their
 * counters — live sockets are read when asked, a closed socket's final counters are
 * folded into running totals and the socket is forgotten, so a long-running gateway with
 * connections coming and going keeps a bounded set.
 */
import { createBatchSocket } from '../index.js';
import type { BackendName, BatchSocket, BatchSocketOptions, BatchSocketStats, SocketType } from '../types.js';
import type { WeriftBatchingStats, WeriftPlugCounters } from './types.js';

type Summable = Exclude<
  keyof BatchSocketStats,
  'backend' | 'failures' | 'drops' | 'holdUs' | 'sendBufferSize' | 'recvBufferSize' | 'gso' | 'gro'
>;

const SUMMED: Summable[] = [
  'enqueued',
  'sent',
  'failed',
  'dropped',
  'queued',
  'queuedBytes',
  'bytesSent',
  'syscalls',
  'partialSends',
  'eagain',
  'batches',
  'received',
  'bytesReceived',
  'recvSyscalls',
  'recvBatches',
  'recvTruncated',
  'recvErrors',
  'recvBatchesDropped',
  'gsoMessages',
  'gsoSegments',
  'gsoFallbacks',
  'groBuffers',
  'groDatagrams',
];

function emptyTotals(): Omit<WeriftBatchingStats, 'backends' | 'plug' | 'sharedPorts'> {
  return {
    enqueued: 0,
    sent: 0,
    failed: 0,
    dropped: 0,
    queued: 0,
    queuedBytes: 0,
    bytesSent: 0,
    syscalls: 0,
    partialSends: 0,
    eagain: 0,
    batches: 0,
    failures: {},
    drops: { queueFull: 0, closed: 0 },
    holdUs: { p50: 0, p99: 0, max: 0, count: 0 },
    received: 0,
    bytesReceived: 0,
    recvSyscalls: 0,
    recvBatches: 0,
    recvTruncated: 0,
    recvErrors: 0,
    recvBatchesDropped: 0,
    sendBufferSize: 0,
    recvBufferSize: 0,
    gsoMessages: 0,
    gsoSegments: 0,
    gsoFallbacks: 0,
    groBuffers: 0,
    groDatagrams: 0,
    gso: false,
    gro: false,
  };
}

function add(into: ReturnType<typeof emptyTotals>, s: Omit<BatchSocketStats, 'backend'>, open: boolean): void {
  for (const k of SUMMED) into[k] += s[k];
  for (const [code, n] of Object.entries(s.failures)) into.failures[code] = (into.failures[code] ?? 0) + n;
  into.drops.queueFull += s.drops.queueFull;
  into.drops.closed += s.drops.closed;
  into.holdUs.p50 = Math.max(into.holdUs.p50, s.holdUs.p50);
  into.holdUs.p99 = Math.max(into.holdUs.p99, s.holdUs.p99);
  into.holdUs.max = Math.max(into.holdUs.max, s.holdUs.max);
  into.holdUs.count += s.holdUs.count;
  if (open) {
    into.sendBufferSize += s.sendBufferSize;
    into.recvBufferSize += s.recvBufferSize;
    // GSO/GRO: in use on any open socket.
    into.gso = into.gso || s.gso;
    into.gro = into.gro || s.gro;
  }
}

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
  private readonly closedTotals = emptyTotals();
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
      add(this.closedTotals, sock.stats(), false);
    });
  }

  snapshot(sharedPorts: WeriftBatchingStats['sharedPorts']): WeriftBatchingStats {
    const t = emptyTotals();
    add(t, this.closedTotals, false);
    for (const s of this.open) add(t, s.stats(), true);
    return { ...t, backends: [...this.backends], plug: { ...this.counters }, sharedPorts };
  }
}
