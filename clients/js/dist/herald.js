// src/backoff.ts
function ceiling(b, n) {
  return Math.min(b.max, b.min * Math.pow(2, Math.min(n, 30)));
}
function delay(b, n) {
  return Math.floor(Math.random() * (ceiling(b, n) + 1));
}

// src/codec.ts
var json = {
  subprotocol: "herald.v1.json",
  binary: false,
  encode(commands) {
    return commands.map((c) => JSON.stringify(c)).join("\n");
  },
  decode(frame) {
    if (typeof frame !== "string") throw new Error("binary frame on a JSON connection");
    const out = [];
    for (const line of frame.split("\n")) {
      if (line.trim() === "") continue;
      const m = JSON.parse(line);
      if (!m || typeof m !== "object" || Array.isArray(m)) throw new Error("server message is not an object");
      out.push(fixData(m));
    }
    return out;
  }
};
function fixData(m) {
  b64(m);
  pubs(m.publications);
  const r = m.result;
  if (r && typeof r === "object") {
    pubs(r.publications);
    if (r.inbox) pubs(r.inbox.publications);
    if (r.subs && typeof r.subs === "object") for (const k in r.subs) pubs(r.subs[k] && r.subs[k].publications);
  }
  return m;
}
function pubs(list) {
  if (Array.isArray(list)) for (const p of list) b64(p);
}
function b64(o) {
  if (o && typeof o === "object" && typeof o.b64 === "string" && !("data" in o)) {
    const s = atob(o.b64);
    const bytes = new Uint8Array(s.length);
    for (let i = 0; i < s.length; i++) bytes[i] = s.charCodeAt(i);
    o.data = bytes;
    delete o.b64;
  }
}

// src/codes.ts
function reaction(code, pushedReconnect) {
  switch (code) {
    case 1e3:
    case 1002:
    case 1003:
    case 1007:
    case 1009:
    case 4500:
    case 4501:
    case 4502:
      return "stop";
    case 4003:
      return "token";
    case 4004:
    case 4005:
    case 4006:
      return "backoff";
    case 0:
    case 1001:
    case 1006:
    case 4e3:
    case 4001:
    case 4002:
      return "now";
  }
  return pushedReconnect === false ? "stop" : "backoff";
}

