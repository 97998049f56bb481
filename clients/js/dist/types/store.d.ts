/**
 * Where the client keeps the user's inbox position between visits, so that
 * direct messages sent while the user was away arrive on the next connect.
 * Values are short strings; `get` and `set` may return promises (an
 * IndexedDB store, say). Keys start with "herald:inbox:" and name the user.
 */
export interface PositionStore {
    get(key: string): string | null | undefined | Promise<string | null | undefined>;
    set(key: string, value: string): void | Promise<void>;
}
/** A store that keeps positions for the life of the page or process. */
export declare function memoryStore(): PositionStore;
/**
 * The browser's localStorage, or null where there is none or it refuses
 * to work (Node, some private modes, sandboxed frames).
 */
export declare function localStorageStore(): PositionStore | null;
