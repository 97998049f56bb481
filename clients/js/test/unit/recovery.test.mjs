// Subscriptions and the inbox across reconnects: resubscribe with since,
// exactly-once delivery, gaps, recovery in pages, lost recoveries and
// temporary refusals, against a scripted server.
import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { Herald, ErrorCode, memoryStore } from '../../dist/herald.js';
import { FakeServer, fast, record, until } from './fake.mjs';

// Clients a failed test left connected are disconnected, so that their
// timers do not hold the process.
const clients = [];
afterEach(() => clients.splice(0).forEach((h) => h.disconnect()));

function client(server, opts = {}) {
  const h = new Herald('ws://fake/ws', { WebSocket: server.WebSocket, ...fast, ...opts });
  clients.push(h);
  return h;
}

const msg = (channel, offset, data = offset) => ({ type: 'message', channel, offset, data, ts: 1000 + offset });
const pub = (offset, data = offset) => ({ offset, data, ts: 1000 + offset });

/** A connected client with a subscription to chat:a at {offset, epoch 'e1'}. */
async function subscribed(offset = 0, opts = {}) {
  const s = new FakeServer();
  const h = client(s, opts);
  const sub = h.newSubscription('chat:a');
  const log = record(sub, 'message', 'recoveryLost', 'recovered', 'unsubscribed', 'error');
  const offsets = () => log.filter(([e]) => e === 'message').map(([, m]) => m.offset);
  const done = sub.subscribe();
  h.connect();
  const ws = await s.socket(0);
  const c = await ws.accept({ subs: { 'chat:a': { offset, epoch: 'e1' } } });
  assert.deepEqual(c.subs, { 'chat:a': {} });
  await done;
  return { s, h, sub, ws, log, offsets };
}

test('a subscribe made while connected is a subscribe command; its result resolves subscribe()', async () => {
  const s = new FakeServer();
  const h = client(s);
  h.connect();
  const ws = await s.socket(0);
  await ws.accept();
  const sub = h.newSubscription('chat:b', { since: { offset: 2, epoch: 'x' } });
  const events = record(sub, 'subscribed', 'message');
  const done = sub.subscribe();
  assert.equal(sub.state, 'subscribing');
  const c = await ws.next('subscribe');
  assert.deepEqual(c, { type: 'subscribe', channel: 'chat:b', since: { offset: 2, epoch: 'x' }, id: 2 });
  ws.reply(c, { offset: 4, epoch: 'x', recovered: true, publications: [pub(3), pub(4)] });
  await done;
  assert.equal(sub.state, 'subscribed');
  assert.deepEqual(sub.position, { offset: 4, epoch: 'x' });
  assert.deepEqual(events.map(([e, a]) => (e === 'message' ? a.offset : a)), [
    { position: { offset: 4, epoch: 'x' }, recovered: true, resubscribed: false }, 3, 4,
  ]);
  assert.throws(() => h.newSubscription('chat:b'), { code: ErrorCode.ALREADY_SUBSCRIBED });
  h.disconnect();
});

test('a refused subscribe rejects with the server error', async () => {
  const s = new FakeServer();
  const h = client(s);
  h.connect();
  const ws = await s.socket(0);
  await ws.accept();
  const sub = h.newSubscription('secret:x');
  const done = sub.subscribe();
  const c = await ws.next('subscribe');
  ws.deliver({ id: c.id, error: { code: 103, message: 'permission denied', temporary: false } });
  await assert.rejects(done, { code: 103, temporary: false });
  assert.equal(sub.state, 'unsubscribed');
  h.disconnect();
});

test('a reconnect resubscribes in the connect command and delivers each publication once, in order', async () => {
  const { s, h, ws, offsets } = await subscribed(0);
  ws.deliver(msg('chat:a', 1), msg('chat:a', 2), msg('chat:a', 2));
  ws.serverClose(1001, 'going away');
  const ws2 = await s.socket(1);
  const c = await ws2.next('connect');
  assert.deepEqual(c.subs, { 'chat:a': { since: { offset: 2, epoch: 'e1' } } });
  // The recovered publications overlap what was delivered; live ones follow
  // in the same frame, some repeating the recovered ones.
  ws2.deliver(
    { id: c.id, result: { client: 'c2', user: '', ping: 25, subs: { 'chat:a': { offset: 4, epoch: 'e1', recovered: true, publications: [pub(2), pub(3), pub(4)] } } } },
    msg('chat:a', 4), msg('chat:a', 5),
  );
  assert.deepEqual(offsets(), [1, 2, 3, 4, 5]);
  h.disconnect();
});

