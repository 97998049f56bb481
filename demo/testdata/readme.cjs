// The README's browser snippet in a page (the Go test builds the page):
// it must log WANT, the message it published, with no error on the page.
//
// Env: URL (the page), WANT (the console line to wait for).
'use strict';
const { launch, check } = require(process.env.BROWSERTEST);

(async () => {
  const { context, close } = await launch();
  try {
    const page = await context.newPage();
    const problems = [];
    const logged = [];
    page.on('pageerror', (err) => problems.push(`uncaught ${err.message}`));
    page.on('console', (msg) => {
      logged.push(msg.text());
      if (msg.type() === 'error') problems.push(msg.text());
    });
    const seen = page.waitForEvent('console', { predicate: (msg) => msg.text() === process.env.WANT, timeout: 20000 });
    await page.goto(process.env.URL);
    await seen.catch(() => check(false, `the snippet never logged "${process.env.WANT}"; it logged ${JSON.stringify(logged)}, problems ${JSON.stringify(problems)}`));
    check(problems.length === 0, `page problems:\n${problems.join('\n')}`);
  } finally {
    await close();
  }
})().catch((err) => { console.error(err); process.exit(1); });
