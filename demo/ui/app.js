// app.js: the demo chat's user interface on Herald's JavaScript client.
//
// The client (@heraldhq/client; herald serves its browser bundle next to
// this file) does the protocol: the connection and its heartbeat, token
// refresh, reconnects that resubscribe from the last offset, every message
// exactly once and in order, and the inbox of direct messages, whose
// position it keeps in localStorage between visits. This file turns the
// client's events into DOM. Text from the network only ever reaches the
// page through textContent, never innerHTML: a chat message is untrusted
// input.

import { Herald } from './herald.min.js';

const $ = (id) => document.getElementById(id);

// The same set the token endpoint accepts for names; rooms may be longer.
const NAME_RE = /^[A-Za-z0-9_.-]{1,32}$/;
const ROOM_RE = /^[A-Za-z0-9_.-]{1,64}$/;

/** How many recent messages joining a room shows. */
const HISTORY_ON_JOIN = 50;

/** The session of the page, null before joining and after leaving. */
let chat = null;

/**
 * Asks the demo backend for a connection token for name. A real
 * application's backend would sign it for its logged-in user instead.
 */
async function fetchToken(name) {
  const res = await fetch('token', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ name }),
    cache: 'no-store',
  });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(body.error || `HTTP ${res.status}`);
  return body; // {token, user, expires, namespace}
}

/** ws: or wss: URL of the server's /ws on this page's own origin. */
function socketURL() {
  return `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/ws`;
}

// -------------------------------------------------------------------------
// Joining and leaving

async function join(ev) {
  ev.preventDefault();
  const name = $('name').value.trim();
  const room = $('room').value.trim();
  const error = $('login-error');
  error.textContent = '';
  if (!NAME_RE.test(name)) {
    error.textContent = 'A name is 1 to 32 letters, digits, "_", "-" or ".".';
    return;
  }
  if (!ROOM_RE.test(room)) {
    error.textContent = 'A room is 1 to 64 letters, digits, "_", "-" or ".".';
    return;
  }
  let first;
  try {
    first = await fetchToken(name); // also tells us the namespace
  } catch (err) {
    error.textContent = `Cannot get a token: ${err.message}`;
    return;
  }
  startChat(name, room, first);
}

function startChat(name, room, first) {
  const herald = new Herald(socketURL(), {
    token: first.token,
    // Called when the server asks for a refresh, and before a reconnect
    // once the token has expired.
    getToken: async () => (await fetchToken(name)).token,
    name: 'herald-demo',
  });
  const c = {
    name, room, herald,
    channel: `${first.namespace}:${room}`,
    sub: null, // the room's Subscription, once the recent history is read
    // Presence: client id -> user. Filled from a presence snapshot and kept
    // current by join/leave events; events that arrive while a snapshot is
    // on its way are queued and replayed on top of it.
    presence: new Map(),
    presenceQueue: null,
    target: '', // '' = the room; otherwise a user for direct messages
    connectedBefore: false,
    catchUp: null, // what a reconnect recovered, until it is reported
    statusTimer: null,
  };
  chat = c;
  // Every listener of this session is deaf once the page left it.
  const on = (emitter, event, fn) => emitter.on(event, (arg) => { if (chat === c) fn(arg); });

  on(herald, 'connecting', ({ delay }) => showConnecting(c, delay));
  on(herald, 'connected', () => onConnected(c));
  on(herald, 'disconnected', (ev) => onDisconnected(c, ev));
  on(herald, 'direct', (dm) => {
    if (c.catchUp && !c.catchUp.inboxDone) c.catchUp.directs++;
    addMessage('direct', dm, sender(dm.from));
  });
  on(herald, 'inboxLost', (ev) => {
    if (c.catchUp) c.catchUp.lost = true;
    addNotice(`Some direct messages may be missing: ${lossReason(ev, 'your inbox was reset', 'too many direct messages were missed')}.`, 'warning');
  });
  // Failures no call reports (a token fetch, a refresh): the connection
  // carries on or reconnects by itself; the console keeps the detail.
  on(herald, 'error', (err) => console.warn('herald:', err.message));

  $('login').hidden = true;
  $('chat').hidden = false;
  document.body.classList.add('chatting');
  $('room-title').textContent = `#${room}`;
  $('whoami').textContent = name;
  $('messages').replaceChildren();
  renderPresence();
  addNotice(`You are ${name} in #${room}.`);
  herald.connect();
  joinRoom(c, on);
  $('text').focus();
}

