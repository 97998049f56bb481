// herald.js: a small, dependency-free Herald client for browsers.
//
// It speaks the Herald wire protocol v1 in its JSON encoding over the
// browser's native WebSocket, and is meant to be read: every protocol rule
// it relies on is named where it is used. The demo page (app.js) is its only
// user; copy it into your own application as a starting point.
//
// What it does:
//   - connect with a connection token (JWT) fetched from your backend;
//   - subscribe to channels, publish, ask for presence and history;
//   - send direct messages to a user and receive them (`direct` pushes);
//   - answer the server's heartbeat (`ping` push -> `pong` command) and
//     notice a dead connection when pings stop arriving;
//   - refresh the token when the server asks (`refresh_needed`);
//   - reconnect with jittered exponential backoff when the close code says
//     so, resubscribing with `since` per channel and recovering the inbox
//     with `inbox_since`, so that nothing published meanwhile is missed;
//   - deliver every publication exactly once, in offset order.
//
// Exactly once: each stream (a channel with history, or the user's inbox)
// has an epoch and offsets that grow by exactly 1 per publication. The
// client remembers, per stream, the epoch and the last offset it delivered,
// and drops anything at or below it. Recovery after a reconnect replays
// from that offset; the dedupe makes overlaps harmless.

/** The JSON subprotocol (the server's default too; we ask explicitly). */
export const SUBPROTOCOL = 'herald.v1.json';

/**
 * Close codes after which the client reconnects (protocol close-code
 * table). 1005 and 1006 are what the browser reports when the connection
 * dropped without a close frame (network loss, a crashed server): retry.
 * 4003 (token expired) also reconnects, because every attempt fetches a
 * fresh token first. Everything else (1000, 1002, 1003, 1007, 1009, 4500,
 * 4501, 4502) means retrying would fail the same way.
 */
const RECONNECT_CODES = new Set([1001, 1005, 1006, 4000, 4001, 4002, 4003, 4004, 4005, 4006]);

/** Close codes that ask for a reconnect "at once, with jitter". */
const IMMEDIATE_CODES = new Set([1001, 4000]);

/** Backoff bounds in milliseconds. */
const BACKOFF_MIN = 500;
const BACKOFF_MAX = 20000;

/** Extra time past the server's ping interval before we call it dead. */
const PING_GRACE = 10000;

/** How many recent messages a first subscribe shows from history. */
const HISTORY_ON_JOIN = 50;

/**
 * A protocol error reply ({code, message, temporary}) as a JS Error.
 */
export class HeraldError extends Error {
  constructor(err) {
    super(`${err.message} (${err.code})`);
    this.code = err.code;
    this.temporary = !!err.temporary;
  }
}

/**
 * HeraldClient keeps one logical session alive over as many WebSocket
 * connections as it takes.
 *
 * options:
 *   url       WebSocket URL of /ws (ws: or wss:).
 *   getToken  async () => string: a fresh connection token. Called before
 *             every connection attempt and on `refresh_needed`.
 *   handlers  callbacks, all optional:
 *     status(state, detail)   state: 'connecting' | 'online' |
 *                             'reconnecting' | 'offline'; detail: text,
 *                             or for 'reconnecting' {delay, reason}.
 *     connected(result)       after each successful connect reply.
 *     message(channel, pub)   a new publication, once, in offset order.
 *                             pub: {offset?, data, info?, ts}.
 *     direct(pub)             a new direct message, once.
 *                             pub: {offset, data, from: {user, client}, ts}.
 *     join(channel, info)     info: {user, client}.
 *     leave(channel, info)
 *     gap(stream, why)        some publications could not be recovered
 *                             (stream is a channel, or '' for the inbox).
 *     recovered(counts)       after a reconnect: {channel: n, '': n} of
 *                             publications caught up on.
 *   inbox     optional {offset, epoch} to recover direct messages from
 *             (e.g. saved from a previous visit).
 */
export class HeraldClient {
  constructor({ url, getToken, handlers = {}, inbox = null }) {
    this.url = url;
    this.getToken = getToken;
    this.on = handlers;
    this.ws = null;
    this.nextId = 1;
    this.pending = new Map(); // command id -> {resolve, reject, onResult}
    this.online = false;
    this.stopped = true;
    this.attempt = 0; // failed attempts since the last successful connect
    this.retryTimer = null;
    this.watchdog = null;
    this.pingMs = 0;
    this.user = '';
    this.client = '';
    // Per channel: {epoch, offset} of the last publication delivered, or
    // null before the first subscribe succeeded.
    this.channels = new Map();
    // The inbox stream's position, like a channel's.
    this.inbox = inbox;
    this.everConnected = false;
  }

