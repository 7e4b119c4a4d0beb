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
  | 'ERR_SOCKET_BAD_BUFFER_SIZE'
  | 'ERR_SOCKET_BUFFER_SIZE'
  | 'ERR_BUFFER_OUT_OF_BOUNDS'
  | 'ERR_MISSING_ARGS'
  | 'ERR_INVALID_STATE'
  | 'ERR_INVALID_FD_TYPE'
  | 'ABORT_ERR'
  | 'EMSGSIZE';

/**
 * Node's error shape: `name` is the class's (`'Error'`, `'TypeError'`, `'RangeError'`) while
 * the stack and `toString()` read `Error [CODE]: message`, as lib/internal/errors.js does.
 */
function nodeStyle(err: Error & { code: string }, name: string): void {
  if (typeof err.stack === 'string' && err.stack.startsWith(`${name}:`)) {
    err.stack = `${name} [${err.code}]${err.stack.slice(name.length)}`;
  }
}


/** An error with a Node-style `code`. `instanceof`-checkable; `name` follows the JS class (TypeError, RangeError, Error). */
export class BatchSocketError extends Error {
  /** Node-style error code, e.g. `'ERR_SOCKET_DGRAM_NOT_RUNNING'`. */
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.code = code;
    nodeStyle(this, 'Error');
  }
  override toString(): string {
    return `Error [${this.code}]: ${this.message}`;
  }
}

/** Wrong argument type. Thrown synchronously. */
export class BatchSocketTypeError extends TypeError {
  /** Node-style error code, e.g. `'ERR_INVALID_ARG_TYPE'`. */
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.code = code;
    nodeStyle(this, 'TypeError');
  }
  override toString(): string {
    return `TypeError [${this.code}]: ${this.message}`;
  }
}

/** Argument out of range. Thrown synchronously. */
export class BatchSocketRangeError extends RangeError {
  /** Node-style error code, e.g. `'ERR_OUT_OF_RANGE'` or `'EMSGSIZE'`. */
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.code = code;
    nodeStyle(this, 'RangeError');
  }
  override toString(): string {
    return `RangeError [${this.code}]: ${this.message}`;
  }
}

/** What a {@link BatchSocketSystemError} wraps: the system call and its errno, as Node's `err.info`. */
export interface SystemErrorInfo {
  /** Negative errno, e.g. -22. */
  errno: number;
  /** Errno name, e.g. `'EINVAL'`. */
  code: string;
  /** strerror-style text, e.g. `'invalid argument'`. */
  message: string;
  syscall: string;
}

/**
 * Node's `SystemError` for a condition with its own code that wraps a system call's failure,
 * e.g. `ERR_SOCKET_BUFFER_SIZE` ("Could not get or set buffer size: uv_recv_buffer_size
 * returned EBADF (bad file descriptor)"): `name` `'SystemError'`, `code` the ERR_ code,
 * `info` `{ errno, code, message, syscall }`, and `errno`/`syscall` copied from it.
 */
export class BatchSocketSystemError extends Error {
  readonly code: ErrorCode;
  readonly info: SystemErrorInfo;
  readonly errno: number;
  readonly syscall: string;
  constructor(code: ErrorCode, prefix: string, info: SystemErrorInfo) {
    super(`${prefix}: ${info.syscall} returned ${info.code} (${info.message})`);
    this.code = code;
    this.info = info;
    this.errno = info.errno;
    this.syscall = info.syscall;
    if (typeof this.stack === 'string' && this.stack.startsWith('Error:')) this.stack = `SystemError [${code}]${this.stack.slice(5)}`;
  }
  override get name(): string {
    return 'SystemError';
  }
  override toString(): string {
    return `SystemError [${this.code}]: ${this.message}`;
  }
}

/** Lower-case strerror-like texts libuv uses in `err.info.message` for the errnos buffer sizes meet. */
const UV_MESSAGES: Record<string, string> = {
  EBADF: 'bad file descriptor',
  EINVAL: 'invalid argument',
  ENOBUFS: 'no buffer space available',
  ENOMEM: 'not enough memory',
  EPERM: 'operation not permitted',
};

/**
 * `ERR_SOCKET_BUFFER_SIZE` as node:dgram throws it from `set/get{Send,Recv}BufferSize`
 * (e.g. EBADF before bind, EINVAL above 2147483647). `which` picks the syscall name dgram
 * reports (`uv_send_buffer_size` / `uv_recv_buffer_size`).
 */
export function bufferSizeError(which: 'send' | 'recv', errno: number): BatchSocketSystemError {
  const code = errnoName(errno);
  return new BatchSocketSystemError('ERR_SOCKET_BUFFER_SIZE', 'Could not get or set buffer size', {
    errno: -Math.abs(errno),
    code,
    message: UV_MESSAGES[code] ?? code.toLowerCase(),
    syscall: `uv_${which}_buffer_size`,
  });
}

/**
 * A system error as Node reports it (`code` = errno name, `errno` negative, `syscall`),
 * e.g. the EMSGSIZE of one datagram or the ECONNREFUSED a connected socket receives.
 */
export interface SystemError extends Error {
  /** Errno name, e.g. `'ECONNREFUSED'` (`'E<n>'` for an errno Node does not name). */
  code: string;
  /** Negative errno (Node convention), e.g. -111. */
  errno: number;
  /** The failing system call, e.g. `'recvmmsg'`, `'getsockname'`, `'setTTL'`. */
  syscall: string;
  /** Address involved, when there is one. */
  address?: string;
  /** Port involved, when there is one. */
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
