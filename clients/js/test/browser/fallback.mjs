// The HTTP fallbacks in headless Chromium, behind a proxy that refuses every
// WebSocket upgrade (PROXY_URL; the Go test TestBrowserFallback runs it in
// front of the herald server it has this script start on HERALD_PORT):
//
//  1. Two pages with the default transports fall back to HTTP streaming,
//     chat (publish, receive, presence, join) and keep every message once
//     and in order across a restart of their server and a cut of their
//     streams by the proxy.
//  2. A plain EventSource on /sse, no SDK, receives publications.
//  3. The client with transports ['sse'] sends its commands by POST.
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HeraldServer, until } from '../integration/herald.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const { launch, artifact, check } = require(process.env.BROWSERTEST || resolve(here, '../../../../internal/browsertest/browser.cjs'));
const proxy = process.env.PROXY_URL;
if (!proxy || !process.env.HERALD_PORT) throw new Error('run by the Go test TestBrowserFallback (go test ./clients/js)');

const bundle = readFileSync(join(here, '../../dist/herald.min.js'));
const page = `<!doctype html>
<meta charset="utf-8">
<title>fallback</title>
<script type="module">
import { Herald } from '/herald.min.js';
const q = new URLSearchParams(location.search);
const opts = { token: q.get('token'), minReconnectDelay: 50, maxReconnectDelay: 500 };
if (q.get('transports')) opts.transports = q.get('transports').split(',');
const h = new Herald(q.get('ws'), opts);
const room = h.newSubscription('chat:room');
window.log = [];
window.joins = [];
window.events = [];
window.why = [];
window.transports = [];
room.on('message', (m) => window.log.push(m.offset + ':' + m.data.text));
room.on('join', (j) => window.joins.push(j.user));
room.on('recovered', () => window.events.push('recovered'));
room.on('recoveryLost', () => window.events.push('recoveryLost'));
h.on('connected', () => { window.events.push('connected'); window.transports.push(h.transport); });
h.on('disconnected', (e) => { window.events.push('disconnected ' + e.code); window.why.push(e.reason); });
window.herald = h;
window.say = (text) => room.publish({ text });
room.subscribe().then(() => (window.subscribed = true));
h.connect();
</script>`;

