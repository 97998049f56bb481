type Listener<T> = (arg: T) => void;
/**
 * A small typed event emitter. A listener that throws does not disturb the
 * client: the exception is rethrown on its own task, where the browser's
 * console (or Node's uncaught-exception handling) reports it.
 */
export declare class Emitter<Events extends object> {
    private listeners;
    /** Adds a listener and returns a function that removes it. */
    on<K extends keyof Events>(event: K, fn: Listener<Events[K]>): () => void;
    /** Adds a listener called for the next event only. */
    once<K extends keyof Events>(event: K, fn: Listener<Events[K]>): () => void;
    /** Removes a listener (or every listener of the event without fn). */
    off<K extends keyof Events>(event: K, fn?: Listener<Events[K]>): void;
}
export {};
