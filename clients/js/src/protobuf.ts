/**
 * The Protobuf encoding (`herald.v1.proto`, schema protocol/pb/herald.proto),
 * as an optional codec kept out of the main bundle:
 *
 * ```js
 * import { Herald } from '@heraldhq/client';
 * import { protobuf } from '@heraldhq/client/protobuf';
 * const herald = new Herald(url, { codec: protobuf });
 * ```
 *
 * With it, `publish` and `send` also take a Uint8Array, sent as it is.
 * Received `data` that is valid UTF-8 JSON is parsed, as the JSON encoding
 * would deliver it; other bytes arrive as a Uint8Array.
 *
 * @packageDocumentation
 */
import type { Codec } from './codec.js';
import type { Command, ServerMessage } from './types.js';

// A schema maps field numbers to [name, kind, sub-schema]. Kinds: u varint
// (uint32, uint64, int64), b bool, s string, y bytes (data), m message,
// R repeated message, M map<string, message>.
type Field = [string, string, Schema?];
interface Schema {
  [n: number]: Field;
}

const pos: Schema = { 1: ['offset', 'u'], 2: ['epoch', 's'] };
const clientInfo: Schema = { 1: ['user', 's'], 2: ['client', 's'] };
const pub: Schema = { 1: ['offset', 'u'], 2: ['data', 'y'], 3: ['info', 'm', clientInfo], 4: ['ts', 'u'] };
const error: Schema = { 1: ['code', 'u'], 2: ['message', 's'], 3: ['temporary', 'b'] };
const subscribeResult: Schema = {
  1: ['offset', 'u'], 2: ['epoch', 's'], 3: ['recovered', 'b'], 4: ['publications', 'R', pub], 5: ['error', 'm', error],
  6: ['more', 'b'],
};
const inboxResult: Schema = {
  1: ['offset', 'u'], 2: ['epoch', 's'], 3: ['recovered', 'b'], 4: ['publications', 'R', pub], 5: ['more', 'b'],
};
const connectResult: Schema = {
  1: ['client', 's'], 2: ['user', 's'], 3: ['ping', 'u'], 4: ['expires', 'u'], 5: ['subs', 'M', subscribeResult],
  6: ['inbox', 'm', inboxResult], 7: ['session', 's'],
};
const presenceResult: Schema = { 1: ['clients', 'M', { 1: ['user', 's'], 2: ['info', 'y'] }] };
const serverMessage: Schema = {
  1: ['type', 's'], 2: ['channel', 's'], 3: ['offset', 'u'], 4: ['data', 'y'], 5: ['info', 'm', clientInfo],
  6: ['ts', 'u'], 7: ['from', 'm', clientInfo], 8: ['epoch', 's'], 9: ['recovered', 'b'],
  10: ['publications', 'R', pub], 11: ['code', 'u'], 12: ['reason', 's'], 13: ['reconnect', 'b'],
  14: ['expires', 'u'], 15: ['id', 'u'], 16: ['error', 'm', error],
  17: ['result', 'm', connectResult], 18: ['result', 'm', subscribeResult], 19: ['result', 'm', {}],
  20: ['result', 'm', pos], 21: ['result', 'm', presenceResult], 22: ['result', 'm', { 1: ['clients', 'u'], 2: ['users', 'u'] }],
  23: ['result', 'm', { 1: ['publications', 'R', pub], 2: ['offset', 'u'], 3: ['epoch', 's'] }],
  24: ['result', 'm', pos], 25: ['result', 'm', { 1: ['expires', 'u'] }],
};
const since: Schema = { 1: ['since', 'm', pos] };
const command: Schema = {
  1: ['id', 'u'], 2: ['type', 's'], 3: ['channel', 's'], 4: ['data', 'y'], 5: ['token', 's'], 6: ['name', 's'],
  7: ['version', 's'], 8: ['subs', 'M', since], 9: ['inbox_since', 'm', pos], 10: ['since', 'm', pos],
  11: ['limit', 'u'], 12: ['reverse', 'b'], 13: ['user', 's'],
};

const utf8 = new TextEncoder();
const strict = new TextDecoder('utf-8', { fatal: true });

/** The Protobuf codec: pass it as the `codec` option. */
export const protobuf: Codec = {
  subprotocol: 'herald.v1.proto',
  binary: true,
  encode(commands: Command[]): Uint8Array {
    const w: number[] = [];
    for (const c of commands) {
      const body: number[] = [];
      write(body, c, command);
      varint(w, body.length);
      for (const b of body) w.push(b);
    }
    return Uint8Array.from(w);
  },
  decode(frame: unknown): ServerMessage[] {
    if (!(frame instanceof Uint8Array)) throw new Error('text frame on a Protobuf connection');
    const r = { b: frame, i: 0 };
    const out: ServerMessage[] = [];
    while (r.i < frame.length) {
      const m = readBytes(r);
      if (m.length === 0) throw new Error('empty message');
      out.push(read({ b: m, i: 0 }, serverMessage));
    }
    return out;
  },
};

