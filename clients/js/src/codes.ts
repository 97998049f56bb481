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
export function reaction(code: number, pushedReconnect?: boolean): Reaction {
  switch (code) {
    case 1000: case 1002: case 1003: case 1007: case 1008: case 1009: case 1010:
    case 4500: case 4501: case 4502:
      return 'stop';
    case 4003:
      return 'token';
    case 4004: case 4005: case 4006:
      return 'backoff';
    case 0: case 1001: case 1005: case 1006: case 1011: case 1012: case 1013: case 1014:
    case 4000: case 4001: case 4002:
      return 'now';
  }
  if (pushedReconnect !== undefined) return pushedReconnect ? 'now' : 'stop';
  return code >= 4000 && code < 4500 ? 'now' : 'stop';
}
