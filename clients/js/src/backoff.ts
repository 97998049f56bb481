/**
 * Reconnect delays with full jitter: retry n waits a random time between 0
 * and min(max, min·2ⁿ), so that thousands of clients cut off at once do not
 * come back at once.
 */
export interface Backoff {
  /** The first ceiling, in milliseconds. */
  min: number;
  /** The largest ceiling, in milliseconds. */
  max: number;
}

/** The largest wait before retry n (counting from 0). */
export function ceiling(b: Backoff, n: number): number {
  return Math.min(b.max, b.min * Math.pow(2, Math.min(n, 30)));
}

/** A random wait before retry n, in [0, ceiling(n)]. */
export function delay(b: Backoff, n: number): number {
  return Math.floor(Math.random() * (ceiling(b, n) + 1));
}
