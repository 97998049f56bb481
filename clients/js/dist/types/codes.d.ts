/**
 * What the client does after a close code, from the protocol's close-code
 * table: 'stop' (a client bug or a decision the server made for good),
 * 'now' (reconnect at once, with a little jitter), 'backoff' (reconnect
 * after a delay that grows while connections keep ending soon after they
 * began), or 'token' (fetch a new token, then reconnect).
 */
export type Reaction = 'stop' | 'now' | 'backoff' | 'token';
/**
 * reaction returns what to do after a connection closed with code. The
 * table (PROTOCOL.md §18.1, conformance/closecodes.json) decides the codes
 * it lists, whatever a `disconnect` push said. Any other code is an
 * application's own, sent through the server API or the connect proxy,
 * whose `disconnect` push (pushedReconnect) says whether to come back, or
 * comes from something between the client and the server (a proxy's
 * 1011–1014) without a push: not terminal. Either way the client comes
 * back after a backoff, as for 4006.
 *
 * Code 0 stands for an end without a close code from the server: a
 * network error, a missed heartbeat, a malformed frame.
 */
export declare function reaction(code: number, pushedReconnect?: boolean): Reaction;
