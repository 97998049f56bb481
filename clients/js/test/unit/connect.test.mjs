// Connection lifecycle: connect, state events, close codes, tokens,
// heartbeats, queued calls and timers, against a scripted server.
import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { Herald, HeraldError, ErrorCode } from '../../dist/herald.js';
import { FakeServer, fast, record, timers, until } from './fake.mjs';

// Clients a failed test left connected are disconnected, so that their
// timers do not hold the process.
const clients = [];
afterEach(() => clients.splice(0).forEach((h) => h.disconnect()));

function client(server, opts = {}) {
  const h = new Herald('ws://fake/ws', { WebSocket: server.WebSocket, ...fast, ...opts });
  clients.push(h);
  return h;
}

test('connect sends the token, name and version; events come in order', async () => {
  const s = new FakeServer();
  const h = client(s, { token: 'T', name: 'app', version: '1.2' });
  const log = record(h, 'connecting', 'connected');
  h.connect();
  assert.equal(h.state, 'connecting');
  const ws = await s.socket(0);
  assert.deepEqual(ws.protocols, ['herald.v1.json']);
  const c = await ws.accept({ client: 'abc', user: 'alice', expires: 99 });
  assert.deepEqual(c, { id: 1, type: 'connect', token: 'T', name: 'app', version: '1.2' });
  assert.equal(h.state, 'connected');
  assert.equal(h.client, 'abc');
  assert.equal(h.user, 'alice');
  assert.deepEqual(log, [
    ['connecting', { attempt: 0, delay: 0 }],
    ['connected', { client: 'abc', user: 'alice', expires: 99 }],
  ]);
  h.disconnect();
  assert.equal(h.state, 'disconnected');
  assert.deepEqual(ws.closed, { code: 1000, reason: 'client disconnected' });
});

// closecodes.test.mjs checks each close code against the conformance table.

test('a connection that ends soon after the connect continues the count, whatever the code but 1001; one that lasted starts it over', async () => {
  const s = new FakeServer();
  const h = client(s, { token: 'T' });
  const log = record(h, 'connecting');
  h.connect();
  for (let n = 0; n < 3; n++) {
    const ws = await s.socket(n);
    await ws.accept();
    ws.serverClose(4006, 'busy');
  }
  const ws = await s.socket(3);
  await ws.accept();
  const now = Date.now;
  Date.now = () => now() + 31000; // the connection has lasted 31 s
  try {
    ws.serverClose(4006, 'busy');
  } finally {
    Date.now = now;
  }
  assert.deepEqual(log.map(([, e]) => e.attempt), [0, 1, 2, 3, 0]);
  // A proxy that drops every connection at once (no close frame: 1006).
  await (await s.socket(4)).accept();
  s.sockets[4].onclose({ code: 1006, reason: '' });
  await (await s.socket(5)).accept();
  s.sockets[5].serverClose(4000, 'reconnect');
  assert.deepEqual(log.map(([, e]) => e.attempt), [0, 1, 2, 3, 0, 1, 2]);
  // A draining node's clients come back at once.
  await (await s.socket(6)).accept();
  s.sockets[6].serverClose(1001, 'shutting down');
  assert.deepEqual(log.map(([, e]) => e.attempt), [0, 1, 2, 3, 0, 1, 2, 0]);
});

test("an application's own close code follows the disconnect push", async () => {
  for (const reconnect of [true, false]) {
    const s = new FakeServer();
    const h = client(s);
    h.connect();
    const ws = await s.socket(0);
    await ws.accept();
    const log = record(h, 'disconnected');
    ws.deliver({ type: 'disconnect', code: 3001, reason: 'app', reconnect });
    ws.onclose({ code: 3001, reason: 'app' });
    assert.deepEqual(log, [['disconnected', { code: 3001, reason: 'app', reconnect }]]);
    h.disconnect();
  }
});

test('a refused connect stops with the close code (4501)', async () => {
  const s = new FakeServer();
  const h = client(s, { token: 'bad' });
  const log = record(h, 'disconnected');
  const pending = [];
  h.connect();
  pending.push(h.publish('chat:a', 1).catch((e) => e));
  const ws = await s.socket(0);
  const c = await ws.next('connect');
  ws.deliver({ id: c.id, error: { code: 101, message: 'unauthorized', temporary: false } },
    { type: 'disconnect', code: 4501, reason: 'unauthorized', reconnect: false });
  ws.onclose({ code: 4501, reason: 'unauthorized' });
  assert.equal(h.state, 'disconnected');
  assert.deepEqual(log, [['disconnected', { code: 4501, reason: 'unauthorized', reconnect: false }]]);
  const err = await pending[0];
  assert.ok(err instanceof HeraldError);
  assert.equal(err.code, ErrorCode.CLOSED);
});

