#!/usr/bin/env node
/**
 * udp-blast: UDP load generator and sink for dgram-sendmmsg-native.
 * Entry point: parses the command line and dispatches to send / sink / selftest.
 *
 * Exit codes: 0 ok, 1 runtime failure, 2 bad usage or refused (non-loopback) target.
 *
 * Folder src/cli/: udp-blast only. Builds on the public API (../index.ts) and the bottom
 * layer, plus socket/listen.ts; nothing in the library imports from here.
 */
import { USAGE, UsageError, formatEndpoint, parseCli, type SendOptions, type SinkOptions } from './args.js';
import { ProgressLine, fmt, formatSendSummary, formatSinkSummary } from './report.js';
import { jsonHeader, packageVersion } from '../package-info.js';

function write(stream: NodeJS.WriteStream, text: string): Promise<void> {
  return new Promise((resolve) => stream.write(text, () => resolve()));
}

/** First SIGINT/SIGTERM ends the run gracefully (results are printed); a second one exits at once. */
function abortOnSignals(): AbortController {
  const ac = new AbortController();
  const onSignal = (sig: NodeJS.Signals): void => {
    if (ac.signal.aborted) process.exit(sig === 'SIGINT' ? 130 : 143);
    ac.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return ac;
}

async function send(opts: SendOptions): Promise<number> {
  const { runSend } = await import('./send.js');
  const progress = new ProgressLine();
  const ac = abortOnSignals();
  const result = await runSend(opts, {
    signal: ac.signal,
    onProgress: progress.enabled ? (p) => progress.update(`send: ${fmt(p.enqueued)} datagrams queued, ${fmt(p.enqueued / p.elapsedS)} /s, ${fmt(p.elapsedS, 1)} s`) : undefined,
  });
  progress.clear();
  await write(process.stdout, opts.json ? JSON.stringify({ ...jsonHeader('send'), ...result }) + '\n' : formatSendSummary(result));
  return 0;
}

async function sink(opts: SinkOptions): Promise<number> {
  const { runSink } = await import('./sink.js');
  const progress = new ProgressLine();
  const ac = abortOnSignals();
  let last = { received: 0, t: 0 };
  const result = await runSink(opts, {
    signal: ac.signal,
    onListening: (address, port) => process.stderr.write(`listening on ${formatEndpoint(address, port)}\n`),
    onProgress: progress.enabled
      ? (p) => {
          const rate = p.elapsedS > last.t ? (p.received - last.received) / (p.elapsedS - last.t) : 0;
          last = { received: p.received, t: p.elapsedS };
          progress.update(`sink: ${fmt(p.received)} datagrams, ${fmt(rate)} /s, ${fmt(p.invalid)} not UBL1, ${fmt(p.elapsedS, 1)} s`);
        }
      : undefined,
  });
  progress.clear();
  await write(process.stdout, opts.json ? JSON.stringify({ ...jsonHeader('sink'), ...result }) + '\n' : formatSinkSummary(result));
  return 0;
}

/** Runs the CLI with `argv` (arguments after the script) and resolves with the exit code. */
async function main(argv: readonly string[]): Promise<number> {
  let opts;
  try {
    opts = parseCli(argv);
  } catch (err) {
    if (err instanceof UsageError) {
      // One line saying what is wrong, one hint; the whole usage text only on --help.
      await write(process.stderr, `udp-blast: ${err.message}\n${err.showUsage ? "Run 'udp-blast --help' for usage.\n" : ''}`);
      return err.exitCode;
    }
    throw err;
  }
  try {
    switch (opts.command) {
      case 'help':
        await write(process.stdout, USAGE);
        return 0;
      case 'version':
        await write(process.stdout, `udp-blast ${packageVersion()}\n`);
        return 0;
      case 'send':
        return await send(opts);
      case 'sink':
        return await sink(opts);
      case 'selftest': {
        const { runSelftest } = await import('./selftest.js');
        return await runSelftest(opts);
      }
    }
  } catch (err) {
    await write(process.stderr, `udp-blast: ${(err as Error).message}\n`);
    return 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`udp-blast: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`, () => process.exit(1));
  },
);