const a = new HeraldServer({ ping_interval: '2s' });
a.port = Number(process.env.HERALD_PORT);
const b = new HeraldServer();
b.prefix = a.prefix;
b.secret = a.secret;
b.apiKey = a.apiKey;
const web = http.createServer((req, res) => {
  if (req.url === '/herald.min.js') {
    res.writeHead(200, { 'Content-Type': 'text/javascript' });
    res.end(bundle);
  } else {
    res.writeHead(200, { 'Content-Type': 'text/html' });
    res.end(req.url.startsWith('/blank') ? '<!doctype html><title>blank</title>' : page);
  }
});
const wsURL = proxy.replace(/^http/, 'ws') + '/ws';
let browser;
try {
  await Promise.all([a.start(), b.start(), new Promise((r) => web.listen(0, '127.0.0.1', r))]);
  const base = `http://127.0.0.1:${web.address().port}/`;
  browser = await launch();
  const open = async (user, transports = '') => {
    const p = await browser.context.newPage();
    p.on('pageerror', (e) => console.log(`${user} page error: ${e.message}`));
    await p.goto(`${base}?ws=${encodeURIComponent(wsURL)}&token=${a.token(user)}&transports=${transports}`);
    await p.waitForFunction(() => window.subscribed === true, null, { timeout: 15000 });
    return p;
  };
  const log = (p) => p.evaluate(() => window.log);
  const waitLog = async (p, n, what) => {
    await until(async () => (await log(p)).length >= n, what, 15000);
    return log(p);
  };
  const same = (got, want, what) => check(JSON.stringify(got) === JSON.stringify(want), `${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);

  // 1. The fallback chain: WebSocket refused, HTTP streaming it is. Now
  // and then Chromium fails the first streamed response's read with a
  // bare "network error" (TypeError) right after its headers, and the
  // client rightly goes on to sse; not yet understood, so a page that
  // did is opened again, at most twice, and the reason is printed.
  const onStream = async (user) => {
    for (let attempt = 1; ; attempt++) {
      const p = await open(user);
      const used = await p.evaluate(() => window.transports);
      if (JSON.stringify(used) === JSON.stringify(['http_stream']) || attempt === 3) {
        same(used, ['http_stream'], `${user}'s transport (events ${JSON.stringify(await p.evaluate(() => window.events))}, why ${JSON.stringify(await p.evaluate(() => window.why))})`);
        return p;
      }
      console.log(`${user}: connected over ${used} (why ${JSON.stringify(await p.evaluate(() => window.why))}); opening the page again`);
      await p.close();
    }
  };
  const alice = await onStream('alice');
  const bob = await onStream('bob');
  await until(async () => (await alice.evaluate(() => window.joins)).includes('bob'), 'alice sees bob join', 10000);
  await alice.evaluate(() => window.say('hi bob'));
  await waitLog(bob, 1, 'bob sees alice');
  await bob.evaluate(() => window.say('hi alice'));
  let want = ['1:hi bob', '2:hi alice'];
  same(await waitLog(alice, 2, 'alice sees both'), want, 'alice');
  same(await waitLog(bob, 2, 'bob sees both'), want, 'bob');
  const who = await alice.evaluate(() => window.herald.presence('chat:room'));
  same(Object.values(who).map((e) => e.user).sort(), ['alice', 'bob'], 'presence');

  // Their server restarts; the other node publishes meanwhile.
  await a.stop();
  for (let i = 3; i <= 5; i++) await b.api('publish', { channel: 'chat:room', data: { text: `while away ${i}` } });
  await a.start();
  await b.api('publish', { channel: 'chat:room', data: { text: 'after 6' } });
  await alice.evaluate(() => window.say('back 7'));
  want = [...want, '3:while away 3', '4:while away 4', '5:while away 5', '6:after 6', '7:back 7'];
  for (const [name, p] of [['alice', alice], ['bob', bob]]) {
    await waitLog(p, want.length, `${name} recovers after the restart`);
    same(await log(p), want, name);
    const events = await p.evaluate(() => window.events);
    check(events.includes('disconnected 1001') && events.includes('recovered') && !events.includes('recoveryLost'), `${name} events ${events}`);
  }

  // The proxy cuts every stream (no disconnect push: 1006); the other
  // node publishes before the pages are back.
  await until(async () => (await alice.evaluate(() => window.transports)).length === 2 && (await bob.evaluate(() => window.transports)).length === 2, 'both reconnected', 10000);
  await b.api('publish', { channel: 'chat:room', data: { text: 'before the cut 8' } });
  await waitLog(bob, want.length + 1, 'bob gets 8');
  const cut = await (await fetch(`${proxy}/__cut`, { method: 'POST' })).text();
  check(Number(cut) >= 2, `the proxy cut ${cut} requests, want both streams`);
  for (let i = 9; i <= 10; i++) await b.api('publish', { channel: 'chat:room', data: { text: `after the cut ${i}` } });
  want = [...want, '8:before the cut 8', '9:after the cut 9', '10:after the cut 10'];
  for (const [name, p] of [['alice', alice], ['bob', bob]]) {
    await waitLog(p, want.length, `${name} recovers after the cut`);
    same(await log(p), want, name);
    const events = await p.evaluate(() => window.events);
    check(events.includes('disconnected 1006') && !events.includes('recoveryLost'), `${name} events ${events}`);
    // While the server was down the client went round the chain (an
    // attempt on sse or a refused WebSocket), so it may have come back on
    // sse; never on WebSocket.
    const ts = await p.evaluate(() => window.transports);
    console.log(`${name} connected over ${ts.join(', ')}`);
    check(ts.every((t) => t !== 'websocket'), `${name} connected over ${ts}`);
  }
  await alice.screenshot({ path: artifact('jsclient-fallback.png') });

  // 2. A plain EventSource, no SDK: the connect command in the URL.
  const plain = await browser.context.newPage();
  await plain.goto(`${base}blank`);
  const connect = encodeURIComponent(JSON.stringify({ type: 'connect', token: a.token('carol'), subs: { 'chat:plain': {} } }));
  await plain.evaluate((url) => {
    window.got = [];
    const es = new EventSource(url);
    es.onmessage = (ev) => window.got.push(JSON.parse(ev.data));
  }, `${proxy}/sse?connect=${connect}`);
  await until(async () => (await plain.evaluate(() => window.got)).some((m) => m.id === 1 && m.result), 'the connect reply as the first event', 10000);
  await b.api('publish', { channel: 'chat:plain', data: { text: 'to an EventSource' } });
  await until(async () => (await plain.evaluate(() => window.got)).some((m) => m.type === 'message'), 'a publication over SSE', 10000);
  const got = await plain.evaluate(() => window.got);
  check(got[0].id === 1 && got[0].result.user === 'carol', `first event ${JSON.stringify(got[0])}`);
  const m = got.find((x) => x.type === 'message');
  check(m.channel === 'chat:plain' && m.data.text === 'to an EventSource' && m.offset === 1, `message ${JSON.stringify(m)}`);

  // 3. The SDK on sse only: commands by POST, replies and pushes as events.
  const dave = await open('dave', 'sse');
  same(await dave.evaluate(() => window.transports), ['sse'], "dave's transport");
  await dave.evaluate(() => window.say('over sse'));
  want = [...want, '11:over sse'];
  await waitLog(dave, 1, 'dave sees his own publication');
  same((await log(dave)).slice(-1), ['11:over sse'], 'dave');
  await waitLog(alice, want.length, 'alice sees dave');
  same(await log(alice), want, 'alice');
  const stats = await dave.evaluate(() => window.herald.presenceStats('chat:room'));
  check(stats.users === 3, `presence stats over sse ${JSON.stringify(stats)}`);
  console.log('fallback: HTTP streaming behind a proxy without WebSocket, exact across a restart and a cut; SSE by hand and by the SDK');
} finally {
  if (browser) await browser.close();
  web.close();
  await Promise.all([a.close(), b.close()]);
}