test('getToken: on first connect, on refresh_needed and after 4003, not after other closes', async () => {
  const s = new FakeServer();
  let n = 0;
  const h = client(s, { getToken: async () => `T${++n}` });
  h.connect();
  let ws = await s.socket(0);
  assert.equal((await ws.accept()).token, 'T1');
  ws.serverClose(1006, '', false);
  ws = await s.socket(1);
  assert.equal((await ws.accept()).token, 'T1', 'a network drop reuses the token');
  ws.deliver({ type: 'refresh_needed', expires: 5 });
  const r = await ws.next('refresh');
  assert.equal(r.token, 'T2');
  ws.reply(r, { expires: 10 });
  ws.serverClose(4003, 'token expired');
  ws = await s.socket(2);
  assert.equal((await ws.accept()).token, 'T3');
  assert.equal(n, 3);
  h.disconnect();
});

test('4003 without getToken stops: the same token would be refused again', async () => {
  const s = new FakeServer();
  const h = client(s, { token: 'T' });
  const log = record(h, 'disconnected');
  h.connect();
  const ws = await s.socket(0);
  await ws.accept();
  ws.serverClose(4003, 'token expired');
  assert.deepEqual(log, [['disconnected', { code: 4003, reason: 'token expired', reconnect: false }]]);
});

test('a failing getToken is retried with backoff and reported', async () => {
  const s = new FakeServer();
  let n = 0;
  const h = client(s, {
    getToken: async () => {
      if (++n < 3) throw new Error('backend down');
      return 'T';
    },
  });
  const errors = record(h, 'error');
  h.connect();
  assert.equal((await (await s.socket(0)).accept()).token, 'T');
  assert.equal(errors.length, 2);
  h.disconnect();
});

test('the server ping is answered; a silent connection is dropped and replaced', async () => {
  const s = new FakeServer();
  const h = client(s, { pingMargin: 20 });
  const log = record(h, 'disconnected');
  h.connect();
  const ws = await s.socket(0);
  await ws.accept({ ping: 0.02 });
  ws.deliver({ type: 'ping' });
  assert.deepEqual(await ws.next('pong'), { type: 'pong' });
  // Nothing more from this server: the watchdog fires after ping + margin.
  await (await s.socket(1)).accept({ ping: 25 });
  assert.deepEqual(log[0], ['disconnected', { code: 0, reason: 'heartbeat timeout', reconnect: true }]);
  assert.ok(ws.closed);
  h.disconnect();
});

test('calls wait for a connection while connecting, in order, and get replies by id', async () => {
  const s = new FakeServer();
  const h = client(s);
  h.connect();
  const p1 = h.publish('chat:a', { n: 1 });
  const p2 = h.presenceStats('chat:a');
  const ws = await s.socket(0);
  await ws.accept();
  const c1 = await ws.next('publish');
  const c2 = await ws.next('presence_stats');
  assert.deepEqual(c1, { type: 'publish', channel: 'chat:a', data: { n: 1 }, id: 2 });
  ws.reply(c2, { clients: 2, users: 1 });
  ws.reply(c1, { offset: 7, epoch: 'e' });
  assert.deepEqual(await p1, { offset: 7, epoch: 'e' });
  assert.deepEqual(await p2, { clients: 2, users: 1 });
  h.disconnect();
});

test('calls fail clearly: not connected, queue full, timeout, disconnected, server error', async () => {
  const s = new FakeServer();
  const h = client(s, { maxQueued: 1, timeout: 30 });
  await assert.rejects(h.publish('a', 1), { code: ErrorCode.CLOSED, temporary: false });
  h.connect();
  const queued = h.publish('a', 1);
  await assert.rejects(h.publish('a', 2), { code: ErrorCode.QUEUE_FULL, temporary: true });
  await assert.rejects(queued, { code: ErrorCode.TIMEOUT, temporary: true });
  const ws = await s.socket(0);
  await ws.accept();
  await assert.rejects(h.publish('a', 3), { code: ErrorCode.TIMEOUT });
  const inFlight = h.send('bob', 'hi');
  await ws.next('publish');
  await ws.next('send');
  const errored = h.history('a');
  const c = await ws.next('history');
  ws.deliver({ id: c.id, error: { code: 108, message: 'not available', temporary: false } });
  await assert.rejects(errored, (e) => e instanceof HeraldError && e.code === 108 && e.message === 'not available' && !e.temporary);
  ws.serverClose(1006, '', false);
  await assert.rejects(inFlight, { code: ErrorCode.DISCONNECTED, temporary: true });
  h.disconnect();
});

