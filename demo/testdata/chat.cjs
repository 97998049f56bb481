// The demo chat in two real browser pages (alice, bob) and a third that
// comes and goes (carol), each running Herald's JavaScript client from the
// bundle the server serves: presence, room messages, one from an anonymous
// connection, a direct message, then a server restart during which the Go
// test publishes through another node; both pages must reconnect and show
// every message exactly once, the backend's labelled "server" and the
// anonymous one "anonymous". Last, a restart on an empty broker (what the
// in-memory broker does on a process restart): both pages say messages may
// be missing, and never that nothing was missed.
//
// Env: URL (the demo page), CONTROL (the Go test's control server).
'use strict';
const { launch, artifact, check } = require(process.env.BROWSERTEST);

const WAIT = { timeout: 20000 };
const problems = []; // CSP violations and uncaught errors in any page

async function openChat(context, name) {
  const page = await context.newPage();
  await page.setViewportSize({ width: 1100, height: 720 });
  page.on('pageerror', (err) => problems.push(`${name}: uncaught ${err.message}`));
  const scripts = [];
  page.on('request', (req) => { if (req.resourceType() === 'script') scripts.push(new URL(req.url()).pathname); });
  page.on('console', (msg) => {
    const text = msg.text();
    // Refused connections while the server is down are expected noise;
    // a policy violation or an uncaught error is not.
    if (/Content Security Policy|Uncaught/i.test(text)) problems.push(`${name}: ${text}`);
  });
  await page.goto(process.env.URL);
  await page.fill('#name', name);
  await page.fill('#room', 'lobby');
  if (name === 'alice') await page.screenshot({ path: artifact('demo-login.png') });
  await page.click('#join');
  await page.waitForSelector('#status[data-state="online"]', WAIT);
  // The page is the demo's code on the client's bundle, nothing else.
  check(JSON.stringify(scripts.sort()) === JSON.stringify(['/demo/app.js', '/demo/herald.min.js']),
    `${name}: the page loaded the scripts ${JSON.stringify(scripts)}`);
  return page;
}

const user = (name) => `#presence li[data-user="${name}"]`;
const online = (page, name) => page.waitForSelector(user(name), WAIT);
const gone = (page, name) => page.waitForSelector(user(name), { ...WAIT, state: 'detached' });

// msgText waits for a message with exactly this text in the log.
function shows(page, kind, text) {
  return page.waitForFunction(
    ([kind, text]) => [...document.querySelectorAll(`#messages li.msg.${kind} .text`)].some((el) => el.textContent === text),
    [kind, text], WAIT);
}

async function send(page, text, to = '') {
  await page.selectOption('#target', to);
  await page.fill('#text', text);
  await page.click('#send');
}

// The log as data: every message's stream, offset, text and author.
function log(page) {
  return page.$$eval('#messages li.msg', (lis) => lis.map((li) => ({
    kind: li.classList[1],
    stream: li.dataset.stream,
    offset: li.dataset.offset ? Number(li.dataset.offset) : 0,
    text: li.querySelector('.text').textContent,
    author: li.querySelector('.author').textContent,
  })));
}

// publishAnonymously publishes text to chat:lobby from a connection without
// a token, opened by a page of the demo's origin as any script could.
async function publishAnonymously(context, text) {
  const page = await context.newPage();
  try {
    await page.goto(process.env.URL);
    const reply = await page.evaluate((text) => new Promise((resolve, reject) => {
      const ws = new WebSocket(`ws://${location.host}/ws`, 'herald.v1.json');
      ws.onerror = () => reject(new Error('websocket error'));
      ws.onmessage = (e) => {
        for (const line of e.data.split('\n')) {
          const m = JSON.parse(line);
          if (m.id === 2) { ws.close(); resolve(m); }
        }
      };
      ws.onopen = () => {
        ws.send(JSON.stringify({ id: 1, type: 'connect' }));
        ws.send(JSON.stringify({ id: 2, type: 'publish', channel: 'chat:lobby', data: { text } }));
      };
    }), text);
    check(reply.result, `anonymous publish: ${JSON.stringify(reply)}`);
  } finally {
    await page.close();
  }
}

