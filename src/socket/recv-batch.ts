/**
 * Receive batches: the view over the native receive ring handed to `'batch'` handlers
 * (valid until the handler returns, no copy), and the copied form queued for
 * `for await (const batch of socket)` consumers.
 */
import { Buffer } from 'node:buffer';
import type { RemoteInfo } from 'node:dgram';
import { endianness } from 'node:os';
import { SOCKADDR_STRIDE } from '../native/binding.js';
import { plainAllocate, type Allocate } from '../scheduler/slot-ring.js';

const AF_INET = 2;
/** sa_family is in host byte order. */
const HOST_LE = endianness() === 'LE';
import type { RecvBatch } from '../types.js';
import { decodeSockaddr } from './sockaddr.js';

/**
 * The receive ring shared with native code: `slots` slots of `slotSize` bytes, each with
 * its length, sender address, flags and GRO segment size (0 = the slot is one datagram).
 * All five arrays are views of one ArrayBuffer (arena, then lengths, segment sizes,
 * addresses, flags); the native socket allocates it in native memory (`allocShared`), so
 * the addon keeps its pointer and looks nothing up per recvmmsg call (an ordinary buffer
 * costs one lookup per call) — a cost paid on every readable wake-up, which on a socket
 * with sparse traffic (an RTP ingest port: ~2 datagrams per wake-up) is per datagram.
 */
export class RecvRing {
  readonly arena: Buffer;
  readonly lengths: Uint32Array;
  readonly addrs: Uint8Array;
  readonly flags: Uint8Array;
  /** GRO segment size per slot, bytes (udp(7) UDP_GRO); 0 = not coalesced. */
  readonly segSizes: Uint32Array;
  readonly addrView: DataView;
  constructor(
    readonly slots: number,
    readonly slotSize: number,
    /** Where the memory comes from: the addon's `allocShared` (found without a lookup per recvmmsg call), else ordinary. */
    alloc: Allocate = plainAllocate,
  ) {
    const arenaBytes = slots * slotSize;
    const at = arenaBytes + ((8 - (arenaBytes % 8)) % 8); // the Uint32 arrays start 8-aligned
    const buffer = alloc(at + slots * (4 + 4 + SOCKADDR_STRIDE + 1)); // zeroed
    this.arena = Buffer.from(buffer, 0, arenaBytes);
    this.lengths = new Uint32Array(buffer, at, slots);
    this.segSizes = new Uint32Array(buffer, at + 4 * slots, slots);
    this.addrs = new Uint8Array(buffer, at + 8 * slots, slots * SOCKADDR_STRIDE);
    this.flags = new Uint8Array(buffer, at + (8 + SOCKADDR_STRIDE) * slots, slots);
    this.addrView = new DataView(this.addrs.buffer, this.addrs.byteOffset, this.addrs.byteLength);
  }

  /** Sender of slot `slot`, with `size` as the datagram's length. */
  remote(slot: number, size: number): RemoteInfo {
    const a = decodeSockaddr(this.addrView, slot * SOCKADDR_STRIDE);
    return { address: a.address, family: a.family, port: a.port, size };
  }
}

/**
 * Zero-copy view of the ring's current batch, one entry per datagram. One instance per
 * socket, reused.
 *
 * {@link RingBatch.load} turns the filled slots into entries: a plain slot is one entry;
 * a slot holding a GRO-coalesced buffer (`segSizes[slot] = g > 0`) becomes
 * `ceil(length / g)` entries of `g` bytes, the last one the remainder, in order, all with
 * the slot's sender — exactly the datagrams the sender sent (the kernel coalesces only
 * consecutive datagrams of one flow, all of size g but the last). A truncated slot
 * (MSG_TRUNC) marks its last entry truncated. The entry arrays grow by doubling when a
 * batch needs more (the only allocation, amortised).
 */
export class RingBatch implements RecvBatch {
  count = 0;
  private entryOffsets: Uint32Array;
  private entryLengths: Uint32Array;
  private entrySlots: Uint16Array;
  private entryFlags: Uint8Array;
  constructor(private readonly ring: RecvRing) {
    const n = ring.slots;
    this.entryOffsets = new Uint32Array(n);
    this.entryLengths = new Uint32Array(n);
    this.entrySlots = new Uint16Array(n);
    this.entryFlags = new Uint8Array(n);
  }

