// A scripted server for the stream transports on a real HTTP socket: the
// test reads the connect command of each POST /stream and the bodies of the
// command POSTs, and writes the stream's messages itself. A scripted
// EventSource plays the sse transport (Node.js has none).
import http from 'node:http';
import { until } from './fake.mjs';

export class StreamServer {
  constructor() {
    /** Streams opened, in order: {connect, type, res, url}. */
    this.streams = [];
    /** Command POSTs, in order: {session, body, auth}. */
    this.posts = [];
    /** How to answer the next command POSTs: statuses taken in order, then 204. */
    this.postStatus = [];
    /** How to answer the next stream requests: a status (then the body), or undefined to stream. */
    this.streamStatus = [];
    /** Set to hold command POSTs unanswered until release() is called. */
    this.hold = false;
    this.held = [];
    this.inFlight = 0;
    this.maxInFlight = 0;
    this.server = http.createServer((req, res) => {
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => this.handle(req, res, Buffer.concat(chunks)));
    });
  }

  async start() {
    await new Promise((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = this.server.address().port;
    return this;
  }

  get url() {
    return `ws://127.0.0.1:${this.port}/ws`;
  }

  handle(req, res, body) {
    const u = new URL(req.url, 'http://x');
    if (u.pathname === '/stream' && req.method === 'POST') {
      const status = this.streamStatus.shift();
      if (status !== undefined) {
        const [code, type = 'text/html', text = '<html>no</html>'] = [].concat(status);
        res.writeHead(code, { 'Content-Type': type });
        res.end(text);
        this.streams.push({ refused: code, type: req.headers['content-type'] });
        return;
      }
      const proto = req.headers['content-type'] === 'application/x-protobuf';
      res.writeHead(200, { 'Content-Type': proto ? 'application/x-protobuf' : 'application/x-ndjson', 'Cache-Control': 'no-store' });
      res.flushHeaders();
      const s = { connect: proto ? body : JSON.parse(String(body)), type: req.headers['content-type'], res, closed: false };
      res.on('close', () => (s.closed = true));
      this.streams.push(s);
      return;
    }
    if (u.pathname === '/sse/cmd' && req.method === 'POST') {
      this.inFlight++;
      this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
      this.posts.push({ session: u.searchParams.get('session'), body, auth: req.headers.authorization, type: req.headers['content-type'] });
      const answer = () => {
        this.inFlight--;
        // A number, or { status, headers }.
        const next = this.postStatus.shift() ?? 204;
        const status = typeof next === 'object' ? next.status : next;
        res.writeHead(status, { ...(status === 429 ? { 'Retry-After': '0' } : {}), ...(next.headers ?? {}) });
        res.end();
      };
      if (this.hold) this.held.push(answer);
      else answer();
      return;
    }
    res.writeHead(404);
    res.end();
  }

  release() {
    this.hold = false;
    for (const a of this.held.splice(0)) a();
  }

  /** The n-th stream (0-based), once opened. */
  async stream(n) {
    await until(() => this.streams.length > n, `stream ${n} opened`);
    return this.streams[n];
  }

  /** The commands of the n-th command POST (JSON). */
  async post(n) {
    await until(() => this.posts.length > n, `command POST ${n}`);
    return String(this.posts[n].body).split('\n').map((l) => JSON.parse(l));
  }

  /** Writes JSON messages on stream s, one per line. */
  static send(s, ...msgs) {
    s.res.write(msgs.map((m) => JSON.stringify(m) + '\n').join(''));
  }

  /** Answers stream s's connect. */
  static accept(s, result = {}) {
    StreamServer.send(s, { id: s.connect.id, result: { client: 'c1', user: '', ping: 25, session: 'S1', ...result } });
  }

  async close() {
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }
}

/** A scripted EventSource: the test delivers events and errors. */
export class FakeEventSources {
  constructor() {
    this.opened = [];
    const all = this;
    this.EventSource = class {
      constructor(url) {
        this.url = url;
        this.closed = false;
        this.onmessage = this.onerror = null;
        all.opened.push(this);
      }
      close() {
        this.closed = true;
      }
      get connect() {
        return JSON.parse(new URL(this.url).searchParams.get('connect'));
      }
      deliver(...msgs) {
        for (const m of msgs) this.onmessage && this.onmessage({ data: JSON.stringify(m) });
      }
      fail() {
        this.onerror && this.onerror({});
      }
    };
  }

  async source(n) {
    await until(() => this.opened.length > n, `event source ${n} opened`);
    return this.opened[n];
  }
}
