/** udp-blast's GSO/GRO switches: on by default, --no-* turns them off, both at once is a usage error. */
import { describe, expect, test } from 'vitest';
import { parseCli, UsageError, type SendOptions, type SinkOptions } from '../../src/cli/args.js';

describe('udp-blast --gso/--no-gso, --gro/--no-gro', () => {
  test('send: GSO on by default and with --gso, off with --no-gso', () => {
    expect((parseCli(['send', '--to', '127.0.0.1:9']) as SendOptions).gso).toBe(true);
    expect((parseCli(['send', '--to', '127.0.0.1:9', '--gso']) as SendOptions).gso).toBe(true);
    expect((parseCli(['send', '--to', '127.0.0.1:9', '--no-gso']) as SendOptions).gso).toBe(false);
    expect(() => parseCli(['send', '--to', '127.0.0.1:9', '--gso', '--no-gso'])).toThrow(UsageError);
    expect(() => parseCli(['send', '--to', '127.0.0.1:9', '--gro'])).toThrow(UsageError);
  });
  test('sink: GRO on by default and with --gro, off with --no-gro', () => {
    expect((parseCli(['sink']) as SinkOptions).gro).toBe(true);
    expect((parseCli(['sink', '--gro']) as SinkOptions).gro).toBe(true);
    expect((parseCli(['sink', '--no-gro']) as SinkOptions).gro).toBe(false);
    expect(() => parseCli(['sink', '--no-gro', '--gro'])).toThrow(UsageError);
    expect(() => parseCli(['sink', '--gso'])).toThrow(UsageError);
  });
});
