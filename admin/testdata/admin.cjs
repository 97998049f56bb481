// The admin console end to end: login, live counts, channels, presence,
// publish, history (refreshed by the next publish, a long one shown whole),
// log level, the page at 390 and 1280 px, disconnect, sign-out. The Go
// test connects clients when asked through CONTROL_URL, checks the publish
// reached a subscriber, and filled chat:history with HISTORY_LENGTH
// publications, the first from an anonymous connection.
'use strict';
const { launch, artifact, check } = require(process.env.BROWSERTEST);

const ADMIN = process.env.ADMIN_URL;
const HISTORY_LENGTH = Number(process.env.HISTORY_LENGTH);
const T = { timeout: 15000 };

// shownHistory reads the history viewer: how many publications its status
// line claims, how many rows the table has, and how many of those a box
// that scrolls or clips hides, so that the reader would not see them.
function shownHistory(page) {
  return page.evaluate(() => {
    const status = document.querySelector('#inspect-status').textContent;
    const m = /^Latest (\d+) publications? of/.exec(status);
    const rows = [...document.querySelectorAll('#inspect-result tbody tr')];
    let hidden = 0;
    for (const row of rows) {
      const r = row.getBoundingClientRect();
      for (let el = row.parentElement; el && el !== document.body; el = el.parentElement) {
        if (getComputedStyle(el).overflowY === 'visible') continue;
        const box = el.getBoundingClientRect();
        if (r.top < box.top - 1 || r.bottom > box.bottom + 1) { hidden++; break; }
      }
    }
    return { status, claimed: m ? Number(m[1]) : -1, rows: rows.length, hidden,
      from: rows.map((tr) => tr.children[2].textContent) };
  });
}

// fits fails when the page scrolls sideways.
async function fits(page, what) {
  const { scroll, width } = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, width: window.innerWidth }));
  check(scroll <= width, `${what}: the page is ${scroll} px wide on a ${width} px screen`);
}

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

    // The subscriber the Go test connected shows, then three more clients;
    // users are counted in words that agree with the number.
    await page.waitForFunction(() => document.querySelector('#total-connections').textContent === '1', null, T);
    await page.waitForSelector('#nodes tbody tr', T);
    check(await page.textContent('#users-sub') === '1 user', `one user shown as "${await page.textContent('#users-sub')}"`);
    const res = await fetch(process.env.CONTROL_URL + '/?n=3');
    check(res.ok, 'the Go test could not connect clients: ' + await res.text());
    await page.waitForFunction(() => document.querySelector('#total-connections').textContent === '4', null, T);
    await page.waitForFunction(() => document.querySelector('#users-sub').textContent === '4 users', null, T);
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
    await page.waitForSelector('#inspect-status:has-text("Latest 1 publication of chat:lobby")', T);

    // The next publish to that channel shows in the history on display,
    // without asking for it again.
    await page.fill('#pub-data', '{"text": "again from the browser"}');
    await page.click('#pub-submit');
    await page.waitForSelector('#pub-status.ok:has-text("Published at offset 2")', T);
    const refreshed = await page.waitForSelector('#inspect-result td:has-text("again from the browser")', T).then(() => true, () => false);
    check(refreshed, 'the history on display did not show the publish: ' + await page.textContent('#inspect-status'));
    await page.waitForSelector('#inspect-status:has-text("Latest 2 publications of chat:lobby")', T);

    // A history longer than a screen is shown whole: every row the status
    // line counts, none hidden in a box that scrolls, each with who
    // published it.
    await page.fill('#inspect-channel', 'chat:history');
    await page.click('#history-btn');
    await page.waitForSelector(`#inspect-status:has-text("of chat:history")`, T);
    const long = await shownHistory(page);
    check(long.claimed === HISTORY_LENGTH && long.rows === HISTORY_LENGTH,
      `history: the status says "${long.status}", the table has ${long.rows} rows, want ${HISTORY_LENGTH}`);
    check(long.hidden === 0, `history: ${long.hidden} of ${long.rows} rows hidden in a scrolling box`);
    check(long.from[long.from.length - 1] === '(anonymous)', `the anonymous publication shown as from ${long.from[long.from.length - 1]}`);
    check(long.from.slice(0, -1).every((f) => f === '(server)'), `the server API's publications shown as from ${[...new Set(long.from)]}`);

    // The log level selector changes the server's level.
    await page.waitForFunction(() => !document.querySelector('#log-level').disabled, null, T);
    const levelSet = page.waitForResponse((r) => r.url().endsWith('/admin/api/loglevel') && r.request().method() === 'POST', T);
    await page.selectOption('#log-level', 'DEBUG');
    check((await levelSet).ok(), 'setting the log level failed');

    // Let the charts gather a few samples before the picture.
    await page.waitForTimeout(3000);
    await page.screenshot({ path: artifact('admin.png'), fullPage: true });

    // A phone's width and a laptop's: nothing wider than the screen, the
    // long history still whole.
    for (const [width, height] of [[390, 844], [1280, 800]]) {
      await page.setViewportSize({ width, height });
      await fits(page, `${width} px`);
      const h = await shownHistory(page);
      check(h.rows === HISTORY_LENGTH && h.hidden === 0, `${width} px: ${h.hidden} of ${h.rows} history rows hidden`);
      await page.screenshot({ path: artifact(`admin-${width}.png`), fullPage: true });
    }
    await page.setViewportSize({ width: 1400, height: 1000 });

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