  /** Builds the entries of the `slots` slots native code just filled; returns the datagram count. */
  load(slots: number): number {
    const r = this.ring;
    const size = r.slotSize;
    let n = 0;
    for (let s = 0; s < slots; s++) {
      const len = r.lengths[s];
      const g = r.segSizes[s];
      const base = s * size;
      if (g === 0 || len <= g) {
        if (n === this.entryOffsets.length) this.grow(n + 1);
        this.entryOffsets[n] = base;
        this.entryLengths[n] = len;
        this.entrySlots[n] = s;
        this.entryFlags[n] = r.flags[s];
        n++;
        continue;
      }
      const pieces = Math.ceil(len / g);
      if (n + pieces > this.entryOffsets.length) this.grow(n + pieces);
      for (let k = 0, off = 0; k < pieces; k++, off += g) {
        this.entryOffsets[n] = base + off;
        this.entryLengths[n] = Math.min(g, len - off);
        this.entrySlots[n] = s;
        this.entryFlags[n] = k === pieces - 1 ? r.flags[s] : 0;
        n++;
      }
    }
    this.count = n;
    return n;
  }

  get bytes(): Uint8Array {
    return this.ring.arena;
  }
  offset(i: number): number {
    this.check(i);
    return this.entryOffsets[i];
  }
  length(i: number): number {
    this.check(i);
    return this.entryLengths[i];
  }
  datagram(i: number): Buffer {
    this.check(i);
    const a = this.ring.arena;
    return Buffer.from(a.buffer, a.byteOffset + this.entryOffsets[i], this.entryLengths[i]);
  }
  remote(i: number): RemoteInfo {
    this.check(i);
    return this.ring.remote(this.entrySlots[i], this.entryLengths[i]);
  }
  truncated(i: number): boolean {
    this.check(i);
    return this.entryFlags[i] !== 0;
  }
  /** {@inheritDoc RecvBatch.sameRemote} Compares the two slots' 32-byte sockaddr entries. */
  sameRemote(i: number, j: number): boolean {
    this.check(i);
    this.check(j);
    const a = this.entrySlots[i];
    const b = this.entrySlots[j];
    if (a === b) return true;
    const addrs = this.ring.addrs;
    const pa = a * SOCKADDR_STRIDE;
    const pb = b * SOCKADDR_STRIDE;
    // Family and port (bytes 0-3), then sockaddr_in's address (4-7) or sockaddr_in6's
    // address and scope id (8-27; the flow label at 4-7 is not part of the sender).
    for (let k = 0; k < 4; k++) if (addrs[pa + k] !== addrs[pb + k]) return false;
    const v6 = this.ring.addrView.getUint16(pa, HOST_LE) !== AF_INET;
    const from = v6 ? 8 : 4;
    const to = v6 ? 28 : 8;
    for (let k = from; k < to; k++) if (addrs[pa + k] !== addrs[pb + k]) return false;
    return true;
  }
  /** A copy that stays valid after the handler returns. */
  copy(): CopiedBatch {
    const n = this.count;
    const r = this.ring;
    const offsets = new Uint32Array(n + 1);
    for (let i = 0; i < n; i++) offsets[i + 1] = offsets[i] + this.entryLengths[i];
    const bytes = Buffer.allocUnsafe(offsets[n]);
    const remotes: RemoteInfo[] = new Array(n);
    const truncated = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const from = this.entryOffsets[i];
      r.arena.copy(bytes, offsets[i], from, from + this.entryLengths[i]);
      remotes[i] = r.remote(this.entrySlots[i], this.entryLengths[i]);
      truncated[i] = this.entryFlags[i];
    }
    return new CopiedBatch(bytes, offsets, remotes, truncated);
  }
  private grow(need: number): void {
    let cap = this.entryOffsets.length * 2;
    while (cap < need) cap *= 2;
    const offsets = new Uint32Array(cap);
    const lengths = new Uint32Array(cap);
    const slots = new Uint16Array(cap);
    const flags = new Uint8Array(cap);
    offsets.set(this.entryOffsets);
    lengths.set(this.entryLengths);
    slots.set(this.entrySlots);
    flags.set(this.entryFlags);
    this.entryOffsets = offsets;
    this.entryLengths = lengths;
    this.entrySlots = slots;
    this.entryFlags = flags;
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
  /** {@inheritDoc RecvBatch.sameRemote} */
  sameRemote(i: number, j: number): boolean {
    this.check(i);
    this.check(j);
    const a = this.remotes[i];
    const b = this.remotes[j];
    return a === b || (a.port === b.port && a.address === b.address && a.family === b.family);
  }
    /** A batch of one datagram (dgram backend). */
  static single(msg: Buffer, rinfo: RemoteInfo): CopiedBatch {
    return new CopiedBatch(msg, Uint32Array.of(0, msg.length), [rinfo], new Uint8Array(1));
  }
  private check(i: number): void {
    if (!(i >= 0 && i < this.count)) throw new RangeError(`datagram index ${i} out of range [0, ${this.count})`);
  }
}
