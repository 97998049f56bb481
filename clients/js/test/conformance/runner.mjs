// Runs conformance vectors (conformance/README.md) against a Herald server
// over raw WebSockets, with this SDK's codecs: each `send` is encoded by
// the codec of the encoding under test, and each frame the server sends is
// decoded by it, so a vector passing on an encoding means the SDK's codec
// and the server agree on it.
import WebSocket from 'ws';
import { json } from '../../dist/herald.js';
import { protobuf } from '../../dist/protobuf.js';
import { jwt } from '../integration/herald.mjs';
import { match, substitute } from './match.mjs';

/** The codecs by the names vectors list in `encodings`. */
export const codecs = { json, protobuf };

/** How long an `expect` or `expectClose` waits, unless the server says. */
const defaultWaitMs = 5000;

/**
 * A vector failed: names the vector, the encoding, the step (0-based index
 * into `steps`) and what went wrong.
 */
export class VectorFailure extends Error {}

/**
 * runVector runs one vector on one encoding against the server at
 * server.url (WebSocket) and server.http (API), whose token secret and API
 * key are server.secret and server.apiKey; an `expect` waits server.waitMs
 * (5 s when absent) for its message. It resolves when every step
 * passed and rejects with a VectorFailure at the first that did not.
 */
export async function runVector(name, vector, encoding, server) {
  const codec = codecs[encoding];
  if (!codec) throw new Error(`${name}: unknown encoding ${encoding}`);
  const run = new Run(vector, codec, server);
  try {
    for (let i = 0; i < vector.steps.length; i++) {
      try {
        await run.step(vector.steps[i]);
      } catch (e) {
        const step = JSON.stringify(vector.steps[i]);
        throw new VectorFailure(`${name} [${encoding}] step ${i} ${step.length > 200 ? step.slice(0, 200) + '…' : step}: ${e.message}`, { cause: e });
      }
    }
  } finally {
    run.close();
  }
}

/** One vector's run: its clients, and the variables its patterns captured. */
class Run {
  constructor(vector, codec, server) {
    this.vector = vector;
    this.codec = codec;
    this.server = server;
    this.vars = new Map();
    this.conns = new Map();
    this.tokens = (kind, spec) => mintToken(server.secret, kind, spec);
    this.waitMs = server.waitMs ?? defaultWaitMs;
  }

  async step(s) {
    if ('api' in s) return this.api(s);
    if (!this.vector.clients.includes(s.client)) throw new Error(`client ${JSON.stringify(s.client)} is not in the vector's clients`);
    const kinds = ['send', 'sendRaw', 'sendBatch', 'expect', 'expectNone', 'expectClose', 'close', 'connect'].filter((k) => k in s);
    if (kinds.length !== 1) throw new Error(`a step needs exactly one action, has ${kinds.join(', ') || 'none'}`);
    const kind = kinds[0];
    if (kind === 'connect') {
      await this.conns.get(s.client)?.close(this.waitMs);
      this.conns.set(s.client, await Conn.open(this.server.url, this.codec));
      return;
    }
    let c = this.conns.get(s.client);
    if (!c) {
      c = await Conn.open(this.server.url, this.codec);
      this.conns.set(s.client, c);
    }
    switch (kind) {
      case 'send':
        return c.send(this.codec.encode([this.substitute(s.send)]));
      case 'sendBatch':
        return c.send(this.codec.encode(s.sendBatch.map((cmd) => this.substitute(cmd))));
      case 'sendRaw':
        if (this.codec !== json) throw new Error('sendRaw on a Protobuf connection: list only "json" in the encodings');
        return c.send(this.substitute(s.sendRaw));
      case 'expect':
        return this.expect(c, s.expect);
      case 'expectNone':
        return c.expectNone(s.expectNone.ms);
      case 'expectClose': {
        const code = await c.closed(this.waitMs);
        const before = c.queue.find((m) => !isPing(m));
        if (before) throw new Error(`got ${show(before)} before the close frame`);
        if (code !== s.expectClose) throw new Error(`closed with ${code}, want ${s.expectClose}`);
        return;
      }
      case 'close':
        return c.close(this.waitMs);
    }
  }

  async expect(c, pattern) {
    const pings = pattern && pattern.type === 'ping';
    const msg = await c.next(this.waitMs, pings);
    const m = match(pattern, msg, this.vars, { zeroAbsent: this.codec.binary });
    if (m) throw new Error(`${m} in ${JSON.stringify(msg)}`);
  }

  async api(s) {
    const res = await fetch(`${this.server.http}/api/${s.api}`, {
      method: 'POST',
      headers: { Authorization: `apikey ${this.server.apiKey}`, 'Content-Type': 'application/json' },
      body: JSON.stringify(this.substitute(s.params ?? {})),
    });
    const text = await res.text();
    const want = s.status ?? 200;
    if (res.status !== want) throw new Error(`HTTP status ${res.status}, want ${want}: ${text}`);
    if (s.expect === undefined) return;
    const m = match(s.expect, JSON.parse(text), this.vars);
    if (m) throw new Error(`${m} in ${text}`);
  }

  substitute(v) {
    return substitute(v, this.vars, this.tokens);
  }

  close() {
    for (const c of this.conns.values()) c.terminate();
  }
}

/**
 * A raw WebSocket speaking one encoding: the server messages decoded in
 * order (several per frame when the server batches), and the close code.
 */
