/**
 * Real encoders for the relay tests: ffmpeg (`-f rtp`, video and audio as two RTP
 * outputs to one port) and GStreamer (`gst-launch-1.0 … rtph264pay ! udpsink`), live
 * test sources, loopback only, each run bounded in time (`-t` / `num-buffers`), and a
 * registry that kills every child still running.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';

export const haveFfmpeg = existsSync('/usr/bin/ffmpeg');
export const haveGstreamer = existsSync('/usr/bin/gst-launch-1.0');

export interface Encoder {
  child: ChildProcess;
  /** Last lines of its stderr (for failure messages). */
  stderr(): string;
  /** Resolves when it has exited. */
  exited: Promise<void>;
  /** SIGKILL (an encoder crash or a kill -9 restart), then waits for the exit. */
  kill(): Promise<void>;
}

const running = new Set<Encoder>();
// Last line of defence: a test that times out may never reach its afterEach; no encoder outlives the test process.
process.once('exit', () => {
  for (const e of running) if (e.child.exitCode === null && e.child.signalCode === null) e.child.kill('SIGKILL');
});

/** The environment without the sanitizer pass's preload and options (npm run test:asan): encoders are not under test. */
export function unsanitizedEnv(): Record<string, string> {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'LD_PRELOAD' && !k.startsWith('ASAN_') && !k.startsWith('UBSAN_'))) as Record<string, string>;
}

export function startEncoder(cmd: string, args: string[]): Encoder {
  const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], env: unsanitizedEnv() });
  let tail = '';
  child.stderr!.on('data', (d: Buffer) => {
    tail = (tail + d.toString()).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const enc: Encoder = {
    child,
    stderr: () => tail,
    exited,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
      running.delete(enc);
    },
  };
  running.add(enc);
  void exited.then(() => running.delete(enc));
  return enc;
}

/** Kills every encoder still running. */
export async function killAllEncoders(): Promise<void> {
  await Promise.all([...running].map((e) => e.kill()));
}

export interface FfmpegOptions {
  port: number;
  /** x264 profile (default baseline). */
  profile?: 'baseline' | 'main' | 'high';
  /** B-frames (default 0). */
  bframes?: number;
  /** GOP length in frames (default 30 = 1 s at 30 fps). */
  gop?: number;
  /** RTP SSRC and first sequence number of the video output (default: ffmpeg's random ones). */
  ssrc?: number;
  seq?: number;
  /** SPS/PPS only out of band (in the SDP written to `sdpFile`), never in band. */
  globalHeader?: boolean;
  sdpFile?: string;
  /** Seconds to run (bound; default 50). */
  seconds?: number;
  /** Frame size (default 640x360). */
  size?: string;
}

/** ffmpeg: live test pattern (30 fps) + sine, H.264 (PT 96) and Opus (PT 97) as two RTP outputs to one port. */
export function ffmpegArgs(o: FfmpegOptions): string[] {
  const rtpOpts = (ssrc?: number, seq?: number): string[] => [...(ssrc !== undefined ? ['-ssrc', String(ssrc | 0)] : []), ...(seq !== undefined ? ['-seq', String(seq)] : [])];
  return [
    '-hide_banner', '-loglevel', 'error', '-nostdin',
    // -t on each input: both outputs end (two RTP outputs; an output -t would bound only the first).
    '-re', '-t', String(o.seconds ?? 50), '-f', 'lavfi', '-i', `testsrc2=size=${o.size ?? '640x360'}:rate=30`,
    '-re', '-t', String(o.seconds ?? 50), '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
    '-map', '0:v', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p',
    '-profile:v', o.profile ?? 'baseline', '-bf', String(o.bframes ?? 0), '-g', String(o.gop ?? 30),
    ...(o.globalHeader ? ['-flags', '+global_header'] : []),
    '-payload_type', '96', ...rtpOpts(o.ssrc, o.seq),
    '-f', 'rtp', `rtp://127.0.0.1:${o.port}?pkt_size=1184`,
    '-map', '1:a', '-c:a', 'libopus', '-b:a', '48k', '-payload_type', '97',
    '-f', 'rtp', `rtp://127.0.0.1:${o.port}?pkt_size=1184`,
    ...(o.sdpFile ? ['-sdp_file', o.sdpFile] : []),
  ];
}

/** GStreamer: live ball pattern (30 fps) + sine, x264enc baseline without B-frames, rtph264pay/rtpopuspay to one port. */
export function gstArgs(o: { port: number; seconds?: number; gop?: number }): string[] {
  const frames = Math.round((o.seconds ?? 50) * 30);
  const audioBuffers = Math.round((o.seconds ?? 50) * 100);
  return [
    '-q',
    'videotestsrc', 'is-live=true', 'pattern=ball', `num-buffers=${frames}`, '!',
    'video/x-raw,width=640,height=360,framerate=30/1', '!',
    'x264enc', 'tune=zerolatency', 'speed-preset=ultrafast', 'bframes=0', `key-int-max=${o.gop ?? 30}`, '!',
    'video/x-h264,stream-format=byte-stream,profile=constrained-baseline', '!',
    'rtph264pay', 'pt=96', 'mtu=1184', '!',
    'udpsink', 'host=127.0.0.1', `port=${o.port}`,
    'audiotestsrc', 'is-live=true', 'wave=sine', `num-buffers=${audioBuffers}`, '!',
    'audioconvert', '!', 'audioresample', '!', 'opusenc', '!', 'rtpopuspay', 'pt=97', '!',
    'udpsink', 'host=127.0.0.1', `port=${o.port}`,
  ];
}
