// The conformance runner's own parts, without a Herald server: the pattern
// matcher (so that a broken matcher cannot pass the vectors vacuously), the
// placeholders substituted into what a vector sends, the tokens it mints,
// and how a failing vector is reported.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { WebSocketServer } from 'ws';
import { match, substitute } from '../conformance/match.mjs';
import { jsonForm, mintToken, runVector, VectorFailure } from '../conformance/runner.mjs';

/** match, returning the mismatch as text ('' for a match). */
function check(pattern, actual, vars = new Map(), opts) {
  const m = match(pattern, actual, vars, opts);
  return m ? String(m) : '';
}

test('objects: named keys must match, other keys are allowed', () => {
  assert.equal(check({ id: 1, result: { offset: 2 } }, { id: 1, result: { offset: 2, epoch: 'e' }, extra: true }), '');
  assert.equal(check({ id: 1, result: { offset: 2 } }, { id: 1, result: { offset: 3 } }), 'at $.result.offset: expected 2, got 3');
  assert.equal(check({ id: 1, error: { code: 103 } }, { id: 1, result: {} }), 'at $.error: expected {"code":103}, got (absent) (missing)');
  assert.equal(check({ result: { subs: { 'chat:a': { offset: 1 } } } }, { result: { subs: { 'chat:a': {} } } }),
    'at $.result.subs["chat:a"].offset: expected 1, got (absent) (missing)');
  assert.match(check({ result: {} }, { result: [] }), /not an object/);
  assert.match(check({ result: {} }, { result: null }), /not an object/);
  assert.equal(check({}, { anything: 1 }), '');
});

test('scalars: equal by value and type', () => {
  assert.equal(check(1, 1.0), '');
  assert.equal(check({ n: 1 }, { n: '1' }), 'at $.n: expected 1, got "1"');
  assert.equal(check({ s: '1' }, { s: 1 }), 'at $.s: expected "1", got 1');
  assert.equal(check({ b: false }, { b: 0 }), 'at $.b: expected false, got 0');
  assert.equal(check({ v: null }, { v: null }), '');
  assert.equal(check({ v: null }, { v: {} }), 'at $.v: expected null, got {}');
  assert.equal(check('hi', 'hi'), '');
});

test('arrays: same length, element by element', () => {
  assert.equal(check([{ offset: 1 }, { offset: 2 }], [{ offset: 1, ts: 5 }, { offset: 2 }]), '');
  assert.equal(check({ p: [{ offset: 1 }, { offset: 2 }] }, { p: [{ offset: 1 }, { offset: 3 }] }), 'at $.p[1].offset: expected 2, got 3');
  assert.match(check({ p: [1, 2] }, { p: [1, 2, 3] }), /^at \$\.p: .*3 elements, want 2/);
  assert.match(check({ p: [1] }, { p: [] }), /0 elements, want 1/);
  assert.match(check({ p: [] }, { p: {} }), /not an array/);
  assert.equal(check({ p: [] }, { p: [] }), '');
});

test('type placeholders', () => {
  const ok = { any: [0, '', null, {}, []], string: ['', 'x'], number: [0, 1.5], bool: [false, true], object: [{}, { a: 1 }], array: [[], [1]] };
  const bad = { string: [1, null, {}], number: ['1', null, true], bool: [0, 'true', null], object: [[], null, 'x'], array: [{}, null, '[]'] };
  for (const [kind, values] of Object.entries(ok)) {
    for (const v of values) assert.equal(check({ f: `{{${kind}}}` }, { f: v }), '', `${kind} ${JSON.stringify(v)}`);
    assert.match(check({ f: `{{${kind}}}` }, {}), /missing/, `${kind} absent`);
  }
  for (const [kind, values] of Object.entries(bad)) {
    for (const v of values) assert.match(check({ f: `{{${kind}}}` }, { f: v }), new RegExp(`not a ${kind}`), `${kind} ${JSON.stringify(v)}`);
  }
  assert.throws(() => check({ f: '{{strng}}' }, { f: 'x' }), /unknown placeholder \{\{strng\}\}/);
  assert.throws(() => check({ f: '{{absent:x}}' }, { f: 'x' }), /unknown placeholder/);
});

