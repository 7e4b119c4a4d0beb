/**
 * Storage of the send queue: a ring of slots (offset, length, peer id, callback) over a
 * ring arena of bytes. Both grow by doubling up to their limits, so an idle or lightly
 * used socket stays small. The caller's bytes are copied at {@link SlotRing.push}, so it
 * may reuse its buffer at once.
 *
 * Invariant the allocator relies on: slot order = byte order in the arena ring (the
 * queued bytes run from the head slot's offset to `arenaTail`, wrapping at most once).
 * Whoever permutes slots (the per-peer regrouping) restores it before the next push.
 */
import { Buffer } from 'node:buffer';
import type { SendCallback } from '../types.js';

/** The ring the backend reads from. Slot s: `lengths[s]` bytes at `arena[offsets[s]]` to peer `peers[s]` (-1 = connected). */
export interface SendRing {
  arena: Uint8Array;
  offsets: Uint32Array;
  lengths: Uint32Array;
  peers: Int32Array;
}

/**
 * Room handed to a producer that fills slots itself (the native RTP fan-out): up to
 * `slots` slots from ring slot `slot` on (wrapping at the capacity, `offsets.length`), and
 * the contiguous arena bytes `[arenaOff, arenaEnd)`. The arrays are the ring's current
 * ones (the same the backend was given by `attach`). Reused between calls.
 */
export interface SlotReservation extends SendRing {
  slot: number;
  slots: number;
  arenaOff: number;
  arenaEnd: number;
}

/**
 * Memory for the ring's arrays: the backend's (native memory it registers once and reads
 * without a lookup per call, `allocShared` of src/native/binding.ts), else ordinary.
 */
export type Allocate = (bytes: number) => ArrayBuffer;
/** Ordinary memory (looked up per call by the addon): the default {@link Allocate}. */
export const plainAllocate: Allocate = (bytes) => new ArrayBuffer(bytes);

/** Per-peer reference counts, so a peer table can evict entries no queued datagram uses. */
export interface PeerRefs {
  refs: Int32Array;
}

/**
 * The slot arrays (offset, length, peer per slot), views of one ArrayBuffer: the native
 * side finds all three at once (no lookup at all when `alloc` gives native memory).
 */
function slotArrays(slots: number, alloc: Allocate): [Uint32Array, Uint32Array, Int32Array] {
  const buffer = alloc(12 * slots);
  return [new Uint32Array(buffer, 0, slots), new Uint32Array(buffer, 4 * slots, slots), new Int32Array(buffer, 8 * slots, slots)];
}

const INITIAL_SLOTS = 256;
const INITIAL_ARENA = 64 * 1024;
/** Arena slack above maxBytes: the ring wastes less than one largest datagram at its end. */
const ARENA_SLACK = 65536;

export class SlotRing {
  /** Slots allocated now (grows up to `maxSlots`). */
  cap = 0;
  offsets!: Uint32Array;
  lengths!: Uint32Array;
  peers!: Int32Array;
  callbacks: (SendCallback | undefined)[] = [];
  /** Slot of the oldest queued datagram. */
  head = 0;
  /** Datagrams queued. */
  count = 0;
  /** Payload bytes queued. */
  bytes = 0;
  /** A Buffer so strings can be written in place. */
  arena!: Buffer;
  /** Arena offset just past the newest queued datagram. */
  private arenaTail = 0;
  /** The free region {@link SlotRing.findFreeRegion} found last. */
  private freeStart = 0;
  private freeEnd = 0;
  private readonly arenaMax: number;

  /** `onResize` runs whenever the arrays are (re)allocated: the backend must see the new ones. */
  constructor(
    private readonly maxSlots: number,
    maxBytes: number,
    private readonly onResize: (ring: SendRing) => void,
    private readonly peerRefs?: PeerRefs,
    private readonly alloc: Allocate = plainAllocate,
  ) {
    this.arenaMax = maxBytes + ARENA_SLACK;
    this.allocate(Math.min(INITIAL_SLOTS, maxSlots), Math.min(INITIAL_ARENA, this.arenaMax));
  }

