/**
 * Receive batches: the view over the native receive ring handed to `'batch'` handlers
 * (valid until the handler returns, no copy), and the copied form queued for
 * `for await (const batch of socket)` consumers.
 */
import { Buffer } from 'node:buffer';
import type { RemoteInfo } from 'node:dgram';
import { SOCKADDR_STRIDE } from '../native/binding.js';
import type { RecvBatch } from '../types.js';
import { decodeSockaddr } from './sockaddr.js';

/** The receive ring shared with native code: `slots` slots of `slotSize` bytes. */
export class RecvRing {
  readonly arena: Buffer;
  readonly lengths: Uint32Array;
  readonly addrs: Uint8Array;
  readonly flags: Uint8Array;
  readonly addrView: DataView;
  constructor(
    readonly slots: number,
    readonly slotSize: number,
  ) {
    this.arena = Buffer.allocUnsafeSlow(slots * slotSize);
    this.lengths = new Uint32Array(slots);
    this.addrs = new Uint8Array(slots * SOCKADDR_STRIDE);
    this.flags = new Uint8Array(slots);
    this.addrView = new DataView(this.addrs.buffer, this.addrs.byteOffset, this.addrs.byteLength);
  }

  remote(i: number): RemoteInfo {
    const a = decodeSockaddr(this.addrView, i * SOCKADDR_STRIDE);
    return { address: a.address, family: a.family, port: a.port, size: this.lengths[i] };
  }
}

/** Zero-copy view of the ring's current batch. One instance per socket, reused. */
export class RingBatch implements RecvBatch {
  count = 0;
  constructor(private readonly ring: RecvRing) {}
  get bytes(): Uint8Array {
    return this.ring.arena;
  }
  offset(i: number): number {
    this.check(i);
    return i * this.ring.slotSize;
  }
  length(i: number): number {
    this.check(i);
    return this.ring.lengths[i];
  }
  datagram(i: number): Buffer {
    this.check(i);
    const a = this.ring.arena;
    return Buffer.from(a.buffer, a.byteOffset + i * this.ring.slotSize, this.ring.lengths[i]);
  }
  remote(i: number): RemoteInfo {
    this.check(i);
    return this.ring.remote(i);
  }
  truncated(i: number): boolean {
    this.check(i);
    return this.ring.flags[i] !== 0;
  }
  /** A copy that stays valid after the handler returns. */
  copy(): CopiedBatch {
    const n = this.count;
    const r = this.ring;
    const offsets = new Uint32Array(n + 1);
    for (let i = 0; i < n; i++) offsets[i + 1] = offsets[i] + r.lengths[i];
    const bytes = Buffer.allocUnsafe(offsets[n]);
    const remotes: RemoteInfo[] = new Array(n);
    const truncated = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      r.arena.copy(bytes, offsets[i], i * r.slotSize, i * r.slotSize + r.lengths[i]);
      remotes[i] = r.remote(i);
      truncated[i] = r.flags[i];
    }
    return new CopiedBatch(bytes, offsets, remotes, truncated);
  }
  private check(i: number): void {
    if (!(i >= 0 && i < this.count)) throw new RangeError(`datagram index ${i} out of range [0, ${this.count})`);
  }
}

/** A batch that owns its bytes (async-iterator consumers, and the dgram backend). */
export class CopiedBatch implements RecvBatch {
  constructor(
    readonly bytes: Buffer,
    private readonly offsets: Uint32Array,
    private readonly remotes: RemoteInfo[],
    private readonly truncatedFlags: Uint8Array,
  ) {}
  get count(): number {
    return this.remotes.length;
  }
  offset(i: number): number {
    this.check(i);
    return this.offsets[i];
  }
  length(i: number): number {
    this.check(i);
    return this.offsets[i + 1] - this.offsets[i];
  }
  datagram(i: number): Buffer {
    this.check(i);
    return this.bytes.subarray(this.offsets[i], this.offsets[i + 1]);
  }
  remote(i: number): RemoteInfo {
    this.check(i);
    return this.remotes[i];
  }
  truncated(i: number): boolean {
    this.check(i);
    return this.truncatedFlags[i] !== 0;
  }
  /** A batch of one datagram (dgram backend). */
  static single(msg: Buffer, rinfo: RemoteInfo): CopiedBatch {
    return new CopiedBatch(msg, Uint32Array.of(0, msg.length), [rinfo], new Uint8Array(1));
  }
  private check(i: number): void {
    if (!(i >= 0 && i < this.count)) throw new RangeError(`datagram index ${i} out of range [0, ${this.count})`);
  }
}
