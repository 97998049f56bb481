// app.js: the demo chat's user interface on top of herald.js.
//
// Everything the protocol needs is in herald.js; this file turns its
// callbacks into DOM. Text from the network only ever reaches the page
// through textContent, never innerHTML: a chat message is untrusted input.

import { HeraldClient } from './herald.js';

const $ = (id) => document.getElementById(id);

// The same set the token endpoint accepts for names; rooms may be longer.
const NAME_RE = /^[A-Za-z0-9_.-]{1,32}$/;
const ROOM_RE = /^[A-Za-z0-9_.-]{1,64}$/;

/** The session of the page, null before joining. */
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
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}/ws`;
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
  const channel = `${first.namespace}:${room}`;
  const inboxKey = `herald-demo:inbox:${name}`;
  let firstToken = first.token;

  chat = {
    name, room, channel, inboxKey,
    // Presence: client id -> user. Filled from a `presence` snapshot and
    // kept current by join/leave pushes. Pushes that arrive while a
    // snapshot is on its way are queued and replayed on top of it.
    presence: new Map(),
    presenceQueue: null,
    target: '', // '' = the room; otherwise a user for direct messages
    gaps: 0, // gaps reported since the last reconnect finished
  };

  chat.client = new HeraldClient({
    url: socketURL(),
    getToken: async () => {
      // The first token was fetched while joining; later attempts (and
      // refreshes) get a fresh one.
      if (firstToken) {
        const t = firstToken;
        firstToken = null;
        return t;
      }
      return (await fetchToken(name)).token;
    },
    inbox: loadInboxPosition(inboxKey),
    handlers: {
      status: showStatus,
      connected: onConnected,
      message: (ch, pub) => { if (ch === channel) addMessage('room', pub, sender(pub.info)); },
      direct: (pub) => { addMessage('direct', pub, sender(pub.from)); saveInboxPosition(); },
      join: (ch, info) => { if (ch === channel) presenceEvent('join', info); },
      leave: (ch, info) => { if (ch === channel) presenceEvent('leave', info); },
      gap: (stream, why) => {
        if (chat) chat.gaps++;
        addNotice(`Some ${stream ? 'messages' : 'direct messages'} may be missing: ${why}.`, 'warning');
      },
      recovered: (counts) => {
        // The connect reply reports its gaps before this: after one, the
        // reconnect did not recover everything, whatever it caught up on.
        const n = Object.values(counts).reduce((a, b) => a + b, 0);
        const caught = `caught up on ${n} missed message${n === 1 ? '' : 's'}`;
        if (chat?.gaps) addNotice(n ? `Reconnected: ${caught}, but not all (see above).` : 'Reconnected, but could not catch up (see above).', 'partial');
        else addNotice(n ? `Reconnected: ${caught}.` : 'Reconnected: nothing was missed.', 'recovered');
        if (chat) chat.gaps = 0;
      },
    },
  });

  $('login').hidden = true;
  $('chat').hidden = false;
  document.body.classList.add('chatting');
  $('room-title').textContent = `#${room}`;
  $('whoami').textContent = name;
  $('messages').replaceChildren();
  renderPresence();
  addNotice(`You are ${name} in #${room}.`);
  chat.client.start();
  $('text').focus();
}

function leave() {
  if (!chat) return;
  chat.client.stop();
  chat = null;
  $('chat').hidden = true;
  $('login').hidden = false;
  document.body.classList.remove('chatting');
  $('whoami').textContent = '';
}

async function onConnected() {
  const c = chat;
  saveInboxPosition();
  try {
    // First connect: subscribe (with recent history). On a reconnect the
    // connect command already resubscribed with `since`; this is a no-op.
    await c.client.subscribe(c.channel);
    await loadPresence();
  } catch (err) {
    addNotice(`Cannot join #${c.room}: ${err.message}`, 'error');
  }
}

// -------------------------------------------------------------------------
// Presence

