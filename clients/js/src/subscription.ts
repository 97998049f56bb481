import { delay } from './backoff.js';
import type { Herald } from './client.js';
import { info, num, publication, str } from './client.js';
import { Emitter } from './emitter.js';
import { ErrorCode, HeraldError, fromWire } from './errors.js';
import type {
  ClientInfo, HistoryOptions, HistoryPage, PresenceEntry, PresenceStats, Publication, RecoveryLost,
  ServerMessage, StreamPosition,
} from './types.js';

/** Options of a subscription. */
export interface SubscriptionOptions {
  /** A channel token, for channels whose namespace requires one. */
  token?: string;
  /** Returns a channel token; called before every subscribe, so it may mint a fresh one. */
  getToken?: (channel: string) => string | Promise<string>;
  /**
   * Resume from a position the application kept (say, `position` stored
   * on a previous visit): the publications after it are delivered first.
   */
  since?: StreamPosition;
}

/** A subscription's state. */
export type SubscriptionState = 'unsubscribed' | 'subscribing' | 'subscribed';

/** The `subscribed` event: a subscribe (or a resubscribe after a reconnect) succeeded. */
export interface SubscribedEvent {
  /** The stream's position after the publications the result carried. */
  position: StreamPosition;
  /** Whether the missed publications were all recovered; absent when the subscribe did not ask (no position yet). */
  recovered?: boolean;
  /** Whether this is a resubscribe after a reconnect or a repair. */
  resubscribed: boolean;
}

/** The `unsubscribed` event. */
export interface UnsubscribedEvent {
  /** 0 for `unsubscribe()`; the server's code otherwise (2000 for the server API, or the error that refused a resubscribe). */
  code: number;
  reason: string;
}

/** Events of a {@link Subscription}. */
export interface SubscriptionEvents {
  /** A publication, each once and in offset order, the recovered ones first. */
  message: Publication;
  /** A connection joined the channel (namespaces with join/leave events). */
  join: ClientInfo;
  /** A connection left the channel. */
  leave: ClientInfo;
  subscribed: SubscribedEvent;
  /** A resubscribe recovered everything missed (the publications follow as `message` events). */
  recovered: { since: StreamPosition; position: StreamPosition };
  /**
   * Missed publications could not all be recovered (history trimmed, the
   * stream's epoch changed, or the server kept refusing the resubscribe):
   * reload the channel's state, for instance from `history()`. Comes before
   * the live stream resumes.
   */
  recoveryLost: RecoveryLost;
  unsubscribed: UnsubscribedEvent;
  /** A resubscribe failed and will be retried, or the subscribe failed for good. */
  error: HeraldError;
}

/**
 * Subscription is the client's interest in one channel. Once subscribed it
 * survives reconnects: the client resubscribes from its last position and
 * delivers what was missed before the live stream.
 */
export class Subscription extends Emitter<SubscriptionEvents> {
  /** The channel. */
  readonly channel: string;
  /** Whether the server made this subscription (token claims, server API). */
  serverSide: boolean;
  private c: Herald;
  private opts: SubscriptionOptions;
  private _state: SubscriptionState = 'unsubscribed';
  private pos: StreamPosition = { offset: 0, epoch: '' };
  private since?: StreamPosition;
  /** Whether a subscribe succeeded since subscribe() (the position is the stream's). */
  private active = false;
  /** The connection generation the subscription was last sent on. */
  private gen = -1;
  /** The generation on which unsubscribe() was sent while a subscribe was in flight. */
  private unsubGen = -1;
  /** Numbers subscribe commands, so that a stale reply is ignored. */
  private seq = 0;
  private retries = 0;
  private retryTimer?: ReturnType<typeof setTimeout>;
  /** Set from a gap in the live stream until the resubscribe that repairs it is answered. */
  private resyncing = false;
  private ready?: { resolve: () => void; reject: (e: HeraldError) => void };

  /** @internal Use Herald.newSubscription. */
  constructor(c: Herald, channel: string, opts: SubscriptionOptions, serverSide = false) {
    super();
    this.c = c;
    this.channel = channel;
    this.opts = opts;
    this.since = opts.since;
    this.serverSide = serverSide;
    if (serverSide) this._state = 'subscribing';
  }

  /** The subscription's state. */
  get state(): SubscriptionState {
    return this._state;
  }

  /**
   * The last delivered position; store it to resume later with the
   * `since` option. The epoch is "" for a channel without history.
   */
  get position(): StreamPosition {
    return { offset: this.pos.offset, epoch: this.pos.epoch };
  }

