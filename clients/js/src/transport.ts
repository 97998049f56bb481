import type { Codec } from './codec.js';

/**
 * A transport the client may connect over: `websocket` (`/ws`),
 * `http_stream` (a streamed `POST /stream` response, in the codec's
 * encoding) or `sse` (Server-Sent Events from `GET /sse`, JSON only). On
 * the two stream transports the client's commands go as `POST /sse/cmd`
 * requests naming the session the connect reply gave.
 */
export type TransportName = 'websocket' | 'http_stream' | 'sse';

/** The part of the fetch API the stream transports use (the global fetch, or one you pass). */
export type FetchLike = (url: string, init: {
  method: string; body: string | Uint8Array; headers: Record<string, string>; signal: AbortSignal; cache?: string;
}) => Promise<{
  ok: boolean; status: number; headers: { get(name: string): string | null };
  body: { getReader(): { read(): Promise<{ done: boolean; value?: Uint8Array }> } } | null;
}>;

/** The part of the EventSource API the `sse` transport uses. */
export interface EventSourceLike {
  onmessage: ((ev: { data: string }) => void) | null;
  onerror: ((ev: any) => void) | null;
  close(): void;
}

/** An EventSource constructor: the browser's, or one you pass on Node.js. */
export type EventSourceConstructor = new (url: string) => EventSourceLike;

/** The stream transports' endpoints. */
export interface StreamUrls {
  /** The HTTP-streaming endpoint. Default: the WebSocket URL with http(s) and the path's last segment `stream`. */
  stream: string;
  /** The Server-Sent Events endpoint. Default: as stream, with `sse`. */
  sse: string;
  /** Where commands are posted. Default: as stream, with `sse/cmd`. */
  command: string;
}

/** The most a message of the server may hold on a stream transport (bytes); WebSocket has the same bound in practice. */
const maxMessage = 64 << 20;
/** What a command POST may carry: the server's default `max_message_size` and `max_frame_commands`. */
const maxPostBytes = 65536;
const maxPostCommands = 100;

/** url (ws:// or wss://, or already http(s)://) with http(s) and its path's last segment replaced by path. */
export function endpoint(url: string, path: string): string {
  const u = new URL(url);
  u.protocol = u.protocol.replace('ws', 'http');
  u.pathname = u.pathname.replace(/[^/]*$/, path);
  return u.href;
}

/**
 * @internal A stream transport's connection with the WebSocket API's
 * shape, so that the client treats every transport the same: the first
 * frame sent is the connect command, which opens the stream; later frames
 * are posted in order, one request at a time, the ones that queue up
 * meanwhile merged into one. The stream's end is a close with 1006 (the
 * client reads the real code from the server's disconnect push).
 */
export class StreamConn {
  binaryType = '';
  readonly protocol: string;
  onopen: ((ev: any) => void) | null = null;
  onmessage: ((ev: any) => void) | null = null;
  onclose: ((ev: any) => void) | null = null;
  onerror: ((ev: any) => void) | null = null;
  /** The session the connect reply named; the client sets it. */
  session = '';
  private started = false;
  private done = false;
  private busy = false;
  private queue: (string | Uint8Array)[] = [];
  private ac = new AbortController();
  private es?: EventSourceLike;
  private timer?: ReturnType<typeof setTimeout>;

  constructor(
    private sse: boolean,
    private urls: StreamUrls,
    private codec: Codec,
    private fetch: FetchLike,
    private ES: EventSourceConstructor | undefined,
    private token: () => string | undefined,
  ) {
    this.protocol = codec.subprotocol;
    queueMicrotask(() => this.onopen && this.onopen({}));
  }

  send(frame: string | Uint8Array): void {
    if (this.done) return;
    if (!this.started) {
      this.started = true;
      if (this.sse) this.openSSE(frame as string);
      else void this.openStream(frame);
      return;
    }
    if (!this.session) throw new Error('herald: the server gave no session: this connection cannot send');
    this.queue.push(frame);
    void this.pump();
  }

  close(): void {
    this.done = true;
    this.ac.abort();
    if (this.es) this.es.close();
    clearTimeout(this.timer);
  }

  /** The connection ended from our side of it: the stream, a POST or the network failed. */
  private end(reason: string): void {
    if (this.done) return;
    this.close();
    if (this.onclose) this.onclose({ code: 1006, reason });
  }

  private deliver(data: string | Uint8Array): void {
    if (!this.done && this.onmessage) this.onmessage({ data });
  }

  private openSSE(connect: string): void {
    const u = this.urls.sse;
    const es = (this.es = new this.ES!(`${u}${u.includes('?') ? '&' : '?'}connect=${encodeURIComponent(connect)}`));
    es.onmessage = (ev) => this.deliver(ev.data);
    // EventSource would reconnect by itself, with the first connect
    // command: the client reconnects instead, with its positions.
    es.onerror = () => this.end('event stream ended');
  }