test('recovered:false is reported before the live stream, with no publications', async () => {
  const { s, h, sub, ws, log } = await subscribed(0);
  ws.deliver(msg('chat:a', 1));
  ws.serverClose(1006, '', false);
  const ws2 = await s.socket(1);
  await ws2.accept({ subs: { 'chat:a': { offset: 9, epoch: 'e2', recovered: false } } });
  ws2.deliver(msg('chat:a', 10));
  assert.deepEqual(log.map(([e, a]) => [e, e === 'message' ? a.offset : a]), [
    ['message', 1],
    ['recoveryLost', { since: { offset: 1, epoch: 'e1' }, position: { offset: 9, epoch: 'e2' } }],
    ['message', 10],
  ]);
  assert.deepEqual(sub.position, { offset: 10, epoch: 'e2' });
  h.disconnect();
});

test('recovery in pages: more:true, then the rest as pushes', async () => {
  const { s, h, ws, offsets, log } = await subscribed(0);
  ws.deliver(msg('chat:a', 1));
  ws.serverClose(4001, 'slow consumer');
  const ws2 = await s.socket(1);
  await ws2.accept({ subs: { 'chat:a': { offset: 3, epoch: 'e1', recovered: true, more: true, publications: [pub(2), pub(3)] } } });
  ws2.deliver(msg('chat:a', 4), msg('chat:a', 5));
  ws2.deliver(msg('chat:a', 6));
  assert.deepEqual(offsets(), [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(log.find(([e]) => e === 'recovered')[1], { since: { offset: 1, epoch: 'e1' }, position: { offset: 3, epoch: 'e1' } });
  h.disconnect();
});

test('a live offset that skips ahead is never delivered: unsubscribe, then subscribe since the last offset', async () => {
  const { h, ws, offsets } = await subscribed(0);
  ws.deliver(msg('chat:a', 1), msg('chat:a', 2), msg('chat:a', 4), msg('chat:a', 5));
  const u = await ws.next('unsubscribe');
  const c = await ws.next('subscribe');
  assert.deepEqual(c.since, { offset: 2, epoch: 'e1' });
  ws.deliver(msg('chat:a', 6)); // still before the new result: ignored, the resubscribe recovers it
  ws.reply(u, {});
  ws.reply(c, { offset: 6, epoch: 'e1', recovered: true, publications: [pub(3), pub(4), pub(5), pub(6)] });
  ws.deliver(msg('chat:a', 7));
  assert.deepEqual(offsets(), [1, 2, 3, 4, 5, 6, 7]);
  h.disconnect();
});

test('channels without history deliver every message (offset 0)', async () => {
  const s = new FakeServer();
  const h = client(s);
  const sub = h.newSubscription('plain');
  const got = record(sub, 'message');
  sub.subscribe();
  h.connect();
  const ws = await s.socket(0);
  await ws.accept({ subs: { plain: { offset: 0, epoch: '' } } });
  ws.deliver({ type: 'message', channel: 'plain', data: 'a', ts: 1 }, { type: 'message', channel: 'plain', data: 'a', ts: 2 });
  assert.equal(got.length, 2);
  ws.serverClose(1006, '', false);
  const c = await (await s.socket(1)).next('connect');
  assert.deepEqual(c.subs, { plain: {} }, 'nothing to recover from');
  h.disconnect();
});

test('temporary resubscribe errors are retried with backoff, then reported as recovery lost', async () => {
  const { s, h, ws, log } = await subscribed(0, { recoveryRetries: 2 });
  ws.deliver(msg('chat:a', 1));
  ws.serverClose(1001, 'restart');
  const ws2 = await s.socket(1);
  const tmp = { error: { code: 100, message: 'engine unavailable', temporary: true } };
  await ws2.accept({ subs: { 'chat:a': tmp } });
  let c = await ws2.next('subscribe');
  assert.deepEqual(c.since, { offset: 1, epoch: 'e1' });
  ws2.deliver({ id: c.id, ...tmp });
  c = await ws2.next('subscribe');
  assert.deepEqual(c.since, { offset: 1, epoch: 'e1' });
  ws2.deliver({ id: c.id, ...tmp }); // the third in a row: past recoveryRetries
  c = await ws2.next('subscribe');
  assert.equal(c.since, undefined, 'continues from the present');
  ws2.reply(c, { offset: 40, epoch: 'e1' });
  ws2.deliver(msg('chat:a', 41));
  assert.deepEqual(log.map(([e, a]) => [e, e === 'message' ? a.offset : e === 'error' ? a.code : a]), [
    ['message', 1],
    ['error', 100], ['error', 100], ['error', 100],
    ['recoveryLost', { since: { offset: 1, epoch: 'e1' }, position: { offset: 0, epoch: '' } }],
    ['message', 41],
  ]);
  h.disconnect();
});

test('a resubscribe refused for good ends the subscription', async () => {
  const { s, h, sub, ws, log } = await subscribed(0);
  ws.serverClose(1006, '', false);
  await (await s.socket(1)).accept({ subs: { 'chat:a': { error: { code: 103, message: 'permission denied', temporary: false } } } });
  assert.equal(sub.state, 'unsubscribed');
  assert.deepEqual(log.at(-1), ['unsubscribed', { code: 103, reason: 'permission denied' }]);
  h.disconnect();
});

test('unsubscribe, and the server unsubscribing', async () => {
  const { h, sub, ws, log } = await subscribed(0);
  const done = sub.unsubscribe();
  ws.reply(await ws.next('unsubscribe'), {});
  await done;
  ws.deliver(msg('chat:a', 1));
  assert.equal(log.filter(([e]) => e === 'message').length, 0);
  const again = sub.subscribe();
  const c = await ws.next('subscribe');
  assert.equal(c.since, undefined);
  ws.reply(c, { offset: 1, epoch: 'e1' });
  await again;
  ws.deliver({ type: 'unsubscribed', channel: 'chat:a', code: 2000, reason: 'unsubscribed by server' });
  assert.equal(sub.state, 'unsubscribed');
  assert.deepEqual(log.at(-1), ['unsubscribed', { code: 2000, reason: 'unsubscribed by server' }]);
  h.disconnect();
});

test('server-side subscriptions get objects the application can listen to', async () => {
  const s = new FakeServer();
  const h = client(s);
  const got = [];
  h.on('subscription', (sub) => sub.on('message', (m) => got.push([sub.channel, m.offset])));
  h.connect();
  const ws = await s.socket(0);
  await ws.accept({ subs: { 'news:a': { offset: 1, epoch: 'n' } } });
  ws.deliver({ type: 'subscribed', channel: 'news:b', offset: 5, epoch: 'm' }, msg('news:b', 6), msg('news:a', 2));
  assert.deepEqual(got, [['news:b', 6], ['news:a', 2]]);
  assert.equal(h.getSubscription('news:a').serverSide, true);
  ws.serverClose(1006, '', false);
  const c = await (await s.socket(1)).next('connect');
  assert.deepEqual(c.subs, { 'news:a': { since: { offset: 2, epoch: 'n' } }, 'news:b': { since: { offset: 6, epoch: 'm' } } });
  h.disconnect();
});

test('a channel token is asked for before each subscribe, outside the connect command', async () => {
  const s = new FakeServer();
  const h = client(s);
  let n = 0;
  const sub = h.newSubscription('private:a', { getToken: async (ch) => `${ch}#${++n}` });
  sub.subscribe();
  h.connect();
  const ws = await s.socket(0);
  const c = await ws.accept();
  assert.equal(c.subs, undefined);
  const sc = await ws.next('subscribe');
  assert.equal(sc.token, 'private:a#1');
  ws.reply(sc, { offset: 0, epoch: 'p' });
  ws.serverClose(1006, '', false);
  const ws2 = await s.socket(1);
  await ws2.accept();
  assert.equal((await ws2.next('subscribe')).token, 'private:a#2');
  h.disconnect();
});

test('direct messages: once, in order; the inbox position is kept in the store and resumed', async () => {
  const store = memoryStore();
  const token = 'x.' + Buffer.from(JSON.stringify({ sub: 'alice' })).toString('base64url') + '.y';
  const s = new FakeServer();
  const h = client(s, { token, inboxStore: store });
  const got = [];
  h.on('direct', (d) => got.push([d.offset, d.data, d.from.user]));
  h.connect();
  const ws = await s.socket(0);
  const c = await ws.accept({ user: 'alice', inbox: { offset: 3, epoch: 'i', recovered: false, publications: [] } });
  assert.equal(c.inbox_since, undefined);
  const from = { user: 'bob', client: 'b1' };
  ws.deliver({ type: 'direct', from, data: 'hi', offset: 4, ts: 1 }, { type: 'direct', from, data: 'hi', offset: 4, ts: 1 });
  assert.deepEqual(got, [[4, 'hi', 'bob']]);
  assert.equal(await store.get('herald:inbox:alice'), '{"offset":4,"epoch":"i"}');
  h.disconnect();

  // A later visit, with the same store: the connect asks for what came since.
  const h2 = client(s, { token, inboxStore: store });
  h2.on('direct', (d) => got.push([d.offset, d.data, d.from.user]));
  h2.connect();
  const ws2 = await s.socket(1);
  const c2 = await ws2.accept({
    user: 'alice',
    inbox: { offset: 6, epoch: 'i', recovered: true, publications: [{ offset: 5, data: 'a', info: from, ts: 2 }, { offset: 6, data: 'b', ts: 3 }] },
  });
  assert.deepEqual(c2.inbox_since, { offset: 4, epoch: 'i' });
  assert.deepEqual(got.slice(1), [[5, 'a', 'bob'], [6, 'b', '']]);
  h2.disconnect();
});

test('a direct message that skips ahead makes the client reconnect with inbox_since', async () => {
  const s = new FakeServer();
  const h = client(s, { inboxStore: memoryStore() });
  const got = [];
  const lost = record(h, 'inboxLost');
  h.on('direct', (d) => got.push(d.offset));
  h.connect();
  const ws = await s.socket(0);
  await ws.accept({ user: 'alice', inbox: { offset: 1, epoch: 'i', recovered: false } });
  ws.deliver({ type: 'direct', from: {}, data: 1, offset: 2, ts: 1 }, { type: 'direct', from: {}, data: 1, offset: 4, ts: 1 });
  const ws2 = await s.socket(1);
  const c = await ws2.next('connect');
  assert.deepEqual(c.inbox_since, { offset: 2, epoch: 'i' });
  ws2.reply(c, { client: 'c2', user: 'alice', ping: 25, inbox: { offset: 4, epoch: 'i', recovered: true, publications: [pub(3), pub(4)] } });
  assert.deepEqual(got, [2, 3, 4]);
  assert.equal(lost.length, 0);
  h.disconnect();
});

test('an inbox that cannot be recovered is reported', async () => {
  const s = new FakeServer();
  const h = client(s, { inboxStore: memoryStore() });
  const lost = record(h, 'inboxLost');
  h.connect();
  const ws = await s.socket(0);
  await ws.accept({ user: 'alice', inbox: { offset: 1, epoch: 'i', recovered: false } });
  ws.serverClose(1006, '', false);
  await (await s.socket(1)).accept({ user: 'alice', inbox: { offset: 7, epoch: 'j', recovered: false } });
  assert.deepEqual(lost, [['inboxLost', { since: { offset: 1, epoch: 'i' }, position: { offset: 7, epoch: 'j' } }]]);
  h.disconnect();
});

test('history pages follow each other with next()', async () => {
  const s = new FakeServer();
  const h = client(s);
  h.connect();
  const ws = await s.socket(0);
  await ws.accept();
  const first = h.history('chat:a', { limit: 2 });
  let c = await ws.next('history');
  assert.deepEqual(c, { type: 'history', channel: 'chat:a', limit: 2, id: 2 });
  ws.reply(c, { publications: [pub(1), pub(2)], offset: 3, epoch: 'e' });
  const p1 = await first;
  assert.deepEqual(p1.publications.map((p) => [p.channel, p.offset, p.data]), [['chat:a', 1, 1], ['chat:a', 2, 2]]);
  const second = p1.next();
  c = await ws.next('history');
  assert.deepEqual(c.since, { offset: 2, epoch: 'e' });
  ws.reply(c, { publications: [pub(3)], offset: 3, epoch: 'e' });
  const p2 = await second;
  assert.equal(p2.next, undefined, 'the last page');
  h.disconnect();
});

test('bytes that are not JSON arrive as a Uint8Array', async () => {
  const { h, ws, log } = await subscribed(0);
  ws.deliver({ type: 'message', channel: 'chat:a', offset: 1, b64: 'AAEC', ts: 1 });
  await until(() => log.length === 1);
  assert.deepEqual(log[0][1].data, new Uint8Array([0, 1, 2]));
  h.disconnect();
});