async function loadPresence() {
  const c = chat;
  c.presenceQueue = [];
  const clients = await c.client.presence(c.channel);
  if (c !== chat) return;
  c.presence = new Map(Object.entries(clients).map(([id, info]) => [id, info.user]));
  // Events that raced the snapshot: replaying them in order on top of it
  // converges whether the snapshot already included them or not.
  const queued = c.presenceQueue;
  c.presenceQueue = null;
  for (const [kind, info] of queued) applyPresence(kind, info);
  renderPresence();
}

function presenceEvent(kind, info) {
  if (chat.presenceQueue) {
    chat.presenceQueue.push([kind, info]);
    return;
  }
  applyPresence(kind, info);
  renderPresence();
}

function applyPresence(kind, info) {
  if (kind === 'join') chat.presence.set(info.client, info.user);
  else chat.presence.delete(info.client);
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
  if (!text || !chat) return;
  const to = $('target').value;
  try {
    if (to) {
      await chat.client.send(to, { text });
      // Our own direct messages do not come back to us: show them here.
      addMessage('sent', { data: { text }, ts: Date.now() }, { name: chat.name, kind: 'user' }, to);
    } else {
      // Room messages come back as a `message` push like everyone's.
      await chat.client.publish(chat.channel, { text });
    }
    input.value = '';
  } catch (err) {
    addNotice(`Not sent: ${err.message}`, 'error');
  }
}

/**
 * Who published: info is a publication's `info` (or a direct message's
 * `from`), {user, client}. A publication without it came from the server
 * API, that is from a backend; one with an empty user from an anonymous
 * connection, which is a client like any other and not the server.
 */
function sender(info) {
  if (!info) return { name: 'server', kind: 'server' };
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
  if (from.kind === 'anonymous') author.title = `An anonymous connection (client ${from.client || 'unknown'})`;
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
  body.textContent = messageText(pub);
  li.append(head, body);
  append(li);
}

/** Our messages are {text}; show anything else as JSON, bytes as such. */
function messageText(pub) {
  if (pub.data === undefined) return pub.b64 !== undefined ? '[binary data]' : '';
  if (pub.data && typeof pub.data.text === 'string') return pub.data.text;
  return JSON.stringify(pub.data);
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
// Status and the saved inbox position

function showStatus(state, detail) {
  const el = $('status');
  // Mark in the log where the connection dropped, so that what the
  // reconnect recovers reads in order.
  if (state === 'reconnecting' && el.dataset.state === 'online') {
    addNotice(`Connection lost (${detail.reason}). Reconnecting…`, 'lost');
  }
  el.dataset.state = state;
  if (state === 'reconnecting') {
    el.textContent = `reconnecting in ${(detail.delay / 1000).toFixed(1)} s`;
    el.title = detail.reason || '';
  } else {
    el.textContent = state === 'offline' && detail ? `offline: ${detail}` : state;
    el.title = '';
  }
  $('presence').classList.toggle('stale', state !== 'online');
}

/**
 * The inbox position survives a page reload, so direct messages sent
 * while the page was closed show up on the next visit.
 */
function loadInboxPosition(key) {
  try {
    const pos = JSON.parse(localStorage.getItem(key));
    if (pos && Number.isInteger(pos.offset) && typeof pos.epoch === 'string') return pos;
  } catch {
    // No storage (private mode) or a stale value: start from now.
  }
  return null;
}

function saveInboxPosition() {
  const pos = chat?.client.inbox;
  if (!pos) return;
  try {
    localStorage.setItem(chat.inboxKey, JSON.stringify(pos));
  } catch {
    // Storage full or disabled: recovery within this page still works.
  }
}

// -------------------------------------------------------------------------

$('login-form').addEventListener('submit', join);
$('composer').addEventListener('submit', sendMessage);
$('leave').addEventListener('click', leave);
$('target').addEventListener('change', (ev) => { chat.target = ev.target.value; });
// Back online after a network loss: retry now instead of after the backoff.
window.addEventListener('online', () => chat?.client.retryNow());
