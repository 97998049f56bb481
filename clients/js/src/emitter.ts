type Listener<T> = (arg: T) => void;

/**
 * A small typed event emitter. A listener that throws does not disturb the
 * client: the exception is rethrown on its own task, where the browser's
 * console (or Node's uncaught-exception handling) reports it.
 */
export class Emitter<Events extends object> {
  private listeners: { [K in keyof Events]?: Listener<Events[K]>[] } = {};

  /** Adds a listener and returns a function that removes it. */
  on<K extends keyof Events>(event: K, fn: Listener<Events[K]>): () => void {
    (this.listeners[event] ||= []).push(fn);
    return () => this.off(event, fn);
  }

  /** Adds a listener called for the next event only. */
  once<K extends keyof Events>(event: K, fn: Listener<Events[K]>): () => void {
    const off = this.on(event, (arg) => {
      off();
      fn(arg);
    });
    return off;
  }

  /** Removes a listener (or every listener of the event without fn). */
  off<K extends keyof Events>(event: K, fn?: Listener<Events[K]>): void {
    const list = this.listeners[event];
    if (!list) return;
    this.listeners[event] = fn ? list.filter((l) => l !== fn) : [];
  }

  /** @internal */
  _emit<K extends keyof Events>(event: K, arg: Events[K]): void {
    const list = this.listeners[event];
    if (!list) return;
    for (const fn of list.slice()) {
      try {
        fn(arg);
      } catch (e) {
        setTimeout(() => {
          throw e;
        });
      }
    }
  }
}