test('captures and references', () => {
  const vars = new Map();
  assert.equal(check({ result: { client: '{{string:me}}', epoch: '{{any:ep}}' } }, { result: { client: 'c1', epoch: 'e1' } }, vars), '');
  assert.deepEqual([...vars], [['me', 'c1'], ['ep', 'e1']]);
  assert.equal(check({ info: { client: '{{=me}}' } }, { info: { client: 'c1' } }, vars), '');
  assert.equal(check({ info: { client: '{{=me}}' } }, { info: { client: 'c2' } }, vars), 'at $.info.client: expected "c1", got "c2" (the value of {{=me}})');
  // A second capture under the same name compares instead of overwriting.
  assert.match(check({ client: '{{string:me}}' }, { client: 'c3' }, vars), /expected "c1", got "c3" \(me was captured as another value\)/);
  assert.equal(vars.get('me'), 'c1');
  // A failed type check captures nothing.
  assert.match(check({ n: '{{number:n}}' }, { n: 'x' }, vars), /not a number/);
  assert.equal(vars.has('n'), false);
  // References keep the captured value's type; objects compare deeply.
  vars.set('off', 7);
  assert.equal(check({ offset: '{{=off}}' }, { offset: 7 }, vars), '');
  assert.match(check({ offset: '{{=off}}' }, { offset: '7' }, vars), /expected 7, got "7"/);
  assert.equal(check({ o: '{{object:o}}' }, { o: { a: 1, b: [2] } }, vars), '');
  assert.equal(check({ o: '{{=o}}' }, { o: { b: [2], a: 1 } }, vars), '');
  assert.match(check({ o: '{{=o}}' }, { o: { b: [2], a: 1, c: 3 } }, vars), /the value of \{\{=o\}\}/);
  // A placeholder is a whole string: inside a longer one it is a literal.
  assert.match(check({ reason: 'client {{=me}} left' }, { reason: 'client c1 left' }, vars), /expected "client \{\{=me\}\} left"/);
  // A reference as a key stands for the captured string (a presence result's client id).
  assert.equal(check({ clients: { '{{=me}}': { user: 'alice' } } }, { clients: { c1: { user: 'alice' }, c9: {} } }, vars), '');
  assert.equal(check({ clients: { '{{=me}}': { user: 'alice' } } }, { clients: { c2: { user: 'alice' } } }, vars),
    'at $.clients.c1: expected {"user":"alice"}, got (absent) (missing)');
  assert.throws(() => check({ '{{=off}}': 1 }, {}, vars), /key \{\{=off\}\} names no captured string/);
  assert.throws(() => check({ f: '{{=nobody}}' }, { f: 1 }, vars), /\$\.f: \{\{=nobody\}\} names a variable nothing captured/);
});

test('{{absent}}: absent, or empty per PROTOCOL.md §5.3', () => {
  for (const actual of [{}, { info: null }, { info: {} }, { offset: 0 }, { epoch: '' }, { more: false }, { p: [] }]) {
    const key = Object.keys(actual)[0] ?? 'info';
    assert.equal(check({ [key]: '{{absent}}' }, actual), '', JSON.stringify(actual));
  }
  assert.match(check({ info: '{{absent}}' }, { info: { user: 'a' } }), /at \$\.info: .*want absent or empty/);
  assert.match(check({ offset: '{{absent}}' }, { offset: 3 }), /want absent or empty/);
});

test('zeroAbsent (Protobuf): an absent key reads as its zero value, except where absence means something', () => {
  const pb = { zeroAbsent: true };
  for (const want of [0, '', false, [], {}, '{{number}}', '{{string}}', '{{bool}}', '{{object}}']) {
    assert.equal(check({ f: want }, {}, new Map(), pb), '', JSON.stringify(want));
    assert.match(check({ f: want }, {}), /missing/, `${JSON.stringify(want)} on JSON`);
  }
  for (const want of [1, 'x', true, [1], { a: 1 }, '{{any}}']) {
    assert.match(check({ f: want }, {}, new Map(), pb), /missing|expected/, JSON.stringify(want));
  }
  const vars = new Map();
  assert.equal(check({ result: { offset: '{{number:off}}', epoch: '{{string:ep}}' } }, { result: {} }, vars, pb), '');
  assert.deepEqual([...vars], [['off', 0], ['ep', '']]);
  assert.equal(check({ epoch: '{{=ep}}' }, {}, vars, pb), '');
  vars.set('e2', 'x');
  assert.match(check({ epoch: '{{=e2}}' }, {}, vars, pb), /missing/);
  // recovered: false (no since sent) differs from absent; so do expires, inbox and info.
  assert.match(check({ result: { recovered: false } }, { result: {} }, new Map(), pb), /\$\.result\.recovered.*missing/);
  assert.match(check({ info: {} }, {}, new Map(), pb), /missing/);
});

test('substitute: tokens and captured values go into what a vector sends', () => {
  const vars = new Map([['ep', 'e1'], ['off', 3]]);
  const tokens = (kind, spec) => `${kind}(${spec})`;
  const cmd = { id: 2, type: 'subscribe', channel: 'chat:{{=ep}}', since: { offset: '{{=off}}', epoch: '{{=ep}}' }, token: '{{chantoken:alice,secret:x}}', list: ['{{token:bob,exp=-60}}'], subs: { '{{=ep}}': {} } };
  assert.deepEqual(substitute(cmd, vars, tokens), {
    id: 2, type: 'subscribe', channel: 'chat:{{=ep}}', since: { offset: 3, epoch: 'e1' }, token: 'chantoken(alice,secret:x)', list: ['token(bob,exp=-60)'], subs: { e1: {} },
  });
  assert.throws(() => substitute({ a: '{{=nope}}' }, vars, tokens), /\$\.a: \{\{=nope\}\} names a variable nothing captured/);
  assert.throws(() => substitute({ a: '{{string}}' }, vars, tokens), /can only be matched/);
});

