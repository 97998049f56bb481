// The client against a real Herald server: every call, tokens and their
// refresh, close codes, channel tokens and the Protobuf encoding.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Herald, ErrorCode, memoryStore } from '../../dist/herald.js';
import { protobuf } from '../../dist/protobuf.js';
import { HeraldServer, WebSocket, until } from './herald.mjs';

let server;
const clients = [];

before(async () => {
  server = new HeraldServer({ limits: { max_message_size: 4096 } });
  await server.start();
});

after(async () => {
  for (const h of clients) h.disconnect();
  await server.close();
});

const uniq = (prefix) => `${prefix}${randomBytes(4).toString('hex')}`;

/** A client of the test server, connected. */
async function connected(opts = {}) {
  const h = new Herald(server.url, { WebSocket, minReconnectDelay: 20, maxReconnectDelay: 200, inboxStore: null, ...opts });
  clients.push(h);
  const up = new Promise((ok, fail) => {
    h.once('connected', ok);
    h.on('disconnected', (e) => !e.reconnect && fail(new Error(`refused: ${e.code} ${e.reason}`)));
  });
  h.connect();
  await up;
  return h;
}

/** Collects a subscription's messages. */
function collect(sub) {
  const got = [];
  sub.on('message', (m) => got.push(m));
  return got;
}

test('subscribe, publish, presence, presence stats and history with paging', async () => {
  const ch = uniq('chat:room-');
  const alice = await connected({ token: server.token('alice', { info: { name: 'Alice' } }) });
  const bob = await connected({ token: server.token('bob') });
  const bs = bob.newSubscription(ch);
  const got = collect(bs);
  const joined = [];
  bs.on('join', (i) => joined.push(i.user));
  await bs.subscribe();
  const as = alice.newSubscription(ch);
  await as.subscribe();
  for (let i = 1; i <= 5; i++) assert.deepEqual(await as.publish({ n: i }), { offset: i, epoch: as.position.epoch });
  await until(() => got.length === 5, '5 messages');
  assert.deepEqual(got.map((m) => [m.offset, m.data.n, m.info.user, m.channel]), [1, 2, 3, 4, 5].map((n) => [n, n, 'alice', ch]));
  assert.ok(got.every((m) => m.ts > 0));
  await until(() => joined.includes('alice'), 'alice joins');

  const who = await bob.presence(ch);
  assert.deepEqual(Object.values(who).map((e) => e.user).sort(), ['alice', 'bob']);
  assert.deepEqual(who[alice.client].info, { name: 'Alice' });
  assert.deepEqual(await bs.presenceStats(), { clients: 2, users: 2 });

  const pages = [];
  for (let page = await bob.history(ch, { limit: 2 }); page; page = page.next && (await page.next())) {
    pages.push(page.publications.map((p) => p.offset));
  }
  assert.deepEqual(pages, [[1, 2], [3, 4], [5]]);
  const newest = await bs.history({ limit: 1, reverse: true });
  assert.deepEqual(newest.publications.map((p) => p.data), [{ n: 5 }]);
  assert.equal(newest.offset, 5);

  await assert.rejects(bob.history('plain:x'), { code: ErrorCode.NOT_AVAILABLE });
  await assert.rejects(bob.newSubscription('nope:x').subscribe(), { code: ErrorCode.UNKNOWN_NAMESPACE });
});

test('send: direct messages live, and from the inbox on the next visit', async () => {
  const store = memoryStore();
  const carol = uniq('carol-');
  const token = server.token(carol);
  const dave = await connected({ token: server.token('dave') });
  let c = await connected({ token, inboxStore: store });
  const got = [];
  c.on('direct', (d) => got.push([d.offset, d.data, d.from.user]));
  await dave.send(carol, 'one');
  await until(() => got.length === 1, 'a live direct message');
  c.disconnect();
  await dave.send(carol, 'two');
  await dave.send(carol, { three: 3 });
  // A later visit, with the same store: what was sent meanwhile comes with
  // the connect.
  const later = [];
  const c2 = new Herald(server.url, { WebSocket, token, inboxStore: store });
  clients.push(c2);
  c2.on('direct', (d) => later.push([d.offset, d.data, d.from.user]));
  c2.connect();
  await until(() => later.length === 2, 'the inbox recovered');
  assert.deepEqual(got, [[1, 'one', 'dave']]);
  assert.deepEqual(later, [[2, 'two', 'dave'], [3, { three: 3 }, 'dave']]);
  const anon = await connected();
  await assert.rejects(anon.send(carol, 'x'), { code: ErrorCode.PERMISSION_DENIED });
});

test('token refresh: getToken answers refresh_needed and the connection outlives the first token', async () => {
  let calls = 0;
  const lost = [];
  const h = await connected({ getToken: () => server.token('erin', { ttl: ++calls === 1 ? 3 : 3600 }) });
  h.on('disconnected', (e) => lost.push(e));
  const id = h.client;
  await until(() => calls === 2, 'a refresh', 5000);
  const exp = Math.floor(Date.now() / 1000) + 2;
  await until(() => Date.now() / 1000 > exp + 0.5, 'the first token to expire', 5000);
  assert.equal(await h.presenceStats('chat:x').then(() => h.client), id);
  assert.deepEqual(lost, []);
});

