// The admin console end to end: login, live counts, channels, presence,
// publish, history, log level, screenshot, disconnect, sign-out. The Go test connects clients when
// asked through CONTROL_URL and checks the publish reached a subscriber.
'use strict';
const { launch, artifact, check } = require(process.env.BROWSERTEST);

const ADMIN = process.env.ADMIN_URL;
const T = { timeout: 15000 };

(async () => {
  const { context, close } = await launch();
  const problems = [];
  try {
    const page = await context.newPage();
    await page.setViewportSize({ width: 1400, height: 1000 });
    page.on('pageerror', (err) => problems.push('page error: ' + err.message));
    page.on('console', (msg) => { if (msg.type() === 'error') problems.push('console: ' + msg.text()); });

    // Not logged in: the dashboard sends the browser to the login page.
    await page.goto(ADMIN);
    check(page.url().endsWith('/admin/login'), 'expected the login page, got ' + page.url());

    // A wrong password is refused with a message.
    await page.fill('#password', 'not the password');
    await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
    await page.waitForSelector('.error:has-text("Wrong password")', T);
    await page.screenshot({ path: artifact('admin-login.png') });
    problems.length = 0; // the 401 of that page is logged as a console error

    await page.fill('#password', process.env.ADMIN_PASSWORD);
    await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
    check(new URL(page.url()).pathname === '/admin/', 'login did not reach the dashboard: ' + page.url());

    // The subscriber the Go test connected shows, then three more clients.
    await page.waitForFunction(() => document.querySelector('#total-connections').textContent === '1', null, T);
    await page.waitForSelector('#nodes tbody tr', T);
    const res = await fetch(process.env.CONTROL_URL + '/?n=3');
    check(res.ok, 'the Go test could not connect clients: ' + await res.text());
    await page.waitForFunction(() => document.querySelector('#total-connections').textContent === '4', null, T);
    await page.waitForFunction(() => document.querySelector('#nodes tbody tr td:nth-child(4)').textContent === '4', null, T);

    // The channel list shows the subscriber's channel; a search narrows it.
    await page.waitForSelector('#channels tbody button:has-text("chat:lobby")', T);
    await page.fill('#channel-filter', 'nomatch');
    await page.waitForSelector('#channels-summary:has-text("No active channel matches")', T);
    await page.fill('#channel-filter', 'lobby');
    await page.waitForSelector('#channels tbody button:has-text("chat:lobby")', T);

    // Presence: clicking the channel inspects it.
    await page.click('#channels tbody button:has-text("chat:lobby")');
    await page.waitForSelector('#inspect-result td:has-text("reader")', T);

    // Publish from the form.
    await page.fill('#pub-channel', 'chat:lobby');
    await page.fill('#pub-data', '{"text": "hello from the browser"}');
    await page.click('#pub-submit');
    await page.waitForSelector('#pub-status.ok:has-text("Published at offset 1")', T);

    // The message rates come from the nodes' counters.
    await page.waitForFunction(() => /delivered\/s$/.test(document.querySelector('#total-out').textContent), null, T);
    check((await page.textContent('#total-rate')) !== '–', 'no message rate shown');

    // Invalid JSON is caught before it is sent.
    await page.fill('#pub-data', '{not json');
    await page.click('#pub-submit');
    await page.waitForSelector('#pub-status.error:has-text("not valid JSON")', T);
    await page.fill('#pub-data', '{"text": "hello from the browser"}');

    // The history viewer shows what was published.
    await page.fill('#inspect-channel', 'chat:lobby');
    await page.click('#history-btn');
    await page.waitForSelector('#inspect-result td:has-text("hello from the browser")', T);

    // The log level selector changes the server's level.
    await page.waitForFunction(() => !document.querySelector('#log-level').disabled, null, T);
    const levelSet = page.waitForResponse((r) => r.url().endsWith('/admin/api/loglevel') && r.request().method() === 'POST', T);
    await page.selectOption('#log-level', 'DEBUG');
    check((await levelSet).ok(), 'setting the log level failed');

    // Let the charts gather a few samples before the picture.
    await page.waitForTimeout(3000);
    await page.screenshot({ path: artifact('admin.png'), fullPage: true });

    // Disconnect a user from the form (after confirming): the count drops.
    page.once('dialog', (d) => d.accept());
    await page.fill('#dc-user', 'viewer0');
    await page.click('#dc-submit');
    await page.waitForSelector('#dc-status.ok:has-text("Disconnected viewer0")', T);
    await page.waitForFunction(() => document.querySelector('#total-connections').textContent === '3', null, T);
    check(problems.length === 0, 'the page reported problems:\n' + problems.join('\n'));

    // Signing out ends the session: the dashboard sends back to the login.
    await Promise.all([page.waitForURL('**/admin/login', T), page.click('#logout')]);
    await page.goto(ADMIN);
    check(page.url().endsWith('/admin/login'), 'the session outlived the sign-out: ' + page.url());
  } finally {
    await close();
  }
})().catch((err) => { console.error(err); process.exit(1); });
