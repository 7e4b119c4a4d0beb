/**
 * Order `'per-peer'`: at a flush, the queued slots of a {@link SlotRing} are permuted —
 * bytes never move — into groups by destination (the destination queued first goes
 * first), each group in enqueue order, so that a fan-out (packet 1 to viewers 1…N,
 * packet 2 to viewers 1…N, …) becomes runs of equal-size datagrams per viewer that the
 * backend can send as GSO messages. Whatever the kernel did not take is put back in its
 * original relative order by {@link Regrouper.restore} before the flush returns, which
 * keeps the ring's invariant (slot order = arena byte order).
 */
import type { SendCallback } from '../types.js';
import type { SlotRing } from './slot-ring.js';

export class Regrouper {
  /** Flushes whose queue was permuted. */
  flushes = 0;
  // Scratch sized with the ring's capacity; allocated on first use.
  private offs = new Uint32Array(0);
  private lens = new Uint32Array(0);
  private peers = new Int32Array(0);
  private cbs: (SendCallback | undefined)[] = [];
  /** Original queue position of the datagram at each position of the regrouped queue. */
  private orig = new Uint32Array(0);
  /** Per group: count, then next write position (and, in restore, "still queued" marks). */
  private groupPos = new Uint32Array(0);
  /** Per peer id + 1: epoch stamp and group index (grown with the peer ids seen). */
  private stamp = new Uint32Array(64);
  private group = new Uint32Array(64);
  private epoch = 0;
  /** Datagrams in the queue when it was permuted (0 = not permuted). */
  private permuted = 0;

  /**
   * Permutes the queued slots into groups by peer id (groups in order of their first
   * datagram, each group in queue order): a stable counting sort, O(queued), no
   * allocation after the scratch exists. Leaves the queue untouched when it is already
   * grouped.
   */
  regroup(ring: SlotRing): void {
    const groups = this.countGroups(ring);
    if (groups < 0) return; // already grouped: the permutation would be the identity
    const groupPos = this.groupPos;
    for (let g = 0, sum = 0; g < groups; g++) {
      const c = groupPos[g];
      groupPos[g] = sum;
      sum += c;
    }
    const { offs, lens, peers, orig, cbs } = this;
    const n = ring.count;
    const cap = ring.cap;
    for (let i = 0, s = ring.head; i < n; i++, s = s + 1 === cap ? 0 : s + 1) {
      const p = ring.peers[s];
      const at = groupPos[this.group[p + 1]]++;
      offs[at] = ring.offsets[s];
      lens[at] = ring.lengths[s];
      peers[at] = p;
      cbs[at] = ring.callbacks[s];
      orig[at] = i;
    }
    for (let j = 0, s = ring.head; j < n; j++, s = s + 1 === cap ? 0 : s + 1) {
      ring.offsets[s] = offs[j];
      ring.lengths[s] = lens[j];
      ring.peers[s] = peers[j];
      ring.callbacks[s] = cbs[j];
      cbs[j] = undefined;
    }
    this.permuted = n;
    this.flushes++;
  }

  /**
   * After a regrouped flush: the datagrams still queued (a suffix of the regrouped order)
   * go back into their original relative order, so that slot order is arena byte order
   * again and a later flush sees the true queue order. No-op when nothing was permuted.
   */
  restore(ring: SlotRing): void {
    const total = this.permuted;
    if (total === 0) return;
    this.permuted = 0;
    const n = ring.count;
    if (n <= 1) return;
    const cap = ring.cap;
    const { offs, lens, peers, orig, cbs } = this;
    // The remaining n were regrouped positions [total - n, total): index them by original
    // position (scratch slots of the sent ones are free now), then read back in order.
    const present = this.groupPos;
    present.fill(0, 0, total);
    for (let j = 0, s = ring.head; j < n; j++, s = s + 1 === cap ? 0 : s + 1) {
      const o = orig[total - n + j];
      offs[o] = ring.offsets[s];
      lens[o] = ring.lengths[s];
      peers[o] = ring.peers[s];
      cbs[o] = ring.callbacks[s];
      present[o] = 1;
    }
    let s = ring.head;
    for (let o = 0; o < total; o++) {
      if (present[o] === 0) continue;
      ring.offsets[s] = offs[o];
      ring.lengths[s] = lens[o];
      ring.peers[s] = peers[o];
      ring.callbacks[s] = cbs[o];
      cbs[o] = undefined;
      s = s + 1 === cap ? 0 : s + 1;
    }
  }

  /**
   * Assigns each peer id of the queue a group (in order of first appearance) and counts
   * each group's datagrams into `groupPos`. Returns the number of groups, or -1 when the
   * queue is already one stretch per peer.
   */
  private countGroups(ring: SlotRing): number {
    this.ensureScratch(ring.cap);
    const groupPos = this.groupPos;
    // Epoch stamps mark which peer ids have a group in this flush (no clearing pass).
    let epoch = ++this.epoch;
    if (epoch === 0xffffffff) {
      this.stamp.fill(0);
      this.epoch = epoch = 1;
    }
    let groups = 0;
    let changes = 0;
    let prev = NaN;
    const n = ring.count;
    const cap = ring.cap;
    for (let i = 0, s = ring.head; i < n; i++, s = s + 1 === cap ? 0 : s + 1) {
      const key = ring.peers[s] + 1;
      if (key !== prev) {
        changes++;
        prev = key;
      }
      if (key >= this.stamp.length) this.growPeerScratch(key);
      if (this.stamp[key] !== epoch) {
        this.stamp[key] = epoch;
        this.group[key] = groups;
        groupPos[groups] = 0;
        groups++;
      }
      groupPos[this.group[key]]++;
    }
    return changes === groups ? -1 : groups;
  }

  private ensureScratch(cap: number): void {
    if (this.offs.length === cap) return;
    this.offs = new Uint32Array(cap);
    this.lens = new Uint32Array(cap);
    this.peers = new Int32Array(cap);
    this.cbs = new Array(cap).fill(undefined);
    this.orig = new Uint32Array(cap);
    this.groupPos = new Uint32Array(cap);
  }

  private growPeerScratch(key: number): void {
    let size = this.stamp.length * 2;
    while (size <= key) size *= 2;
    const stamp = new Uint32Array(size);
    stamp.set(this.stamp);
    this.stamp = stamp;
    const group = new Uint32Array(size);
    group.set(this.group);
    this.group = group;
  }
}
