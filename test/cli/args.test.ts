import { describe, expect, it } from 'vitest';
import { DEFAULTS, UsageError, parseCli, parseEndpoint, type SendOptions, type SinkOptions } from '../../src/cli/args.js';

function usageError(argv: string[]): UsageError {
  try {
    parseCli(argv);
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return err as UsageError;
  }
  throw new Error(`expected a UsageError for ${argv.join(' ')}`);
}

describe('parseCli: send', () => {
  it('applies the documented defaults', () => {
    const o = parseCli(['send', '--to', '127.0.0.1:9000']) as SendOptions;
    expect(o).toMatchObject({
      command: 'send',
      to: { host: '127.0.0.1', port: 9000, family: 4 },
      count: DEFAULTS.count,
      durationS: null,
      size: 1200,
      rate: 0,
      flows: 1,
      backend: null,
      batch: null,
      windowUs: null,
      json: false,
      allowRemote: false,
    });
  });

  it('parses every flag', () => {
    const o = parseCli([
      'send', '--to', '[::1]:5004', '--duration', '2.5', '--size', '24', '--rate', '1000', '--flows', '8',
      '--backend', 'dgram', '--batch', '1024', '--window-us', '250', '--sndbuf', '65536', '--json',
    ]) as SendOptions;
    expect(o).toMatchObject({
      to: { host: '::1', port: 5004, family: 6 },
      count: null,
      durationS: 2.5,
      size: 24,
      rate: 1000,
      flows: 8,
      backend: 'dgram',
      batch: 1024,
      windowUs: 250,
      sendBufferSize: 65536,
      json: true,
    });
  });

  it('accepts 1e6-style counts and localhost', () => {
    const o = parseCli(['send', '--to', 'localhost:1', '--count', '1e6']) as SendOptions;
    expect(o.count).toBe(1_000_000);
    expect(o.to.family).toBe(4);
  });

  it.each([
    [['send'], /--to/],
    [['send', '--to', '127.0.0.1'], /HOST:PORT/],
    [['send', '--to', '127.0.0.1:0'], /port/],
    [['send', '--to', '127.0.0.1:70000'], /port/],
    [['send', '--to', '::1:9000'], /brackets/],
    [['send', '--to', '[127.0.0.1]:9000'], /IPv6/],
    [['send', '--to', '127.0.0.1:9', '--count', '0'], /--count/],
    [['send', '--to', '127.0.0.1:9', '--count', '2e9'], /--count/],
    [['send', '--to', '127.0.0.1:9', '--count', '1.5'], /integer/],
    [['send', '--to', '127.0.0.1:9', '--count', '-5'], /--count/],
    [['send', '--to', '127.0.0.1:9', '--duration', '3601'], /--duration/],
    [['send', '--to', '127.0.0.1:9', '--size', '23'], /--size/],
    [['send', '--to', '127.0.0.1:9', '--size', '65508'], /--size/],
    [['send', '--to', '127.0.0.1:9', '--rate', 'fast'], /--rate/],
    [['send', '--to', '127.0.0.1:9', '--flows', '0'], /--flows/],
    [['send', '--to', '127.0.0.1:9', '--backend', 'io_uring'], /--backend/],
    [['send', '--to', '127.0.0.1:9', '--batch', '1025'], /--batch/],
    [['send', '--to', '127.0.0.1:9', '--window-us', '0'], /--window-us/],
    [['send', '--to', '127.0.0.1:9', '--bogus'], /bogus/],
    [['send', '--to', '127.0.0.1:9', 'extra'], /extra|positional/i],
    [['send', '--to'], /--to/],
    [['frobnicate'], /unknown command/],
  ])('%j → UsageError (exit 2)', (argv, message) => {
    const err = usageError(argv as string[]);
    expect(err.exitCode).toBe(2);
    expect(err.message).toMatch(message);
  });

  it('IPv6 targets allow the larger IPv6 payload', () => {
    expect((parseCli(['send', '--to', '[::1]:9', '--size', '65527']) as SendOptions).size).toBe(65527);
  });

  it.each(['192.0.2.1:9', '10.0.0.1:9', '[::2]:9', '[fe80::1]:9', '[::ffff:10.0.0.1]:9', 'example.com:9', '0.0.0.0:9'])(
    'refuses non-loopback target %s without --allow-remote',
    (to) => {
      const err = usageError(['send', '--to', to]);
      expect(err.exitCode).toBe(2);
      expect(err.message).toMatch(/non-loopback.*--allow-remote/);
      expect(err.showUsage).toBe(false);
    },
  );

  it('allows a remote target with --allow-remote', () => {
    const o = parseCli(['send', '--to', '192.0.2.1:9', '--allow-remote']) as SendOptions;
    expect(o.allowRemote).toBe(true);
    expect(o.to.host).toBe('192.0.2.1');
  });
});

