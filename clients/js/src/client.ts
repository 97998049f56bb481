import { delay, type Backoff } from './backoff.js';
import { json, type Codec } from './codec.js';
import { reaction } from './codes.js';
import { Emitter } from './emitter.js';
import { ErrorCode, HeraldError, fromWire } from './errors.js';
import { localStorageStore, memoryStore, type PositionStore } from './store.js';
import { Subscription, type SubscriptionOptions } from './subscription.js';
import {
  StreamConn, endpoint, type EventSourceConstructor, type FetchLike, type StreamUrls, type TransportName,
} from './transport.js';
import type {
  ClientInfo, Command, DirectMessage, HistoryOptions, HistoryPage, PresenceEntry, PresenceStats,
  RecoveryLost, ServerMessage, StreamPosition,
} from './types.js';

/** The part of the WebSocket API the client uses (the browser's, Node 22's, or the ws package's). */
export interface WebSocketLike {
  binaryType: string;
  readonly protocol: string;
  onopen: ((ev: any) => void) | null;
  onmessage: ((ev: any) => void) | null;
  onclose: ((ev: any) => void) | null;
  onerror: ((ev: any) => void) | null;
  send(data: string | Uint8Array): void;
  close(code?: number, reason?: string): void;
  /** The ws package's immediate close, used when the peer is unresponsive. */
  terminate?(): void;
}

/** A WebSocket constructor, such as the ws package's default export. */
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

/** Options of {@link Herald}; every one is optional. */
export interface HeraldOptions {
  /** The connection token (JWT). Without it and getToken, the connection is anonymous. */
  token?: string;
  /**
   * Returns a fresh connection token from your backend. Called on the first
   * connect when `token` is not given, when the server asks for a refresh
   * (`refresh_needed`), and before reconnecting after the token expired
   * (close 4003, or an `expires` that has passed).
   */
  getToken?: () => string | Promise<string>;
  /** The application's name and version, shown to the server. */
  name?: string;
  version?: string;
  /** The WebSocket implementation. Default: the global WebSocket (browsers, Node 22). On Node 20 pass the ws package's. */
  WebSocket?: WebSocketConstructor;
  /** The wire encoding. Default JSON; see `@heraldhq/client/protobuf`. */
  codec?: Codec;
  /**
   * The transports to try, in order. Default `['websocket', 'http_stream',
   * 'sse']`. One that fails before its connect reply is skipped for the
   * next; the client stays on the one that connected for its reconnects,
   * and starts from the first again after failing with the last. One this
   * runtime lacks (no WebSocket, fetch or EventSource) is left out, and so
   * is `sse` with a binary codec.
   */
  transports?: TransportName[];
  /** The stream transports' endpoints; each defaults to one derived from url (`/ws` → `/stream`, `/sse`, `/sse/cmd`). */
  urls?: Partial<StreamUrls>;
  /** The fetch implementation of `http_stream` and of the stream transports' commands. Default: the global fetch. */
  fetch?: FetchLike;
  /** The EventSource implementation of `sse`. Default: the global EventSource (browsers). */
  EventSource?: EventSourceConstructor;
  /** How long a call waits for its reply (and for a connection, when queued), in ms; also bounds the connect round trip. Default 10000. */
  timeout?: number;
  /** The first reconnect delay's ceiling, in ms. Default 200. */
  minReconnectDelay?: number;
  /** The largest reconnect delay, in ms. Default 20000. */
  maxReconnectDelay?: number;
  /** How long past the server's ping interval the client waits before it treats the connection as dead, in ms. Default 5000. */
  pingMargin?: number;
  /** How many temporary failures in a row a resubscribe tolerates before the recovery is reported lost. Default 5. */
  recoveryRetries?: number;
  /** How many calls may wait for a connection while the client is connecting; past it calls fail with QUEUE_FULL. Default 100. */
  maxQueued?: number;
  /**
   * Where the inbox position is kept between visits, so that direct messages
   * sent while the user was away arrive on the next connect. Default
   * localStorage in browsers, memory elsewhere; null keeps none.
   */
  inboxStore?: PositionStore | null;
}

/** The client's state. */
export type State = 'disconnected' | 'connecting' | 'connected';

