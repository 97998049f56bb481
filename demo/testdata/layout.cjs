// The demo's layout at a phone's width (390 px) and a laptop's (1280 px):
// nothing wider than the screen, the message box wide enough to write in,
// the composer in view, the room and its people above the log on a phone,
// and the favicon the page names served as an image.
//
// Env: URL (the demo page).
'use strict';
const { launch, artifact, check } = require(process.env.BROWSERTEST);

const WAIT = { timeout: 20000 };

// fits fails when the page scrolls sideways at this width.
async function fits(page, what) {
  const { scroll, width } = await page.evaluate(() => ({
    scroll: document.documentElement.scrollWidth, width: window.innerWidth,
  }));
  check(scroll <= width, `${what}: the page is ${scroll} px wide on a ${width} px screen`);
}

const box = (page, sel) => page.$eval(sel, (el) => {
  const r = el.getBoundingClientRect();
  return { left: r.left, right: r.right, top: r.top, bottom: r.bottom, width: r.width };
});

(async () => {
  const { context, close } = await launch();
  const problems = [];
  try {
    for (const [width, height, minText] of [[390, 844, 150], [1280, 800, 400]]) {
      const page = await context.newPage();
      page.on('pageerror', (err) => problems.push(`${width}: uncaught ${err.message}`));
      await page.setViewportSize({ width, height });
      await page.goto(process.env.URL);
      await fits(page, `${width} px, login`);
      await page.screenshot({ path: artifact(`demo-login-${width}.png`) });

      await page.fill('#name', `dana${width}`);
      await page.fill('#room', 'a-room-with-a-rather-long-name');
      await page.click('#join');
      await page.waitForSelector('#status[data-state="online"]', WAIT);
      await page.waitForSelector(`#presence li[data-user="dana${width}"]`, WAIT);
      await page.fill('#text', 'a-word-without-spaces-that-is-longer-than-a-phone-screen-is-wide-'.repeat(2));
      await page.click('#send');
      await page.waitForSelector('#messages li.msg.room', WAIT);
      await page.fill('#text', 'typing');

      // The message box has room to write in; it, the recipient and the
      // send button are on the screen, the composer without scrolling.
      const text = await box(page, '#text');
      check(text.width >= minText, `${width} px: the message box is ${text.width} px wide, want at least ${minText}`);
      for (const sel of ['#target', '#text', '#send', '#leave', '#room-title', `#presence li[data-user="dana${width}"]`]) {
        const b = await box(page, sel);
        check(b.left >= 0 && b.right <= width && b.top >= 0 && b.bottom <= height,
          `${width} px: ${sel} is off the screen: ${JSON.stringify(b)}`);
      }
      await fits(page, `${width} px, chat`);
      await page.screenshot({ path: artifact(`demo-chat-${width}.png`) });

      // The longest status the top bar shows still fits beside the name.
      await page.$eval('#status', (el) => { el.dataset.state = 'reconnecting'; el.textContent = 'reconnecting in 19.9 s'; });
      await fits(page, `${width} px, reconnecting`);
      const status = await box(page, '#status');
      check(status.right <= width, `${width} px: the status runs off the screen: ${JSON.stringify(status)}`);
      await page.screenshot({ path: artifact(`demo-reconnecting-${width}.png`) });

      // The favicon the page names is there, as an image.
      const icon = await page.$eval('link[rel="icon"]', (l) => l.href);
      const res = await page.request.get(icon);
      check(res.ok() && /^image\/svg\+xml/.test(res.headers()['content-type']),
        `favicon ${icon}: ${res.status()} ${res.headers()['content-type']}`);
      await page.close();
    }
    check(problems.length === 0, `page problems:\n${problems.join('\n')}`);
  } finally {
    await close();
  }
})().catch((err) => { console.error(err); process.exit(1); });
