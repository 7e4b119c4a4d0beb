/**
 * A scripted stand-in for the native send path: it reads the scheduler's ring exactly as
 * native code does (slot s = (start+i) % capacity) and answers each send() from a
 * script — take k datagrams, then report an errno — so tests can produce partial sends,
 * EAGAIN, per-datagram errors and so on deterministically.
 */
import type { SendBackend, SendRing } from '../../src/scheduler/send-scheduler.js';

/** One scripted answer: take `take` datagrams (capped at what was offered), then fail the next with `errno` (if fewer than offered). */
export interface Step {
  take: number;
  errno?: number;
}

export interface Delivered {
  bytes: Buffer;
  peer: number;
}

export class FakeBackend implements SendBackend {
  ring!: SendRing;
  attachCount = 0;
  /** Each send() call: how many were offered and taken. */
  calls: { requested: number; taken: number; errno: number }[] = [];
  /** Datagrams the "kernel" took, in order. */
  delivered: Delivered[] = [];
  writableArmed = false;
  writableArms = 0;
  private errno = 0;

  constructor(public script: (Step | ((requested: number) => Step))[] = []) {}

  attach(ring: SendRing): void {
    this.ring = ring;
    this.attachCount++;
  }

  send(start: number, count: number): number {
    const cap = this.ring.offsets.length;
    if (start < 0 || start >= cap || count < 1 || count > cap) throw new RangeError(`bad send(${start}, ${count}) with capacity ${cap}`);
    const next = this.script.shift();
    const step: Step = next === undefined ? { take: count } : typeof next === 'function' ? next(count) : next;
    const taken = Math.min(step.take, count);
    for (let i = 0; i < taken; i++) {
      const s = (start + i) % cap;
      const off = this.ring.offsets[s];
      const len = this.ring.lengths[s];
      if (off + len > this.ring.arena.length) throw new RangeError('slot outside arena');
      this.delivered.push({ bytes: Buffer.from(this.ring.arena.subarray(off, off + len)), peer: this.ring.peers[s] });
    }
    this.errno = taken < count ? (step.errno ?? 11) : 0;
    this.calls.push({ requested: count, taken, errno: this.errno });
    return taken;
  }

  lastErrno(): number {
    return this.errno;
  }

  awaitWritable(on: boolean): void {
    if (on) this.writableArms++;
    this.writableArmed = on;
  }
}

/** Datagram i of a test: 4-byte big-endian sequence number followed by `pad` bytes of (i & 255). */
export function datagram(i: number, pad = 0): Buffer {
  const b = Buffer.alloc(4 + pad, i & 255);
  b.writeUInt32BE(i, 0);
  return b;
}

export const seqOf = (d: Delivered): number => d.bytes.readUInt32BE(0);
