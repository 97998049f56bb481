/**
 * What the client does after a close code, from the protocol's close-code
 * table: 'stop' (a client bug or a decision the server made for good),
 * 'now' (reconnect at once, with a little jitter), 'backoff' (reconnect
 * after a growing delay), or 'token' (fetch a new token, then reconnect).
 */
export type Reaction = 'stop' | 'now' | 'backoff' | 'token';
/**
 * reaction returns what to do after a connection closed with code. A
 * `disconnect` push, when the server sent one, decides codes outside the
 * table (an application's own codes sent through the server API).
 *
 * Code 0 stands for an end without a close code from the server: a
 * network error, a missed heartbeat, a malformed frame.
 */
export declare function reaction(code: number, pushedReconnect?: boolean): Reaction;