/** The `connected` event. */
export interface ConnectedEvent {
  /** The connection's id. */
  client: string;
  /** The user ("" when anonymous). */
  user: string;
  /** When the token expires, in Unix seconds; absent without `exp`. */
  expires?: number;
}

/** The `disconnected` event: a connection ended, or the client stopped. */
export interface DisconnectedEvent {
  /** The close code; 0 when the connection ended without one (network error, missed heartbeat, malformed frame, failed token fetch). */
  code: number;
  reason: string;
  /** Whether the client will reconnect by itself. */
  reconnect: boolean;
}

/** The `connecting` event: an attempt starts after `delay` ms. */
export interface ConnectingEvent {
  /** Failed attempts in a row so far. */
  attempt: number;
  delay: number;
}

/** Events of {@link Herald}. */
export interface HeraldEvents {
  connecting: ConnectingEvent;
  connected: ConnectedEvent;
  disconnected: DisconnectedEvent;
  /** A direct message, the ones recovered from the inbox first; each once, in order. */
  direct: DirectMessage;
  /** Direct messages sent while the client was away could not all be recovered. */
  inboxLost: RecoveryLost;
  /** A subscription the server made (token `subs` claim, server API); attach listeners here. */
  subscription: Subscription;
  /** Something went wrong that no call reports: a token fetch, a refresh, a malformed frame. */
  error: Error;
}

interface Call {
  cmd: Command;
  resolve: (result: any) => void;
  reject: (err: HeraldError) => void;
  timer?: ReturnType<typeof setTimeout>;
  /** Runs as the reply is handled, before any later message. */
  onReply?: (result: any, err: HeraldError | null) => void;
  id?: number;
}

const INBOX_KEY = 'herald:inbox:';

/** How long a connection must have lasted for its end to start the backoff count over (ms). */
const stableConnection = 30000;

/**
 * Herald is a client of a Herald server: one logical session kept alive
 * over as many connections as it takes (WebSocket, or the HTTP fallbacks
 * where no WebSocket gets through). It reconnects with
 * backoff as the close code says, resubscribes every channel from its last
 * position in the connect command, and delivers each publication of a
 * channel with history exactly once and in order, or says it cannot
 * (`recoveryLost`).
 *
 * ```js
 * const herald = new Herald('wss://example.com/ws', { getToken });
 * const room = herald.newSubscription('chat:lobby');
 * room.on('message', (m) => console.log(m.data));
 * room.subscribe();
 * herald.connect();
 * ```
 */
export class Herald extends Emitter<HeraldEvents> {
  /** The server's WebSocket URL (ws:// or wss://, path /ws). */
  readonly url: string;
  private o: {
    timeout: number; pingMargin: number; recoveryRetries: number; maxQueued: number; name?: string; version?: string;
    WebSocket?: WebSocketConstructor; fetch?: FetchLike; EventSource?: EventSourceConstructor;
  };
  /** @internal */
  readonly _backoff: Backoff;
  /** @internal */
  readonly _codec: Codec;
  private transports: TransportName[];
  /** The index in transports of the one to try next (or connected over). */
  private ti = 0;
  private urls: StreamUrls;
  /** Whether the connection that is ending was opened (not a failed token fetch). */
  private opened = false;
  private _transport: TransportName | '' = '';
  private getToken?: () => string | Promise<string>;
  private token?: string;
  private tokenStale = false;
  private store: PositionStore | null;

  private _state: State = 'disconnected';
  private _client = '';
  private _user = '';
  private expires = 0;

  private ws: WebSocketLike | null = null;
  /** @internal The connection generation; events of older ones are ignored. */
  _gen = 0;
  /** @internal Whether the current connection's connect succeeded. */
  _live = false;
  /** The backoff count: failed attempts, and short connections ended with a backoff code, in a row. */
  private attempt = 0;
  /** When the current connection's connect succeeded (Date.now()). */
  private liveSince = 0;
  private nextId = 0;
  private pending = new Map<number, Call>();
  private queue: Call[] = [];
  private outbox: Command[] = [];
  private flushing = false;
  private pushed?: { code: number; reason: string; reconnect: boolean };
  private connectError?: HeraldError;
  private retryTimer?: ReturnType<typeof setTimeout>;
  private connectTimer?: ReturnType<typeof setTimeout>;
  private watchdog?: ReturnType<typeof setTimeout>;
  private heard = 0;
  private pingMs = 0;
  /** @internal */
  readonly _subs = new Map<string, Subscription>();
  private inbox: StreamPosition | null = null;
  private inboxUser = '';

