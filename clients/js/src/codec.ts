import type { Command, ServerMessage } from './types.js';

/**
 * A wire encoding: the WebSocket subprotocol, and how commands become a
 * frame and a frame becomes server messages. The JSON codec is built in;
 * `@heraldhq/client/protobuf` exports the Protobuf one.
 *
 * Decoded messages have the JSON encoding's shape, with one difference:
 * every `data` is already the application's value (the JSON value, or a
 * Uint8Array for bytes that are not JSON).
 */
export interface Codec {
  readonly subprotocol: string;
  /** Whether frames are binary. */
  readonly binary: boolean;
  /** Encodes commands into one frame. */
  encode(commands: Command[]): string | Uint8Array;
  /** Decodes one frame; it throws on a malformed one. */
  decode(frame: unknown): ServerMessage[];
}

/** The JSON encoding (`herald.v1.json`), the default. */
export const json: Codec = {
  subprotocol: 'herald.v1.json',
  binary: false,
  encode(commands) {
    return commands.map((c) => JSON.stringify(c)).join('\n');
  },
  decode(frame) {
    if (typeof frame !== 'string') throw new Error('binary frame on a JSON connection');
    const out: ServerMessage[] = [];
    for (const line of frame.split('\n')) {
      if (line.trim() === '') continue;
      const m = JSON.parse(line);
      if (!m || typeof m !== 'object' || Array.isArray(m)) throw new Error('server message is not an object');
      out.push(fixData(m));
    }
    return out;
  },
};

/**
 * fixData turns the `b64` form of bytes that are not JSON into a
 * Uint8Array under `data`, wherever a message carries publications.
 */
function fixData(m: ServerMessage): ServerMessage {
  b64(m);
  pubs(m.publications);
  const r = m.result;
  if (r && typeof r === 'object') {
    pubs(r.publications);
    if (r.inbox) pubs(r.inbox.publications);
    if (r.subs && typeof r.subs === 'object') for (const k in r.subs) pubs(r.subs[k] && r.subs[k].publications);
  }
  return m;
}

function pubs(list: unknown): void {
  if (Array.isArray(list)) for (const p of list) b64(p);
}

function b64(o: any): void {
  if (o && typeof o === 'object' && typeof o.b64 === 'string' && !('data' in o)) {
    const s = atob(o.b64);
    const bytes = new Uint8Array(s.length);
    for (let i = 0; i < s.length; i++) bytes[i] = s.charCodeAt(i);
    o.data = bytes;
    delete o.b64;
  }
}
