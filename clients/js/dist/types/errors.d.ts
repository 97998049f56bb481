/**
 * Error codes. The protocol's codes (100 and up) come from the server's
 * error replies; the ones below 100 are the client's own, for calls that
 * never got a reply.
 */
export declare const ErrorCode: {
    /** The call got no reply within the client's `timeout`. */
    readonly TIMEOUT: 1;
    /** The connection ended before the reply: the command may or may not have taken effect. */
    readonly DISCONNECTED: 2;
    /** The client is disconnected (never connected, `disconnect()`, or closed for good by the server). */
    readonly CLOSED: 3;
    /** Too many calls are waiting for a connection (`maxQueued`). */
    readonly QUEUE_FULL: 4;
    /** The subscription was unsubscribed before its subscribe completed. */
    readonly UNSUBSCRIBED: 5;
    readonly INTERNAL: 100;
    readonly UNAUTHORIZED: 101;
    readonly UNKNOWN_NAMESPACE: 102;
    readonly PERMISSION_DENIED: 103;
    readonly UNKNOWN_COMMAND: 104;
    readonly ALREADY_SUBSCRIBED: 105;
    readonly LIMIT_EXCEEDED: 106;
    readonly BAD_REQUEST: 107;
    readonly NOT_AVAILABLE: 108;
    readonly TOKEN_EXPIRED: 109;
    readonly TOO_MANY_REQUESTS: 110;
    readonly UNRECOVERABLE: 111;
};
/**
 * HeraldError is how every failed call rejects: `code` is the protocol's
 * error code (or one of the client's own, below 100) and `temporary` says
 * whether the same call may succeed if retried later.
 */
export declare class HeraldError extends Error {
    /** The protocol error code, or a client code from {@link ErrorCode}. */
    readonly code: number;
    /** Whether retrying the same call later may succeed. */
    readonly temporary: boolean;
    constructor(code: number, message: string, temporary?: boolean);
}
