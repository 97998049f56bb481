// The harness's own check: open a page, click, read the result, screenshot.
'use strict';
const { launch, artifact, check } = require(process.env.BROWSERTEST);

(async () => {
  const { context, close } = await launch();
  try {
    const page = await context.newPage();
    await page.goto(process.env.URL);
    await page.click('#go');
    await page.waitForSelector('#out:has-text("clicked")', { timeout: 5000 });
    check((await page.textContent('#out')) === 'clicked', 'the click did not reach the page');
    await page.screenshot({ path: artifact('smoke.png') });
  } finally {
    await close();
  }
})().catch((err) => { console.error(err); process.exit(1); });