  /**
   * Subscribes, and resolves once the server accepted (waiting for a
   * connection if there is none). It rejects with the server's error when
   * the subscribe is refused (`temporary` says whether trying again later
   * may work), or when unsubscribe() or disconnect() comes first.
   */
  subscribe(): Promise<void> {
    if (this._state === 'subscribed') return Promise.resolve();
    const p = new Promise<void>((resolve, reject) => {
      const prev = this.ready;
      this.ready = {
        resolve: () => {
          prev?.resolve();
          resolve();
        },
        reject: (e) => {
          prev?.reject(e);
          reject(e);
        },
      };
    });
    if (this._state === 'unsubscribed') {
      this._state = 'subscribing';
      this.unsubGen = -1;
      if (this.c.state === 'connected') this.sendSubscribe(this.c._gen);
      // Otherwise the next connect command carries it.
    }
    return p;
  }

  /** Unsubscribes. Idempotent; the subscription may subscribe again later. */
  async unsubscribe(): Promise<void> {
    if (this._state === 'unsubscribed') return;
    const sent = this.gen === this.c._gen;
    this.reset();
    this._state = 'unsubscribed';
    this.settle(new HeraldError(ErrorCode.UNSUBSCRIBED, 'herald: unsubscribed before the subscribe completed'));
    this._emit('unsubscribed', { code: 0, reason: 'unsubscribe called' });
    if (sent && this.c.state !== 'disconnected') {
      this.unsubGen = this.c._gen;
      try {
        await this.c._call({ type: 'unsubscribe', channel: this.channel }, 0);
      } catch (e) {
        if (!(e instanceof HeraldError) || (e.code !== ErrorCode.DISCONNECTED && e.code !== ErrorCode.CLOSED)) throw e;
      }
    }
  }

  /** Publishes to the channel; see Herald.publish. */
  publish(data: unknown): Promise<StreamPosition> {
    return this.c.publish(this.channel, data);
  }

  /** The channel's presence; see Herald.presence. */
  presence(): Promise<Record<string, PresenceEntry>> {
    return this.c.presence(this.channel);
  }

  /** The channel's presence counts; see Herald.presenceStats. */
  presenceStats(): Promise<PresenceStats> {
    return this.c.presenceStats(this.channel);
  }

  /** The channel's history; see Herald.history. */
  history(options?: HistoryOptions): Promise<HistoryPage> {
    return this.c.history(this.channel, options);
  }

  // Internals, called by the client ----------------------------------------

  /** The since of a resubscribe: the last position, for a channel with history. */
  private resumeFrom(): StreamPosition | undefined {
    if (this.active && this.pos.epoch) return { offset: this.pos.offset, epoch: this.pos.epoch };
    return this.since;
  }

  /** @internal The entry of the connect command's subs, or undefined to subscribe after connect. */
  _connectEntry(gen: number): { since?: StreamPosition } | undefined {
    // The connect command has no field for a channel token.
    if (this._state === 'unsubscribed' || this.opts.token || this.opts.getToken) return undefined;
    this.gen = gen;
    this.seq++;
    const since = this.resumeFrom();
    return since ? { since } : {};
  }

  /** @internal Subscribes what the connect command did not carry. */
  _afterConnect(gen: number): void {
    if (this._state !== 'unsubscribed' && this.gen !== gen) this.sendSubscribe(gen);
  }

  /** @internal The connection ended; stopped says the client stopped for good. */
  _disconnected(stopped = false): void {
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.resyncing = false;
    if (this._state === 'subscribed') this._state = 'subscribing';
    if (stopped) this.settle(new HeraldError(ErrorCode.CLOSED, 'herald: client disconnected before the subscribe completed'));
  }

  /** Sends the subscribe command on connection gen; the reply is applied ahead of the channel's messages. */
  private async sendSubscribe(gen: number): Promise<void> {
    this.gen = gen;
    const seq = ++this.seq;
    const cmd: { type: string; channel: string; token?: string; since?: StreamPosition } = { type: 'subscribe', channel: this.channel };
    let token = this.opts.token;
    if (this.opts.getToken) {
      try {
        token = await this.opts.getToken(this.channel);
      } catch (e) {
        if (seq !== this.seq || gen !== this.c._gen) return;
        this._applyResult({ error: { code: ErrorCode.UNAUTHORIZED, message: `herald: channel token: ${e}`, temporary: true } }, gen);
        return;
      }
      if (seq !== this.seq || gen !== this.c._gen || this._state === 'unsubscribed') return;
    }
    if (token) cmd.token = token;
    const since = this.resumeFrom();
    if (since) cmd.since = since;
    this.c
      ._call(cmd, 0, (result, err) => {
        if (seq !== this.seq || gen !== this.c._gen) return; // superseded
        if (err && (err.code === ErrorCode.DISCONNECTED || err.code === ErrorCode.CLOSED)) return; // the next connect carries it
        this._applyResult(err ? { error: { code: err.code, message: err.message, temporary: err.temporary } } : result || {}, gen);
      })
      .catch(() => {});
  }