async function checkExactlyOnce(page, name, expectRoom, expectDirect) {
  const msgs = await log(page);
  const seen = new Set();
  for (const m of msgs) {
    if (!m.offset) continue;
    const key = `${m.stream}@${m.offset}`;
    check(!seen.has(key), `${name}: ${key} shown twice`);
    seen.add(key);
  }
  for (const text of expectRoom) {
    const n = msgs.filter((m) => m.kind === 'room' && m.text === text).length;
    check(n === 1, `${name}: room message "${text}" shown ${n} times`);
  }
  for (const text of expectDirect) {
    const n = msgs.filter((m) => m.kind === 'direct' && m.text === text).length;
    check(n === 1, `${name}: direct message "${text}" shown ${n} times`);
  }
  // Both pages joined before the first message: the room's offsets are
  // exactly 1..N, in order, with no gap.
  const offsets = msgs.filter((m) => m.kind === 'room').map((m) => m.offset);
  check(offsets.length === expectRoom.length, `${name}: ${offsets.length} room messages, want ${expectRoom.length}`);
  offsets.forEach((o, i) => check(o === i + 1, `${name}: room offsets ${offsets}, want 1..${offsets.length}`));
  check((await page.$$('#messages li.notice.warning')).length === 0, `${name}: shows a "messages missing" notice`);
}