function varint(w: number[], v: number): void {
  if (v < 0) {
    // An int64 below zero (a negative history limit, which the server
    // refuses with 107): ten bytes of two's complement, as Protobuf has it.
    let b = BigInt.asUintN(64, BigInt(Math.trunc(v)));
    for (; b > 127n; b >>= 7n) w.push(Number(b & 127n) | 128);
    w.push(Number(b));
    return;
  }
  while (v > 127) {
    w.push((v % 128) | 128);
    v = Math.floor(v / 128);
  }
  w.push(v);
}

function bytesField(w: number[], n: number, b: ArrayLike<number>): void {
  varint(w, n * 8 + 2);
  varint(w, b.length);
  for (let i = 0; i < b.length; i++) w.push(b[i]);
}

function write(w: number[], o: any, schema: Schema): void {
  for (const key in schema) {
    const n = +key;
    const [name, kind, sub] = schema[n];
    const v = o[name];
    if (v === undefined || v === null) continue;
    switch (kind) {
      case 'u':
        if (v === 0 && name !== 'limit') break; // limit is optional: 0 means "no publications"
        varint(w, n * 8);
        varint(w, v);
        break;
      case 'b':
        if (v) w.push(n * 8, 1);
        break;
      case 's':
        if (v !== '') bytesField(w, n, utf8.encode(v));
        break;
      case 'y':
        bytesField(w, n, v instanceof Uint8Array ? v : utf8.encode(JSON.stringify(v)));
        break;
      case 'm': {
        const body: number[] = [];
        write(body, v, sub!);
        bytesField(w, n, body);
        break;
      }
      case 'M':
        for (const k of Object.keys(v)) {
          const entry: number[] = [];
          bytesField(entry, 1, utf8.encode(k));
          const body: number[] = [];
          write(body, v[k], sub!);
          bytesField(entry, 2, body);
          bytesField(w, n, entry);
        }
    }
  }
}

interface Reader {
  b: Uint8Array;
  i: number;
}

function readVarint(r: Reader): number {
  let v = 0;
  let mul = 1;
  for (;;) {
    if (r.i >= r.b.length) throw new Error('truncated varint');
    const x = r.b[r.i++];
    v += (x & 127) * mul;
    if (x < 128) return v;
    mul *= 128;
    if (mul > 2 ** 63) throw new Error('varint too long');
  }
}

function readBytes(r: Reader): Uint8Array {
  const n = readVarint(r);
  if (r.i + n > r.b.length) throw new Error('length past the end of the message');
  const b = r.b.subarray(r.i, r.i + n);
  r.i += n;
  return b;
}

function read(r: Reader, schema: Schema): any {
  const o: any = {};
  while (r.i < r.b.length) {
    const tag = readVarint(r);
    const f = schema[Math.floor(tag / 8)];
    const wire = tag & 7;
    if (!f) {
      // An unknown field: skip it by its wire type.
      if (wire === 0) readVarint(r);
      else if (wire === 2) readBytes(r);
      else if (wire === 1 || wire === 5) r.i += wire === 1 ? 8 : 4;
      else throw new Error('bad wire type');
      continue;
    }
    const [name, kind, sub] = f;
    if (wire !== (kind === 'u' || kind === 'b' ? 0 : 2)) throw new Error('wrong wire type for ' + name);
    switch (kind) {
      case 'u':
        o[name] = readVarint(r);
        break;
      case 'b':
        o[name] = readVarint(r) !== 0;
        break;
      case 's':
        o[name] = strict.decode(readBytes(r));
        break;
      case 'y':
        o[name] = data(readBytes(r));
        break;
      case 'm':
        o[name] = read({ b: readBytes(r), i: 0 }, sub!);
        break;
      case 'R':
        (o[name] ||= []).push(read({ b: readBytes(r), i: 0 }, sub!));
        break;
      case 'M': {
        const e = read({ b: readBytes(r), i: 0 }, { 1: ['k', 's'], 2: ['v', 'm', sub] });
        (o[name] ||= {})[e.k || ''] = e.v || {};
      }
    }
  }
  return o;
}

/** Bytes as the application sees them: the JSON value when they hold JSON, the bytes otherwise. */
function data(b: Uint8Array): unknown {
  try {
    return JSON.parse(strict.decode(b));
  } catch {
    return b.slice();
  }
}