/**
 * Shows the room's recent messages, then subscribes from the position the
 * history read returned: what was published in between comes first, so
 * history and the live stream join without a gap or a duplicate.
 */
async function joinRoom(c, on) {
  let since;
  try {
    // Waits for the connection like any call made while connecting.
    const page = await c.herald.history(c.channel, { limit: HISTORY_ON_JOIN, reverse: true });
    if (chat !== c) return;
    for (const pub of page.publications.reverse()) addMessage('room', pub, sender(pub.info));
    if (page.epoch) since = { offset: page.offset, epoch: page.epoch };
  } catch {
    // No history here (108), not allowed (103), or no connection in time:
    // the room starts with what is published from now on.
  }
  if (chat !== c) return;
  const sub = c.herald.newSubscription(c.channel, since ? { since } : {});
  c.sub = sub;
  on(sub, 'message', (pub) => addMessage('room', pub, sender(pub.info)));
  on(sub, 'join', (who) => presenceEvent(c, 'join', who));
  on(sub, 'leave', (who) => presenceEvent(c, 'leave', who));
  on(sub, 'subscribed', (ev) => {
    // A first subscribe has nothing to catch up on: its `since` was the
    // history read, not a reconnect.
    if (c.catchUp && (!ev.resubscribed || ev.recovered === undefined)) settleRoom(c, 0);
    loadPresence(c); // who came and went while we were away
  });
  on(sub, 'recovered', ({ since: from, position }) => {
    if (c.catchUp) settleRoom(c, position.offset - from.offset);
  });
  on(sub, 'recoveryLost', (ev) => {
    if (c.catchUp) {
      c.catchUp.lost = true;
      settleRoom(c, 0);
    }
    addNotice(`Some messages may be missing: ${lossReason(ev, 'the channel history was reset', 'too many messages were missed')}.`, 'warning');
  });
  on(sub, 'unsubscribed', ({ code, reason }) => {
    if (!code) return;
    if (c.catchUp) {
      c.catchUp.lost = true;
      settleRoom(c, 0);
    }
    addNotice(`You are no longer in #${c.room}: ${reason}`, 'error');
  });
  try {
    await sub.subscribe();
  } catch (err) {
    if (chat === c) addNotice(`Cannot join #${c.room}: ${err.message}`, 'error');
  }
}

function leave() {
  const c = chat;
  if (!c) return;
  chat = null;
  clearTimeout(c.statusTimer);
  c.herald.disconnect();
  setStatus('offline', 'offline');
  $('chat').hidden = true;
  $('login').hidden = false;
  document.body.classList.remove('chatting');
  $('whoami').textContent = '';
}

// -------------------------------------------------------------------------
// The connection: status, and what a reconnect caught up on

function onConnected(c) {
  // A wait's status timer may still be pending: the client can connect
  // before it fires (a fallback transport is tried at once when one fails).
  clearTimeout(c.statusTimer);
  setStatus('online', 'online');
  if (!c.connectedBefore) {
    c.connectedBefore = true;
    return;
  }
  // The connect reply carries the room's resubscribe and the inbox, and
  // the client delivers what they recovered while it handles the frame
  // that holds the reply: the room reports its count in `recovered`; the
  // inbox's direct messages are the ones delivered before that handling
  // ends, when the microtask below runs. (A live direct message in the
  // same frame as the reply would count too.) room stays null until the
  // room's resubscribe is answered, 0 when there is none to wait for.
  const room = c.sub && c.sub.state !== 'unsubscribed' ? null : 0;
  c.catchUp = { room, directs: 0, lost: false, inboxDone: false };
  queueMicrotask(() => {
    if (!c.catchUp) return;
    c.catchUp.inboxDone = true;
    reportCatchUp(c);
  });
}

function settleRoom(c, n) {
  if (c.catchUp.room === null) c.catchUp.room = n;
  reportCatchUp(c);
}

/**
 * Says what the reconnect caught up on once both the room and the inbox
 * are done: a gap reported since the connect means it did not recover
 * everything, whatever it caught up on.
 */
