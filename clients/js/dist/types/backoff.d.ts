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
export declare function ceiling(b: Backoff, n: number): number;
/** A random wait before retry n, in [0, ceiling(n)]. */
export declare function delay(b: Backoff, n: number): number;
