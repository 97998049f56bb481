// Exact recovery against real Herald servers on Redis: a server restart, a
// network cut during publishing, a network gone silent, recovery in pages
// and a recovery that cannot be exact.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Herald, memoryStore } from '../../dist/herald.js';
import { HeraldServer, WebSocket, until } from './herald.mjs';
import { Proxy } from './proxy.mjs';

// Two nodes on one Redis prefix: the tests restart a, while b keeps
// publishing. A reply carries at most a quarter of write_queue_bytes of
// recovered publications (16 KiB here), so that recovery comes in pages.
const config = {
  ping_interval: '1s',
  limits: { write_queue_bytes: 65536 },
  namespaces: {
    chat: { history_size: 5000, history_ttl: '1h', recover: true, allow_subscribe: 'any', allow_publish: 'any', allow_history: 'any' },
    short: { history_size: 5, history_ttl: '1h', recover: true, allow_subscribe: 'any', allow_publish: 'any' },
  },
};
let a, b;
const clients = [];

before(async () => {
  a = new HeraldServer(config);
  b = new HeraldServer(config);
  b.prefix = a.prefix;
  b.secret = a.secret;
  b.apiKey = a.apiKey;
  await Promise.all([a.start(), b.start()]);
});

after(async () => {
  for (const h of clients) h.disconnect();
  await Promise.all([a.close(), b.close()]);
});

const uniq = (prefix) => `${prefix}${randomBytes(4).toString('hex')}`;

function client(url, opts = {}) {
  const h = new Herald(url, { WebSocket, minReconnectDelay: 20, maxReconnectDelay: 300, inboxStore: null, ...opts });
  clients.push(h);
  return h;
}

/** A subscription that records what it delivers and reports. */
function recorder(h, channel) {
  const sub = h.newSubscription(channel);
  const r = { sub, offsets: [], lost: [], recovered: 0 };
  sub.on('message', (m) => r.offsets.push(m.offset));
  sub.on('recoveryLost', (l) => r.lost.push(l));
  sub.on('recovered', () => r.recovered++);
  return r;
}

/** Asserts offsets are exactly 1..n: no gap, no duplicate, in order. */
function exactly(offsets, n) {
  const want = Array.from({ length: n }, (_, i) => i + 1);
  if (offsets.length !== n || offsets.some((o, i) => o !== i + 1)) {
    assert.fail(`got ${offsets.length} offsets, want 1..${n}: ${JSON.stringify(offsets.slice(0, 50))}...`);
  }
  assert.deepEqual(offsets, want);
}

const publish = (server, channel, from, to, data = (i) => ({ i })) =>
  (async () => {
    for (let i = from; i <= to; i++) {
      const r = await server.api('publish', { channel, data: data(i) });
      assert.equal(r.offset, i);
    }
  })();

test('a server restart: every publication exactly once, in order, and the inbox too', async () => {
  const ch = uniq('chat:restart-');
  const user = uniq('u-');
  const h = client(a.url, { token: a.token(user), inboxStore: memoryStore() });
  const r = recorder(h, ch);
  const dms = [];
  h.on('direct', (d) => dms.push(d.data));
  const states = [];
  h.on('disconnected', (e) => states.push(e.code));
  r.sub.subscribe();
  h.connect();
  await until(() => r.sub.state === 'subscribed', 'subscribed');
  await publish(b, ch, 1, 20);
  await b.api('send', { user, data: 'before' });
  await until(() => r.offsets.length === 20 && dms.length === 1, 'the first 20');
  await a.stop(); // the client hears 1001 and retries until a is back
  await publish(b, ch, 21, 40);
  await b.api('send', { user, data: 'while away' });
  await a.start();
  await publish(b, ch, 41, 60);
  await until(() => r.offsets.length >= 60 && h.state === 'connected', '60 messages after the restart');
  exactly(r.offsets, 60);
  assert.deepEqual(dms, ['before', 'while away']);
  assert.deepEqual(r.lost, []);
  assert.ok(r.recovered >= 1, 'the resubscribe recovered');
  assert.equal(states[0], 1001);
});

