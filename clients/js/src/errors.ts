/**
 * Error codes. The protocol's codes (100 and up) come from the server's
 * error replies; the ones below 100 are the client's own, for calls that
 * never got a reply.
 */
export const ErrorCode = {
  /** The call got no reply within the client's `timeout`. */
  TIMEOUT: 1,
  /** The connection ended before the reply: the command may or may not have taken effect. */
  DISCONNECTED: 2,
  /** The client is disconnected (never connected, `disconnect()`, or closed for good by the server). */
  CLOSED: 3,
  /** Too many calls are waiting for a connection (`maxQueued`). */
  QUEUE_FULL: 4,
  /** The subscription was unsubscribed before its subscribe completed. */
  UNSUBSCRIBED: 5,
  INTERNAL: 100,
  UNAUTHORIZED: 101,
  UNKNOWN_NAMESPACE: 102,
  PERMISSION_DENIED: 103,
  UNKNOWN_COMMAND: 104,
  ALREADY_SUBSCRIBED: 105,
  LIMIT_EXCEEDED: 106,
  BAD_REQUEST: 107,
  NOT_AVAILABLE: 108,
  TOKEN_EXPIRED: 109,
  TOO_MANY_REQUESTS: 110,
  UNRECOVERABLE: 111,
} as const;

/**
 * HeraldError is how every failed call rejects: `code` is the protocol's
 * error code (or one of the client's own, below 100) and `temporary` says
 * whether the same call may succeed if retried later.
 */
export class HeraldError extends Error {
  /** The protocol error code, or a client code from {@link ErrorCode}. */
  readonly code: number;
  /** Whether retrying the same call later may succeed. */
  readonly temporary: boolean;

  constructor(code: number, message: string, temporary = false) {
    super(message);
    this.name = 'HeraldError';
    this.code = code;
    this.temporary = temporary;
  }
}

/** @internal A reply's error object as a HeraldError. */
export function fromWire(e: unknown): HeraldError {
  const o = (e && typeof e === 'object' ? e : {}) as { code?: unknown; message?: unknown; temporary?: unknown };
  const code = typeof o.code === 'number' ? o.code : ErrorCode.INTERNAL;
  return new HeraldError(code, typeof o.message === 'string' ? o.message : 'error ' + code, o.temporary === true);
}
