// Starts real Herald servers for the integration and browser tests: the
// binary in $HERALD_BIN (the Go test that drives these tests builds it), or
// one built here from the repository with `go build`. Servers share the
// Redis at $HERALD_TEST_REDIS (127.0.0.1:6379) under a prefix of their own,
// so that streams survive a restart and tests do not see each other's.
import { spawn, execFileSync } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');
export { WebSocket };

let built;
/** The herald binary: $HERALD_BIN, or one built once into a temporary directory. */
export function heraldBinary() {
  if (process.env.HERALD_BIN) return process.env.HERALD_BIN;
  if (!built) {
    const dir = mkdtempSync(join(tmpdir(), 'herald-bin-'));
    built = join(dir, 'herald');
    const go = existsSync('/usr/local/go/bin/go') ? '/usr/local/go/bin/go' : 'go';
    execFileSync(go, ['build', '-o', built, './cmd/herald'], { cwd: repo, stdio: 'inherit' });
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  }
  return built;
}

/** A free TCP port on the loopback interface. */
export function freePort() {
  return new Promise((ok, fail) => {
    const s = net.createServer();
    s.on('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

/** Waits until cond() is true, polling; fails with what after ms. */
export async function until(cond, what = 'condition', ms = 10000) {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The namespaces the tests use. */
const namespaces = {
  // History, presence, join/leave and recovery; anyone may do anything.
  chat: {
    presence: true, join_leave: true, history_size: 2000, history_ttl: '1h', recover: true,
    allow_subscribe: 'any', allow_publish: 'any', allow_presence: 'any', allow_history: 'any',
  },
  // No history: nothing to recover.
  plain: { allow_subscribe: 'any', allow_publish: 'any' },
  // Only tokens may subscribe.
  secret: { allow_subscribe: 'token', allow_publish: 'subscribers', history_size: 10, history_ttl: '1h', recover: true },
};

/**
 * A Herald server process. config is merged over the tests' defaults (JSON
 * is YAML, so it is written as JSON).
 */
export class HeraldServer {
  constructor(config = {}) {
    this.secret = randomBytes(32).toString('hex');
    this.apiKey = randomBytes(16).toString('hex');
    this.prefix = 'jstest-' + randomBytes(6).toString('hex');
    this.dir = mkdtempSync(join(tmpdir(), 'herald-js-'));
    this.config = config;
    this.proc = null;
    this.log = '';
  }

  /** Starts the server (on the same port as before, when restarting). */
  async start() {
    if (!this.port) this.port = await freePort();
    const cfg = {
      address: `127.0.0.1:${this.port}`,
      anonymous: true,
      allowed_origins: ['*'],
      api_keys: [this.apiKey],
      token: { hmac_secret: this.secret },
      shutdown_timeout: '3s',
      log: { level: 'warn' },
      broker: {
        engine: 'redis',
        redis: { addrs: [process.env.HERALD_TEST_REDIS || '127.0.0.1:6379'], prefix: this.prefix },
      },
      namespaces,
      ...this.config,
    };
    const file = join(this.dir, 'herald.yaml');
    writeFileSync(file, JSON.stringify(cfg, null, 2));
    const env = { ...process.env };
    for (const k of Object.keys(env)) if (k.startsWith('HERALD_')) delete env[k];
    this.proc = spawn(heraldBinary(), ['serve', '--config', file], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    this.proc.stderr.on('data', (b) => {
      this.log += b;
    });
    const proc = this.proc;
    this.exited = new Promise((r) => proc.on('exit', r));
    await until(async () => {
      if (proc.exitCode !== null) throw new Error(`herald exited: ${this.log}`);
      try {
        return (await fetch(`${this.http}/readyz`)).ok;
      } catch {
        return false;
      }
    }, 'herald to be ready', 20000);
  }

  /** Stops the server gracefully (SIGTERM: clients are closed with 1001). */
  async stop() {
    if (!this.proc || this.proc.exitCode !== null) return;
    this.proc.kill('SIGTERM');
    await this.exited;
  }

  async restart() {
    await this.stop();
    await this.start();
  }

  /** Stops the server and removes its files. */
  async close() {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }

  get http() {
    return `http://127.0.0.1:${this.port}`;
  }

  get url() {
    return `ws://127.0.0.1:${this.port}/ws`;
  }

  /** A connection token (HS256) for user, with extra claims; ttl in seconds. */
  token(user, { ttl = 3600, ...claims } = {}) {
    const now = Math.floor(Date.now() / 1000);
    return jwt(this.secret, { sub: user, iat: now, exp: now + ttl, ...claims });
  }

  /** A channel token for user. */
  channelToken(user, channel, ttl = 3600) {
    return jwt(this.secret, { sub: user, channel, exp: Math.floor(Date.now() / 1000) + ttl });
  }

  /** Calls the server API; resolves to the result, rejects with the error. */
  async api(method, body = {}) {
    const res = await fetch(`${this.http}/api/${method}`, {
      method: 'POST',
      headers: { Authorization: `apikey ${this.apiKey}`, 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
    const out = await res.json();
    if (out.error) throw Object.assign(new Error(`api ${method}: ${out.error.message}`), out.error);
    return out.result;
  }
}

/** An HS256 JWT. */
export function jwt(secret, claims) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const body = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(claims)}`;
  return `${body}.${createHmac('sha256', secret).update(body).digest('base64url')}`;
}
