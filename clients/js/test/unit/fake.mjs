// A scripted WebSocket for unit tests: the test plays the server, reading
// the commands the client sends and answering with frames of its choice.
import assert from 'node:assert/strict';

export class FakeServer {
  constructor() {
    this.sockets = [];
    this.waiters = [];
    const server = this;
    this.WebSocket = class extends FakeSocket {
      constructor(url, protocols) {
        super(url, protocols);
        server.sockets.push(this);
        server.notify();
        queueMicrotask(() => this.onopen && this.onopen({}));
      }
    };
  }

  notify() {
    for (const w of this.waiters.splice(0)) w();
  }

  /** The n-th socket the client opened (0-based), once it exists. */
  async socket(n) {
    await until(() => this.sockets.length > n, `socket ${n} opened`);
    return this.sockets[n];
  }
}

export class FakeSocket {
  constructor(url, protocols) {
    this.url = url;
    this.protocols = protocols;
    this.protocol = Array.isArray(protocols) ? protocols[0] : protocols || '';
    this.binaryType = 'blob';
    this.sent = [];
    this.read = 0;
    this.closed = null;
    this.onopen = this.onmessage = this.onclose = this.onerror = null;
  }

  send(frame) {
    for (const line of String(frame).split('\n')) this.sent.push(JSON.parse(line));
  }

  close(code, reason) {
    this.closed = { code, reason };
  }

  terminate() {
    this.closed = { code: 1006, reason: 'terminated' };
  }

  /** The next command the client sent (of type, when given), skipping pongs. */
  async next(type) {
    let found;
    await until(() => {
      while (this.read < this.sent.length) {
        const c = this.sent[this.read++];
        if (c.type === 'pong' && type !== 'pong') continue;
        if (type && c.type !== type) assert.fail(`sent ${JSON.stringify(c)}, want ${type}`);
        found = c;
        return true;
      }
      return false;
    }, `a ${type || ''} command`);
    return found;
  }

  /** Sends server messages to the client in one frame. */
  deliver(...msgs) {
    this.onmessage && this.onmessage({ data: msgs.map((m) => (typeof m === 'string' ? m : JSON.stringify(m))).join('\n') });
  }

  /** Answers command cmd with result. */
  reply(cmd, result) {
    this.deliver({ id: cmd.id, result });
  }

  /** Answers the connect command with a result (ping 25 unless given). */
  async accept(result = {}) {
    const c = await this.next('connect');
    this.reply(c, { client: 'c1', user: '', ping: 25, ...result });
    return c;
  }

  /** Closes from the server side, after a disconnect push unless push is false. */
  serverClose(code, reason = 'test', push = true) {
    if (push) this.deliver({ type: 'disconnect', code, reason, reconnect: false });
    this.onclose && this.onclose({ code, reason });
  }
}

/** Waits until cond() holds, polling; fails after 3 s. */
export async function until(cond, what = 'condition') {
  const deadline = Date.now() + 3000;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 1));
  }
}

/** Options that make reconnects immediate, for tests. */
export const fast = { minReconnectDelay: 1, maxReconnectDelay: 2, inboxStore: null, transports: ['websocket'] };

/** Records a client's or subscription's events in order. */
export function record(emitter, ...events) {
  const log = [];
  for (const e of events) emitter.on(e, (arg) => log.push([e, arg]));
  return log;
}

/** Counts the client's timers still pending (Node's active resources). */
export function timers() {
  return process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
}