  private async openStream(connect: string | Uint8Array): Promise<void> {
    const bin = this.codec.binary;
    try {
      const res = await this.fetch(this.urls.stream, {
        method: 'POST',
        body: connect,
        // text/plain keeps a cross-origin request simple (no preflight).
        headers: { 'Content-Type': bin ? 'application/x-protobuf' : 'text/plain' },
        signal: this.ac.signal,
        cache: 'no-store',
      });
      const type = res.headers.get('Content-Type') || '';
      if (!res.ok || !res.body || !type.includes(bin ? 'protobuf' : 'ndjson')) {
        return this.end(`HTTP ${res.status} ${type}`);
      }
      const reader = res.body.getReader();
      const text = new TextDecoder();
      let buf: Uint8Array = new Uint8Array(0);
      let parts: string[] = [];
      let held = 0;
      for (;;) {
        const { done, value } = await reader.read();
        if (this.done) return;
        if (done || !value) return this.end('stream ended');
        held += value.length;
        if (bin) {
          // Varint-prefixed messages: deliver the complete ones together.
          buf = buf.length ? concat(buf, value) : value;
          const n = complete(buf);
          if (n) {
            const frame = buf.subarray(0, n);
            buf = buf.subarray(n);
            held = buf.length;
            this.deliver(frame);
          }
        } else {
          // Lines: deliver the complete ones together.
          const s = text.decode(value, { stream: true });
          const nl = s.lastIndexOf('\n');
          if (nl < 0) parts.push(s);
          else {
            parts.push(s.slice(0, nl));
            const frame = parts.join('');
            parts = [s.slice(nl + 1)];
            held = parts[0].length;
            this.deliver(frame);
          }
        }
        if (held > maxMessage) return this.end('message from server too large');
      }
    } catch {
      this.end('network error');
    }
  }

  /** Posts the queued frames in order, one request at a time. */
  private async pump(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    while (this.queue.length && !this.done) {
      const body = this.take();
      const headers: Record<string, string> = {
        'Content-Type': this.codec.binary ? 'application/x-protobuf' : 'text/plain',
      };
      const t = this.token();
      if (t) headers.Authorization = `Bearer ${t}`;
      const u = this.urls.command;
      for (;;) {
        let res;
        try {
          res = await this.fetch(`${u}${u.includes('?') ? '&' : '?'}session=${encodeURIComponent(this.session)}`, {
            method: 'POST', body, headers, signal: this.ac.signal,
          });
        } catch {
          // The commands may or may not have arrived: the connection is
          // replaced, and the calls in it fail as disconnected.
          return this.end('command request failed');
        }
        if (this.done) return;
        if (res.ok) break;
        // 429: the session's queue is full and took none of them; 503 with
        // Herald-Not-Delivered: the node holding the session was not
        // reached, and the commands certainly did not run. Anything else
        // leaves it unknown whether they ran: the connection is replaced.
        const notDelivered = res.status === 503 && res.headers.get('Herald-Not-Delivered') === '1';
        if (res.status !== 429 && !notDelivered) return this.end(`command request: HTTP ${res.status}`);
        const after = Number(res.headers.get('Retry-After'));
        await new Promise((r) => (this.timer = setTimeout(r, after > 0 ? Math.min(after, 5) * 1000 : 100)));
        if (this.done) return;
      }
    }
    this.busy = false;
  }

  /** The next request's body: the queued frames that fit in one. */
  private take(): string | Uint8Array {
    const q = this.queue;
    let n = 1;
    let bytes = size(q[0]);
    let cmds = count(q[0]);
    while (n < q.length && bytes + size(q[n]) + 1 <= maxPostBytes && cmds + count(q[n]) <= maxPostCommands) {
      bytes += size(q[n]) + 1;
      cmds += count(q[n]);
      n++;
    }
    const frames = q.splice(0, n);
    if (n === 1) return frames[0];
    if (typeof frames[0] === 'string') return frames.join('\n');
    return frames.reduce((a, b) => concat(a as Uint8Array, b as Uint8Array));
  }
}

/** A frame's length: UTF-16 units of a JSON frame, which the UTF-8 bytes may exceed by 3 times at worst. */
function size(f: string | Uint8Array): number {
  return typeof f === 'string' ? f.length * 3 : f.length;
}

/** The commands in a frame. */
function count(f: string | Uint8Array): number {
  if (typeof f === 'string') return f.split('\n').length;
  let n = 0;
  for (let i = 0; i < f.length; n++) {
    const [len, at] = varint(f, i);
    if (at < 0) break;
    i = at + len;
  }
  return n;
}

/** The varint at b[i]: its value and the index after it (-1 if incomplete). */
function varint(b: Uint8Array, i: number): [number, number] {
  let v = 0;
  for (let mul = 1; i < b.length && mul < 2 ** 35; mul *= 128) {
    const c = b[i++];
    v += (c & 127) * mul;
    if (c < 128) return [v, i];
  }
  return [0, -1];
}

/** How many bytes of b hold complete varint-prefixed messages. */
function complete(b: Uint8Array): number {
  let n = 0;
  for (;;) {
    const [len, at] = varint(b, n);
    if (at < 0 || at + len > b.length) return n;
    n = at + len;
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const c = new Uint8Array(a.length + b.length);
  c.set(a);
  c.set(b, a.length);
  return c;
}