  /** Starts connecting; the client reconnects on its own from then on. */
  start() {
    this.stopped = false;
    this.connect();
  }

  /** Closes the session for good (close code 1000: the server forgets us). */
  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearTimeout(this.watchdog);
    if (this.ws) {
      this.detach(this.ws);
      this.ws.close(1000, 'bye');
      this.ws = null;
    }
    this.failPending(new Error('client stopped'));
    this.setOnline(false, 'offline', 'left');
  }

  /** Retries at once if a reconnect is waiting (the browser came online). */
  retryNow() {
    if (!this.stopped && !this.ws && this.retryTimer) {
      clearTimeout(this.retryTimer);
      this.retryTimer = null;
      this.connect();
    }
  }

  // ---------------------------------------------------------------------
  // Connection lifecycle

  async connect() {
    this.retryTimer = null;
    this.on.status?.('connecting', this.everConnected ? 'reconnecting' : 'connecting');
    let token;
    try {
      // A fresh token per attempt: the old one may have expired while we
      // were away (close 4003 is handled the same way).
      token = await this.getToken();
    } catch (err) {
      this.scheduleReconnect(`token: ${err.message}`, false);
      return;
    }
    if (this.stopped) return;

    const ws = new WebSocket(this.url, SUBPROTOCOL);
    this.ws = ws;
    ws.onopen = () => this.sendConnect(ws, token);
    ws.onmessage = (ev) => this.onFrame(ev.data);
    // 'error' is always followed by 'close', which carries the code.
    ws.onclose = (ev) => this.onClose(ws, ev.code, ev.reason);
  }

  /**
   * The first command must be `connect`. On a reconnect it carries `subs`
   * with `since` for every channel we had, and `inbox_since`: the server
   * then resubscribes and replays what we missed in the same round trip.
   */
  sendConnect(ws, token) {
    const cmd = { type: 'connect', token, name: 'herald-demo', version: '1' };
    const subs = {};
    for (const [channel, pos] of this.channels) {
      subs[channel] = pos ? { since: { offset: pos.offset, epoch: pos.epoch } } : {};
    }
    const resubscribing = Object.keys(subs).length > 0;
    if (resubscribing) cmd.subs = subs;
    if (this.inbox) cmd.inbox_since = { offset: this.inbox.offset, epoch: this.inbox.epoch };

    this.call(cmd, (res) => {
      // Runs synchronously while the reply is decoded, before any push
      // that followed it in the same frame: positions are set first.
      const counts = {};
      for (const [channel, sub] of Object.entries(res.subs || {})) {
        if (sub.error) {
          this.channels.set(channel, null); // keep it: retried on the next connect
          this.on.gap?.(channel, `resubscribe failed: ${sub.error.message}`);
          continue;
        }
        counts[channel] = this.applySubscribe(channel, sub);
      }
      if (res.inbox) counts[''] = this.applyInbox(res.inbox);
      return counts;
    }).then((counts) => {
      this.client = this.lastConnect.client;
      this.user = this.lastConnect.user;
      this.attempt = 0;
      this.setOnline(true, 'online', this.user);
      this.on.connected?.(this.lastConnect);
      if (this.everConnected) this.on.recovered?.(counts);
      this.everConnected = true;
    }).catch(() => {
      // The server follows a failed connect with a `disconnect` push and
      // the close frame; onClose decides whether to retry.
    });
  }

  onClose(ws, code, reason) {
    if (ws !== this.ws) return; // an old socket we already gave up on
    this.ws = null;
    clearTimeout(this.watchdog);
    this.failPending(new Error(`connection closed (${code})`));
    if (this.stopped) return;
    const why = this.disconnectReason || reason || `close ${code}`;
    const pushSaid = this.disconnectRetry;
    this.disconnectReason = null;
    this.disconnectRetry = undefined;
    // The `disconnect` push, when there was one, carries the same code and
    // says whether to reconnect; without one the close code decides.
    const retry = pushSaid !== undefined ? pushSaid : RECONNECT_CODES.has(code);
    if (!retry) {
      this.stopped = true;
      this.setOnline(false, 'offline', `${why} (${code})`);
      return;
    }
    this.scheduleReconnect(why, IMMEDIATE_CODES.has(code));
  }

  /**
   * Jittered exponential backoff. A server that shuts down (1001) asks for
   * an immediate reconnect "with jitter": spread over the first second so
   * that thousands of clients do not all arrive in the same millisecond.
   * Later attempts wait 0.5 s, 1 s, 2 s ... up to 20 s, each randomised
   * between half and all of that.
   */
  scheduleReconnect(reason, immediate) {
    this.setOnline(false);
    let delay;
    if (immediate && this.attempt === 0) {
      delay = Math.random() * 1000;
    } else {
      const base = Math.min(BACKOFF_MAX, BACKOFF_MIN * 2 ** this.attempt);
      delay = base / 2 + Math.random() * (base / 2);
    }
    this.attempt++;
    this.on.status?.('reconnecting', { delay, reason });
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  /** Drops a connection that stopped answering and reconnects. */
  dropDead(why) {
    const ws = this.ws;
    if (!ws) return;
    this.detach(ws);
    this.ws = null;
    ws.close(4000, why);
    this.failPending(new Error(why));
    this.scheduleReconnect(why, false);
  }

  detach(ws) {
    ws.onopen = ws.onmessage = ws.onclose = null;
  }

  setOnline(online, state, detail) {
    this.online = online;
    if (state) this.on.status?.(state, detail);
  }

  /** Restarts the dead-connection timer: any frame proves the link lives. */
  armWatchdog() {
    clearTimeout(this.watchdog);
    if (this.pingMs > 0) {
      this.watchdog = setTimeout(() => this.dropDead('no ping from the server'), this.pingMs + PING_GRACE);
    }
  }

  // ---------------------------------------------------------------------
  // Frames, replies and pushes

  /** A text frame holds one or more JSON messages separated by '\n'. */
  onFrame(text) {
    this.armWatchdog();
    for (const line of String(text).split('\n')) {
      if (line.trim() === '') continue;
      let msg;
      try {
        msg = JSON.parse(line);
      } catch {
        continue; // never happens with a conforming server
      }
      if (msg.id) this.onReply(msg);
      else this.onPush(msg);
    }
  }

  onReply(msg) {
    const p = this.pending.get(msg.id);
    if (!p) return;
    this.pending.delete(msg.id);
    if (msg.error) {
      p.reject(new HeraldError(msg.error));
      return;
    }
    if (p.type === 'connect') {
      this.lastConnect = msg.result;
      this.pingMs = (msg.result.ping || 0) * 1000;
      this.armWatchdog();
    }
    try {
      p.resolve(p.onResult ? p.onResult(msg.result) : msg.result);
    } catch (err) {
      p.reject(err);
    }
  }

  onPush(msg) {
    switch (msg.type) {
      case 'ping':
        // Heartbeat: answer within pong_timeout or be closed with 4002.
        // `pong` has no id and gets no reply.
        this.sendRaw({ type: 'pong' });
        break;
      case 'message':
        this.deliverMessage(msg.channel, msg);
        break;
      case 'direct':
        this.deliverDirect(msg);
        break;
      case 'join':
        this.on.join?.(msg.channel, msg.info);
        break;
      case 'leave':
        this.on.leave?.(msg.channel, msg.info);
        break;
      case 'subscribed':
        // The server subscribed us (server API): adopt the channel so it
        // is recovered on reconnect like our own.
        this.applySubscribe(msg.channel, msg);
        break;
      case 'unsubscribed':
        this.channels.delete(msg.channel);
        break;
      case 'refresh_needed':
        this.refreshToken();
        break;
      case 'disconnect':
        // The close frame with the same code follows; remember why.
        this.disconnectReason = msg.reason;
        this.disconnectRetry = msg.reconnect;
        break;
    }
  }

  async refreshToken() {
    try {
      const token = await this.getToken();
      await this.call({ type: 'refresh', token });
    } catch {
      // If this failed the server closes with 4003 at expiry, and the
      // reconnect fetches a new token anyway.
    }
  }

  // ---------------------------------------------------------------------
  // Streams: exactly once, in order

  /**
   * Applies a subscribe result (from `subscribe`, from connect's `subs`,
   * or a `subscribed` push): delivers its recovered publications and moves
   * the channel's position to the stream's top. Returns how many
   * publications were new.
   */
  applySubscribe(channel, res) {
    const had = this.channels.get(channel);
    // `recovered` is only present when we sent `since`. false means the
    // epoch changed or history no longer reaches back far enough: what is
    // in `publications` is all there is, and some messages are gone.
    if (had && res.recovered === false) {
      this.on.gap?.(channel, had.epoch !== res.epoch ? 'the channel history was reset' : 'too many messages were missed');
    }
    const pos = had && had.epoch === res.epoch ? { ...had } : { epoch: res.epoch, offset: 0 };
    this.channels.set(channel, pos);
    let n = 0;
    for (const pub of res.publications || []) {
      if (this.deliverMessage(channel, pub)) n++;
    }
    // Offsets between ours and the top that were not in `publications`
    // are lost (we were told above); live messages continue after the top.
    if (res.offset > pos.offset) pos.offset = res.offset;
    return n;
  }

  /** The inbox part of a connect result: same rules as a channel. */
  applyInbox(inbox) {
    const had = this.inbox;
    if (had && inbox.recovered === false) {
      this.on.gap?.('', had.epoch !== inbox.epoch ? 'your inbox was reset' : 'too many direct messages were missed');
    }
    this.inbox = had && had.epoch === inbox.epoch ? { ...had } : { epoch: inbox.epoch, offset: 0 };
    let n = 0;
    for (const pub of inbox.publications || []) {
      if (this.deliverDirect(pub)) n++;
    }
    if (inbox.offset > this.inbox.offset) this.inbox.offset = inbox.offset;
    return n;
  }

  /** Delivers a channel publication unless it was delivered before. */
  deliverMessage(channel, pub) {
    const pos = this.channels.get(channel);
    if (!pos) return false; // not (or no longer) subscribed
    // A channel without history publishes without offsets: no dedupe
    // possible or needed (there is no recovery either).
    if (pub.offset) {
      if (pub.offset <= pos.offset) return false; // seen already
      pos.offset = pub.offset;
    }
    this.on.message?.(channel, pub);
    return true;
  }

  /** Delivers a direct message unless it was delivered before. */
  deliverDirect(pub) {
    if (this.inbox && pub.offset) {
      if (pub.offset <= this.inbox.offset) return false;
      this.inbox.offset = pub.offset;
    }
    this.on.direct?.(pub);
    return true;
  }

  // ---------------------------------------------------------------------
  // Commands

  /**
   * Subscribes to a channel. The first time, it reads the recent history
   * and then subscribes with `since` at that history's position: the
   * server replays anything published in between, so history and live
   * messages join without a gap or a duplicate. Where history is not
   * allowed it subscribes plainly.
   */
  async subscribe(channel) {
    if (this.channels.has(channel)) return;
    this.channels.set(channel, null);
    if (!this.online) return; // the next connect subscribes it
    let since = null;
    try {
      const hist = await this.call({ type: 'history', channel, limit: HISTORY_ON_JOIN, reverse: true });
      // reverse gives the newest first; we deliver oldest first.
      const pubs = [...hist.publications].sort((a, b) => a.offset - b.offset);
      const pos = { epoch: hist.epoch, offset: 0 };
      this.channels.set(channel, pos);
      for (const pub of pubs) this.deliverMessage(channel, pub);
      since = { offset: pos.offset, epoch: pos.epoch };
    } catch {
      // No history here (108) or not allowed (103): subscribe without it.
    }
    const cmd = { type: 'subscribe', channel };
    if (since) cmd.since = since;
    try {
      await this.call(cmd, (res) => this.applySubscribe(channel, res));
    } catch (err) {
      // A refusal (bad name, no permission) will not change on retry; a
      // lost connection resubscribes on the next connect.
      if (err instanceof HeraldError && !err.temporary) this.channels.delete(channel);
      throw err;
    }
  }

  /** Unsubscribes; the channel is no longer recovered on reconnect. */
  async unsubscribe(channel) {
    this.channels.delete(channel);
    if (this.online) await this.call({ type: 'unsubscribe', channel });
  }

  /** Publishes data (any JSON value) to a channel. */
  publish(channel, data) {
    return this.call({ type: 'publish', channel, data });
  }

  /** Sends data to every connection of a user and to the user's inbox. */
  send(user, data) {
    return this.call({ type: 'send', user, data });
  }

  /** Who is on a channel now: {client-id: {user, info?}}. */
  async presence(channel) {
    const res = await this.call({ type: 'presence', channel });
    return res.clients || {};
  }

  /**
   * Sends a command with a fresh id and resolves with its result (or with
   * onResult(result), which runs synchronously as the reply is decoded).
   */
  call(cmd, onResult) {
    return new Promise((resolve, reject) => {
      if (!this.ws || this.ws.readyState !== WebSocket.OPEN) {
        reject(new Error('not connected'));
        return;
      }
      // ids are 1..2^32-1; wrap long before that matters.
      const id = this.nextId;
      this.nextId = this.nextId >= 0xfffffff0 ? 1 : this.nextId + 1;
      this.pending.set(id, { resolve, reject, onResult, type: cmd.type });
      this.sendRaw({ id, ...cmd });
    });
  }

  sendRaw(msg) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(msg));
  }

  failPending(err) {
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }
}
