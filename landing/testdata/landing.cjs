// The landing page in Chromium at desktop and phone width: it renders
// without errors or blocked resources, its links lead to pages the server
// serves, and nothing overflows sideways.
'use strict';
const { launch, artifact, check } = require(process.env.BROWSERTEST);

const URL_ = process.env.LANDING_URL;

(async () => {
  const { context, close } = await launch();
  const problems = [];
  try {
    const page = await context.newPage();
    page.on('pageerror', (err) => problems.push('page error: ' + err.message));
    page.on('console', (msg) => { if (msg.type() === 'error') problems.push('console: ' + msg.text()); });
    for (const [width, name] of [[1280, 'landing-1280.png'], [390, 'landing-390.png']]) {
      await page.setViewportSize({ width, height: 900 });
      const res = await page.goto(URL_);
      check(res.status() === 200, 'GET / answered ' + res.status());
      check(await page.title() === 'Herald (development mode)', 'title ' + await page.title());
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      check(overflow <= 0, width + ' px: the page is ' + overflow + ' px too wide');
      await page.screenshot({ path: artifact(name), fullPage: true });
    }
    // The console snippet's WebSocket is allowed by the page's policy.
    const ws = await page.evaluate((url) => new Promise((resolve) => {
      const ws = new WebSocket(url, 'herald.v1.json');
      ws.onmessage = (e) => { resolve(e.data); ws.close(); };
      ws.onerror = () => resolve('error');
      ws.onopen = () => ws.send('{"id":1,"type":"connect"}');
    }), URL_.replace(/^http/, 'ws') + 'ws');
    check(ws === '{"id":1,"type":"connect"}', 'the snippet\'s WebSocket got ' + ws);
    check(problems.length === 0, problems.join('\n'));
    // The stand-in pages have no icon: Chromium asking for /favicon.ico is
    // not the landing page's doing.
    for (const href of ['/demo/', '/metrics']) {
      const res = await page.goto(new URL(href, URL_).toString());
      check(res.status() === 200, href + ' answered ' + res.status());
    }
  } finally {
    await close();
  }
})().catch((err) => { console.error(err); process.exit(1); });