  constructor(url: string, options: HeraldOptions = {}) {
    super();
    this.url = url;
    this.o = {
      timeout: options.timeout ?? 10000,
      pingMargin: options.pingMargin ?? 5000,
      recoveryRetries: options.recoveryRetries ?? 5,
      maxQueued: options.maxQueued ?? 100,
      name: options.name,
      version: options.version,
      WebSocket: options.WebSocket,
      fetch: options.fetch,
      EventSource: options.EventSource,
    };
    this._backoff = { min: options.minReconnectDelay ?? 200, max: options.maxReconnectDelay ?? 20000 };
    this._backoff.max = Math.max(this._backoff.max, this._backoff.min);
    this._codec = options.codec ?? json;
    this.transports = options.transports ?? ['websocket', 'http_stream', 'sse'];
    const u = options.urls || {};
    this.urls = {
      stream: u.stream || endpoint(url, 'stream'),
      sse: u.sse || endpoint(url, 'sse'),
      command: u.command || endpoint(url, 'sse/cmd'),
    };
    this.getToken = options.getToken;
    this.token = options.token;
    this.store = options.inboxStore !== undefined ? options.inboxStore : localStorageStore() ?? memoryStore();
  }

  /** The client's state. */
  get state(): State {
    return this._state;
  }

  /** The transport of the current (or last) connection; "" before the first. */
  get transport(): TransportName | '' {
    return this._transport;
  }

  /** The current (or last) connection's id. */
  get client(): string {
    return this._client;
  }

  /** The user of the current (or last) connection; "" when anonymous. */
  get user(): string {
    return this._user;
  }

  /** @internal */
  get _recoveryRetries(): number {
    return this.o.recoveryRetries;
  }

  /**
   * Starts connecting; from then on the client reconnects by itself until
   * `disconnect()` or a close code after which it must not. Listen to
   * `connected` to know when it is up; calls made meanwhile wait for it.
   */
  connect(): void {
    if (this._state !== 'disconnected') return;
    this.attempt = 0;
    this.setState('connecting');
    this._emit('connecting', { attempt: 0, delay: 0 });
    if ((this._state as State) === 'connecting' && !this.ws && !this.retryTimer) void this.open();
  }

  /**
   * Closes the connection and stops reconnecting. Calls in flight or
   * waiting fail with CLOSED; subscriptions are kept, with their positions,
   * for the next `connect()`. No timer of the client's survives it.
   */
  disconnect(): void {
    if (this._state === 'disconnected') return;
    const ws = this.ws;
    this.teardown();
    if (ws) ws.close(1000, 'client disconnected');
    this.stop(1000, 'client disconnected', ErrorCode.CLOSED);
  }

  /**
   * Ends a reconnect's wait and tries at once: for when the application
   * knows the network is back (a browser's `online` event). It does nothing
   * unless a reconnect is waiting.
   */
  retryNow(): void {
    if (this._state !== 'connecting' || !this.retryTimer) return;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    void this.open();
  }

  /**
   * Returns a new subscription object for channel, not subscribed yet:
   * attach listeners, then call its `subscribe()`. There is at most one
   * per channel (see getSubscription).
   */
  newSubscription(channel: string, options: SubscriptionOptions = {}): Subscription {
    if (this._subs.has(channel)) {
      throw new HeraldError(ErrorCode.ALREADY_SUBSCRIBED, `a subscription to ${channel} exists: use getSubscription`);
    }
    const s = new Subscription(this, channel, options);
    this._subs.set(channel, s);
    return s;
  }

  /** The subscription object of channel, if there is one. */
  getSubscription(channel: string): Subscription | undefined {
    return this._subs.get(channel);
  }

  /** Every subscription object, by channel. */
  subscriptions(): Map<string, Subscription> {
    return new Map(this._subs);
  }