function reportCatchUp(c) {
  const u = c.catchUp;
  if (!u || u.room === null || !u.inboxDone) return;
  c.catchUp = null;
  const n = u.room + u.directs;
  const caught = `caught up on ${n} missed message${n === 1 ? '' : 's'}`;
  if (u.lost) addNotice(n ? `Reconnected: ${caught}, but not all (see above).` : 'Reconnected, but could not catch up (see above).', 'partial');
  else addNotice(n ? `Reconnected: ${caught}.` : 'Reconnected: nothing was missed.', 'recovered');
}

function onDisconnected(c, { code, reason, reconnect }) {
  const wasOnline = $('status').dataset.state === 'online';
  const why = reason || (code ? `close ${code}` : 'network error');
  c.catchUp = null;
  if (reconnect) {
    // Mark in the log where the connection dropped, so that what the
    // reconnect recovers reads in order. Failed attempts add nothing.
    if (wasOnline) addNotice(`Connection lost (${why}). Reconnecting…`, 'lost');
    return; // the `connecting` event that follows shows the wait
  }
  clearTimeout(c.statusTimer);
  setStatus('offline', `offline: ${why}`);
  addNotice(`Disconnected: ${why}${code ? ` (${code})` : ''}. Leave and join again to retry.`, 'error');
}

/** The status while connecting: a first attempt, or the wait before the next. */
function showConnecting(c, delay) {
  clearTimeout(c.statusTimer);
  if (!c.connectedBefore && delay === 0) {
    setStatus('connecting', 'connecting');
    return;
  }
  setStatus('reconnecting', `reconnecting in ${(delay / 1000).toFixed(1)} s`);
  c.statusTimer = setTimeout(() => setStatus('reconnecting', 'reconnecting…'), delay);
}

function setStatus(state, text) {
  const el = $('status');
  el.dataset.state = state;
  el.textContent = text;
  $('presence').classList.toggle('stale', state !== 'online');
}

/** Why a stream could not be recovered, from a recoveryLost or inboxLost event. */
function lossReason({ since, position }, reset, trimmed) {
  if (!position.epoch) return 'the server could not recover them';
  return since.epoch !== position.epoch ? reset : trimmed;
}

// -------------------------------------------------------------------------
// Presence

async function loadPresence(c) {
  const queue = [];
  c.presenceQueue = queue;
  let clients = null;
  try {
    clients = await c.sub.presence();
  } catch {
    // Disconnected meanwhile: the next subscribe loads it again.
  }
  if (chat !== c || c.presenceQueue !== queue) return; // a newer load took over
  c.presenceQueue = null;
  if (clients) c.presence = new Map(Object.entries(clients).map(([id, entry]) => [id, entry.user]));
  // Events that raced the snapshot: replaying them in order on top of it
  // converges whether the snapshot already included them or not.
  for (const [kind, who] of queue) applyPresence(c, kind, who);
  renderPresence();
}

function presenceEvent(c, kind, who) {
  if (c.presenceQueue) {
    c.presenceQueue.push([kind, who]);
    return;
  }
  applyPresence(c, kind, who);
  renderPresence();
}

function applyPresence(c, kind, who) {
  if (kind === 'join') c.presence.set(who.client, who.user);
  else c.presence.delete(who.client);
}

/** One entry per user, however many tabs (connections) they have open. */
function renderPresence() {
  const users = [...new Set(chat.presence.values())].filter((u) => u).sort();
  const list = $('presence');
  list.replaceChildren(...users.map((user) => {
    const li = document.createElement('li');
    li.dataset.user = user;
    const button = document.createElement('button');
    button.type = 'button';
    button.textContent = user === chat.name ? `${user} (you)` : user;
    button.disabled = user === chat.name;
    button.addEventListener('click', () => selectTarget(user));
    li.append(button);
    return li;
  }));
  $('online-count').textContent = String(users.length);
  renderTargets(users);
}