test('mintToken: HS256 with the claims the README names', () => {
  const decode = (t) => {
    const [h, p, sig] = t.split('.');
    assert.equal(createHmac('sha256', 's3cret').update(`${h}.${p}`).digest('base64url'), sig);
    assert.deepEqual(JSON.parse(Buffer.from(h, 'base64url')), { alg: 'HS256', typ: 'JWT' });
    return JSON.parse(Buffer.from(p, 'base64url'));
  };
  const now = Math.floor(Date.now() / 1000);
  const a = decode(mintToken('s3cret', 'token', 'alice'));
  assert.deepEqual(Object.keys(a), ['sub', 'exp']);
  assert.equal(a.sub, 'alice');
  assert.ok(Math.abs(a.exp - (now + 3600)) <= 2);
  const expired = decode(mintToken('s3cret', 'token', 'bob,exp=-60'));
  assert.ok(Math.abs(expired.exp - (now - 60)) <= 2);
  assert.deepEqual(decode(mintToken('s3cret', 'token', 'dan,exp=none')), { sub: 'dan' });
  const ch = decode(mintToken('s3cret', 'chantoken', 'carol,secret:room,exp=30'));
  assert.deepEqual([ch.sub, ch.channel], ['carol', 'secret:room']);
  assert.ok(Math.abs(ch.exp - (now + 30)) <= 2);
  assert.throws(() => mintToken('s3cret', 'chantoken', 'carol'), /names no channel/);
  assert.throws(() => mintToken('s3cret', 'token', 'carol,oops'), /only exp=N or exp=none/);
});

test('jsonForm: bytes that are not JSON become b64, as the JSON encoding sends them', () => {
  assert.deepEqual(jsonForm({ type: 'message', data: new Uint8Array([0, 1, 2]), info: { user: 'a' } }), { type: 'message', b64: 'AAEC', info: { user: 'a' } });
  assert.deepEqual(jsonForm({ result: { publications: [{ offset: 1, data: { a: [1] } }, { offset: 2, data: new Uint8Array([255]) }] } }),
    { result: { publications: [{ offset: 1, data: { a: [1] } }, { offset: 2, b64: '/w==' }] } });
});

test('a failing vector names itself, the encoding, the step and the path', async (t) => {
  // A server that answers every connect with the wrong user, and any
  // other command with a disconnect push and close 4501.
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', handleProtocols: (p) => [...p][0] });
  after(() => wss.close());
  wss.on('connection', (ws) => ws.on('message', (data) => {
    const cmd = JSON.parse(data.toString());
    if (cmd.type !== 'connect') {
      ws.send(JSON.stringify({ type: 'disconnect', code: 4501, reason: 'bye', reconnect: false }));
      ws.close(4501, 'bye');
      return;
    }
    ws.send(JSON.stringify({ type: 'ping' }) + '\n' + JSON.stringify({ id: cmd.id, result: { client: 'c1', user: 'mallory' } }));
  }));
  await new Promise((r) => wss.once('listening', r));
  // Messages that come get 5 s (a loaded machine); the close that never
  // comes is waited for 200 ms only.
  const server = { url: `ws://127.0.0.1:${wss.address().port}/ws`, http: 'http://127.0.0.1:1', secret: 's', apiKey: 'k', waitMs: 5000 };
  const impatient = { ...server, waitMs: 200 };
  const vector = (expect) => ({
    encodings: ['json'], clients: ['a'],
    steps: [{ client: 'a', send: { id: 1, type: 'connect', token: '{{token:alice}}' } }, { client: 'a', expect }],
  });
  await runVector('ok.json', vector({ id: 1, result: { client: '{{string}}', user: 'mallory' } }), 'json', server);
  await assert.rejects(runVector('bad.json', vector({ id: 1, result: { user: 'alice' } }), 'json', server), (e) => {
    assert.ok(e instanceof VectorFailure);
    assert.match(e.message, /^bad\.json \[json\] step 1 .*: at \$\.result\.user: expected "alice", got "mallory"/);
    return true;
  });
  const connect = vector({}).steps[0];
  const bye = { client: 'a', send: { type: 'bye' } };
  await assert.rejects(runVector('open.json', { ...vector({}), steps: [connect, { client: 'a', expectClose: 4501 }] }, 'json', impatient),
    /open\.json \[json\] step 1 .*still open after 200 ms/);
  await runVector('closed.json', { ...vector({}), steps: [bye, { client: 'a', expect: { type: 'disconnect', code: 4501 } }, { client: 'a', expectClose: 4501 }] }, 'json', server);
  await assert.rejects(runVector('code.json', { ...vector({}), steps: [bye, { client: 'a', expect: { type: 'disconnect' } }, { client: 'a', expectClose: 4500 }] }, 'json', server),
    /code\.json \[json\] step 2 .*closed with 4501, want 4500/);
  await assert.rejects(runVector('unread.json', { ...vector({}), steps: [bye, { client: 'a', expectClose: 4501 }] }, 'json', server),
    /unread\.json \[json\] step 1 .*got \{"type":"disconnect".* before the close frame/);
  await assert.rejects(runVector('who.json', { ...vector({}), steps: [{ client: 'b', close: true }] }, 'json', server), /step 0 .*client "b" is not in/);
});