  /** Unsubscribes sub and forgets it, so that its channel may get a new one. */
  removeSubscription(sub: Subscription): Promise<void> {
    const p = sub.unsubscribe();
    if (this._subs.get(sub.channel) === sub) this._subs.delete(sub.channel);
    return p;
  }

  /**
   * Publishes data (any JSON value; a Uint8Array needs the Protobuf codec)
   * to channel. Resolves to its place in the channel's stream (offset 0
   * when the channel keeps no history).
   */
  publish(channel: string, data: unknown): Promise<StreamPosition> {
    return this.call({ type: 'publish', channel, data }).then(position);
  }

  /**
   * Sends data to every connection of user, and to their inbox so that they
   * get it on their next connect if they are away. Resolves to its place in
   * the recipient's inbox (offset 0 when inboxes are off).
   */
  send(user: string, data: unknown): Promise<StreamPosition> {
    return this.call({ type: 'send', user, data }).then(position);
  }

  /** Who is in channel now, by client id. */
  presence(channel: string): Promise<Record<string, PresenceEntry>> {
    return this.call({ type: 'presence', channel }).then((r) => (r && r.clients) || {});
  }

  /** How many connections and distinct users are in channel. */
  presenceStats(channel: string): Promise<PresenceStats> {
    return this.call({ type: 'presence_stats', channel }).then((r) => ({ clients: num(r && r.clients), users: num(r && r.users) }));
  }

  /**
   * Reads channel's history: with `limit`, one page, whose `next()` reads
   * the following one.
   */
  history(channel: string, options: HistoryOptions = {}): Promise<HistoryPage> {
    const cmd: Command = { type: 'history', channel };
    if (options.limit !== undefined) cmd.limit = options.limit;
    if (options.since) cmd.since = { offset: options.since.offset, epoch: options.since.epoch };
    if (options.reverse) cmd.reverse = true;
    return this.call(cmd).then((r) => {
      const page: HistoryPage = {
        publications: ((r && r.publications) || []).map((p: any) => publication(channel, p)),
        offset: num(r && r.offset),
        epoch: str(r && r.epoch),
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
  _call(cmd: Command, timeout: number, onReply?: Call['onReply']): Promise<any> {
    if (this._state === 'disconnected') {
      return Promise.reject(new HeraldError(ErrorCode.CLOSED, 'herald: not connected (call connect() first)'));
    }
    if (!this._codec.binary && cmd.data instanceof Uint8Array) {
      return Promise.reject(new HeraldError(ErrorCode.BAD_REQUEST, 'herald: bytes need the Protobuf encoding; JSON carries JSON values'));
    }
    return new Promise((resolve, reject) => {
      const c: Call = { cmd, resolve, reject, onReply };
      if (timeout > 0) {
        c.timer = setTimeout(() => {
          if (c.id !== undefined) this.pending.delete(c.id);
          else this.queue = this.queue.filter((q) => q !== c);
          reject(new HeraldError(ErrorCode.TIMEOUT, `herald: no reply to ${cmd.type} within ${timeout} ms`, true));
        }, timeout);
      }
      if (this._live) this.sendCall(c);
      else if (this.queue.length >= this.o.maxQueued) {
        clearTimeout(c.timer);
        reject(new HeraldError(ErrorCode.QUEUE_FULL, 'herald: too many calls waiting for a connection', true));
      } else this.queue.push(c);
    });
  }

  private call(cmd: Command): Promise<any> {
    return this._call(cmd, this.o.timeout);
  }

  /** @internal Sends a command that wants no reply, on the live connection only. */
  _send(cmd: Command): void {
    if (this._live) this.write(cmd);
  }

  private sendCall(c: Call): void {
    this.nextId = this.nextId >= 0xffffffff ? 1 : this.nextId + 1;
    c.id = this.nextId;
    this.pending.set(c.id, c);
    this.write({ ...c.cmd, id: c.id });
  }

  /** Queues cmd for the next frame: commands issued together share one. */
  private write(cmd: Command): void {
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
        // The server refuses frames of more than 100 commands.
        for (let i = 0; i < cmds.length; i += 100) this.ws.send(this._codec.encode(cmds.slice(i, i + 100)));
      } catch (e) {
        this._emit('error', asError(e, 'herald: cannot send'));
        this.drop(gen, 0, 'cannot send', true);
      }
    });
  }

  private setState(s: State): void {
    this._state = s;
  }

  // Connection lifecycle ------------------------------------------------

  private async open(): Promise<void> {
    this.retryTimer = undefined;
    const gen = ++this._gen;
    let token: string | undefined;
    let since: StreamPosition | null = null;
    try {
      token = await this.connectToken();
      if (gen !== this._gen) return;
      since = await this.inboxSince(token);
    } catch (e) {
      if (gen !== this._gen) return;
      this._emit('error', asError(e, 'herald: getToken failed'));
      this.ended(0, 'token unavailable', true);
      return;
    }
    if (gen !== this._gen) return;
    if (!this.usable(this.transports[this.ti]) && !this.nextTransport()) {
      this.stop(0, 'no transport: pass options.WebSocket (the ws package on Node 20)', ErrorCode.CLOSED);
      return;
    }
    const t = (this._transport = this.transports[this.ti]);
    this.opened = true;
    let ws: WebSocketLike;
    try {
      ws = t === 'websocket'
        ? new (this.impl('WebSocket') as WebSocketConstructor)(this.url, [this._codec.subprotocol])
        : new StreamConn(t === 'sse', this.urls, this._codec, this.impl('fetch'), this.impl('EventSource'), () => this.token);
    } catch (e) {
      this._emit('error', asError(e, 'herald: cannot open a connection'));
      this.stop(0, 'bad URL', ErrorCode.CLOSED);
      return;
    }
    this.ws = ws;
    this.nextId = 0;
    this.pushed = undefined;
    this.connectError = undefined;
    ws.binaryType = 'arraybuffer';
    this.connectTimer = setTimeout(() => this.drop(gen, 0, 'connect timeout', true), this.o.timeout);
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
      // The disconnect push says why, even when the close frame got lost.
      const p = this.pushed;
      if (p) this.ended(p.code, p.reason, false, p.reconnect);
      else this.ended(num(ev.code), str(ev.reason), false);
    };
    ws.onerror = () => {
      // A close event follows with the code.
    };
  }