  /** The arrays as the backend reads them. */
  view(): SendRing {
    return { arena: this.arena, offsets: this.offsets, lengths: this.lengths, peers: this.peers };
  }

  /** Appends `bytes[start .. start+length)` (copied now) for `peerId`. The caller checked the limits. */
  push(bytes: Uint8Array, start: number, length: number, peerId: number, cb: SendCallback | undefined): void {
    if (this.count === this.cap) this.growSlots();
    let off = this.place(length);
    if (off < 0) {
      this.growArena(length);
      off = this.place(length);
    }
    if (start === 0 && length === bytes.length) this.arena.set(bytes, off);
    else this.arena.set(bytes.subarray(start, start + length), off);
    this.arenaTail = off + length;
    const slot = (this.head + this.count) % this.cap;
    this.offsets[slot] = off;
    this.lengths[slot] = length;
    this.peers[slot] = peerId;
    this.callbacks[slot] = cb;
    if (peerId >= 0 && this.peerRefs) this.peerRefs.refs[peerId]++;
    this.bytes += length;
    this.count++;
  }

  /**
   * Room for a producer that writes slots and bytes itself (see {@link SlotReservation}):
   * grows the slots towards `slots` more and the arena towards `bytes` contiguous bytes
   * (within the ring's limits; the caller checked the queue limits), and returns the
   * largest room there is now — possibly less than asked, possibly none. Nothing is queued
   * until {@link SlotRing.commit}.
   */
  reserve(slots: number, bytes: number, out: SlotReservation): SlotReservation {
    if (this.count + slots > this.cap && this.cap < this.maxSlots) this.growSlotsTo(this.count + slots);
    bytes = Math.min(bytes, this.arenaMax - this.bytes);
    this.findFreeRegion();
    if (this.freeEnd - this.freeStart < bytes && this.arena.length < this.arenaMax) {
      this.growArena(bytes);
      this.findFreeRegion();
    }
    const off = this.freeStart;
    const end = this.freeEnd;
    out.arena = this.arena;
    out.offsets = this.offsets;
    out.lengths = this.lengths;
    out.peers = this.peers;
    out.slot = (this.head + this.count) % this.cap;
    out.slots = Math.min(slots, this.cap - this.count);
    out.arenaOff = off;
    out.arenaEnd = end;
    return out;
  }

  /**
   * Queues the `n` slots a producer filled after a {@link SlotRing.reserve} (offsets,
   * lengths and peers written, bytes contiguous from the reservation's `arenaOff`, `bytes`
   * of them in all). They go after everything queued before, in slot order.
   */
  commit(n: number, bytes: number, arenaOff: number): void {
    if (n === 0) return;
    const refs = this.peerRefs?.refs;
    let s = (this.head + this.count) % this.cap;
    for (let i = 0; i < n; i++) {
      this.callbacks[s] = undefined;
      const p = this.peers[s];
      if (refs && p >= 0) refs[p]++;
      s = s + 1 === this.cap ? 0 : s + 1;
    }
    this.arenaTail = arenaOff + bytes;
    this.bytes += bytes;
    this.count += n;
  }

  /**
   * Sets `[freeStart, freeEnd)` to the largest contiguous free arena region where the next
   * datagram may go. (Fields, not a returned pair: reserve() runs once per forwarded
   * batch, and destructuring an array return walked the array iterator each time.)
   */
  private findFreeRegion(): void {
    const size = this.arena.length;
    if (this.count === 0) return this.setFree(0, size);
    const headOff = this.offsets[this.head];
    const tail = this.arenaTail;
    if (tail > headOff) {
      // After the tail, or wrapped to the start (a gap of one byte so tail never meets head).
      return size - tail >= headOff - 1 ? this.setFree(tail, size) : this.setFree(0, Math.max(0, headOff - 1));
    }
    this.setFree(tail, Math.max(tail, headOff - 1));
  }

