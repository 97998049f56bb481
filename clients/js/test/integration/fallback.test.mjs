// The HTTP fallbacks against real Herald servers on Redis: HTTP streaming
// in both encodings (calls, order, direct messages), exact recovery across a
// server restart and network cuts, and the fallback chain behind a proxy
// that refuses WebSocket upgrades. (EventSource, which Node.js lacks, is
// tested in Chromium: test/browser/fallback.mjs.)
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { Herald, memoryStore } from '../../dist/herald.js';
import { protobuf } from '../../dist/protobuf.js';
import { HeraldServer, WebSocket, until } from './herald.mjs';
import { Proxy } from './proxy.mjs';

const config = {
  ping_interval: '1s',
  limits: { publish_rate: 1000, publish_burst: 1000, command_rate: 1000, command_burst: 1000 },
  namespaces: {
    chat: {
      presence: true, join_leave: true, history_size: 5000, history_ttl: '1h', recover: true,
      allow_subscribe: 'any', allow_publish: 'any', allow_presence: 'any', allow_history: 'any',
    },
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
  const h = new Herald(url, {
    WebSocket, transports: ['http_stream'], minReconnectDelay: 20, maxReconnectDelay: 300, inboxStore: null, ...opts,
  });
  clients.push(h);
  return h;
}

async function connected(url, opts) {
  const h = client(url, opts);
  const up = new Promise((ok, fail) => {
    h.once('connected', ok);
    h.on('disconnected', (e) => !e.reconnect && fail(new Error(`refused: ${e.code} ${e.reason}`)));
  });
  h.connect();
  await up;
  return h;
}

function recorder(h, channel) {
  const sub = h.newSubscription(channel);
  const r = { sub, offsets: [], lost: [], recovered: 0 };
  sub.on('message', (m) => r.offsets.push(m.offset));
  sub.on('recoveryLost', (l) => r.lost.push(l));
  sub.on('recovered', () => r.recovered++);
  return r;
}

function exactly(offsets, n) {
  const want = Array.from({ length: n }, (_, i) => i + 1);
  if (offsets.length !== n || offsets.some((o, i) => o !== i + 1)) {
    assert.fail(`got ${offsets.length} offsets, want 1..${n}: ${JSON.stringify(offsets.slice(0, 50))}...`);
  }
}

const publish = (server, channel, from, to) =>
  (async () => {
    for (let i = from; i <= to; i++) assert.equal((await server.api('publish', { channel, data: { i } })).offset, i);
  })();

for (const [name, codec] of [['JSON', undefined], ['Protobuf', protobuf]]) {
  test(`http_stream (${name}): subscribe, publish, presence, history and direct messages; calls keep their order`, async () => {
    const ch = uniq('chat:room-');
    const alice = await connected(a.url, { token: a.token('alice'), codec });
    const bob = await connected(a.url, { token: b.token('bob'), codec });
    assert.equal(alice.transport, 'http_stream');
    const bs = bob.newSubscription(ch);
    const got = [];
    bs.on('message', (m) => got.push(m));
    const joined = [];
    bs.on('join', (j) => joined.push(j.user));
    await bs.subscribe();
    await alice.newSubscription(ch).subscribe();
    await until(() => joined.includes('alice'), 'alice joins');
    // 300 calls at once: one POST at a time, merged, in order.
    const results = await Promise.all(Array.from({ length: 300 }, (_, i) => alice.publish(ch, { n: i + 1 })));
    assert.deepEqual(results.map((r) => r.offset), Array.from({ length: 300 }, (_, i) => i + 1));
    await until(() => got.length === 300, '300 messages');
    assert.deepEqual(got.map((m) => m.data.n), Array.from({ length: 300 }, (_, i) => i + 1));
    assert.equal(got[0].info.user, 'alice');
    const who = await bob.presence(ch);
    assert.deepEqual(Object.values(who).map((e) => e.user).sort(), ['alice', 'bob']);
    const page = await bob.history(ch, { limit: 2, reverse: true });
    assert.deepEqual(page.publications.map((p) => p.offset), [300, 299]);
    const dm = new Promise((r) => bob.once('direct', r));
    await alice.send('bob', { hi: 1 });
    const d = await dm;
    assert.deepEqual([d.from.user, d.data], ['alice', { hi: 1 }]);
    if (codec) {
      await alice.publish(ch, new Uint8Array([0, 255]));
      await until(() => got.length === 301, 'bytes');
      assert.deepEqual([...got[300].data], [0, 255]);
    }
  });
}

test('http_stream: a server restart, every publication exactly once, in order, and the inbox too', async () => {
  const ch = uniq('chat:restart-');
  const user = uniq('u-');
  const h = client(a.url, { token: a.token(user), inboxStore: memoryStore() });
  const r = recorder(h, ch);
  const dms = [];
  h.on('direct', (d) => dms.push(d.data));
  const codes = [];
  h.on('disconnected', (e) => codes.push(e.code));
  r.sub.subscribe();
  h.connect();
  await until(() => r.sub.state === 'subscribed', 'subscribed');
  await publish(b, ch, 1, 20);
  await b.api('send', { user, data: 'before' });
  await until(() => r.offsets.length === 20 && dms.length === 1, 'the first 20');
  await a.stop();
  await publish(b, ch, 21, 40);
  await b.api('send', { user, data: 'while away' });
  await a.start();
  await publish(b, ch, 41, 60);
  await until(() => r.offsets.length >= 60 && h.state === 'connected', '60 messages after the restart');
  exactly(r.offsets, 60);
  assert.deepEqual(dms, ['before', 'while away']);
  assert.deepEqual(r.lost, []);
  assert.ok(r.recovered >= 1, 'the resubscribe recovered');
  assert.equal(codes[0], 1001, 'the drain reached the stream as a disconnect push');
});

test('http_stream: network cuts during publishing, no gap, no duplicate', async () => {
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
    const n = 300;
    const publishing = publish(a, ch, 1, n);
    for (let i = 0; i < 3; i++) {
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
  } finally {
    await proxy.close();
  }
});

test('the chain behind a proxy that refuses WebSocket: falls back to http_stream and stays there', async () => {
  let refused = 0;
  const proxy = http.createServer((req, res) => {
    const up = http.request({ host: '127.0.0.1', port: a.port, path: req.url, method: req.method, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode, r.headers);
      res.flushHeaders();
      r.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  proxy.on('upgrade', (req, socket) => {
    refused++;
    socket.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n');
  });
  await new Promise((r) => proxy.listen(0, '127.0.0.1', r));
  try {
    const url = `ws://127.0.0.1:${proxy.address().port}/ws`;
    const ch = uniq('chat:chain-');
    const h = client(url, { transports: undefined, token: a.token('carol') });
    const r = recorder(h, ch);
    r.sub.subscribe();
    h.connect();
    await until(() => r.sub.state === 'subscribed', 'subscribed');
    assert.equal(h.transport, 'http_stream');
    assert.equal(refused, 1);
    await publish(a, ch, 1, 5);
    await until(() => r.offsets.length === 5, 'five');
    await a.restart();
    await publish(a, ch, 6, 10);
    await until(() => r.offsets.length >= 10 && h.state === 'connected', 'ten after the restart');
    exactly(r.offsets, 10);
    assert.equal(h.transport, 'http_stream');
  } finally {
    proxy.closeAllConnections();
    await new Promise((r) => proxy.close(r));
  }
});
