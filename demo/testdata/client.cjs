// herald.js's bookkeeping in a real browser, frame by frame, without a
// server: dedupe by offset across overlapping recovery and live messages,
// epoch changes, batched frames, heartbeat answers and the close-code
// table. The chat test covers the happy path end to end; this one feeds
// the overlaps and failures a healthy server rarely produces.
//
// Env: URL (the demo page, for its origin and herald.js).
'use strict';
const { launch, check } = require(process.env.BROWSERTEST);

(async () => {
  const { context, close } = await launch();
  try {
    const page = await context.newPage();
    await page.goto(process.env.URL);
    const out = await page.evaluate(async () => {
      const { HeraldClient } = await import('./herald.js');
      const events = [];
      const sent = [];
      const client = new HeraldClient({
        url: 'ws://unused.invalid/ws',
        getToken: async () => 'token',
        handlers: {
          message: (ch, pub) => events.push(`${ch}#${pub.offset}`),
          direct: (pub) => events.push(`inbox#${pub.offset}`),
          gap: (stream, why) => events.push(`gap ${stream || 'inbox'}: ${why}`),
          status: (state) => events.push(`status ${state}`),
        },
      });
      // A stand-in socket: what the client sends is recorded.
      const ws = { readyState: WebSocket.OPEN, send: (s) => sent.push(JSON.parse(s)), close() {} };
      client.ws = ws;
      client.stopped = false;
      const frame = (...msgs) => client.onFrame(msgs.map((m) => JSON.stringify(m)).join('\n'));
      const take = () => events.splice(0);

      const r = {};
      // A connect that recovers the channel and the inbox; the reply and
      // a live message share one frame and must be handled in that order.
      client.channels.set('chat:a', { epoch: 'e1', offset: 5 });
      client.inbox = { epoch: 'i1', offset: 2 };
      client.sendConnect(ws, 'token');
      r.connect = sent.pop();
      frame(
        { id: r.connect.id, result: { client: 'c1', user: 'u', ping: 25, subs: { 'chat:a': { offset: 8, epoch: 'e1', recovered: true, publications: [{ offset: 5 }, { offset: 6 }, { offset: 7 }, { offset: 8 }] } }, inbox: { offset: 3, epoch: 'i1', recovered: true, publications: [{ offset: 2 }, { offset: 3 }] } } },
        { type: 'message', channel: 'chat:a', offset: 8 },
        { type: 'message', channel: 'chat:a', offset: 9 },
      );
      r.recovery = take();
      // Repeats and stale offsets are dropped, new ones pass.
      frame({ type: 'message', channel: 'chat:a', offset: 9 }, { type: 'message', channel: 'chat:a', offset: 3 },
        { type: 'direct', offset: 3, from: { user: 'x' } }, { type: 'direct', offset: 4, from: { user: 'x' } },
        { type: 'message', channel: 'chat:a', offset: 10 });
      r.live = take();
      // A message for a channel we are not in is ignored.
      frame({ type: 'message', channel: 'chat:zzz', offset: 1 });
      r.foreign = take();
      // Heartbeat: a ping push is answered with a pong command, no id.
      frame({ type: 'ping' });
      r.pong = sent.pop();
      // The stream restarted (new epoch): a gap is reported and the new
      // stream is delivered from its start.
      client.applySubscribe('chat:a', { offset: 2, epoch: 'e2', recovered: false, publications: [{ offset: 1 }, { offset: 2 }] });
      r.epoch = take();
      // Close codes: 1001 reconnects within a second; 4501 stops.
      frame({ type: 'disconnect', code: 1001, reason: 'shutting down', reconnect: true });
      const delays = [];
      client.on.status = (state, detail) => { if (state === 'reconnecting') delays.push(detail.delay); else events.push(`status ${state}`); };
      client.connect = () => {}; // no real connection in this test
      client.onClose(ws, 1001, '');
      r.after1001 = { delays, stopped: client.stopped, attempt: client.attempt };
      clearTimeout(client.retryTimer);
      client.ws = ws;
      client.onClose(ws, 4501, 'unauthorized');
      r.after4501 = { stopped: client.stopped, events: take() };
      return r;
    });

    const eq = (a, b, what) => check(JSON.stringify(a) === JSON.stringify(b), `${what}: got ${JSON.stringify(a)}, want ${JSON.stringify(b)}`);
    eq(out.connect.subs, { 'chat:a': { since: { offset: 5, epoch: 'e1' } } }, 'connect subs');
    eq(out.connect.inbox_since, { offset: 2, epoch: 'i1' }, 'connect inbox_since');
    eq(out.recovery, ['chat:a#6', 'chat:a#7', 'chat:a#8', 'inbox#3', 'chat:a#9'], 'recovery then live');
    eq(out.live, ['inbox#4', 'chat:a#10'], 'dedupe of repeats');
    eq(out.foreign, [], 'foreign channel');
    eq(out.pong, { type: 'pong' }, 'pong');
    eq(out.epoch, ['gap chat:a: the channel history was reset', 'chat:a#1', 'chat:a#2'], 'epoch change');
    check(out.after1001.delays.length === 1 && out.after1001.delays[0] < 1000, `1001 reconnect delay ${out.after1001.delays}`);
    check(!out.after1001.stopped, '1001 stopped the client');
    check(out.after4501.stopped, '4501 did not stop the client');
    eq(out.after4501.events.filter((e) => e.startsWith('status')), ['status offline'], '4501 status');
  } finally {
    await close();
  }
})().catch((err) => { console.error(err); process.exit(1); });
