/**
 * Typed errors with Node-style `code`s. Codes reuse Node's own where Node has one for
 * the same condition (so code written against `node:dgram` keeps working), and add a
 * few of our own for batching conditions.
 */
import { getSystemErrorName } from 'node:util';

/** Error codes this library throws or reports, besides system errno names (`'EMSGSIZE'`, …). */
export type ErrorCode =
  | 'ERR_INVALID_ARG_TYPE'
  | 'ERR_INVALID_ARG_VALUE'
  | 'ERR_OUT_OF_RANGE'
  | 'ERR_SOCKET_BAD_PORT'
  | 'ERR_SOCKET_BAD_TYPE'
  | 'ERR_INVALID_IP_ADDRESS'
  | 'ERR_SOCKET_ALREADY_BOUND'
  | 'ERR_SOCKET_DGRAM_IS_CONNECTED'
  | 'ERR_SOCKET_DGRAM_NOT_CONNECTED'
  | 'ERR_SOCKET_DGRAM_NOT_RUNNING'
  | 'ERR_SOCKET_QUEUE_FULL'
  | 'ERR_SOCKET_CLOSED'
  | 'ERR_BACKEND_UNAVAILABLE'
  | 'EMSGSIZE';

/** An error with a Node-style `code`. `instanceof`-checkable; `name` follows the JS class (TypeError, RangeError, Error). */
export class BatchSocketError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.code = code;
  }
  override get name(): string {
    return `Error [${this.code}]`;
  }
}

/** Wrong argument type. Thrown synchronously. */
export class BatchSocketTypeError extends TypeError {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

/** Argument out of range. Thrown synchronously. */
export class BatchSocketRangeError extends RangeError {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

/**
 * A system error as Node reports it (`code` = errno name, `errno` negative, `syscall`),
 * e.g. the EMSGSIZE of one datagram or the ECONNREFUSED a connected socket receives.
 */
export interface SystemError extends Error {
  code: string;
  errno: number;
  syscall: string;
  address?: string;
  port?: number;
}

/** Builds a {@link SystemError} from a positive errno. */
export function systemError(errno: number, syscall: string, address?: string, port?: number): SystemError {
  const code = errnoName(errno);
  const where = address === undefined ? '' : port === undefined ? ` ${address}` : ` ${address}:${port}`;
  const err = new Error(`${syscall} ${code}${where}`) as SystemError;
  err.code = code;
  err.errno = -Math.abs(errno);
  err.syscall = syscall;
  if (address !== undefined) err.address = address;
  if (port !== undefined) err.port = port;
  return err;
}

/** `'EAGAIN'` for 11, etc. Unknown values give `'E<n>'`. */
export function errnoName(errno: number): string {
  if (errno === 0) return 'OK';
  try {
    return getSystemErrorName(-Math.abs(errno));
  } catch {
    return `E${Math.abs(errno)}`;
  }
}

export const notRunning = (): BatchSocketError => new BatchSocketError('ERR_SOCKET_DGRAM_NOT_RUNNING', 'Not running: the socket is closed');
