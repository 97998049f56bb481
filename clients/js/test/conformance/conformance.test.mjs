// The conformance vectors (conformance/ at the repository's root) against
// herald servers started with conformance/server.yaml: every vector, on
// every encoding it lists, through this SDK's codecs. One server per
// encoding, so that a vector runs once per server and finds its channels
// and users fresh (the file keeps everything in the memory engine).
import { after, before, test } from 'node:test';
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, heraldBinary, until } from '../integration/herald.mjs';
import { runVector } from './runner.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../../../conformance');
const config = join(root, 'server.yaml');
const encodings = ['json', 'protobuf'];

const vectors = readdirSync(join(root, 'vectors'))
  .filter((f) => f.endsWith('.json'))
  .sort()
  .map((file) => ({ file, vector: JSON.parse(readFileSync(join(root, 'vectors', file), 'utf8')) }));

const servers = {};

before(async () => {
  const { secret, apiKey } = credentials(readFileSync(config, 'utf8'));
  await Promise.all(encodings.map(async (e) => (servers[e] = await start(secret, apiKey))));
});

after(() => Promise.all(Object.values(servers).map((s) => s.stop())));

test('every vector lists known encodings and at least one', () => {
  for (const { file, vector } of vectors) {
    if (!vector.encodings?.length || vector.encodings.some((e) => !encodings.includes(e))) {
      throw new Error(`${file}: encodings ${JSON.stringify(vector.encodings)}`);
    }
  }
  if (vectors.length === 0) throw new Error(`no vectors in ${root}`);
});

// Vectors are independent of each other (conformance/README.md): they all
// run at once, which keeps the set about as long as its slowest vector.
test('vectors', { concurrency: true }, async (t) => {
  const runs = [];
  for (const encoding of encodings) {
    for (const { file, vector } of vectors) {
      if (vector.encodings?.includes(encoding)) runs.push(t.test(`${file} ${encoding}`, () => runVector(file, vector, encoding, servers[encoding])));
    }
  }
  await Promise.all(runs);
});

/**
 * credentials reads the token secret and the API key out of server.yaml:
 * two scalar keys, read without a YAML parser (the client has no YAML
 * dependency); it fails loudly if the file changes shape.
 */
function credentials(yaml) {
  const secret = /^\s*hmac_secret:\s*"?([^"\s#]+)"?/m.exec(yaml)?.[1];
  const apiKey = /^api_keys:\s*\[\s*"?([^"\s,\]]+)/m.exec(yaml)?.[1] ?? /^api_keys:\s*\n\s*-\s*"?([^"\s#]+)/m.exec(yaml)?.[1];
  if (!secret || !apiKey) throw new Error(`${config}: no token.hmac_secret or api_keys found`);
  return { secret, apiKey };
}

/** Starts herald with server.yaml on a free port (HERALD_ADDRESS overrides the file's). */
async function start(secret, apiKey) {
  const port = await freePort();
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('HERALD_')));
  env.HERALD_ADDRESS = `127.0.0.1:${port}`;
  const proc = spawn(heraldBinary(), ['serve', '--config', config], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  proc.stderr.on('data', (b) => (log += b));
  const exited = new Promise((r) => proc.on('exit', r));
  const http = `http://127.0.0.1:${port}`;
  await until(async () => {
    if (proc.exitCode !== null) throw new Error(`herald exited: ${log}`);
    try {
      return (await fetch(`${http}/readyz`)).ok;
    } catch {
      return false;
    }
  }, 'herald to be ready', 20000);
  return {
    url: `ws://127.0.0.1:${port}/ws`,
    http,
    secret,
    apiKey,
    async stop() {
      if (proc.exitCode === null) proc.kill('SIGTERM');
      await exited;
    },
  };
}
