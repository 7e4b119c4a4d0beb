/**
 * Type-level tests of the public event API: checked by `tsc -p tsconfig.test.json` (CI's
 * typecheck step), where an `@ts-expect-error` line that compiles fails the build. The
 * runtime part only proves the typed methods still reach EventEmitter (dgram backend, no I/O).
 */
import { describe, expect, expectTypeOf, it } from 'vitest';
import type { RemoteInfo } from 'node:dgram';
import { createBatchSocket, DgramBatchSocket, NativeBatchSocket } from '../../src/index.js';
import type { BatchSocket, BatchSocketEvent, BatchSocketEventMap, FlushEvent, RecvBatch } from '../../src/index.js';

function typeChecks(sock: BatchSocket): void {
  sock.on('message', (msg, rinfo) => {
    expectTypeOf(msg).toEqualTypeOf<Buffer>();
    expectTypeOf(rinfo).toEqualTypeOf<RemoteInfo>();
  });
  sock.once('batch', (batch) => expectTypeOf(batch).toEqualTypeOf<RecvBatch>());
  sock.on('flush', (f) => {
    expectTypeOf(f).toEqualTypeOf<FlushEvent>();
    expectTypeOf(f.code).toEqualTypeOf<string | null>();
  });
  sock.on('error', (err) => expectTypeOf(err).toEqualTypeOf<Error>());
  for (const ev of ['drain', 'idle', 'listening', 'connect', 'close'] as const) sock.on(ev, () => {});
  const onIdle = (): void => {};
  sock.on('idle', onIdle).off('idle', onIdle);
  sock.prependListener('drain', () => {}).prependOnceListener('close', () => {});
  sock.addListener('listening', () => {}).removeListener('listening', () => {});
  expectTypeOf<BatchSocketEvent>().toEqualTypeOf<'listening' | 'message' | 'batch' | 'flush' | 'drain' | 'idle' | 'error' | 'connect' | 'close'>();
  expectTypeOf<BatchSocketEventMap['message']>().toEqualTypeOf<[msg: Buffer, rinfo: RemoteInfo]>();

  // @ts-expect-error a misspelt event name
  sock.on('mesage', () => {});
  // @ts-expect-error 'flush' passes a FlushEvent, which has no 'bytes' field
  sock.on('flush', (f) => f.bytes);
  // @ts-expect-error 'message' passes (Buffer, RemoteInfo), not a string
  sock.on('message', (msg: string) => msg);
  // @ts-expect-error 'drain' has no arguments to take
  sock.once('drain', (n: number) => n);
  // @ts-expect-error off() checks names too
  sock.off('closed', () => {});
  // @ts-expect-error emit() checks arguments
  sock.emit('flush', { requested: 1 });

  // The exported classes have the same typed methods.
  const native = sock as unknown as NativeBatchSocket;
  native.on('batch', (b) => expectTypeOf(b).toEqualTypeOf<RecvBatch>());
  // @ts-expect-error
  native.on('drained', () => {});
  const dgram = sock as unknown as DgramBatchSocket;
  // @ts-expect-error
  dgram.once('messages', () => {});
}

describe('typed events', () => {
  it('typed listeners still register and fire (dgram backend, no socket I/O)', () => {
    const sock = createBatchSocket({ type: 'udp4', backend: 'dgram' });
    expect(typeof typeChecks).toBe('function');
    let drained = 0;
    const onDrain = (): void => {
      drained++;
    };
    sock.on('drain', onDrain);
    sock.emit('drain');
    sock.off('drain', onDrain);
    sock.emit('drain');
    expect(drained).toBe(1);
    sock.close();
  });
});
