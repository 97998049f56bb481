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
export function memoryStore(): PositionStore {
  const m = new Map<string, string>();
  return {
    get: (k) => m.get(k),
    set: (k, v) => {
      m.set(k, v);
    },
  };
}

/**
 * The browser's localStorage, or null where there is none or it refuses
 * to work (Node, some private modes, sandboxed frames).
 */
export function localStorageStore(): PositionStore | null {
  try {
    const ls = (globalThis as any).localStorage;
    if (!ls) return null;
    const probe = 'herald:probe';
    ls.setItem(probe, '1');
    ls.removeItem(probe);
    return {
      get: (k) => ls.getItem(k),
      set: (k, v) => {
        try {
          ls.setItem(k, v);
        } catch {
          // A full or revoked storage loses the position, not the message.
        }
      },
    };
  } catch {
    return null;
  }
}