test('4003: after the token expired, the client reconnects with a fresh one', async () => {
  let calls = 0;
  const h = await connected({
    getToken: () => {
      calls++;
      if (calls === 2) throw new Error('backend down'); // the refresh fails
      return server.token('frank', { ttl: calls === 1 ? 2 : 3600 });
    },
  });
  const events = [];
  h.on('disconnected', (e) => events.push(e));
  h.on('error', () => {});
  await until(() => calls === 3 && h.state === 'connected', 'a reconnect with a third token', 6000);
  assert.deepEqual(events, [{ code: 4003, reason: 'token expired', reconnect: true }]);
});

test('terminal close codes stop the client; the others reconnect', async () => {
  // 4501: an invalid token.
  const bad = new Herald(server.url, { WebSocket, token: 'not-a-jwt' });
  clients.push(bad);
  const refused = new Promise((r) => bad.on('disconnected', r));
  bad.connect();
  assert.deepEqual(await refused, { code: 4501, reason: 'unauthorized', reconnect: false });
  assert.equal(bad.state, 'disconnected');

  // Codes the server API sends.
  for (const [code, reconnect] of [[4502, false], [4500, false], [3001, false], [4000, true], [4001, true], [4004, true], [4005, true], [4006, true], [4100, true]]) {
    const user = uniq('u-');
    const h = await connected({ token: server.token(user) });
    const ended = new Promise((r) => h.once('disconnected', r));
    await server.api('disconnect', { user, code, reason: `code ${code}` });
    assert.deepEqual(await ended, { code, reason: `code ${code}`, reconnect }, `code ${code}`);
    if (reconnect) await until(() => h.state === 'connected', `reconnect after ${code}`);
    else assert.equal(h.state, 'disconnected');
    h.disconnect();
  }

  // 1009: a message over limits.max_message_size.
  const big = await connected();
  const ended = new Promise((r) => big.once('disconnected', r));
  const p = big.publish('chat:big', 'x'.repeat(5000));
  assert.equal((await ended).code, 1009);
  await assert.rejects(p, { code: ErrorCode.DISCONNECTED });
  assert.equal(big.state, 'disconnected');
});

test('channel tokens, and subscriptions the server adds and removes', async () => {
  const ch = uniq('secret:');
  const h = await connected({ token: server.token('gina') });
  await assert.rejects(h.newSubscription(ch).subscribe(), { code: ErrorCode.PERMISSION_DENIED });
  await h.removeSubscription(h.getSubscription(ch));
  const sub = h.newSubscription(ch, { getToken: (c) => server.channelToken('gina', c) });
  await sub.subscribe();
  const ended = new Promise((r) => sub.once('unsubscribed', r));
  await server.api('unsubscribe', { user: 'gina', channel: ch });
  assert.deepEqual(await ended, { code: 2000, reason: 'unsubscribed by server' });

  const added = new Promise((r) => h.once('subscription', r));
  const news = uniq('chat:news-');
  await server.api('subscribe', { user: 'gina', channel: news });
  const s = await added;
  assert.equal(s.channel, news);
  const got = collect(s);
  await server.api('publish', { channel: news, data: { hello: 1 } });
  await until(() => got.length === 1, 'a message on the server-side subscription');
  assert.equal(got[0].info, undefined, 'the server API has no client info');
});

test('Protobuf: the same calls, and bytes that are not JSON', async () => {
  const ch = uniq('chat:pb-');
  const p = await connected({ codec: protobuf, token: server.token('hugo') });
  const j = await connected({ token: server.token('ida') });
  const ps = p.newSubscription(ch);
  const js = j.newSubscription(ch);
  const pgot = collect(ps);
  const jgot = collect(js);
  await ps.subscribe();
  await js.subscribe();
  await p.publish(ch, new Uint8Array([0, 1, 255]));
  await j.publish(ch, { text: 'hi' });
  await until(() => pgot.length === 2 && jgot.length === 2, 'both messages on both encodings');
  for (const got of [pgot, jgot]) {
    assert.deepEqual(got.map((m) => m.offset), [1, 2]);
    assert.deepEqual(got[0].data, new Uint8Array([0, 1, 255]));
    assert.deepEqual(got[1].data, { text: 'hi' });
  }
  assert.equal(pgot[1].info.user, 'ida');
  const page = await p.history(ch, { limit: 1 });
  assert.deepEqual(page.publications.map((x) => x.offset), [1]);
  assert.deepEqual(await ps.presenceStats(), { clients: 2, users: 2 });
  assert.equal(Object.keys(await ps.presence()).length, 2);
  const dm = [];
  j.on('direct', (d) => dm.push(d));
  await p.send('ida', 'bytes or JSON');
  await until(() => dm.length === 1, 'a direct message from a Protobuf client');
  assert.equal(dm[0].data, 'bytes or JSON');
  await assert.rejects(j.publish(ch, new Uint8Array([1])), { code: ErrorCode.BAD_REQUEST });
});