  private setFree(start: number, end: number): void {
    this.freeStart = start;
    this.freeEnd = end;
  }

  /**
   * Gives every queued datagram addressed to peer `from` the peer `to` instead (reference
   * counts follow). Returns how many were readdressed. Order and bytes are untouched.
   */
  readdress(from: number, to: number): number {
    let n = 0;
    for (let i = 0, s = this.head; i < this.count; i++, s = s + 1 === this.cap ? 0 : s + 1) {
      if (this.peers[s] !== from) continue;
      this.peers[s] = to;
      n++;
    }
    if (this.peerRefs) {
      if (from >= 0) this.peerRefs.refs[from] -= n;
      if (to >= 0) this.peerRefs.refs[to] += n;
    }
    return n;
  }

  /** Removes the head slot; returns its callback. */
  shift(): SendCallback | undefined {
    const h = this.head;
    const cb = this.callbacks[h];
    this.callbacks[h] = undefined;
    const peer = this.peers[h];
    if (peer >= 0 && this.peerRefs) this.peerRefs.refs[peer]--;
    this.bytes -= this.lengths[h];
    this.head = (h + 1) % this.cap;
    this.count--;
    return cb;
  }

  /** Byte offset where `length` bytes fit in the arena ring, or -1. */
  private place(length: number): number {
    const size = this.arena.length;
    if (this.count === 0) return length <= size ? 0 : -1;
    const headOff = this.offsets[this.head];
    const tail = this.arenaTail;
    if (tail > headOff) {
      if (size - tail >= length) return tail;
      return headOff > length ? 0 : -1;
    }
    // Wrapped: free space is [tail, headOff); keep a gap so tail never meets head.
    return headOff - tail > length ? tail : -1;
  }

  private allocate(slots: number, arenaBytes: number): void {
    this.cap = slots;
    [this.offsets, this.lengths, this.peers] = slotArrays(slots, this.alloc);
    this.callbacks = new Array(slots).fill(undefined);
    this.arena = Buffer.from(this.alloc(arenaBytes));
    this.onResize(this.view());
  }

  private growSlots(): void {
    this.growSlotsTo(this.cap + 1);
  }

  /** Doubles the slot arrays until they hold `need` (at most maxSlots), keeping the queue in order from slot 0. */
  private growSlotsTo(need: number): void {
    let cap = this.cap * 2;
    while (cap < need) cap *= 2;
    cap = Math.min(this.maxSlots, cap);
    const [offsets, lengths, peers] = slotArrays(cap, this.alloc);
    const callbacks: (SendCallback | undefined)[] = new Array(cap).fill(undefined);
    for (let i = 0; i < this.count; i++) {
      const s = (this.head + i) % this.cap;
      offsets[i] = this.offsets[s];
      lengths[i] = this.lengths[s];
      peers[i] = this.peers[s];
      callbacks[i] = this.callbacks[s];
    }
    this.cap = cap;
    this.offsets = offsets;
    this.lengths = lengths;
    this.peers = peers;
    this.callbacks = callbacks;
    this.head = 0;
    this.onResize(this.view());
  }

  /** Doubles the arena (at least enough for `length` more bytes), compacting the queue to its start. */
  private growArena(length: number): void {
    // At arenaMax the ring always has room for anything within maxBytes (the slack
    // covers the end gap), so this only compacts there.
    const need = this.bytes + length;
    let size = this.arena.length * 2;
    while (size < need) size *= 2;
    size = Math.max(need, Math.min(size, this.arenaMax));
    const arena = Buffer.from(this.alloc(size));
    let off = 0;
    for (let i = 0; i < this.count; i++) {
      const s = (this.head + i) % this.cap;
      const len = this.lengths[s];
      this.arena.copy(arena, off, this.offsets[s], this.offsets[s] + len);
      this.offsets[s] = off;
      off += len;
    }
    this.arena = arena;
    this.arenaTail = off;
    this.onResize(this.view());
  }
}