(async () => {
  const { context, close } = await launch();
  try {
    const alice = await openChat(context, 'alice');
    await alice.screenshot({ path: artifact('demo-alice-alone.png') });
    const bob = await openChat(context, 'bob');
    for (const page of [alice, bob]) {
      await online(page, 'alice');
      await online(page, 'bob');
    }

    // A third user comes and goes: join and leave pushes reach both.
    const carol = await openChat(context, 'carol');
    await online(alice, 'carol');
    await online(bob, 'carol');
    await carol.close();
    await gone(alice, 'carol');
    await gone(bob, 'carol');
    check(await alice.textContent('#online-count') === '2', 'alice counts other than 2 online');

    // Room messages, both ways.
    await send(alice, 'hello bob');
    await shows(bob, 'room', 'hello bob');
    await send(bob, 'hi alice');
    await shows(alice, 'room', 'hi alice');

    // A connection without a token publishes: a client, not the server.
    await publishAnonymously(context, 'from nobody in particular');
    await shows(alice, 'room', 'from nobody in particular');
    await shows(bob, 'room', 'from nobody in particular');

    // A direct message: alice picks bob in the presence list.
    await alice.click(`${user('bob')} button`);
    check(await alice.inputValue('#target') === 'bob', 'clicking bob did not choose him as the recipient');
    await alice.fill('#text', 'psst, bob');
    await alice.click('#send');
    await shows(bob, 'direct', 'psst, bob');
    await shows(alice, 'sent', 'psst, bob');
    check(!(await log(alice)).some((m) => m.kind === 'direct'), 'alice received her own direct message');

    // The restart: the Go test stops the server, publishes through another
    // node meanwhile, and starts it again on the same address.
    const res = await fetch(`${process.env.CONTROL}/control/restart`, { method: 'POST' });
    const body = await res.text();
    check(res.ok, `restart: ${res.status} ${body}`);
    const outage = JSON.parse(body);

    for (const [page, n] of [[alice, 3], [bob, 4]]) {
      for (const text of outage.room) await shows(page, 'room', text);
      await page.waitForSelector(`#messages li.notice.recovered:has-text("caught up on ${n} missed messages")`, WAIT);
      await page.waitForSelector('#status[data-state="online"]', WAIT);
      await online(page, 'alice');
      await online(page, 'bob');
    }
    await shows(bob, 'direct', outage.direct);
    // The log reads in order: the drop, what was missed, the recovery.
    for (const page of [alice, bob]) {
      const order = await page.$$eval('#messages li', (lis) => lis.map((li) => li.className + ' ' + li.textContent));
      const lost = order.findIndex((s) => s.startsWith('notice lost'));
      const first = order.findIndex((s) => s.includes(outage.room[0]));
      const back = order.findIndex((s) => s.startsWith('notice recovered'));
      check(lost >= 0 && lost < first && first < back, `log out of order: ${JSON.stringify(order)}`);
    }

    // Live again after the restart.
    await bob.selectOption('#target', '');
    await send(bob, 'welcome back');
    await shows(alice, 'room', 'welcome back');
    await shows(bob, 'room', 'welcome back');

    const room = ['hello bob', 'hi alice', 'from nobody in particular', ...outage.room, 'welcome back'];
    await checkExactlyOnce(alice, 'alice', room, []);
    await checkExactlyOnce(bob, 'bob', room, ['psst, bob', outage.direct]);
    // Who wrote what: the server API's publications say "server", the
    // anonymous connection's "anonymous", users their names.
    for (const [page, name] of [[alice, 'alice'], [bob, 'bob']]) {
      const msgs = (await log(page)).filter((m) => m.kind === 'room');
      const by = (text) => msgs.find((m) => m.text === text).author;
      check(by('from nobody in particular') === 'anonymous', `${name}: the anonymous message shown as from ${by('from nobody in particular')}`);
      for (const text of outage.room) check(by(text) === 'server', `${name}: "${text}" shown as from ${by(text)}`);
      check(by('hello bob') === 'alice' && by('hi alice') === 'bob', `${name}: users' messages not shown under their names`);
    }
    check((await log(bob)).find((m) => m.text === outage.direct).author === 'server', 'bob: the server\'s direct message not shown as from the server');

    // The chat in use, after the restart, at a laptop's and a phone's width.
    await alice.screenshot({ path: artifact('demo-alice.png') });
    for (const [width, height] of [[1280, 800], [390, 844]]) {
      await bob.setViewportSize({ width, height });
      await bob.screenshot({ path: artifact(`demo-bob-${width}.png`) });
    }
    await bob.setViewportSize({ width: 1100, height: 720 });

    // A latecomer sees the room's recent history, then the live stream,
    // with no gap and no duplicate where they meet.
    const dave = await openChat(context, 'dave');
    await shows(dave, 'room', 'welcome back');
    await send(alice, 'hello dave');
    await shows(dave, 'room', 'hello dave');
    await checkExactlyOnce(dave, 'dave', [...room, 'hello dave'], []);
    check((await dave.$$('#messages li.notice.recovered, #messages li.notice.partial')).length === 0, 'dave: a first join reported as a reconnect');
    await dave.close();
    await gone(alice, 'dave');

    // A restart that loses the streams (the in-memory broker's, in a real
    // process): each page says what may be missing, and its reconnect
    // notice does not claim that nothing was.
    const reset = await fetch(`${process.env.CONTROL}/control/reset`, { method: 'POST' });
    check(reset.ok, `reset: ${reset.status} ${await reset.text()}`);
    for (const [page, name] of [[alice, 'alice'], [bob, 'bob']]) {
      await page.waitForSelector('#messages li.notice.warning:has-text("the channel history was reset")', WAIT);
      await page.waitForSelector('#status[data-state="online"]', WAIT);
      // Wait for the reconnect's own notice, after the last drop.
      await page.waitForFunction(() => {
        const texts = [...document.querySelectorAll('#messages li.notice')].map((li) => li.textContent);
        return texts.slice(texts.findLastIndex((t) => t.startsWith('Connection lost'))).some((t) => t.startsWith('Reconnected'));
      }, null, WAIT);
      const all = await page.$$eval('#messages li.notice', (lis) => lis.map((li) => `${li.className}: ${li.textContent}`));
      const notices = all.slice(all.findLastIndex((n) => n.startsWith('notice lost')));
      check(!notices.some((n) => /nothing was missed/.test(n) || n.startsWith('notice recovered')) && notices.some((n) => n.startsWith('notice partial')),
        `${name}: claims a full recovery after the streams were lost: ${JSON.stringify(notices)}`);
    }
    await alice.screenshot({ path: artifact('demo-alice-reset.png') });
    // The new streams work: a message after the reset reaches both.
    await send(bob, 'after the reset');
    await shows(alice, 'room', 'after the reset');
    check(problems.length === 0, `page problems:\n${problems.join('\n')}`);
  } finally {
    await close();
  }
})().catch((err) => { console.error(err); process.exit(1); });