  /** The implementation of a web API: the one passed in the options, or the global one. */
  private impl(name: 'WebSocket' | 'fetch' | 'EventSource'): any {
    const g = globalThis as any;
    const v = this.o[name] ?? g[name];
    return name === 'fetch' && v === g.fetch && v ? v.bind(g) : v;
  }

  /** Whether this runtime (and codec) can use transport t. */
  private usable(t: TransportName | undefined): boolean {
    if (t === 'websocket') return !!this.impl('WebSocket');
    return !!this.impl('fetch') && (t === 'http_stream' || (t === 'sse' && !!this.impl('EventSource') && !this._codec.binary));
  }

  /** Moves to the next usable transport; false when there is none. */
  private nextTransport(): boolean {
    const n = this.transports.length;
    for (let i = 0; i < n; i++) {
      this.ti = (this.ti + 1) % n;
      if (this.usable(this.transports[this.ti])) return true;
    }
    return false;
  }

  /** The token for the next connect: a fresh one when none is known to be valid. */
  private async connectToken(): Promise<string | undefined> {
    const expired = this.expires > 0 && Date.now() / 1000 >= this.expires;
    if (this.getToken && (this.token === undefined || this.tokenStale || expired)) {
      this.token = await this.getToken();
      this.tokenStale = false;
      this.expires = 0;
    }
    return this.token;
  }

  /** The inbox position to resume from: the user's, in memory or in the store. */
  private async inboxSince(token: string | undefined): Promise<StreamPosition | null> {
    const user = token ? tokenSubject(token) : this.inboxUser;
    if (user !== this.inboxUser) {
      this.inbox = null;
      this.inboxUser = user;
    }
    if (!this.inbox && user && this.store) {
      try {
        const v = await this.store.get(INBOX_KEY + user);
        const p = v ? JSON.parse(v) : null;
        if (p && typeof p.offset === 'number' && typeof p.epoch === 'string') this.inbox = { offset: p.offset, epoch: p.epoch };
      } catch {
        // An unreadable position is no position.
      }
    }
    return this.inbox;
  }