class Conn {
  static async open(url, codec) {
    const ws = new WebSocket(url, [codec.subprotocol]);
    const c = new Conn(ws, codec);
    await new Promise((ok, fail) => {
      ws.once('open', ok);
      ws.once('unexpected-response', (_, res) => fail(new Error(`upgrade refused: HTTP ${res.statusCode}`)));
      ws.once('error', fail);
    });
    if (ws.protocol !== codec.subprotocol) throw new Error(`the server chose subprotocol ${JSON.stringify(ws.protocol)}`);
    return c;
  }

  constructor(ws, codec) {
    this.ws = ws;
    this.codec = codec;
    this.queue = [];
    this.code = undefined;
    this.wake = () => {};
    ws.on('message', (data, isBinary) => {
      try {
        const frame = isBinary ? new Uint8Array(data) : data.toString();
        for (const m of codec.decode(frame)) this.queue.push(codec.binary ? inboxRecovered(jsonForm(m)) : jsonForm(m));
      } catch (e) {
        this.queue.push(new Error(`undecodable frame: ${e.message}`));
      }
      this.wake();
    });
    ws.on('close', (code) => {
      this.code = code;
      this.wake();
    });
    ws.on('error', () => {}); // the close event follows and says what happened
  }

  /** Waits until cond() holds or ms pass; resolves to whether it holds. */
  async until(cond, ms) {
    const deadline = Date.now() + ms;
    while (!cond()) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await new Promise((r) => {
        const t = setTimeout(r, left);
        this.wake = () => {
          clearTimeout(t);
          r();
        };
      });
    }
    return true;
  }

  /** The next server message, skipping pings unless pings is true. */
  async next(ms, pings) {
    const take = () => {
      while (this.queue.length > 0 && !pings && isPing(this.queue[0])) this.queue.shift();
      return this.queue.length > 0;
    };
    if (!(await this.until(() => take() || this.code !== undefined, ms))) throw new Error(`no message within ${ms} ms`);
    if (this.queue.length === 0) throw new Error(`the connection closed with ${this.code} instead`);
    const m = this.queue.shift();
    if (m instanceof Error) throw m;
    return m;
  }

  /** Fails if a message other than a ping arrives within ms. */
  async expectNone(ms) {
    await this.until(() => this.queue.some((m) => !isPing(m)), ms);
    const m = this.queue.find((m) => !isPing(m));
    if (m) throw new Error(`got ${show(m)}, want no message for ${ms} ms`);
  }

  /** The close code, once the server closed the connection. */
  async closed(ms) {
    if (!(await this.until(() => this.code !== undefined, ms))) throw new Error(`still open after ${ms} ms`);
    return this.code;
  }

  send(frame) {
    if (this.code !== undefined) throw new Error(`cannot send: the connection closed with ${this.code}`);
    this.ws.send(frame);
  }

  /** Closes normally (1000), unless closed already, and waits for the server's answering close frame. */
  async close(ms) {
    if (this.code === undefined) this.ws.close(1000);
    await this.closed(ms);
  }

  terminate() {
    if (this.code === undefined) this.ws.terminate();
  }
}

function show(m) {
  return m instanceof Error ? m.message : JSON.stringify(m);
}

function isPing(m) {
  return !(m instanceof Error) && (m.type === 'ping' || Object.keys(m).length === 0);
}

/**
 * jsonForm turns a decoded message back into the JSON encoding's form:
 * both codecs hand bytes that are not JSON to the application as a
 * Uint8Array under `data`, where the JSON encoding sends them as `b64`
 * (PROTOCOL.md §5.1).
 */
export function jsonForm(v) {
  if (Array.isArray(v)) return v.map(jsonForm);
  if (v === null || typeof v !== 'object') return v;
  const out = {};
  for (const [k, x] of Object.entries(v)) {
    if (x instanceof Uint8Array) out[k === 'data' ? 'b64' : k] = Buffer.from(x).toString('base64');
    else out[k] = jsonForm(x);
  }
  return out;
}

/**
 * inboxRecovered gives a Protobuf connect result's inbox the `recovered`
 * the JSON encoding always sends (PROTOCOL.md §7.2): unlike a subscribe
 * result's, InboxResult's `recovered` is a plain proto3 bool, so false is
 * absent on the wire, and the matcher reads an absent `recovered` as "no
 * since was sent" (§5.3).
 */
function inboxRecovered(m) {
  const inbox = m.result?.inbox;
  if (inbox && typeof inbox === 'object' && !('recovered' in inbox)) inbox.recovered = false;
  return m;
}

/**
 * mintToken answers `{{token:USER[,exp=N|none]}}` (a connection token) and
 * `{{chantoken:USER,CHANNEL[,exp=N|none]}}` (a channel token): HS256 JWTs
 * signed with secret, with the claims conformance/README.md lists: `sub`,
 * `channel` for a channel token, and `exp` an hour from now, or N seconds
 * from now (negative: expired), or none.
 */
export function mintToken(secret, kind, spec) {
  const [user, ...rest] = spec.split(',');
  const claims = { sub: user };
  if (kind === 'chantoken') {
    claims.channel = rest.shift();
    if (!claims.channel) throw new Error(`{{chantoken:${spec}}} names no channel`);
  }
  let exp = 3600;
  for (const opt of rest) {
    const m = /^exp=(none|-?\d+)$/.exec(opt);
    if (!m) throw new Error(`token option ${JSON.stringify(opt)}: only exp=N or exp=none`);
    exp = m[1] === 'none' ? null : Number(m[1]);
  }
  if (exp !== null) claims.exp = Math.floor(Date.now() / 1000) + exp;
  return jwt(secret, claims);
}