test('the network cut during publishing: no gap, no duplicate', async () => {
  const ch = uniq('chat:cut-');
  const proxy = new Proxy(a.port);
  await proxy.start();
  try {
    const h = client(proxy.url);
    const r = recorder(h, ch);
    r.sub.subscribe();
    h.connect();
    await until(() => r.sub.state === 'subscribed', 'subscribed');
    let cuts = 0;
    h.on('disconnected', () => cuts++);
    const n = 400;
    const publishing = publish(a, ch, 1, n);
    for (let i = 0; i < 4; i++) {
      const at = r.offsets.length;
      const seen = cuts;
      await until(() => r.offsets.length > at || r.offsets.length === n, 'progress');
      proxy.cut();
      await until(() => cuts > seen && h.state === 'connected', 'back after the cut');
    }
    await publishing;
    await until(() => r.offsets.length >= n, `${n} messages`);
    exactly(r.offsets, n);
    assert.deepEqual(r.lost, []);
    assert.ok(cuts >= 4, `${cuts} cuts seen`);
  } finally {
    await proxy.close();
  }
});

test('a network gone silent: the heartbeat watchdog reconnects and recovers', async () => {
  const ch = uniq('chat:silent-');
  const proxy = new Proxy(a.port);
  await proxy.start();
  try {
    const h = client(proxy.url, { pingMargin: 500 });
    const r = recorder(h, ch);
    const ends = [];
    h.on('disconnected', (e) => ends.push(e));
    r.sub.subscribe();
    h.connect();
    await until(() => r.sub.state === 'subscribed', 'subscribed');
    await publish(a, ch, 1, 3);
    await until(() => r.offsets.length === 3, '3 messages');
    proxy.freeze();
    await publish(a, ch, 4, 6);
    await until(() => r.offsets.length === 6, 'the messages sent while silent', 5000);
    exactly(r.offsets, 6);
    // (A busy machine may delay a ping past the margin once more: the
    // client then reconnects again, which changes nothing delivered.)
    assert.ok(ends.length >= 1, 'the silent connection was dropped');
    for (const e of ends) assert.deepEqual(e, { code: 0, reason: 'heartbeat timeout', reconnect: true });
  } finally {
    await proxy.close();
  }
});

test('recovery in pages (more: true) delivers everything missed, in order', async () => {
  const ch = uniq('chat:pages-');
  const frames = [];
  class Spy extends WebSocket {
    constructor(...args) {
      super(...args);
      this.addEventListener('message', (e) => frames.push(String(e.data)));
    }
  }
  const h = client(a.url, { WebSocket: Spy });
  const r = recorder(h, ch);
  r.sub.subscribe();
  h.connect();
  await until(() => r.sub.state === 'subscribed', 'subscribed');
  await publish(a, ch, 1, 1);
  await until(() => r.offsets.length === 1, 'the first');
  h.disconnect();
  const n = 200;
  await publish(a, ch, 2, n, (i) => ({ i, pad: 'x'.repeat(400) }));
  h.connect();
  await until(() => r.offsets.length >= n, `${n} messages`);
  exactly(r.offsets, n);
  assert.ok(frames.some((f) => f.includes('"more":true')), 'the server paged the recovery');
  assert.equal(r.recovered, 1);
});

test('a recovery the history cannot cover is reported, then the live stream continues', async () => {
  const ch = uniq('short:');
  const h = client(a.url);
  const r = recorder(h, ch);
  r.sub.subscribe();
  h.connect();
  await until(() => r.sub.state === 'subscribed', 'subscribed');
  await publish(a, ch, 1, 2);
  await until(() => r.offsets.length === 2, 'two');
  h.disconnect();
  await publish(a, ch, 3, 12); // history keeps 5
  h.connect();
  await until(() => r.lost.length === 1, 'recovery lost');
  assert.deepEqual(r.lost[0].since.offset, 2);
  assert.equal(r.lost[0].position.offset, 12);
  await publish(a, ch, 13, 13);
  await until(() => r.offsets.length === 3, 'the live stream');
  assert.deepEqual(r.offsets, [1, 2, 13]);
});