  private sendConnect(token: string | undefined, inboxSince: StreamPosition | null): void {
    const cmd: Command = { id: ++this.nextId, type: 'connect' };
    if (token) cmd.token = token;
    if (this.o.name) cmd.name = this.o.name;
    if (this.o.version) cmd.version = this.o.version;
    const subs: Record<string, { since?: StreamPosition }> = {};
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

  private onFrame(gen: number, frame: unknown): void {
    this.heard = Date.now();
    let msgs: ServerMessage[];
    try {
      msgs = this._codec.decode(frame instanceof ArrayBuffer ? new Uint8Array(frame) : frame);
    } catch (e) {
      this._emit('error', asError(e, 'herald: malformed frame from server'));
      this.drop(gen, 0, 'malformed frame from server', true);
      return;
    }
    for (const m of msgs) {
      try {
        this.onMessage(gen, m);
      } catch (e) {
        // A message of the wrong shape: the connection cannot be trusted.
        this._emit('error', asError(e, 'herald: bad message from server'));
        this.drop(gen, 0, 'bad message from server', true);
      }
      if (gen !== this._gen) return;
    }
  }

  private onMessage(gen: number, m: ServerMessage): void {
    if (m.id) {
      if (!this._live) {
        if (m.id !== 1) return;
        if (m.error) this.connectError = fromWire(m.error); // the close that follows says what to do
        else this.onConnected(gen, m.result || {});
        return;
      }
      const c = this.pending.get(m.id);
      if (!c) return; // its caller gave up
      this.pending.delete(m.id);
      clearTimeout(c.timer);
      const err = m.error ? fromWire(m.error) : null;
      if (c.onReply) c.onReply(m.result, err);
      if (err) c.reject(err);
      else c.resolve(m.result || {});
      return;
    }
    switch (m.type) {
      case 'ping':
        // Stream transports need no pong (the server cannot ask one of an
        // EventSource): it would cost a request per ping.
        if (this._transport === 'websocket') this._send({ type: 'pong' });
        return;
      case 'disconnect':
        this.pushed = { code: num(m.code), reason: str(m.reason), reconnect: m.reconnect === true };
        return;
    }
    if (!this._live) return;
    switch (m.type) {
      case 'refresh_needed':
        void this.refresh(gen);
        return;
      case 'direct':
        if (!this.deliverDirect(m)) {
          // A gap in the inbox: only a connect recovers an inbox.
          this.drop(gen, 0, 'inbox gap', false);
        }
        return;
      case 'subscribed': {
        const s = this.serverSubscription(str(m.channel));
        if (s) s._serverSubscribed(m, gen);
        return;
      }
      case 'message': case 'join': case 'leave': case 'unsubscribed': {
        const s = this._subs.get(m.channel);
        if (s) s._push(m, gen);
      }
    }
  }

  private onConnected(gen: number, res: any): void {
    clearTimeout(this.connectTimer);
    this._live = true;
    this.liveSince = Date.now();
    this._client = str(res.client);
    this._user = str(res.user);
    if (this.ws instanceof StreamConn) this.ws.session = str(res.session);
    this.expires = num(res.expires);
    this.pingMs = num(res.ping) * 1000;
    this.heard = Date.now();
    this.armWatchdog(gen);
    this.setState('connected');
    const ev: ConnectedEvent = { client: this._client, user: this._user };
    if (this.expires) ev.expires = this.expires;
    this._emit('connected', ev);
    if (gen !== this._gen) return;
    if (res.subs && typeof res.subs === 'object') {
      for (const ch of Object.keys(res.subs)) {
        const s = this.serverSubscription(ch);
        if (s) s._serverSubscribed(res.subs[ch] || {}, gen);
        if (gen !== this._gen) return;
      }
    }
    if (res.inbox && typeof res.inbox === 'object') {
      this.applyInbox(res.inbox);
      if (gen !== this._gen) return;
    } else {
      this.inbox = null; // anonymous: no inbox
    }
    // Subscriptions made after the connect command was built.
    for (const s of this._subs.values()) s._afterConnect(gen);
    const queued = this.queue;
    this.queue = [];
    for (const c of queued) this.sendCall(c);
  }

  /** The subscription of a channel the server subscribed, made on first sight. */
  private serverSubscription(channel: string): Subscription | undefined {
    let s = this._subs.get(channel);
    if (!s && channel) {
      s = new Subscription(this, channel, {}, true);
      this._subs.set(channel, s);
      this._emit('subscription', s);
    }
    return s;
  }

  private applyInbox(r: any): void {
    const prev = this.inbox;
    const recovered = r.recovered === true;
    const pos = { offset: num(r.offset), epoch: str(r.epoch) };
    if (prev && !recovered) this._emit('inboxLost', { since: prev, position: pos });
    this.inbox = { offset: prev && recovered ? prev.offset : 0, epoch: pos.epoch };
    for (const p of Array.isArray(r.publications) ? r.publications : []) {
      const offset = num(p.offset);
      if (prev && recovered && offset <= prev.offset) continue;
      this.inbox.offset = offset;
      this._emit('direct', { from: info(p.info) || { user: '', client: '' }, data: p.data, offset, ts: num(p.ts) });
    }
    // Direct pushes continue from here (the last recovered one when the
    // server has more to send).
    this.inbox = pos;
    this.saveInbox();
  }

  /** Delivers a direct push; false for one that skips ahead of the inbox. */
  private deliverDirect(m: ServerMessage): boolean {
    const offset = num(m.offset);
    if (this.inbox && offset) {
      if (offset <= this.inbox.offset) return true; // already delivered
      if (this.inbox.epoch && offset !== this.inbox.offset + 1) return false;
      this.inbox.offset = offset;
      this.saveInbox();
    }
    this._emit('direct', { from: info(m.from) || { user: '', client: '' }, data: m.data, offset, ts: num(m.ts) });
    return true;
  }

  private saveInbox(): void {
    if (!this.store || !this._user || !this.inbox) return;
    this.inboxUser = this._user;
    try {
      const r = this.store.set(INBOX_KEY + this._user, JSON.stringify(this.inbox));
      if (r && typeof (r as Promise<void>).catch === 'function') (r as Promise<void>).catch(() => {});
    } catch {
      // The position is a convenience; losing it costs a recovery, not a message.
    }
  }

  private async refresh(gen: number): Promise<void> {
    if (!this.getToken) return; // the server closes with 4003 at expiry
    try {
      const token = await this.getToken();
      if (gen !== this._gen) return;
      this.token = token;
      const r = await this._call({ type: 'refresh', token }, this.o.timeout);
      if (gen === this._gen) this.expires = num(r.expires);
    } catch (e) {
      if (gen === this._gen) this._emit('error', asError(e, 'herald: token refresh failed'));
    }
  }

  /** Closes the connection whose heartbeat stopped. */
  private armWatchdog(gen: number): void {
    if (!this.pingMs) return;
    const limit = this.pingMs + this.o.pingMargin;
    const check = () => {
      if (gen !== this._gen) return;
      const quiet = Date.now() - this.heard;
      if (quiet >= limit) this.drop(gen, 0, 'heartbeat timeout', false);
      else this.watchdog = setTimeout(check, limit - quiet);
    };
    this.watchdog = setTimeout(check, limit);
  }

  /** Ends connection gen from this side: a missed heartbeat, a bad frame. */
  private drop(gen: number, code: number, reason: string, backoff: boolean): void {
    if (gen !== this._gen) return;
    const ws = this.ws;
    this.teardown();
    if (ws) {
      if (ws.terminate) ws.terminate();
      else ws.close(4000, reason);
    }
    this.ended(code, reason, backoff);
  }

  /** Detaches the socket and stops its timers; events of it are ignored from now on. */
  private teardown(): void {
    this._gen++;
    clearTimeout(this.connectTimer);
    clearTimeout(this.watchdog);
    clearTimeout(this.retryTimer);
    this.retryTimer = this.connectTimer = this.watchdog = undefined;
    const ws = this.ws;
    if (ws) {
      ws.onopen = ws.onmessage = ws.onclose = null;
      // Closing a socket still in its handshake makes the ws package emit an
      // error, which it throws when nothing listens.
      ws.onerror = () => {};
    }
    this.ws = null;
    this.outbox = [];
  }

  /**
   * A connection ended (or an attempt failed) with code: fail what waited
   * on it, then reconnect or stop as the close-code table says.
   */
  private ended(code: number, reason: string, backoff: boolean, pushedReconnect?: boolean): void {
    const wasLive = this._live;
    const opened = this.opened;
    this._live = false;
    this.opened = false;
    this.failPending(ErrorCode.DISCONNECTED, 'herald: disconnected before the reply', true);
    for (const s of this._subs.values()) s._disconnected();
    let r = backoff ? 'backoff' : reaction(code, pushedReconnect);
    if (r === 'token') {
      if (this.getToken) this.tokenStale = true;
      else r = 'stop'; // the same token would be refused again
    }
    if (r === 'stop') {
      this.stop(code, reason || (this.connectError ? this.connectError.message : ''), ErrorCode.CLOSED);
      return;
    }
    let wait: number;
    if (wasLive) {
      // A connection that lived ended: come back at once, with jitter so
      // that a whole server's clients do not arrive together. But one that
      // ended soon after the connect continues the count, whatever the code
      // but a draining node's 1001 (PROTOCOL.md §18.2): a server that
      // accepts, then refuses, or a proxy that drops every connection at
      // once, is asked less and less often.
      const short = Date.now() - this.liveSince < stableConnection;
      this.attempt = short && code !== 1001 ? this.attempt + 1 : 0;
      wait = delay(this._backoff, this.attempt);
    } else {
      // A transport that failed before its connect reply makes way for the
      // next one, tried at once; the backoff grows once per round of them.
      const from = this.ti;
      if (opened) this.nextTransport();
      wait = this.ti > from ? 0 : delay(this._backoff, this.attempt++);
    }
    this.setState('connecting');
    const gen = this._gen;
    this.retryTimer = setTimeout(() => {
      if (gen === this._gen && this._state === 'connecting') void this.open();
    }, wait);
    this._emit('disconnected', { code, reason, reconnect: true });
    if (gen === this._gen && this._state === 'connecting') this._emit('connecting', { attempt: this.attempt, delay: wait });
  }

  /** Stops for good: fails every call and reports the end. */
  private stop(code: number, reason: string, errCode: number): void {
    this.teardown();
    this._live = false;
    this.setState('disconnected');
    this.failPending(errCode, 'herald: client disconnected', false);
    const queued = this.queue;
    this.queue = [];
    for (const c of queued) {
      clearTimeout(c.timer);
      c.reject(new HeraldError(errCode, 'herald: client disconnected'));
    }
    for (const s of this._subs.values()) s._disconnected(true);
    this._emit('disconnected', { code, reason, reconnect: false });
  }

  private failPending(code: number, message: string, temporary: boolean): void {
    const pending = this.pending;
    this.pending = new Map();
    for (const c of pending.values()) {
      clearTimeout(c.timer);
      const err = new HeraldError(code, message, temporary);
      if (c.onReply) c.onReply(undefined, err);
      c.reject(err);
    }
  }
}

// Readers that never throw on a server message of the wrong shape.

/** @internal */
export function num(v: unknown): number {
  return typeof v === 'number' && isFinite(v) ? v : 0;
}

/** @internal */
export function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

/** @internal */
export function info(v: any): ClientInfo | undefined {
  return v && typeof v === 'object' ? { user: str(v.user), client: str(v.client) } : undefined;
}

/** @internal A publication from the wire. */
export function publication(channel: string, p: any) {
  const out = { channel, offset: num(p && p.offset), data: p && p.data, ts: num(p && p.ts) } as import('./types.js').Publication;
  const i = info(p && p.info);
  if (i) out.info = i;
  return out;
}

function position(r: any): StreamPosition {
  return { offset: num(r && r.offset), epoch: str(r && r.epoch) };
}

function asError(e: unknown, context: string): Error {
  return e instanceof Error ? e : new Error(`${context}: ${String(e)}`);
}

/** The `sub` claim of a JWT, read without verifying it: the key of the user's inbox position. */
function tokenSubject(token: string): string {
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const claims = JSON.parse(new TextDecoder().decode(Uint8Array.from(atob(part), (c) => c.charCodeAt(0))));
    return typeof claims.sub === 'string' ? claims.sub : '';
  } catch {
    return '';
  }
}

/** @internal */
export type { RecoveryLost };