// src/emitter.ts
var Emitter = class {
  constructor() {
    this.listeners = {};
  }
  /** Adds a listener and returns a function that removes it. */
  on(event, fn) {
    var _a;
    ((_a = this.listeners)[event] || (_a[event] = [])).push(fn);
    return () => this.off(event, fn);
  }
  /** Adds a listener called for the next event only. */
  once(event, fn) {
    const off = this.on(event, (arg) => {
      off();
      fn(arg);
    });
    return off;
  }
  /** Removes a listener (or every listener of the event without fn). */
  off(event, fn) {
    const list = this.listeners[event];
    if (!list) return;
    this.listeners[event] = fn ? list.filter((l) => l !== fn) : [];
  }
  /** @internal */
  _emit(event, arg) {
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
};

// src/errors.ts
var ErrorCode = {
  /** The call got no reply within the client's `timeout`. */
  TIMEOUT: 1,
  /** The connection ended before the reply: the command may or may not have taken effect. */
  DISCONNECTED: 2,
  /** The client is disconnected (never connected, `disconnect()`, or closed for good by the server). */
  CLOSED: 3,
  /** Too many calls are waiting for a connection (`maxQueued`). */
  QUEUE_FULL: 4,
  /** The subscription was unsubscribed before its subscribe completed. */
  UNSUBSCRIBED: 5,
  INTERNAL: 100,
  UNAUTHORIZED: 101,
  UNKNOWN_NAMESPACE: 102,
  PERMISSION_DENIED: 103,
  UNKNOWN_COMMAND: 104,
  ALREADY_SUBSCRIBED: 105,
  LIMIT_EXCEEDED: 106,
  BAD_REQUEST: 107,
  NOT_AVAILABLE: 108,
  TOKEN_EXPIRED: 109,
  TOO_MANY_REQUESTS: 110,
  UNRECOVERABLE: 111
};
var HeraldError = class extends Error {
  constructor(code, message, temporary = false) {
    super(message);
    this.name = "HeraldError";
    this.code = code;
    this.temporary = temporary;
  }
};
function fromWire(e) {
  const o = e && typeof e === "object" ? e : {};
  const code = typeof o.code === "number" ? o.code : ErrorCode.INTERNAL;
  return new HeraldError(code, typeof o.message === "string" ? o.message : "error " + code, o.temporary === true);
}

// src/store.ts
function memoryStore() {
  const m = /* @__PURE__ */ new Map();
  return {
    get: (k) => m.get(k),
    set: (k, v) => {
      m.set(k, v);
    }
  };
}
function localStorageStore() {
  try {
    const ls = globalThis.localStorage;
    if (!ls) return null;
    const probe = "herald:probe";
    ls.setItem(probe, "1");
    ls.removeItem(probe);
    return {
      get: (k) => ls.getItem(k),
      set: (k, v) => {
        try {
          ls.setItem(k, v);
        } catch {
        }
      }
    };
  } catch {
    return null;
  }
}

// src/subscription.ts
var Subscription = class extends Emitter {
  /** @internal Use Herald.newSubscription. */
  constructor(c, channel, opts, serverSide = false) {
    super();
    this._state = "unsubscribed";
    this.pos = { offset: 0, epoch: "" };
    /** Whether a subscribe succeeded since subscribe() (the position is the stream's). */
    this.active = false;
    /** The connection generation the subscription was last sent on. */
    this.gen = -1;
    /** The generation on which unsubscribe() was sent while a subscribe was in flight. */
    this.unsubGen = -1;
    /** Numbers subscribe commands, so that a stale reply is ignored. */
    this.seq = 0;
    this.retries = 0;
    /** Set from a gap in the live stream until the resubscribe that repairs it is answered. */
    this.resyncing = false;
    this.c = c;
    this.channel = channel;
    this.opts = opts;
    this.since = opts.since;
    this.serverSide = serverSide;
    if (serverSide) this._state = "subscribing";
  }
  /** The subscription's state. */
  get state() {
    return this._state;
  }
  /**
   * The last delivered position; store it to resume later with the
   * `since` option. The epoch is "" for a channel without history.
   */
  get position() {
    return { offset: this.pos.offset, epoch: this.pos.epoch };
  }
  /**
   * Subscribes, and resolves once the server accepted (waiting for a
   * connection if there is none). It rejects with the server's error when
   * the subscribe is refused (`temporary` says whether trying again later
   * may work), or when unsubscribe() or disconnect() comes first.
   */
  subscribe() {
    if (this._state === "subscribed") return Promise.resolve();
    const p = new Promise((resolve, reject) => {
      const prev = this.ready;
      this.ready = {
        resolve: () => {
          prev?.resolve();
          resolve();
        },
        reject: (e) => {
          prev?.reject(e);
          reject(e);
        }
      };
    });
    if (this._state === "unsubscribed") {
      this._state = "subscribing";
      this.unsubGen = -1;
      if (this.c.state === "connected") this.sendSubscribe(this.c._gen);
    }
    return p;
  }
  /** Unsubscribes. Idempotent; the subscription may subscribe again later. */
  async unsubscribe() {
    if (this._state === "unsubscribed") return;
    const sent = this.gen === this.c._gen;
    this.reset();
    this._state = "unsubscribed";
    this.settle(new HeraldError(ErrorCode.UNSUBSCRIBED, "herald: unsubscribed before the subscribe completed"));
    this._emit("unsubscribed", { code: 0, reason: "unsubscribe called" });
    if (sent && this.c.state !== "disconnected") {
      this.unsubGen = this.c._gen;
      try {
        await this.c._call({ type: "unsubscribe", channel: this.channel }, 0);
      } catch (e) {
        if (!(e instanceof HeraldError) || e.code !== ErrorCode.DISCONNECTED && e.code !== ErrorCode.CLOSED) throw e;
      }
    }
  }
  /** Publishes to the channel; see Herald.publish. */
  publish(data) {
    return this.c.publish(this.channel, data);
  }
  /** The channel's presence; see Herald.presence. */
  presence() {
    return this.c.presence(this.channel);
  }
  /** The channel's presence counts; see Herald.presenceStats. */
  presenceStats() {
    return this.c.presenceStats(this.channel);
  }
  /** The channel's history; see Herald.history. */
  history(options) {
    return this.c.history(this.channel, options);
  }
  // Internals, called by the client ----------------------------------------
  /** The since of a resubscribe: the last position, for a channel with history. */
  resumeFrom() {
    if (this.active && this.pos.epoch) return { offset: this.pos.offset, epoch: this.pos.epoch };
    return this.since;
  }
  /** @internal The entry of the connect command's subs, or undefined to subscribe after connect. */
  _connectEntry(gen) {
    if (this._state === "unsubscribed" || this.opts.token || this.opts.getToken) return void 0;
    this.gen = gen;
    this.seq++;
    const since = this.resumeFrom();
    return since ? { since } : {};
  }
  /** @internal Subscribes what the connect command did not carry. */
  _afterConnect(gen) {
    if (this._state !== "unsubscribed" && this.gen !== gen) this.sendSubscribe(gen);
  }
  /** @internal The connection ended; stopped says the client stopped for good. */
  _disconnected(stopped = false) {
    clearTimeout(this.retryTimer);
    this.retryTimer = void 0;
    this.resyncing = false;
    if (this._state === "subscribed") this._state = "subscribing";
    if (stopped) this.settle(new HeraldError(ErrorCode.CLOSED, "herald: client disconnected before the subscribe completed"));
  }
  /** Sends the subscribe command on connection gen; the reply is applied ahead of the channel's messages. */
  async sendSubscribe(gen) {
    this.gen = gen;
    const seq = ++this.seq;
    const cmd = { type: "subscribe", channel: this.channel };
    let token = this.opts.token;
    if (this.opts.getToken) {
      try {
        token = await this.opts.getToken(this.channel);
      } catch (e) {
        if (seq !== this.seq || gen !== this.c._gen) return;
        this._applyResult({ error: { code: ErrorCode.UNAUTHORIZED, message: `herald: channel token: ${e}`, temporary: true } }, gen);
        return;
      }
      if (seq !== this.seq || gen !== this.c._gen || this._state === "unsubscribed") return;
    }
    if (token) cmd.token = token;
    const since = this.resumeFrom();
    if (since) cmd.since = since;
    this.c._call(cmd, 0, (result, err) => {
      if (seq !== this.seq || gen !== this.c._gen) return;
      if (err && (err.code === ErrorCode.DISCONNECTED || err.code === ErrorCode.CLOSED)) return;
      this._applyResult(err ? { error: { code: err.code, message: err.message, temporary: err.temporary } } : result || {}, gen);
    }).catch(() => {
    });
  }
  /** @internal A subscribe result the server pushed (subscribed) or sent in a connect result. */
  _serverSubscribed(r, gen) {
    if (this._state === "unsubscribed") {
      if (this.unsubGen === gen) return;
      this._state = "subscribing";
      this.serverSide = true;
    }
    this.gen = gen;
    this._applyResult(r, gen);
  }
  /**
   * @internal Applies a subscribe result: reports a lost recovery, delivers
   * the recovered publications not delivered yet, and moves the position to
   * the stream's. A resubscribe refused with a temporary error keeps the
   * subscription and tries again after a backoff; after recoveryRetries in a
   * row it reports the recovery lost and continues from the present.
   */
  _applyResult(r, gen) {
    if (this._state === "unsubscribed") return;
    const first = !this.active;
    this.resyncing = false;
    if (r.error) {
      const err = fromWire(r.error);
      if (!first && err.temporary) {
        const n = ++this.retries;
        this._emit("error", err);
        if (n > this.c._recoveryRetries && this.pos.epoch) {
          const since = this.position;
          this.pos = { offset: 0, epoch: "" };
          this.since = void 0;
          this._emit("recoveryLost", { since, position: { offset: 0, epoch: "" } });
        }
        clearTimeout(this.retryTimer);
        this.retryTimer = setTimeout(() => {
          this.retryTimer = void 0;
          if (gen === this.c._gen && this._state !== "unsubscribed") void this.sendSubscribe(gen);
        }, delay(this.c._backoff, n - 1));
        return;
      }
      this.reset();
      this._state = "unsubscribed";
      this.settle(err);
      this._emit("error", err);
      if (!first) this._emit("unsubscribed", { code: err.code, reason: err.message });
      return;
    }
    this.retries = 0;
    const asked = this.resumeFrom();
    const last = this.pos;
    const recovered = typeof r.recovered === "boolean" ? r.recovered : void 0;
    const position2 = { offset: num(r.offset), epoch: str(r.epoch) };
    this.active = true;
    this.since = void 0;
    this._state = "subscribed";
    const ev = { position: position2, resubscribed: !first };
    if (asked && recovered !== void 0) ev.recovered = recovered;
    this._emit("subscribed", ev);
    this.settle();
    if (asked && recovered === false) this._emit("recoveryLost", { since: asked, position: position2 });
    this.pos = { offset: last.epoch === position2.epoch ? last.offset : 0, epoch: position2.epoch };
    for (const p of Array.isArray(r.publications) ? r.publications : []) {
      const pub = publication(this.channel, p);
      if (recovered && pub.offset <= this.pos.offset) continue;
      if (this.gen !== gen || this._state !== "subscribed") return;
      if (pub.offset) this.pos.offset = pub.offset;
      this._emit("message", pub);
    }
    this.pos = { offset: position2.offset, epoch: position2.epoch };
    if (asked && recovered) this._emit("recovered", { since: asked, position: position2 });
  }
  /**
   * @internal Handles a push for this channel. Publications of a stream
   * must come with consecutive offsets: one that skips ahead means the
   * stream lost something on its way here and is never delivered; the
   * subscription resubscribes from its position instead, which recovers what
   * is missing or reports it lost.
   */
  _push(m, gen) {
    if (this._state !== "subscribed") return;
    switch (m.type) {
      case "message": {
        if (this.resyncing) return;
        const pub = publication(this.channel, m);
        if (pub.offset) {
          if (pub.offset <= this.pos.offset) return;
          if (this.pos.epoch && pub.offset !== this.pos.offset + 1) {
            this.resync(gen);
            return;
          }
          this.pos.offset = pub.offset;
        }
        this._emit("message", pub);
        return;
      }
      case "join":
      case "leave": {
        const i = info(m.info);
        if (i) this._emit(m.type, i);
        return;
      }
      case "unsubscribed":
        this.reset();
        this._state = "unsubscribed";
        this._emit("unsubscribed", { code: num(m.code), reason: str(m.reason) });
    }
  }
  /**
   * Unsubscribes and subscribes again from the last delivered position, in
   * that order (the server handles a connection's commands in order), after
   * a gap in the live stream.
   */
  resync(gen) {
    this.resyncing = true;
    this.c._call({ type: "unsubscribe", channel: this.channel }, 0).catch(() => {
    });
    void this.sendSubscribe(gen);
  }
  reset() {
    clearTimeout(this.retryTimer);
    this.retryTimer = void 0;
    this.resyncing = false;
    this.active = false;
    this.retries = 0;
    this.seq++;
    this.pos = { offset: 0, epoch: "" };
    this.since = this.opts.since;
  }
  /** Settles the pending subscribe() promises. */
  settle(err) {
    const r = this.ready;
    this.ready = void 0;
    if (!r) return;
    if (err) r.reject(err);
    else r.resolve();
  }
};

// src/transport.ts
var maxMessage = 64 << 20;
var maxPostBytes = 65536;
var maxPostCommands = 100;
function endpoint(url, path) {
  const u = new URL(url);
  u.protocol = u.protocol.replace("ws", "http");
  u.pathname = u.pathname.replace(/[^/]*$/, path);
  return u.href;
}
var StreamConn = class {
  constructor(sse, urls, codec, fetch, ES, token) {
    this.sse = sse;
    this.urls = urls;
    this.codec = codec;
    this.fetch = fetch;
    this.ES = ES;
    this.token = token;
    this.binaryType = "";
    this.onopen = null;
    this.onmessage = null;
    this.onclose = null;
    this.onerror = null;
    /** The session the connect reply named; the client sets it. */
    this.session = "";
    this.started = false;
    this.done = false;
    this.busy = false;
    this.queue = [];
    this.ac = new AbortController();
    this.protocol = codec.subprotocol;
    queueMicrotask(() => this.onopen && this.onopen({}));
  }
  send(frame) {
    if (this.done) return;
    if (!this.started) {
      this.started = true;
      if (this.sse) this.openSSE(frame);
      else void this.openStream(frame);
      return;
    }
    if (!this.session) throw new Error("herald: the server gave no session: this connection cannot send");
    this.queue.push(frame);
    void this.pump();
  }
  close() {
    this.done = true;
    this.ac.abort();
    if (this.es) this.es.close();
    clearTimeout(this.timer);
  }
  /** The connection ended from our side of it: the stream, a POST or the network failed. */
  end(reason) {
    if (this.done) return;
    this.close();
    if (this.onclose) this.onclose({ code: 1006, reason });
  }
  deliver(data) {
    if (!this.done && this.onmessage) this.onmessage({ data });
  }
  openSSE(connect) {
    const u = this.urls.sse;
    const es = this.es = new this.ES(`${u}${u.includes("?") ? "&" : "?"}connect=${encodeURIComponent(connect)}`);
    es.onmessage = (ev) => this.deliver(ev.data);
    es.onerror = () => this.end("event stream ended");
  }
  async openStream(connect) {
    const bin = this.codec.binary;
    try {
      const res = await this.fetch(this.urls.stream, {
        method: "POST",
        body: connect,
        // text/plain keeps a cross-origin request simple (no preflight).
        headers: { "Content-Type": bin ? "application/x-protobuf" : "text/plain" },
        signal: this.ac.signal,
        cache: "no-store"
      });
      const type = res.headers.get("Content-Type") || "";
      if (!res.ok || !res.body || !type.includes(bin ? "protobuf" : "ndjson")) {
        return this.end(`HTTP ${res.status} ${type}`);
      }
      const reader = res.body.getReader();
      const text = new TextDecoder();
      let buf = new Uint8Array(0);
      let parts = [];
      let held = 0;
      for (; ; ) {
        const { done, value } = await reader.read();
        if (this.done) return;
        if (done || !value) return this.end("stream ended");
        held += value.length;
        if (bin) {
          buf = buf.length ? concat(buf, value) : value;
          const n = complete(buf);
          if (n) {
            const frame = buf.subarray(0, n);
            buf = buf.subarray(n);
            held = buf.length;
            this.deliver(frame);
          }
        } else {
          const s = text.decode(value, { stream: true });
          const nl = s.lastIndexOf("\n");
          if (nl < 0) parts.push(s);
          else {
            parts.push(s.slice(0, nl));
            const frame = parts.join("");
            parts = [s.slice(nl + 1)];
            held = parts[0].length;
            this.deliver(frame);
          }
        }
        if (held > maxMessage) return this.end("message from server too large");
      }
    } catch {
      this.end("network error");
    }
  }
  /** Posts the queued frames in order, one request at a time. */
  async pump() {
    if (this.busy) return;
    this.busy = true;
    while (this.queue.length && !this.done) {
      const body = this.take();
      const headers = {
        "Content-Type": this.codec.binary ? "application/x-protobuf" : "text/plain"
      };
      const t = this.token();
      if (t) headers.Authorization = `Bearer ${t}`;
      const u = this.urls.command;
      for (; ; ) {
        let res;
        try {
          res = await this.fetch(`${u}${u.includes("?") ? "&" : "?"}session=${encodeURIComponent(this.session)}`, {
            method: "POST",
            body,
            headers,
            signal: this.ac.signal
          });
        } catch {
          return this.end("command request failed");
        }
        if (this.done) return;
        if (res.ok) break;
        const notDelivered = res.status === 503 && res.headers.get("Herald-Not-Delivered") === "1";
        if (res.status !== 429 && !notDelivered) return this.end(`command request: HTTP ${res.status}`);
        const after = Number(res.headers.get("Retry-After"));
        await new Promise((r) => this.timer = setTimeout(r, after > 0 ? Math.min(after, 5) * 1e3 : 100));
        if (this.done) return;
      }
    }
    this.busy = false;
  }
  /** The next request's body: the queued frames that fit in one. */
  take() {
    const q = this.queue;
    let n = 1;
    let bytes = size(q[0]);
    let cmds = count(q[0]);
    while (n < q.length && bytes + size(q[n]) + 1 <= maxPostBytes && cmds + count(q[n]) <= maxPostCommands) {
      bytes += size(q[n]) + 1;
      cmds += count(q[n]);
      n++;
    }
    const frames = q.splice(0, n);
    if (n === 1) return frames[0];
    if (typeof frames[0] === "string") return frames.join("\n");
    return frames.reduce((a, b) => concat(a, b));
  }
};
function size(f) {
  return typeof f === "string" ? f.length * 3 : f.length;
}
function count(f) {
  if (typeof f === "string") return f.split("\n").length;
  let n = 0;
  for (let i = 0; i < f.length; n++) {
    const [len, at] = varint(f, i);
    if (at < 0) break;
    i = at + len;
  }
  return n;
}
function varint(b, i) {
  let v = 0;
  for (let mul = 1; i < b.length && mul < 2 ** 35; mul *= 128) {
    const c = b[i++];
    v += (c & 127) * mul;
    if (c < 128) return [v, i];
  }
  return [0, -1];
}
function complete(b) {
  let n = 0;
  for (; ; ) {
    const [len, at] = varint(b, n);
    if (at < 0 || at + len > b.length) return n;
    n = at + len;
  }
}
function concat(a, b) {
  const c = new Uint8Array(a.length + b.length);
  c.set(a);
  c.set(b, a.length);
  return c;
}

// src/client.ts
var INBOX_KEY = "herald:inbox:";
var stableConnection = 3e4;
var Herald = class extends Emitter {
  constructor(url, options = {}) {
    super();
    /** The index in transports of the one to try next (or connected over). */
    this.ti = 0;
    /** Whether the connection that is ending was opened (not a failed token fetch). */
    this.opened = false;
    this._transport = "";
    this.tokenStale = false;
    this._state = "disconnected";
    this._client = "";
    this._user = "";
    this.expires = 0;
    this.ws = null;
    /** @internal The connection generation; events of older ones are ignored. */
    this._gen = 0;
    /** @internal Whether the current connection's connect succeeded. */
    this._live = false;
    /** The backoff count: failed attempts, and short connections ended with a backoff code, in a row. */
    this.attempt = 0;
    /** When the current connection's connect succeeded (Date.now()). */
    this.liveSince = 0;
    this.nextId = 0;
    this.pending = /* @__PURE__ */ new Map();
    this.queue = [];
    this.outbox = [];
    this.flushing = false;
    this.heard = 0;
    this.pingMs = 0;
    /** @internal */
    this._subs = /* @__PURE__ */ new Map();
    this.inbox = null;
    this.inboxUser = "";
    this.url = url;
    this.o = {
      timeout: options.timeout ?? 1e4,
      pingMargin: options.pingMargin ?? 5e3,
      recoveryRetries: options.recoveryRetries ?? 5,
      maxQueued: options.maxQueued ?? 100,
      name: options.name,
      version: options.version,
      WebSocket: options.WebSocket,
      fetch: options.fetch,
      EventSource: options.EventSource
    };
    this._backoff = { min: options.minReconnectDelay ?? 200, max: options.maxReconnectDelay ?? 2e4 };
    this._backoff.max = Math.max(this._backoff.max, this._backoff.min);
    this._codec = options.codec ?? json;
    this.transports = options.transports ?? ["websocket", "http_stream", "sse"];
    const u = options.urls || {};
    this.urls = {
      stream: u.stream || endpoint(url, "stream"),
      sse: u.sse || endpoint(url, "sse"),
      command: u.command || endpoint(url, "sse/cmd")
    };
    this.getToken = options.getToken;
    this.token = options.token;
    this.store = options.inboxStore !== void 0 ? options.inboxStore : localStorageStore() ?? memoryStore();
  }
  /** The client's state. */
  get state() {
    return this._state;
  }
  /** The transport of the current (or last) connection; "" before the first. */
  get transport() {
    return this._transport;
  }
  /** The current (or last) connection's id. */
  get client() {
    return this._client;
  }
  /** The user of the current (or last) connection; "" when anonymous. */
  get user() {
    return this._user;
  }
  /** @internal */
  get _recoveryRetries() {
    return this.o.recoveryRetries;
  }
  /**
   * Starts connecting; from then on the client reconnects by itself until
   * `disconnect()` or a close code after which it must not. Listen to
   * `connected` to know when it is up; calls made meanwhile wait for it.
   */
  connect() {
    if (this._state !== "disconnected") return;
    this.attempt = 0;
    this.setState("connecting");
    this._emit("connecting", { attempt: 0, delay: 0 });
    if (this._state === "connecting" && !this.ws && !this.retryTimer) void this.open();
  }
  /**
   * Closes the connection and stops reconnecting. Calls in flight or
   * waiting fail with CLOSED; subscriptions are kept, with their positions,
   * for the next `connect()`. No timer of the client's survives it.
   */
  disconnect() {
    if (this._state === "disconnected") return;
    const ws = this.ws;
    this.teardown();
    if (ws) ws.close(1e3, "client disconnected");
    this.stop(1e3, "client disconnected", ErrorCode.CLOSED);
  }
  /**
   * Ends a reconnect's wait and tries at once: for when the application
   * knows the network is back (a browser's `online` event). It does nothing
   * unless a reconnect is waiting.
   */
  retryNow() {
    if (this._state !== "connecting" || !this.retryTimer) return;
    clearTimeout(this.retryTimer);
    this.retryTimer = void 0;
    void this.open();
  }
  /**
   * Returns a new subscription object for channel, not subscribed yet:
   * attach listeners, then call its `subscribe()`. There is at most one
   * per channel (see getSubscription).
   */
  newSubscription(channel, options = {}) {
    if (this._subs.has(channel)) {
      throw new HeraldError(ErrorCode.ALREADY_SUBSCRIBED, `a subscription to ${channel} exists: use getSubscription`);
    }
    const s = new Subscription(this, channel, options);
    this._subs.set(channel, s);
    return s;
  }
  /** The subscription object of channel, if there is one. */
  getSubscription(channel) {
    return this._subs.get(channel);
  }
  /** Every subscription object, by channel. */
  subscriptions() {
    return new Map(this._subs);
  }
  /** Unsubscribes sub and forgets it, so that its channel may get a new one. */
  removeSubscription(sub) {
    const p = sub.unsubscribe();
    if (this._subs.get(sub.channel) === sub) this._subs.delete(sub.channel);
    return p;
  }
  /**
   * Publishes data (any JSON value; a Uint8Array needs the Protobuf codec)
   * to channel. Resolves to its place in the channel's stream (offset 0
   * when the channel keeps no history).
   */
  publish(channel, data) {
    return this.call({ type: "publish", channel, data }).then(position);
  }
  /**
   * Sends data to every connection of user, and to their inbox so that they
   * get it on their next connect if they are away. Resolves to its place in
   * the recipient's inbox (offset 0 when inboxes are off).
   */
  send(user, data) {
    return this.call({ type: "send", user, data }).then(position);
  }
  /** Who is in channel now, by client id. */
  presence(channel) {
    return this.call({ type: "presence", channel }).then((r) => r && r.clients || {});
  }
  /** How many connections and distinct users are in channel. */
  presenceStats(channel) {
    return this.call({ type: "presence_stats", channel }).then((r) => ({ clients: num(r && r.clients), users: num(r && r.users) }));
  }
  /**
   * Reads channel's history: with `limit`, one page, whose `next()` reads
   * the following one.
   */
  history(channel, options = {}) {
    const cmd = { type: "history", channel };
    if (options.limit !== void 0) cmd.limit = options.limit;
    if (options.since) cmd.since = { offset: options.since.offset, epoch: options.since.epoch };
    if (options.reverse) cmd.reverse = true;
    return this.call(cmd).then((r) => {
      const page = {
        publications: (r && r.publications || []).map((p) => publication(channel, p)),
        offset: num(r && r.offset),
        epoch: str(r && r.epoch)
      };
      const n = page.publications.length;
      if (options.limit && !options.reverse && n > 0 && n >= options.limit) {
        const since = { offset: page.publications[n - 1].offset, epoch: page.epoch };
        page.next = () => this.history(channel, { limit: options.limit, since });
      }
      return page;
    });
  }
  /**
   * @internal Sends cmd and resolves to its reply's result. Calls wait for
   * a connection while the client is connecting (at most maxQueued of
   * them); a timeout of 0 waits for the reply or the connection's end.
   */
  _call(cmd, timeout, onReply) {
    if (this._state === "disconnected") {
      return Promise.reject(new HeraldError(ErrorCode.CLOSED, "herald: not connected (call connect() first)"));
    }
    if (!this._codec.binary && cmd.data instanceof Uint8Array) {
      return Promise.reject(new HeraldError(ErrorCode.BAD_REQUEST, "herald: bytes need the Protobuf encoding; JSON carries JSON values"));
    }
    return new Promise((resolve, reject) => {
      const c = { cmd, resolve, reject, onReply };
      if (timeout > 0) {
        c.timer = setTimeout(() => {
          if (c.id !== void 0) this.pending.delete(c.id);
          else this.queue = this.queue.filter((q) => q !== c);
          reject(new HeraldError(ErrorCode.TIMEOUT, `herald: no reply to ${cmd.type} within ${timeout} ms`, true));
        }, timeout);
      }
      if (this._live) this.sendCall(c);
      else if (this.queue.length >= this.o.maxQueued) {
        clearTimeout(c.timer);
        reject(new HeraldError(ErrorCode.QUEUE_FULL, "herald: too many calls waiting for a connection", true));
      } else this.queue.push(c);
    });
  }
  call(cmd) {
    return this._call(cmd, this.o.timeout);
  }
  /** @internal Sends a command that wants no reply, on the live connection only. */
  _send(cmd) {
    if (this._live) this.write(cmd);
  }
  sendCall(c) {
    this.nextId = this.nextId >= 4294967295 ? 1 : this.nextId + 1;
    c.id = this.nextId;
    this.pending.set(c.id, c);
    this.write({ ...c.cmd, id: c.id });
  }
  /** Queues cmd for the next frame: commands issued together share one. */
  write(cmd) {
    this.outbox.push(cmd);
    if (this.flushing) return;
    this.flushing = true;
    const gen = this._gen;
    queueMicrotask(() => {
      this.flushing = false;
      const cmds = this.outbox;
      this.outbox = [];
      if (gen !== this._gen || !this.ws) return;
      try {
        for (let i = 0; i < cmds.length; i += 100) this.ws.send(this._codec.encode(cmds.slice(i, i + 100)));
      } catch (e) {
        this._emit("error", asError(e, "herald: cannot send"));
        this.drop(gen, 0, "cannot send", true);
      }
    });
  }
  setState(s) {
    this._state = s;
  }
  // Connection lifecycle ------------------------------------------------
  async open() {
    this.retryTimer = void 0;
    const gen = ++this._gen;
    let token;
    let since = null;
    try {
      token = await this.connectToken();
      if (gen !== this._gen) return;
      since = await this.inboxSince(token);
    } catch (e) {
      if (gen !== this._gen) return;
      this._emit("error", asError(e, "herald: getToken failed"));
      this.ended(0, "token unavailable", true);
      return;
    }
    if (gen !== this._gen) return;
    if (!this.usable(this.transports[this.ti]) && !this.nextTransport()) {
      this.stop(0, "no transport: pass options.WebSocket (the ws package on Node 20)", ErrorCode.CLOSED);
      return;
    }
    const t = this._transport = this.transports[this.ti];
    this.opened = true;
    let ws;
    try {
      ws = t === "websocket" ? new (this.impl("WebSocket"))(this.url, [this._codec.subprotocol]) : new StreamConn(t === "sse", this.urls, this._codec, this.impl("fetch"), this.impl("EventSource"), () => this.token);
    } catch (e) {
      this._emit("error", asError(e, "herald: cannot open a connection"));
      this.stop(0, "bad URL", ErrorCode.CLOSED);
      return;
    }
    this.ws = ws;
    this.nextId = 0;
    this.pushed = void 0;
    this.connectError = void 0;
    ws.binaryType = "arraybuffer";
    this.connectTimer = setTimeout(() => this.drop(gen, 0, "connect timeout", true), this.o.timeout);
    ws.onopen = () => {
      if (gen !== this._gen) return;
      if (this._codec.binary && ws.protocol !== this._codec.subprotocol) {
        this.drop(gen, 0, `server does not speak ${this._codec.subprotocol}`, true);
        return;
      }
      this.sendConnect(token, since);
    };
    ws.onmessage = (ev) => {
      if (gen === this._gen) this.onFrame(gen, ev.data);
    };
    ws.onclose = (ev) => {
      if (gen !== this._gen) return;
      this.teardown();
      const p = this.pushed;
      if (p) this.ended(p.code, p.reason, false, p.reconnect);
      else this.ended(num(ev.code), str(ev.reason), false);
    };
    ws.onerror = () => {
    };
  }
  /** The implementation of a web API: the one passed in the options, or the global one. */
  impl(name) {
    const g = globalThis;
    const v = this.o[name] ?? g[name];
    return name === "fetch" && v === g.fetch && v ? v.bind(g) : v;
  }
  /** Whether this runtime (and codec) can use transport t. */
  usable(t) {
    if (t === "websocket") return !!this.impl("WebSocket");
    return !!this.impl("fetch") && (t === "http_stream" || t === "sse" && !!this.impl("EventSource") && !this._codec.binary);
  }
  /** Moves to the next usable transport; false when there is none. */
  nextTransport() {
    const n = this.transports.length;
    for (let i = 0; i < n; i++) {
      this.ti = (this.ti + 1) % n;
      if (this.usable(this.transports[this.ti])) return true;
    }
    return false;
  }
  /** The token for the next connect: a fresh one when none is known to be valid. */
  async connectToken() {
    const expired = this.expires > 0 && Date.now() / 1e3 >= this.expires;
    if (this.getToken && (this.token === void 0 || this.tokenStale || expired)) {
      this.token = await this.getToken();
      this.tokenStale = false;
      this.expires = 0;
    }
    return this.token;
  }
  /** The inbox position to resume from: the user's, in memory or in the store. */
  async inboxSince(token) {
    const user = token ? tokenSubject(token) : this.inboxUser;
    if (user !== this.inboxUser) {
      this.inbox = null;
      this.inboxUser = user;
    }
    if (!this.inbox && user && this.store) {
      try {
        const v = await this.store.get(INBOX_KEY + user);
        const p = v ? JSON.parse(v) : null;
        if (p && typeof p.offset === "number" && typeof p.epoch === "string") this.inbox = { offset: p.offset, epoch: p.epoch };
      } catch {
      }
    }
    return this.inbox;
  }
  sendConnect(token, inboxSince) {
    const cmd = { id: ++this.nextId, type: "connect" };
    if (token) cmd.token = token;
    if (this.o.name) cmd.name = this.o.name;
    if (this.o.version) cmd.version = this.o.version;
    const subs = {};
    let any = false;
    for (const s of this._subs.values()) {
      const entry = s._connectEntry(this._gen);
      if (entry) {
        subs[s.channel] = entry;
        any = true;
      }
    }
    if (any) cmd.subs = subs;
    if (inboxSince) cmd.inbox_since = { offset: inboxSince.offset, epoch: inboxSince.epoch };
    this.write(cmd);
  }
  onFrame(gen, frame) {
    this.heard = Date.now();
    let msgs;
    try {
      msgs = this._codec.decode(frame instanceof ArrayBuffer ? new Uint8Array(frame) : frame);
    } catch (e) {
      this._emit("error", asError(e, "herald: malformed frame from server"));
      this.drop(gen, 0, "malformed frame from server", true);
      return;
    }
    for (const m of msgs) {
      try {
        this.onMessage(gen, m);
      } catch (e) {
        this._emit("error", asError(e, "herald: bad message from server"));
        this.drop(gen, 0, "bad message from server", true);
      }
      if (gen !== this._gen) return;
    }
  }
  onMessage(gen, m) {
    if (m.id) {
      if (!this._live) {
        if (m.id !== 1) return;
        if (m.error) this.connectError = fromWire(m.error);
        else this.onConnected(gen, m.result || {});
        return;
      }
      const c = this.pending.get(m.id);
      if (!c) return;
      this.pending.delete(m.id);
      clearTimeout(c.timer);
      const err = m.error ? fromWire(m.error) : null;
      if (c.onReply) c.onReply(m.result, err);
      if (err) c.reject(err);
      else c.resolve(m.result || {});
      return;
    }
    switch (m.type) {
      case "ping":
        if (this._transport === "websocket") this._send({ type: "pong" });
        return;
      case "disconnect":
        this.pushed = { code: num(m.code), reason: str(m.reason), reconnect: m.reconnect === true };
        return;
    }
    if (!this._live) return;
    switch (m.type) {
      case "refresh_needed":
        void this.refresh(gen);
        return;
      case "direct":
        if (!this.deliverDirect(m)) {
          this.drop(gen, 0, "inbox gap", false);
        }
        return;
      case "subscribed": {
        const s = this.serverSubscription(str(m.channel));
        if (s) s._serverSubscribed(m, gen);
        return;
      }
      case "message":
      case "join":
      case "leave":
      case "unsubscribed": {
        const s = this._subs.get(m.channel);
        if (s) s._push(m, gen);
      }
    }
  }
  onConnected(gen, res) {
    clearTimeout(this.connectTimer);
    this._live = true;
    this.liveSince = Date.now();
    this._client = str(res.client);
    this._user = str(res.user);
    if (this.ws instanceof StreamConn) this.ws.session = str(res.session);
    this.expires = num(res.expires);
    this.pingMs = num(res.ping) * 1e3;
    this.heard = Date.now();
    this.armWatchdog(gen);
    this.setState("connected");
    const ev = { client: this._client, user: this._user };
    if (this.expires) ev.expires = this.expires;
    this._emit("connected", ev);
    if (gen !== this._gen) return;
    if (res.subs && typeof res.subs === "object") {
      for (const ch of Object.keys(res.subs)) {
        const s = this.serverSubscription(ch);
        if (s) s._serverSubscribed(res.subs[ch] || {}, gen);
        if (gen !== this._gen) return;
      }
    }
    if (res.inbox && typeof res.inbox === "object") {
      this.applyInbox(res.inbox);
      if (gen !== this._gen) return;
    } else {
      this.inbox = null;
    }
    for (const s of this._subs.values()) s._afterConnect(gen);
    const queued = this.queue;
    this.queue = [];
    for (const c of queued) this.sendCall(c);
  }
  /** The subscription of a channel the server subscribed, made on first sight. */
  serverSubscription(channel) {
    let s = this._subs.get(channel);
    if (!s && channel) {
      s = new Subscription(this, channel, {}, true);
      this._subs.set(channel, s);
      this._emit("subscription", s);
    }
    return s;
  }
  applyInbox(r) {
    const prev = this.inbox;
    const recovered = r.recovered === true;
    const pos = { offset: num(r.offset), epoch: str(r.epoch) };
    if (prev && !recovered) this._emit("inboxLost", { since: prev, position: pos });
    this.inbox = { offset: prev && recovered ? prev.offset : 0, epoch: pos.epoch };
    for (const p of Array.isArray(r.publications) ? r.publications : []) {
      const offset = num(p.offset);
      if (prev && recovered && offset <= prev.offset) continue;
      this.inbox.offset = offset;
      this._emit("direct", { from: info(p.info) || { user: "", client: "" }, data: p.data, offset, ts: num(p.ts) });
    }
    this.inbox = pos;
    this.saveInbox();
  }
  /** Delivers a direct push; false for one that skips ahead of the inbox. */
  deliverDirect(m) {
    const offset = num(m.offset);
    if (this.inbox && offset) {
      if (offset <= this.inbox.offset) return true;
      if (this.inbox.epoch && offset !== this.inbox.offset + 1) return false;
      this.inbox.offset = offset;
      this.saveInbox();
    }
    this._emit("direct", { from: info(m.from) || { user: "", client: "" }, data: m.data, offset, ts: num(m.ts) });
    return true;
  }
  saveInbox() {
    if (!this.store || !this._user || !this.inbox) return;
    this.inboxUser = this._user;
    try {
      const r = this.store.set(INBOX_KEY + this._user, JSON.stringify(this.inbox));
      if (r && typeof r.catch === "function") r.catch(() => {
      });
    } catch {
    }
  }
  async refresh(gen) {
    if (!this.getToken) return;
    try {
      const token = await this.getToken();
      if (gen !== this._gen) return;
      this.token = token;
      const r = await this._call({ type: "refresh", token }, this.o.timeout);
      if (gen === this._gen) this.expires = num(r.expires);
    } catch (e) {
      if (gen === this._gen) this._emit("error", asError(e, "herald: token refresh failed"));
    }
  }
  /** Closes the connection whose heartbeat stopped. */
  armWatchdog(gen) {
    if (!this.pingMs) return;
    const limit = this.pingMs + this.o.pingMargin;
    const check = () => {
      if (gen !== this._gen) return;
      const quiet = Date.now() - this.heard;
      if (quiet >= limit) this.drop(gen, 0, "heartbeat timeout", false);
      else this.watchdog = setTimeout(check, limit - quiet);
    };
    this.watchdog = setTimeout(check, limit);
  }
  /** Ends connection gen from this side: a missed heartbeat, a bad frame. */
  drop(gen, code, reason, backoff) {
    if (gen !== this._gen) return;
    const ws = this.ws;
    this.teardown();
    if (ws) {
      if (ws.terminate) ws.terminate();
      else ws.close(4e3, reason);
    }
    this.ended(code, reason, backoff);
  }
  /** Detaches the socket and stops its timers; events of it are ignored from now on. */
  teardown() {
    this._gen++;
    clearTimeout(this.connectTimer);
    clearTimeout(this.watchdog);
    clearTimeout(this.retryTimer);
    this.retryTimer = this.connectTimer = this.watchdog = void 0;
    const ws = this.ws;
    if (ws) {
      ws.onopen = ws.onmessage = ws.onclose = null;
      ws.onerror = () => {
      };
    }
    this.ws = null;
    this.outbox = [];
  }
  /**
   * A connection ended (or an attempt failed) with code: fail what waited
   * on it, then reconnect or stop as the close-code table says.
   */
  ended(code, reason, backoff, pushedReconnect) {
    const wasLive = this._live;
    const opened = this.opened;
    this._live = false;
    this.opened = false;
    this.failPending(ErrorCode.DISCONNECTED, "herald: disconnected before the reply", true);
    for (const s of this._subs.values()) s._disconnected();
    let r = backoff ? "backoff" : reaction(code, pushedReconnect);
    if (r === "token") {
      if (this.getToken) this.tokenStale = true;
      else r = "stop";
    }
    if (r === "stop") {
      this.stop(code, reason || (this.connectError ? this.connectError.message : ""), ErrorCode.CLOSED);
      return;
    }
    let wait;
    if (wasLive) {
      const short = Date.now() - this.liveSince < stableConnection;
      this.attempt = short && code !== 1001 ? this.attempt + 1 : 0;
      wait = delay(this._backoff, this.attempt);
    } else {
      const from = this.ti;
      if (opened) this.nextTransport();
      wait = this.ti > from ? 0 : delay(this._backoff, this.attempt++);
    }
    this.setState("connecting");
    const gen = this._gen;
    this.retryTimer = setTimeout(() => {
      if (gen === this._gen && this._state === "connecting") void this.open();
    }, wait);
    this._emit("disconnected", { code, reason, reconnect: true });
    if (gen === this._gen && this._state === "connecting") this._emit("connecting", { attempt: this.attempt, delay: wait });
  }
  /** Stops for good: fails every call and reports the end. */
  stop(code, reason, errCode) {
    this.teardown();
    this._live = false;
    this.setState("disconnected");
    this.failPending(errCode, "herald: client disconnected", false);
    const queued = this.queue;
    this.queue = [];
    for (const c of queued) {
      clearTimeout(c.timer);
      c.reject(new HeraldError(errCode, "herald: client disconnected"));
    }
    for (const s of this._subs.values()) s._disconnected(true);
    this._emit("disconnected", { code, reason, reconnect: false });
  }
  failPending(code, message, temporary) {
    const pending = this.pending;
    this.pending = /* @__PURE__ */ new Map();
    for (const c of pending.values()) {
      clearTimeout(c.timer);
      const err = new HeraldError(code, message, temporary);
      if (c.onReply) c.onReply(void 0, err);
      c.reject(err);
    }
  }
};
function num(v) {
  return typeof v === "number" && isFinite(v) ? v : 0;
}
function str(v) {
  return typeof v === "string" ? v : "";
}
function info(v) {
  return v && typeof v === "object" ? { user: str(v.user), client: str(v.client) } : void 0;
}
function publication(channel, p) {
  const out = { channel, offset: num(p && p.offset), data: p && p.data, ts: num(p && p.ts) };
  const i = info(p && p.info);
  if (i) out.info = i;
  return out;
}
function position(r) {
  return { offset: num(r && r.offset), epoch: str(r && r.epoch) };
}
function asError(e, context) {
  return e instanceof Error ? e : new Error(`${context}: ${String(e)}`);
}
function tokenSubject(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const claims = JSON.parse(new TextDecoder().decode(Uint8Array.from(atob(part), (c) => c.charCodeAt(0))));
    return typeof claims.sub === "string" ? claims.sub : "";
  } catch {
    return "";
  }
}
export {
  Emitter,
  ErrorCode,
  Herald,
  HeraldError,
  Subscription,
  json,
  localStorageStore,
  memoryStore
};