/** The composer's "send to" choice: the room, or a user directly. */
function renderTargets(users) {
  const select = $('target');
  const others = users.filter((u) => u !== chat.name);
  // Keep a chosen user who went offline: direct messages wait in the inbox.
  if (chat.target && !others.includes(chat.target)) others.push(chat.target);
  const options = [new Option(`#${chat.room}`, '')];
  for (const u of others) options.push(new Option(`@${u} (direct)`, u));
  select.replaceChildren(...options);
  select.value = chat.target;
}

function selectTarget(user) {
  chat.target = user;
  renderTargets([...new Set(chat.presence.values())]);
  $('text').focus();
}

// -------------------------------------------------------------------------
// Messages

async function sendMessage(ev) {
  ev.preventDefault();
  const input = $('text');
  const text = input.value.trim();
  const c = chat;
  if (!text || !c) return;
  const to = $('target').value;
  try {
    // While the client reconnects, calls wait for the connection (up to
    // its timeout) instead of failing.
    if (to) {
      await c.herald.send(to, { text });
      // Our own direct messages do not come back to us: show them here.
      if (chat === c) addMessage('sent', { data: { text }, ts: Date.now() }, { name: c.name, kind: 'user' }, to);
    } else {
      // Room messages come back as a `message` event like everyone's.
      await c.herald.publish(c.channel, { text });
    }
    if (input.value.trim() === text) input.value = '';
  } catch (err) {
    if (chat === c) addNotice(`Not sent: ${err.message}`, 'error');
  }
}

/**
 * Who wrote: info is a publication's `info` or a direct message's `from`,
 * {user, client}. Without either (no info, or both empty) it came from the
 * server API, that is from a backend; with an empty user from an anonymous
 * connection, which is a client like any other and not the server.
 */
function sender(info) {
  if (!info || (!info.user && !info.client)) return { name: 'server', kind: 'server' };
  if (!info.user) return { name: 'anonymous', kind: 'anonymous', client: info.client };
  return { name: info.user, kind: 'user' };
}

/**
 * Appends a message. kind: 'room', 'direct' (to us) or 'sent' (our own
 * direct message); from is what sender() returned.
 */
function addMessage(kind, pub, from, to) {
  const li = document.createElement('li');
  li.className = `msg ${kind}`;
  li.dataset.stream = kind === 'room' ? chat.channel : kind === 'direct' ? 'inbox' : 'sent';
  if (pub.offset) li.dataset.offset = String(pub.offset);
  if (from.kind === 'user' && from.name === chat.name) li.classList.add('mine');

  const head = document.createElement('div');
  head.className = 'head';
  const author = document.createElement('span');
  author.className = `author ${from.kind}`;
  author.textContent = from.name;
  if (from.kind === 'server') author.title = 'Published by a backend through the server API';
  if (from.kind === 'anonymous') author.title = `An anonymous connection (client ${from.client})`;
  head.append(author);
  if (kind !== 'room') {
    const badge = document.createElement('span');
    badge.className = 'badge';
    badge.textContent = kind === 'sent' ? `direct to ${to}` : 'direct to you';
    head.append(badge);
  }
  const time = document.createElement('time');
  time.textContent = new Date(pub.ts || Date.now()).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  head.append(time);

  const body = document.createElement('div');
  body.className = 'text';
  body.textContent = messageText(pub.data);
  li.append(head, body);
  append(li);
}

/** Our messages are {text}; show anything else as JSON, bytes as such. */
function messageText(data) {
  if (data === undefined) return '';
  if (data instanceof Uint8Array) return `[${data.length} bytes of binary data]`;
  if (data && typeof data.text === 'string') return data.text;
  return JSON.stringify(data);
}

function addNotice(text, kind = 'info') {
  const li = document.createElement('li');
  li.className = `notice ${kind}`;
  li.textContent = text;
  append(li);
}

/** Appends to the log, following the bottom unless the user scrolled up. */
function append(li) {
  const list = $('messages');
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  list.append(li);
  if (atBottom) list.scrollTop = list.scrollHeight;
}

// -------------------------------------------------------------------------

$('login-form').addEventListener('submit', join);
$('composer').addEventListener('submit', sendMessage);
$('leave').addEventListener('click', leave);
$('target').addEventListener('change', (ev) => { if (chat) chat.target = ev.target.value; });
// Back online after a network loss: retry now instead of after the backoff.
window.addEventListener('online', () => chat?.herald.retryNow());