test('bytes need the Protobuf encoding', async () => {
  const s = new FakeServer();
  const h = client(s);
  h.connect();
  await (await s.socket(0)).accept();
  await assert.rejects(h.publish('a', new Uint8Array([1])), { code: ErrorCode.BAD_REQUEST });
  h.disconnect();
});

test('disconnect() leaves no timer behind, whatever was pending', async () => {
  const before = timers();
  const s = new FakeServer();
  const h = client(s, { minReconnectDelay: 60000, maxReconnectDelay: 60000 });
  h.connect();
  const ws = await s.socket(0);
  await ws.accept({ ping: 25 });
  const sub = h.newSubscription('chat:a');
  const subscribed = sub.subscribe();
  ws.reply(await ws.next('subscribe'), { offset: 0, epoch: 'e' });
  await subscribed;
  const calls = [h.publish('chat:a', 1), h.history('chat:a')].map((p) => p.catch((e) => e));
  ws.serverClose(1006, '', false); // a reconnect is now scheduled a minute away
  calls.push(h.publish('chat:a', 2).catch((e) => e));
  assert.ok(timers() > before);
  h.disconnect();
  assert.equal(timers(), before);
  for (const e of await Promise.all(calls)) assert.ok(e instanceof HeraldError, String(e));
});

test('connect() after disconnect() resumes the subscriptions from their positions', async () => {
  const s = new FakeServer();
  const h = client(s);
  const sub = h.newSubscription('chat:a');
  const got = [];
  sub.on('message', (m) => got.push(m.offset));
  sub.subscribe();
  h.connect();
  let ws = await s.socket(0);
  const c = await ws.accept({ subs: { 'chat:a': { offset: 3, epoch: 'e' } } });
  assert.deepEqual(c.subs, { 'chat:a': {} });
  ws.deliver({ type: 'message', channel: 'chat:a', offset: 4, data: 1, ts: 1 });
  h.disconnect();
  h.connect();
  ws = await s.socket(1);
  const c2 = await ws.accept({ subs: { 'chat:a': { offset: 5, epoch: 'e', recovered: true, publications: [{ offset: 5, data: 2, ts: 2 }] } } });
  assert.deepEqual(c2.subs, { 'chat:a': { since: { offset: 4, epoch: 'e' } } });
  assert.deepEqual(got, [4, 5]);
  h.disconnect();
});

test('a listener that throws does not disturb the client', async () => {
  const s = new FakeServer();
  const h = client(s);
  h.on('connected', () => {
    throw new Error('app bug');
  });
  let ok = false;
  h.on('connected', () => (ok = true));
  h.connect();
  const ws = await s.socket(0);
  const c = await ws.next('connect');
  // The exception is rethrown on a task of its own, where the runtime
  // reports it: catch that task's function instead of running it.
  const deferred = [];
  const real = globalThis.setTimeout;
  globalThis.setTimeout = (fn, ms) => (ms === undefined ? deferred.push(fn) : real(fn, ms));
  try {
    ws.reply(c, { client: 'c1', user: '', ping: 25 });
  } finally {
    globalThis.setTimeout = real;
  }
  assert.ok(ok, 'later listeners still run');
  assert.equal(h.state, 'connected');
  assert.equal(deferred.length, 1);
  assert.throws(deferred[0], /app bug/);
  h.disconnect();
});

test('the disconnect push decides when the close frame got lost', async () => {
  const s = new FakeServer();
  const h = client(s);
  const log = record(h, 'disconnected');
  h.connect();
  const ws = await s.socket(0);
  await ws.accept();
  ws.deliver({ type: 'disconnect', code: 4502, reason: 'forbidden', reconnect: false });
  ws.onclose({ code: 1006, reason: '' });
  assert.deepEqual(log, [['disconnected', { code: 4502, reason: 'forbidden', reconnect: false }]]);
  assert.equal(h.state, 'disconnected');
});

test('retryNow() ends the wait before a reconnect', async () => {
  const s = new FakeServer();
  const h = client(s, { minReconnectDelay: 60000, maxReconnectDelay: 60000 });
  h.connect();
  await (await s.socket(0)).accept();
  s.sockets[0].serverClose(1006, '', false);
  assert.equal(h.state, 'connecting');
  assert.equal(s.sockets.length, 1, 'waiting up to a minute');
  h.retryNow();
  await (await s.socket(1)).accept();
  assert.equal(h.state, 'connected');
  h.retryNow(); // nothing waits: nothing happens
  assert.equal(s.sockets.length, 2);
});
