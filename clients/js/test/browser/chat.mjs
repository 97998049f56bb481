// The browser bundle in headless Chromium: two pages chat through a Herald
// server, send each other direct messages, and keep every message exactly
// once and in order across a restart of their server, while a second node
// on the same Redis publishes.
//
// Run by the Go test TestBrowser (go test ./clients/js), or alone with
// `npm run test:browser` after `npm ci --prefix internal/browsertest`.
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HeraldServer, until } from '../integration/herald.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const { launch, artifact, check } = require(process.env.BROWSERTEST || resolve(here, '../../../../internal/browsertest/browser.cjs'));

const bundle = readFileSync(join(here, '../../dist/herald.min.js'));
const page = `<!doctype html>
<meta charset="utf-8">
<title>chat</title>
<ul id="log"></ul>
<script type="module">
import { Herald } from '/herald.min.js';
const q = new URLSearchParams(location.search);
const h = new Herald(q.get('ws'), { token: q.get('token'), minReconnectDelay: 50, maxReconnectDelay: 500 });
const room = h.newSubscription('chat:room');
window.log = [];
window.directs = [];
window.events = [];
room.on('message', (m) => {
  window.log.push(m.offset + ':' + m.data.text);
  const li = document.createElement('li');
  li.textContent = (m.info ? m.info.user : 'server') + ': ' + m.data.text;
  document.getElementById('log').append(li);
});
room.on('recovered', () => window.events.push('recovered'));
room.on('recoveryLost', () => window.events.push('recoveryLost'));
h.on('connected', () => window.events.push('connected'));
h.on('disconnected', (e) => window.events.push('disconnected ' + e.code));
h.on('direct', (d) => window.directs.push(d.from.user + ':' + d.data));
window.herald = h;
window.say = (text) => room.publish({ text });
room.subscribe().then(() => (window.subscribed = true));
h.connect();
</script>`;

const a = new HeraldServer({ ping_interval: '2s' });
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
    res.end(page);
  }
});
let browser;
try {
  await Promise.all([a.start(), b.start(), new Promise((r) => web.listen(0, '127.0.0.1', r))]);
  const base = `http://127.0.0.1:${web.address().port}/`;
  browser = await launch();
  const open = async (user) => {
    const p = await browser.context.newPage();
    p.on('pageerror', (e) => console.log(`${user} page error: ${e.message}`));
    await p.goto(`${base}?ws=${encodeURIComponent(a.url)}&token=${a.token(user)}`);
    await p.waitForFunction(() => window.subscribed === true);
    return p;
  };
  const alice = await open('alice');
  const bob = await open('bob');
  const log = (p) => p.evaluate(() => window.log);
  const waitLog = async (p, n, what) => {
    await until(async () => (await log(p)).length >= n, what, 15000);
    return log(p);
  };

  // Two pages chatting.
  await alice.evaluate(() => window.say('hi bob'));
  await waitLog(bob, 1, 'bob sees alice');
  await bob.evaluate(() => window.say('hi alice'));
  const want = ['1:hi bob', '2:hi alice'];
  check(JSON.stringify(await waitLog(alice, 2, 'alice sees both')) === JSON.stringify(want), `alice: ${await log(alice)}`);
  check(JSON.stringify(await waitLog(bob, 2, 'bob sees both')) === JSON.stringify(want), `bob: ${await log(bob)}`);
  const stats = await alice.evaluate(() => window.herald.presenceStats('chat:room'));
  check(stats.clients === 2 && stats.users === 2, `presence stats ${JSON.stringify(stats)}`);
  await alice.evaluate(() => window.herald.send('bob', 'psst'));
  await until(async () => (await bob.evaluate(() => window.directs)).length === 1, 'a direct message', 10000);
  check((await bob.evaluate(() => window.directs))[0] === 'alice:psst', 'the direct message');

  // Their server restarts; the other node publishes meanwhile.
  await a.stop();
  for (let i = 3; i <= 5; i++) await b.api('publish', { channel: 'chat:room', data: { text: `while away ${i}` } });
  await b.api('send', { user: 'bob', data: 'missed' });
  await a.start();
  await b.api('publish', { channel: 'chat:room', data: { text: 'after 6' } });
  await alice.evaluate(() => window.say('back 7'));
  const all = [...want, '3:while away 3', '4:while away 4', '5:while away 5', '6:after 6', '7:back 7'];
  for (const [name, p] of [['alice', alice], ['bob', bob]]) {
    // A gap or a duplicate would show by the time the last one arrived.
    await waitLog(p, all.length, `${name} recovers`);
    check(JSON.stringify(await log(p)) === JSON.stringify(all), `${name} got ${JSON.stringify(await log(p))}, want ${JSON.stringify(all)}`);
    const events = await p.evaluate(() => window.events);
    check(events.includes('disconnected 1001') && events.includes('recovered') && !events.includes('recoveryLost'), `${name} events ${events}`);
  }
  await until(async () => (await bob.evaluate(() => window.directs)).length === 2, 'the inbox recovered', 10000);
  check((await bob.evaluate(() => window.directs))[1] === ':missed', 'the direct message sent while away');
  await alice.screenshot({ path: artifact('jsclient-chat.png') });
  console.log('two pages chatted across a restart: every message once, in order');
} finally {
  if (browser) await browser.close();
  web.close();
  await Promise.all([a.close(), b.close()]);
}