describe('parseCli: sink, selftest, help', () => {
  it('sink defaults to an ephemeral loopback port and idle 2000 ms', () => {
    const o = parseCli(['sink']) as SinkOptions;
    expect(o).toMatchObject({ listen: { host: '127.0.0.1', port: 0 }, idleMs: 2000, count: null, durationS: null });
  });

  it('sink accepts count, duration and idle together', () => {
    const o = parseCli(['sink', '--listen', '[::1]:0', '--count', '10', '--duration', '5', '--idle-ms', '300', '--rcvbuf', '1048576', '--json']) as SinkOptions;
    expect(o).toMatchObject({ listen: { host: '::1', family: 6 }, count: 10, durationS: 5, idleMs: 300, recvBufferSize: 1 << 20, json: true });
  });

  it('sink refuses to listen on a non-loopback address without --allow-remote', () => {
    expect(usageError(['sink', '--listen', '0.0.0.0:9000']).message).toMatch(/--allow-remote/);
    expect((parseCli(['sink', '--listen', '0.0.0.0:9000', '--allow-remote']) as SinkOptions).listen.host).toBe('0.0.0.0');
  });

  it('sink refuses --idle-ms 0 and unknown flags', () => {
    expect(usageError(['sink', '--idle-ms', '0']).exitCode).toBe(2);
    expect(usageError(['sink', '--to', '127.0.0.1:9']).exitCode).toBe(2);
  });

  it('no arguments means selftest; help in all spellings', () => {
    expect(parseCli([])).toMatchObject({ command: 'selftest', count: DEFAULTS.selftestCount, perf: true });
    expect(parseCli(['selftest', '--count', '5000', '--no-perf'])).toMatchObject({ command: 'selftest', count: 5000, perf: false });
    for (const argv of [['help'], ['--help'], ['-h'], ['send', '--help'], ['sink', '-h'], ['selftest', '--help']]) {
      expect(parseCli(argv)).toEqual({ command: 'help' });
    }
  });
});

describe('helpers', () => {
  it('--to and --listen take every loopback form without --allow-remote (the library\'s isLoopback decides)', () => {
    for (const [host, to] of [['127.0.0.1', '127.0.0.1:9'], ['127.255.0.9', '127.255.0.9:9'], ['::1', '[::1]:9'], ['0:0:0:0:0:0:0:1', '[0:0:0:0:0:0:0:1]:9'], ['::ffff:127.0.0.1', '[::ffff:127.0.0.1]:9'], ['::ffff:7f00:1', '[::ffff:7f00:1]:9'], ['localhost', 'localhost:9'], ['LOCALHOST', 'LOCALHOST:9']]) {
      expect((parseCli(['send', '--to', to]) as SendOptions).to.host, to).toBe(host);
      expect((parseCli(['sink', '--listen', to]) as SinkOptions).listen.host, to).toBe(host);
    }
    for (const to of ['128.0.0.1:9', '[::2]:9', '[::ffff:192.0.2.1]:9', '[::ffff:7f00:1:0]:9']) expect(usageError(['sink', '--listen', to]).message, to).toMatch(/--allow-remote/);
  });

  it('parseEndpoint keeps names for later resolution', () => {
    expect(parseEndpoint('example.com:53', '--to', 1)).toEqual({ host: 'example.com', port: 53, family: null });
    expect(parseEndpoint('[::1]:0', '--listen', 0)).toEqual({ host: '::1', port: 0, family: 6 });
  });
});

describe('version and sink idle timeout', () => {
  it.each([['--version'], ['-V'], ['version']])('%j → version', (...argv) => {
    expect(parseCli(argv)).toEqual({ command: 'version' });
  });
  it('sink --duration has no idle timeout unless --idle-ms is given', () => {
    expect((parseCli(['sink', '--duration', '5']) as SinkOptions).idleMs).toBeNull();
    expect((parseCli(['sink', '--duration', '5', '--idle-ms', '300']) as SinkOptions).idleMs).toBe(300);
    expect((parseCli(['sink']) as SinkOptions).idleMs).toBe(DEFAULTS.idleMs);
  });
});
