/**
 * Destination addresses registered once and referred to by a small integer (peer id).
 *
 * Entry i is a 32-byte `sockaddr_in`/`sockaddr_in6` at `table[i*32]`, written by native
 * code (`encodePeer`) when the peer is first seen; the send path hands the kernel a
 * pointer into this table, so a datagram costs no address parsing. dgram-style
 * `send(buf, port, address)` finds its peer id through a Map keyed by address and port;
 * `socket.peer(port, address)` returns a pinned handle that skips even that lookup.
 *
 * Entries are reference-counted by queued datagrams; when more than `maxCached` unpinned
 * entries exist, those no queued datagram uses are evicted (oldest first) and their ids
 * reused, so a socket that talks to many transient destinations stays bounded. A `peer()`
 * handle pins its entry until it is released or collected (see peer-handles.ts).
 */
import { SOCKADDR_STRIDE } from '../native/binding.js';
import { plainAllocate, type Allocate } from '../scheduler/slot-ring.js';

export type EncodePeer = (ip: string, port: number, table: Uint8Array, offset: number) => void;

const INITIAL = 64;

export class PeerTable {
  /** sockaddr entries, 32 bytes each; replaced on growth (then `onResize` runs). */
  table: Uint8Array;
  /** Queued datagrams per peer id (maintained by the scheduler). */
  refs: Int32Array = new Int32Array(INITIAL);
  private pinned: Uint8Array = new Uint8Array(INITIAL);
  private readonly addrs: (string | undefined)[] = [];
  private readonly ports: number[] = [];
  private readonly byKey = new Map<string, number>();
  private readonly free: number[] = [];
  private next = 0;
  private unpinned = 0;

  constructor(
    private readonly encode: EncodePeer,
    private readonly onResize: () => void,
    readonly maxCached = 4096,
    /** Memory for the table (the addon's `allocShared`: the send path finds it without a lookup), else ordinary. */
    private readonly alloc: Allocate = plainAllocate,
  ) {
    this.table = new Uint8Array(alloc(INITIAL * SOCKADDR_STRIDE));
  }

  /** Peer id for `ip`:`port` (validated IP literal), registering it if new. Throws what `encode` throws. */
  lookup(ip: string, port: number, pin = false): number {
    const key = `${port}/${ip}`;
    let id = this.byKey.get(key);
    if (id === undefined) {
      // Also before a pinned entry: handles released or collected since left unpinned ones.
      if (this.unpinned >= this.maxCached) this.evict();
      id = this.allocate();
      try {
        this.encode(ip, port, this.table, id * SOCKADDR_STRIDE);
      } catch (err) {
        this.free.push(id);
        throw err;
      }
      this.addrs[id] = ip;
      this.ports[id] = port;
      this.byKey.set(key, id);
      if (pin) this.pinned[id] = 1;
      else this.unpinned++;
    } else if (pin && !this.pinned[id]) {
      this.pinned[id] = 1;
      this.unpinned--;
    }
    return id;
  }

  /** Unpins a peer handle's entry: it becomes evictable once no queued datagram uses it. */
  unpin(id: number): void {
    if (this.pinned[id]) {
      this.pinned[id] = 0;
      this.unpinned++;
    }
  }

  address(id: number): string | undefined {
    return this.addrs[id];
  }
  port(id: number): number | undefined {
    return this.ports[id];
  }
  get size(): number {
    return this.byKey.size;
  }

  private allocate(): number {
    const reused = this.free.pop();
    if (reused !== undefined) return reused;
    if (this.next * SOCKADDR_STRIDE >= this.table.length) this.grow();
    return this.next++;
  }

  private grow(): void {
    const n = this.refs.length * 2;
    const table = new Uint8Array(this.alloc(n * SOCKADDR_STRIDE));
    table.set(this.table);
    const refs = new Int32Array(n);
    refs.set(this.refs);
    const pinned = new Uint8Array(n);
    pinned.set(this.pinned);
    this.table = table;
    this.refs = refs;
    this.pinned = pinned;
    this.onResize();
  }

  /** Evicts up to half of the unpinned entries that no queued datagram references, oldest first. */
  private evict(): void {
    let budget = Math.max(1, this.maxCached >> 1);
    for (const [key, id] of this.byKey) {
      if (budget === 0) break;
      if (this.pinned[id] || this.refs[id] !== 0) continue;
      this.byKey.delete(key);
      this.addrs[id] = undefined;
      this.free.push(id);
      this.unpinned--;
      budget--;
    }
  }
}
