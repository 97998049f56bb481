// Chromium speaks permessage-deflate with the server: it offers it (with
// client_max_window_bits, as it does by default), the server accepts, and
// a client connects, subscribes, publishes a large document and receives
// it, and /echo returns large and small messages.
'use strict';
const { launch, check } = require(process.env.BROWSERTEST);

(async () => {
  const { context, close } = await launch();
  try {
    const page = await context.newPage();
    await page.goto(process.env.PAGE_URL);
    const got = await page.evaluate(async ({ wsURL, echoURL, token }) => {
      const open = (url, proto) => new Promise((resolve, reject) => {
        const ws = proto ? new WebSocket(url, proto) : new WebSocket(url);
        const queue = [];
        let waiting = null;
        ws.onmessage = (e) => { if (waiting) { const w = waiting; waiting = null; w(e.data); } else queue.push(e.data); };
        ws.onclose = (e) => { if (waiting) waiting('closed ' + e.code); };
        ws.next = () => new Promise((r) => { if (queue.length) r(queue.shift()); else waiting = r; });
        ws.onopen = () => resolve(ws);
        ws.onerror = () => reject(new Error('websocket error on ' + url));
      });
      const doc = JSON.stringify(Array.from({ length: 100 }, (_, i) => ({ user: 'ada', n: i, text: 'hello, compressed world' })));
      const ws = await open(wsURL, 'herald.v1.json');
      ws.send(JSON.stringify({ id: 1, type: 'connect', token }));
      ws.send(JSON.stringify({ id: 2, type: 'subscribe', channel: 'chat:deflate' }));
      ws.send(JSON.stringify({ id: 3, type: 'publish', channel: 'chat:deflate', data: { doc } }));
      let received = null;
      for (let i = 0; i < 20 && received === null; i++) {
        for (const line of (await ws.next()).split('\n')) {
          const m = JSON.parse(line);
          if (m.type === 'message' && m.channel === 'chat:deflate') received = m.data.doc;
        }
      }
      const echo = await open(echoURL);
      const echoes = [];
      for (const msg of [doc, 'small', doc + doc]) {
        echo.send(msg);
        echoes.push((await echo.next()) === msg);
      }
      const out = { extensions: ws.extensions, echoExtensions: echo.extensions, same: received === doc, size: doc.length, echoes };
      ws.close();
      echo.close();
      return out;
    }, { wsURL: process.env.WS_URL, echoURL: process.env.ECHO_URL, token: process.env.TOKEN });
    console.log(JSON.stringify(got));
    check(got.extensions.startsWith('permessage-deflate'), '/ws extensions: ' + got.extensions);
    check(got.echoExtensions.startsWith('permessage-deflate'), '/echo extensions: ' + got.echoExtensions);
    check(got.same, 'the published document did not come back whole');
    check(got.echoes.every((x) => x), 'echoes: ' + got.echoes);
  } finally {
    await close();
  }
})().catch((err) => { console.error(err); process.exit(1); });
