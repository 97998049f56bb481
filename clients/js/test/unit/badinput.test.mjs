// A fake server on a real socket sends malformed frames: the client reports
// them, drops the connection and reconnects, and never throws into the
// application.
import { after, afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocketServer, WebSocket } from 'ws';
import { Herald } from '../../dist/herald.js';
import { protobuf } from '../../dist/protobuf.js';
import { until } from './fake.mjs';

const servers = [];
const clients = [];
after(() => servers.forEach((s) => s.close()));
afterEach(() => clients.splice(0).forEach((h) => h.disconnect()));

function client(url, opts = {}) {
  const h = new Herald(url, { WebSocket, minReconnectDelay: 1, maxReconnectDelay: 5, inboxStore: null, transports: ['websocket'], ...opts });
  clients.push(h);
  return h;
}

/**
 * A server that answers connect, then sends the frame script(n) gives for
 * its n-th connection (undefined: a well-behaved connection).
 */
async function fakeServer(script, { binary = false } = {}) {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', handleProtocols: (p) => [...p][0] });
  servers.push(wss);
  let n = 0;
  wss.on('connection', (ws) => {
    const i = n++;
    ws.once('message', (data) => {
      const frame = script(i);
      if (binary) {
        ws.send(Buffer.from(frame === undefined ? [] : frame));
        return;
      }
      const id = JSON.parse(String(data)).id;
      ws.send(JSON.stringify({ id, result: { client: `c${i}`, user: '', ping: 25 } }));
      if (frame !== undefined) ws.send(frame, { binary: frame instanceof Uint8Array });
    });
  });
  await new Promise((r) => wss.on('listening', r));
  return `ws://127.0.0.1:${wss.address().port}/ws`;
}

const malformed = [
  ['not JSON', 'hello'],
  ['a JSON array', '[1,2]'],
  ['JSON null', 'null'],
  ['a truncated object', '{"type":"message","chan'],
  ['a binary frame on JSON', new Uint8Array([1, 2, 3])],
  ['fields of the wrong type', '{"type":"message","channel":{"x":1},"offset":"seven","data":1}\n{"id":"x","result":5}'],
  ['a direct push with a bogus sender', '{"type":"direct","from":7,"offset":null,"data":{}}'],
  ['a reply to no command', '{"id":99999,"result":{}}'],
  ['an unknown push', '{"type":"surprise","channel":"chat:a"}'],
];

for (const [what, frame] of malformed) {
  test(`malformed input is contained: ${what}`, async () => {
    const url = await fakeServer((i) => (i === 0 ? frame : undefined));
    const h = client(url);
    const errors = [];
    h.on('error', (e) => errors.push(e));
    const connects = [];
    h.on('connected', (e) => connects.push(e.client));
    h.connect();
    // Either the frame is harmless (ignored), or the client drops the
    // connection, reports it and comes back on the next one.
    await until(() => connects.length >= 1, 'connected');
    await new Promise((r) => setTimeout(r, 20));
    if (errors.length > 0) {
      await until(() => connects.includes('c1'), 'a new connection');
      assert.ok(errors.every((e) => e instanceof Error));
    }
    assert.equal(h.state, 'connected');
    h.disconnect();
  });
}

test('malformed Protobuf frames are contained too', async () => {
  // A length prefix past the end, a bad wire type, and an empty message.
  const frames = [[5, 1, 2], [2, 0x0f, 0], [0]];
  const url = await fakeServer((i) => frames[i], { binary: true });
  const h = client(url, { codec: protobuf });
  const errors = [];
  h.on('error', (e) => errors.push(e));
  h.connect();
  await until(() => errors.length >= 3, 'three reported frames');
  assert.equal(h.state, 'connecting');
  h.disconnect();
});

test('close frames of the WebSocket layer (1002, 1003, 1007) stop the client', async () => {
  for (const code of [1002, 1003, 1007]) {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    servers.push(wss);
    wss.on('connection', (ws) => ws.once('message', () => ws.close(code, 'protocol')));
    await new Promise((r) => wss.on('listening', r));
    const h = client(`ws://127.0.0.1:${wss.address().port}/ws`);
    const ended = new Promise((r) => h.on('disconnected', r));
    h.connect();
    assert.deepEqual(await ended, { code, reason: 'protocol', reconnect: false });
    assert.equal(h.state, 'disconnected');
  }
});

test('disconnect() during the WebSocket handshake throws nothing', async () => {
  // A server that accepts TCP connections and never answers the handshake.
  const { createServer } = await import('node:net');
  const sockets = [];
  const tcp = createServer((s) => sockets.push(s));
  await new Promise((r) => tcp.listen(0, '127.0.0.1', r));
  try {
    const h = client(`ws://127.0.0.1:${tcp.address().port}/ws`);
    h.connect();
    await until(() => sockets.length === 1, 'the TCP connection');
    h.disconnect();
    assert.equal(h.state, 'disconnected');
    // Let the aborted handshake report itself, as it would have.
    await new Promise((r) => setImmediate(r));
  } finally {
    sockets.forEach((s) => s.destroy());
    await new Promise((r) => tcp.close(r));
  }
});