  /** @internal A subscribe result the server pushed (subscribed) or sent in a connect result. */
  _serverSubscribed(r: any, gen: number): void {
    if (this._state === 'unsubscribed') {
      if (this.unsubGen === gen) return; // unsubscribed while the connect was in flight: its unsubscribe follows
      this._state = 'subscribing';
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
  _applyResult(r: ServerMessage, gen: number): void {
    if (this._state === 'unsubscribed') return;
    const first = !this.active;
    this.resyncing = false;
    if (r.error) {
      const err = fromWire(r.error);
      if (!first && err.temporary) {
        const n = ++this.retries;
        this._emit('error', err);
        if (n > this.c._recoveryRetries && this.pos.epoch) {
          // The server could not recover the subscription for a while: say
          // so rather than retry silently, and continue from the present.
          const since = this.position;
          this.pos = { offset: 0, epoch: '' };
          this.since = undefined;
          this._emit('recoveryLost', { since, position: { offset: 0, epoch: '' } });
        }
        clearTimeout(this.retryTimer);
        this.retryTimer = setTimeout(() => {
          this.retryTimer = undefined;
          if (gen === this.c._gen && this._state !== 'unsubscribed') void this.sendSubscribe(gen);
        }, delay(this.c._backoff, n - 1));
        return;
      }
      this.reset();
      this._state = 'unsubscribed';
      this.settle(err);
      this._emit('error', err);
      if (!first) this._emit('unsubscribed', { code: err.code, reason: err.message });
      return;
    }
    this.retries = 0;
    const asked = this.resumeFrom();
    const last = this.pos;
    const recovered = typeof r.recovered === 'boolean' ? r.recovered : undefined;
    const position = { offset: num(r.offset), epoch: str(r.epoch) };
    this.active = true;
    this.since = undefined;
    this._state = 'subscribed';
    const ev: SubscribedEvent = { position, resubscribed: !first };
    if (asked && recovered !== undefined) ev.recovered = recovered;
    this._emit('subscribed', ev);
    this.settle();
    if (asked && recovered === false) this._emit('recoveryLost', { since: asked, position });
    this.pos = { offset: last.epoch === position.epoch ? last.offset : 0, epoch: position.epoch };
    for (const p of Array.isArray(r.publications) ? r.publications : []) {
      const pub = publication(this.channel, p);
      if (recovered && pub.offset <= this.pos.offset) continue;
      if (this.gen !== gen || this._state !== 'subscribed') return; // a listener unsubscribed or disconnected
      if (pub.offset) this.pos.offset = pub.offset;
      this._emit('message', pub);
    }
    // Live messages continue from here (the last recovered one when the
    // server has more to send).
    this.pos = { offset: position.offset, epoch: position.epoch };
    if (asked && recovered) this._emit('recovered', { since: asked, position });
  }

  /**
   * @internal Handles a push for this channel. Publications of a stream
   * must come with consecutive offsets: one that skips ahead means the
   * stream lost something on its way here and is never delivered; the
   * subscription resubscribes from its position instead, which recovers what
   * is missing or reports it lost.
   */
  _push(m: ServerMessage, gen: number): void {
    if (this._state !== 'subscribed') return;
    switch (m.type) {
      case 'message': {
        if (this.resyncing) return;
        const pub = publication(this.channel, m);
        if (pub.offset) {
          if (pub.offset <= this.pos.offset) return; // delivered already
          if (this.pos.epoch && pub.offset !== this.pos.offset + 1) {
            this.resync(gen);
            return;
          }
          this.pos.offset = pub.offset;
        }
        this._emit('message', pub);
        return;
      }
      case 'join':
      case 'leave': {
        const i = info(m.info);
        if (i) this._emit(m.type, i);
        return;
      }
      case 'unsubscribed':
        this.reset();
        this._state = 'unsubscribed';
        this._emit('unsubscribed', { code: num(m.code), reason: str(m.reason) });
    }
  }

  /**
   * Unsubscribes and subscribes again from the last delivered position, in
   * that order (the server handles a connection's commands in order), after
   * a gap in the live stream.
   */
  private resync(gen: number): void {
    this.resyncing = true;
    this.c._call({ type: 'unsubscribe', channel: this.channel }, 0).catch(() => {});
    void this.sendSubscribe(gen);
  }

  private reset(): void {
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.resyncing = false;
    this.active = false;
    this.retries = 0;
    this.seq++;
    this.pos = { offset: 0, epoch: '' };
    this.since = this.opts.since;
  }

  /** Settles the pending subscribe() promises. */
  private settle(err?: HeraldError): void {
    const r = this.ready;
    this.ready = undefined;
    if (!r) return;
    if (err) r.reject(err);
    else r.resolve();
  }
}
