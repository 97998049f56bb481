// The transport chain and the stream transports, against scripted servers:
// a WebSocket that the test refuses, an HTTP server on a real socket for
// http_stream and the command POSTs, and a scripted EventSource for sse.
import { afterEach, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { Herald, ErrorCode } from '../../dist/herald.js';
import { protobuf } from '../../dist/protobuf.js';
import { FakeServer, record, until } from './fake.mjs';
import { FakeEventSources, StreamServer } from './streamfake.mjs';

const fast = { minReconnectDelay: 1, maxReconnectDelay: 2, inboxStore: null };
const clients = [];
let http;
beforeEach(async () => {
  http = await new StreamServer().start();
});
afterEach(async () => {
  clients.splice(0).forEach((h) => h.disconnect());
  await http.close();
});

/** A client of the fake servers: ws answers WebSockets, es plays EventSource. */
function client(opts = {}) {
  const ws = new FakeServer();
  const es = new FakeEventSources();
  const h = new Herald(http.url, { WebSocket: ws.WebSocket, EventSource: es.EventSource, ...fast, ...opts });
  clients.push(h);
  return { h, ws, es };
}

/** The WebSocket upgrade refused: the socket closes before it opens. */
async function refuse(ws, n) {
  const sock = await ws.socket(n);
  sock.onopen = null;
  queueMicrotask(() => sock.onclose && sock.onclose({ code: 1006, reason: '' }));
  return sock;
}

test('the default chain: websocket, then http_stream, then sse; the backoff grows once per round', async () => {
  const { h, ws, es } = client({ token: 'T' });
  const log = record(h, 'connecting');
  h.connect();
  // The WebSocket's socket opens, then closes before the connect reply.
  const s0 = await ws.socket(0);
  await s0.next('connect');
  s0.onclose({ code: 1006, reason: '' });
  http.streamStatus.push(503);
  await http.stream(0);
  const src = await es.source(0);
  assert.equal(src.connect.token, 'T');
  src.fail();
  // A full round failed: back to the first, after a backoff.
  await ws.socket(1);
  assert.deepEqual(log.map(([, e]) => e.attempt), [0, 0, 0, 1]);
  assert.equal(h.transport, 'websocket');
  assert.equal(src.closed, true, 'the failed EventSource is closed, not left to reconnect by itself');
});

test('http_stream: the connect is the POST body, commands go by POST with the session and the token, replies come on the stream', async () => {
  const { h } = client({ token: 'T', transports: ['http_stream'], name: 'app' });
  const log = record(h, 'connected');
  h.connect();
  const s = await http.stream(0);
  assert.deepEqual(s.connect, { id: 1, type: 'connect', token: 'T', name: 'app' });
  assert.equal(s.type, 'text/plain', 'a simple request: no CORS preflight for the stream');
  StreamServer.accept(s, { client: 'abc', user: 'alice', session: 'node1.secret' });
  await until(() => h.state === 'connected');
  assert.equal(h.transport, 'http_stream');
  assert.deepEqual(log, [['connected', { client: 'abc', user: 'alice' }]]);
  const p = h.publish('chat:a', { text: 'hi' });
  const [cmd] = await http.post(0);
  assert.deepEqual(cmd, { type: 'publish', channel: 'chat:a', data: { text: 'hi' }, id: 2 });
  assert.equal(http.posts[0].session, 'node1.secret');
  assert.equal(http.posts[0].auth, 'Bearer T');
  // Pings need no pong on a stream transport: no POST for them. (The
  // reply after the ping resolves once the ping has been handled.)
  StreamServer.send(s, { type: 'ping' }, { id: 2, result: { offset: 7, epoch: 'e' } });
  assert.deepEqual(await p, { offset: 7, epoch: 'e' });
  h.presenceStats('x').catch(() => {});
  await until(() => http.posts.length === 2);
  assert.equal((await http.post(1))[0].type, 'presence_stats');
});

test('one command POST at a time, in order; what queues meanwhile goes in one POST; 429 is retried', async () => {
  const { h } = client({ transports: ['http_stream'] });
  h.connect();
  const s = await http.stream(0);
  StreamServer.accept(s);
  await until(() => h.state === 'connected');
  http.hold = true;
  http.postStatus.push(429);
  const calls = [h.publish('c', 1)];
  await until(() => http.posts.length === 1 && http.held.length === 1);
  await new Promise((r) => setTimeout(r, 5)); // one frame per task
  calls.push(h.publish('c', 2));
  await new Promise((r) => setTimeout(r, 5));
  calls.push(h.publish('c', 3), h.publish('c', 4));
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(http.posts.length, 1, 'no second POST while the first is in flight');
  http.release(); // 429: the first POST is sent again, then the rest in one
  await until(() => http.posts.length === 3);
  assert.deepEqual((await http.post(0)).map((c) => c.data), [1]);
  assert.deepEqual((await http.post(1)).map((c) => c.data), [1]);
  assert.deepEqual((await http.post(2)).map((c) => c.data), [2, 3, 4]);
  assert.equal(http.maxInFlight, 1);
  for (const [i, c] of (await http.post(2)).entries()) StreamServer.send(s, { id: c.id, result: { offset: i + 2, epoch: 'e' } });
  StreamServer.send(s, { id: 2, result: { offset: 1, epoch: 'e' } });
  assert.deepEqual((await Promise.all(calls)).map((r) => r.offset), [1, 2, 3, 4]);
});

test('a 503 that says its commands were not delivered is retried; one that does not say so replaces the connection', async () => {
  const { h } = client({ transports: ['http_stream'] });
  h.connect();
  const s = await http.stream(0);
  StreamServer.accept(s);
  await until(() => h.state === 'connected');
  http.postStatus.push({ status: 503, headers: { 'Retry-After': '0', 'Herald-Not-Delivered': '1' } });
  const call = h.publish('c', 1);
  await until(() => http.posts.length === 2, 'the POST sent again');
  assert.deepEqual((await http.post(1)).map((c) => c.data), [1]);
  StreamServer.send(s, { id: (await http.post(1))[0].id, result: { offset: 1, epoch: 'e' } });
  assert.equal((await call).offset, 1);
  http.postStatus.push(503);
  const err = await h.publish('c', 2).catch((e) => e);
  assert.equal(err.code, ErrorCode.DISCONNECTED);
  await until(() => s.closed, 'the old stream closed');
});

test('a failed command POST replaces the connection: the calls in it fail as disconnected', async () => {
  const { h } = client({ transports: ['http_stream'] });
  h.connect();
  const s = await http.stream(0);
  StreamServer.accept(s);
  await until(() => h.state === 'connected');
  http.postStatus.push(404);
  const err = await h.publish('c', 1).catch((e) => e);
  assert.equal(err.code, ErrorCode.DISCONNECTED);
  await until(() => s.closed, 'the old stream closed');
  await http.stream(1);
});

test('a stream that ends without a disconnect push is 1006, and the client reconnects on the same transport with its positions', async () => {
  const { h, ws } = client({ transports: ['websocket', 'http_stream'] });
  const sub = h.newSubscription('chat:a');
  const msgs = [];
  sub.on('message', (m) => msgs.push(m.offset));
  sub.subscribe().catch(() => {});
  h.connect();
  await refuse(ws, 0);
  const log = record(h, 'disconnected');
  const s0 = await http.stream(0);
  assert.deepEqual(s0.connect.subs, { 'chat:a': {} });
  StreamServer.accept(s0, { subs: { 'chat:a': { offset: 3, epoch: 'e' } } });
  StreamServer.send(s0, { type: 'message', channel: 'chat:a', offset: 4, data: 4 });
  await until(() => msgs.length === 1);
  s0.res.end();
  const s1 = await http.stream(1);
  assert.deepEqual(log, [['disconnected', { code: 1006, reason: 'stream ended', reconnect: true }]]);
  assert.deepEqual(s1.connect.subs, { 'chat:a': { since: { offset: 4, epoch: 'e' } } });
  assert.equal(ws.sockets.length, 1, 'no new WebSocket attempt after the stream connected');
  StreamServer.accept(s1, { subs: { 'chat:a': { offset: 5, epoch: 'e', recovered: true, publications: [{ offset: 4, data: 4 }, { offset: 5, data: 5 }] } } });
  await until(() => msgs.length === 2);
  assert.deepEqual(msgs, [4, 5], 'each publication once across the switch');
  // A disconnect push says why, then the stream ends: its code counts.
  StreamServer.send(s1, { type: 'disconnect', code: 4501, reason: 'gone', reconnect: false });
  s1.res.end();
  await until(() => h.state === 'disconnected');
  assert.deepEqual(log[1], ['disconnected', { code: 4501, reason: 'gone', reconnect: false }]);
});

test('a 200 that is not a stream (a proxy page) is a failed transport', async () => {
  const { h, es } = client({ transports: ['http_stream', 'sse'] });
  http.streamStatus.push([200, 'text/html']);
  h.connect();
  const src = await es.source(0);
  src.deliver({ id: 1, result: { client: 'c', user: '', ping: 25, session: 'S' } });
  await until(() => h.state === 'connected');
  assert.equal(h.transport, 'sse');
  assert.equal(http.streams[0].refused, 200);
});

test('sse: the connect rides in the URL, commands go by POST, events are messages', async () => {
  const { h, es } = client({ transports: ['sse'], token: 'T', urls: { sse: 'http://other.example/events' } });
  const sub = h.newSubscription('chat:a');
  const msgs = [];
  sub.on('message', (m) => msgs.push(m.data));
  sub.subscribe();
  h.connect();
  const src = await es.source(0);
  assert.match(src.url, /^http:\/\/other\.example\/events\?connect=/);
  assert.deepEqual(src.connect, { id: 1, type: 'connect', token: 'T', subs: { 'chat:a': {} } });
  src.deliver({ id: 1, result: { client: 'c', user: 'u', ping: 25, session: 'S2', subs: { 'chat:a': { offset: 0, epoch: 'e' } } } });
  await until(() => h.state === 'connected');
  src.deliver({ type: 'message', channel: 'chat:a', offset: 1, data: 'x' });
  assert.deepEqual(msgs, ['x']);
  const p = h.history('chat:a');
  const [cmd] = await http.post(0);
  assert.equal(cmd.type, 'history');
  assert.equal(http.posts[0].session, 'S2');
  src.deliver({ id: cmd.id, result: { publications: [], offset: 1, epoch: 'e' } });
  assert.equal((await p).offset, 1);
  // The EventSource errs (the stream ended): the client replaces it.
  src.fail();
  assert.equal(src.closed, true);
  const src2 = await es.source(1);
  assert.deepEqual(src2.connect.subs, { 'chat:a': { since: { offset: 1, epoch: 'e' } } });
});

test('the heartbeat watchdog drops a silent stream', async () => {
  const { h } = client({ transports: ['http_stream'], pingMargin: 30 });
  const log = record(h, 'disconnected');
  h.connect();
  const s = await http.stream(0);
  // A ping interval of 0.05 s (the protocol's unit is seconds).
  StreamServer.accept(s, { ping: 0.05 });
  await until(() => log.length === 1, 'the watchdog', 3000);
  assert.equal(log[0][1].reason, 'heartbeat timeout');
  await until(() => s.closed, 'the stream aborted');
});

test('Protobuf over http_stream: varint frames split anywhere across chunks', async () => {
  const { h } = client({ transports: ['websocket', 'sse', 'http_stream'], codec: protobuf, WebSocket: undefined });
  const sub = h.newSubscription('chat:a');
  const msgs = [];
  sub.on('message', (m) => msgs.push(m.data));
  sub.subscribe();
  h.connect();
  const s = await http.stream(0);
  assert.equal(s.type, 'application/x-protobuf');
  // The connect command, decoded by the codec's own schema: field 2 is the type.
  assert.ok(Buffer.from(s.connect).includes(Buffer.from('connect')));
  const frames = [
    // {id: 1, result (17): {client "c", ping 25, session (7) "S", subs {chat:a: {epoch "e"}}}}
    encodeReply(),
    encodeMessage(1, '"a"'),
    encodeMessage(2, '"b"'),
  ];
  const all = Buffer.concat(frames);
  // Byte by byte: every split point.
  for (let i = 0; i < all.length; i++) {
    s.res.write(all.subarray(i, i + 1));
    await new Promise((r) => setImmediate(r));
  }
  await until(() => msgs.length === 2);
  assert.deepEqual(msgs, ['a', 'b']);
  assert.equal(h.transport, 'http_stream', 'sse is left out with a binary codec, websocket without an implementation');
  const p = h.publish('chat:a', new Uint8Array([1, 2]));
  await until(() => http.posts.length === 1);
  assert.equal(http.posts[0].type, 'application/x-protobuf');
  assert.equal(http.posts[0].session, 'S');
  s.res.end();
  await assert.rejects(p, { code: ErrorCode.DISCONNECTED });
});

test('no usable transport stops the client', async () => {
  const h = new Herald('ws://127.0.0.1:1/ws', { ...fast, transports: ['sse'], codec: protobuf });
  clients.push(h);
  const log = record(h, 'disconnected');
  h.connect();
  await until(() => log.length === 1);
  assert.equal(h.state, 'disconnected');
  assert.equal(log[0][1].reconnect, false);
  assert.match(log[0][1].reason, /no transport/);
});

test('disconnect() aborts the stream and leaves no timer', async () => {
  const { h } = client({ transports: ['http_stream'] });
  h.connect();
  const s = await http.stream(0);
  StreamServer.accept(s);
  await until(() => h.state === 'connected');
  h.disconnect();
  await until(() => s.closed, 'the stream aborted');
});

// Protobuf by hand, for the tests above: varint-prefixed ServerMessages.
function varint(n) {
  const out = [];
  while (n > 127) {
    out.push((n & 127) | 128);
    n >>>= 7;
  }
  out.push(n);
  return out;
}
const field = (n, bytes) => [...varint(n * 8 + 2), ...varint(bytes.length), ...bytes];
const num = (n, v) => [...varint(n * 8), ...varint(v)];
const str = (n, s) => field(n, [...Buffer.from(s)]);
const framed = (bytes) => Buffer.from([...varint(bytes.length), ...bytes]);

function encodeReply() {
  const sub = str(2, 'e');
  const entry = [...str(1, 'chat:a'), ...field(2, sub)];
  const result = [...str(1, 'c'), ...num(3, 25), ...field(5, entry), ...str(7, 'S')];
  return framed([...num(15, 1), ...field(17, result)]);
}

function encodeMessage(offset, json) {
  return framed([...str(1, 'message'), ...str(2, 'chat:a'), ...num(3, offset), ...field(4, [...Buffer.from(json)])]);
}
