// The client follows conformance/closecodes.json, the machine-readable
// close-code table of PROTOCOL.md §18.1 that every SDK checks itself
// against: for each code (with and without a disconnect push), whether it
// reconnects, whether the count of the backoff goes on, whether it fetches
// a new token first, and whether it resubscribes with since.
import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Herald } from '../../dist/herald.js';
import { FakeServer, fast, record } from './fake.mjs';

const table = JSON.parse(readFileSync(new URL('../../../../conformance/closecodes.json', import.meta.url), 'utf8'));

const clients = [];
afterEach(() => clients.splice(0).forEach((h) => h.disconnect()));

/**
 * The cases: each listed code, with its push and without (a listed code is
 * decided by its row either way); each range's ends and middle, with the
 * push the server sends for it (as the range says) and without (then
 * unlisted); and codes the table does not list at all.
 */
function cases() {
  const out = [];
  for (const row of table.codes) {
    out.push({ code: row.code, push: true, want: row }, { code: row.code, push: false, want: row });
  }
  for (const range of table.ranges) {
    for (const code of [range.from, Math.floor((range.from + range.to) / 2), range.to]) {
      out.push({ code, push: true, want: range }, { code, push: false, want: table.unlisted });
    }
  }
  for (const code of [1005, 1008, 1011, 1012, 1013, 1014]) out.push({ code, push: false, want: table.unlisted });
  return out;
}

test('closecodes.json lists every code of the table, each with every column', () => {
  const codes = table.codes.map((r) => r.code);
  for (const code of [1000, 1001, 1002, 1003, 1006, 1007, 1009, 4000, 4001, 4002, 4003, 4004, 4005, 4006, 4500, 4501, 4502]) {
    assert.ok(codes.includes(code), `code ${code}`);
  }
  for (const row of [...table.codes, ...table.ranges, table.unlisted]) {
    for (const k of ['reconnect', 'backoff', 'refreshToken', 'resubscribeWithSince']) assert.equal(typeof row[k], 'boolean', `${JSON.stringify(row)}: ${k}`);
  }
});

for (const { code, push, want } of cases()) {
  test(`close ${code} ${push ? 'after a disconnect push' : 'without a push'}`, async () => {
    const s = new FakeServer();
    let tokens = 0;
    const h = new Herald('ws://fake/ws', { WebSocket: s.WebSocket, ...fast, getToken: () => `T${++tokens}` });
    clients.push(h);
    const log = record(h, 'disconnected', 'connecting');
    const done = h.newSubscription('chat:a').subscribe();
    h.connect();
    await (await s.socket(0)).accept({ subs: { 'chat:a': { offset: 5, epoch: 'e1' } } });
    await done;

    // Two connections in a row end with code soon after they began.
    for (let n = 1; n <= (want.reconnect ? 2 : 1); n++) {
      log.length = 0;
      const ws = s.sockets[n - 1];
      if (push) ws.deliver({ type: 'disconnect', code, reason: 'why', reconnect: want.reconnect });
      ws.onclose({ code, reason: 'why' });
      assert.deepEqual(log[0], ['disconnected', { code, reason: 'why', reconnect: want.reconnect }]);
      if (!want.reconnect) break;
      assert.equal(log[1][0], 'connecting');
      assert.equal(log[1][1].attempt, want.backoff ? n : 0, want.backoff ? 'the backoff count goes on' : 'the first backoff step');
      const c = await (await s.socket(n)).accept({ subs: { 'chat:a': { offset: 5, epoch: 'e1' } } });
      assert.equal(c.token, `T${want.refreshToken ? n + 1 : 1}`, want.refreshToken ? 'a new token' : 'the same token');
      assert.deepEqual(c.subs, want.resubscribeWithSince ? { 'chat:a': { since: { offset: 5, epoch: 'e1' } } } : { 'chat:a': {} });
    }
    if (!want.reconnect) assert.equal(h.state, 'disconnected', 'stopped: no reconnect is scheduled');
  });
}
