/**
 * Plays an rtpdump recording (assets/demo.rtpdump by default) in a loop, in real time,
 * as RTP over UDP to an ingest port — the same path live ffmpeg input takes. Across
 * loops it keeps each SSRC's sequence numbers and timestamps running, so receivers see
 * one continuous stream.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createBatchSocket, type BatchSocket, type Peer } from '../index.js';
import { readRtpdump } from './rtpdump.js';

/** assets/demo.rtpdump: 6 s of H.264 (PT 96) + Opus (PT 97), recorded by scripts/record-demo.mjs. */
export const DEMO_RECORDING = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'assets', 'demo.rtpdump');

const CLOCK_RATE: Record<number, number> = { 96: 90000, 97: 48000 };
const VIDEO_FRAME_MS = 1000 / 30;

interface Prepared {
  offsetMs: number;
  data: Buffer;
  seq: number;
  ts: number;
  /** Per-payload-type index into the loop counters. */
  pt: number;
}

export interface DemoSourceOptions {
  /** Recording to play (rtpdump). */
  file?: string;
  /** Rewrite SSRCs (e.g. distinct streams from one recording). */
  ssrc?: { video: number; audio: number };
}

export class DemoSource {
  private readonly packets: Prepared[];
  private readonly loopMs: number;
  private readonly perLoopSeq = new Map<number, number>();
  private socket: BatchSocket | undefined;
  private peer: Peer | undefined;
  private timer: NodeJS.Timeout | undefined;
  private t0 = 0;
  private loop = 0;
  private next = 0;
  /** Datagrams sent so far. */
  sent = 0;

  constructor(opts: DemoSourceOptions = {}) {
    const all = readRtpdump(readFileSync(opts.file ?? DEMO_RECORDING));
    if (all.length === 0) throw new Error('the recording has no RTP packets');
    const lastVideo = Math.max(...all.filter((p) => (p.data[1] & 0x7f) === 96).map((p) => p.offsetMs), 0);
    this.loopMs = Math.ceil((lastVideo + VIDEO_FRAME_MS) / VIDEO_FRAME_MS) * VIDEO_FRAME_MS;
    this.packets = all
      .filter((p) => p.offsetMs < this.loopMs)
      .map((p) => {
        const data = Buffer.from(p.data);
        if (opts.ssrc) data.writeUInt32BE((data[1] & 0x7f) === 96 ? opts.ssrc.video : opts.ssrc.audio, 8);
        return { offsetMs: p.offsetMs, data, seq: data.readUInt16BE(2), ts: data.readUInt32BE(4), pt: data[1] & 0x7f };
      });
    for (const p of this.packets) this.perLoopSeq.set(p.pt, (this.perLoopSeq.get(p.pt) ?? 0) + 1);
  }

  /** Length of one loop, ms. */
  get durationMs(): number {
    return this.loopMs;
  }

  /** Starts sending to `host`:`port` (loopback ingest). */
  async start(host: string, port: number): Promise<void> {
    const socket = createBatchSocket({ type: host.includes(':') ? 'udp6' : 'udp4', mode: 'tick' });
    await new Promise<void>((resolve) => socket.bind(0, host.includes(':') ? '::1' : '127.0.0.1', resolve));
    socket.on('error', () => {}); // ICMP refusals while the ingest restarts: counted in stats()
    this.socket = socket;
    this.peer = socket.peer(port, host);
    this.t0 = performance.now();
    this.pump();
  }

  private readonly pump = (): void => {
    this.timer = undefined;
    const now = performance.now() - this.t0;
    for (;;) {
      if (this.next === this.packets.length) {
        this.next = 0;
        this.loop++;
      }
      const p = this.packets[this.next];
      const due = this.loop * this.loopMs + p.offsetMs;
      if (due > now) {
        this.timer = setTimeout(this.pump, Math.max(1, Math.floor(due - now)));
        return;
      }
      const d = p.data;
      d.writeUInt16BE((p.seq + this.loop * (this.perLoopSeq.get(p.pt) ?? 0)) & 0xffff, 2);
      d.writeUInt32BE((p.ts + Math.round((this.loop * this.loopMs * (CLOCK_RATE[p.pt] ?? 90000)) / 1000)) >>> 0, 4);
      this.peer!.send(d);
      this.sent++;
      this.next++;
    }
  };

  /** Stops sending and closes the socket. */
  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.socket?.close();
    this.socket = undefined;
  }
}
