/**
 * Child processes of the bench: each in its own process group (so a wrapper like
 * `perf stat` and the command it runs die together), output collected, every wait
 * bounded. Every child ever started is tracked and killed if the runner exits early.
 */
import { spawn } from 'node:child_process';

const live = new Set();

/** Kills every child still running (process groups). Called on runner exit/signals. */
export function killAll() {
  for (const c of live) c.kill('SIGKILL');
}

export class Child {
  /**
   * @param {string} cmd
   * @param {string[]} args
   * @param {{ env?: NodeJS.ProcessEnv, cwd?: string, stdin?: boolean, ipc?: boolean }} [opts]
   */
  constructor(cmd, args, opts = {}) {
    this.cmd = cmd;
    this.args = args;
    this.stdout = '';
    this.stderr = '';
    const stdio = [opts.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'];
    if (opts.ipc) stdio.push('ipc');
    this.proc = spawn(cmd, args, { stdio, detached: true, env: opts.env ?? process.env, cwd: opts.cwd });
    live.add(this);
    this.lineWaiters = [];
    this.proc.stdout.on('data', (d) => {
      this.stdout += d.toString();
      this.checkWaiters();
    });
    this.proc.stderr.on('data', (d) => {
      this.stderr += d.toString();
      this.checkWaiters();
    });
    this.code = undefined;
    this.exited = new Promise((resolve) => {
      this.proc.on('error', (err) => {
        this.stderr += `\nspawn failed: ${err.message}`;
        live.delete(this);
        this.code = null;
        resolve(null);
      });
      this.proc.on('close', (code, signal) => {
        live.delete(this);
        this.code = code ?? (signal ? `signal ${signal}` : null);
        resolve(this.code);
        this.checkWaiters();
      });
    });
  }

  checkWaiters() {
    for (const w of [...this.lineWaiters]) {
      const m = w.re.exec(w.stream === 'stdout' ? this.stdout : this.stderr);
      if (m) {
        this.lineWaiters.splice(this.lineWaiters.indexOf(w), 1);
        w.resolve(m);
      } else if (this.code !== undefined) {
        this.lineWaiters.splice(this.lineWaiters.indexOf(w), 1);
        w.reject(new Error(`${this.describe()} exited (${this.code}) before printing ${w.re}: ${this.tail()}`));
      }
    }
  }

  /** Resolves with the match of `re` on stderr (or stdout), rejects after `timeoutMs` or exit. */
  waitFor(re, timeoutMs, stream = 'stderr') {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        const i = this.lineWaiters.indexOf(w);
        if (i >= 0) this.lineWaiters.splice(i, 1);
        reject(new Error(`${this.describe()}: no ${re} within ${timeoutMs} ms: ${this.tail()}`));
      }, timeoutMs);
      const w = {
        re,
        stream,
        resolve: (m) => {
          clearTimeout(t);
          resolve(m);
        },
        reject: (e) => {
          clearTimeout(t);
          reject(e);
        },
      };
      this.lineWaiters.push(w);
      this.checkWaiters();
    });
  }

  /** "listening on HOST:PORT" on stderr → port. */
  async listeningPort(timeoutMs = 10_000) {
    const m = await this.waitFor(/listening on (\S+):(\d+)/, timeoutMs);
    return Number(m[2]);
  }

  write(text) {
    this.proc.stdin?.write(text);
  }

  kill(signal = 'SIGKILL') {
    if (this.proc.pid === undefined || this.code !== undefined) return;
    try {
      process.kill(-this.proc.pid, signal);
    } catch {
      // already gone
    }
  }

  /** Exit code; kills the group (SIGKILL) and throws when it outlives `timeoutMs`. */
  async wait(timeoutMs) {
    let timer;
    const timedOut = new Promise((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    const r = await Promise.race([this.exited, timedOut]);
    clearTimeout(timer);
    if (r === 'timeout') {
      this.kill('SIGKILL');
      await this.exited;
      throw new Error(`${this.describe()} did not finish within ${timeoutMs} ms (killed): ${this.tail()}`);
    }
    return r;
  }

  /** Waits for a clean exit and parses the last JSON line of stdout. */
  async json(timeoutMs) {
    const code = await this.wait(timeoutMs);
    if (code !== 0) throw new Error(`${this.describe()} exited ${code}: ${this.tail()}`);
    return lastJson(this.stdout, this.describe());
  }

  describe() {
    const a = this.args.map((x) => (x.length > 60 ? '…' + x.slice(-40) : x)).join(' ');
    return `[${this.cmd.split('/').pop()} ${a}]`.slice(0, 240);
  }

  tail() {
    const t = (this.stderr.trim() || this.stdout.trim()).split('\n').slice(-3).join(' | ');
    return t.slice(-400) || '(no output)';
  }
}

/** Parses the last line of `text` that is a JSON object. */
export function lastJson(text, what = 'output') {
  const lines = text.trim().split('\n').reverse();
  for (const l of lines) {
    const s = l.trim();
    if (s.startsWith('{')) {
      try {
        return JSON.parse(s);
      } catch {
        // keep looking
      }
    }
  }
  throw new Error(`${what}: no JSON object in output: ${text.slice(-300)}`);
}

/** Runs a command to completion; never throws (spawn errors come back in `error`). */
export async function run(cmd, args, timeoutMs = 60_000, opts = {}) {
  const c = new Child(cmd, args, opts);
  try {
    const code = await c.wait(timeoutMs);
    return { code, stdout: c.stdout, stderr: c.stderr };
  } catch (error) {
    return { code: null, stdout: c.stdout, stderr: c.stderr, error };
  }
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
