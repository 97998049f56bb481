// Builds dist/: the ESM module (herald.js), the minified browser bundle
// (herald.min.js, which the Go package beside package.json embeds), the
// optional Protobuf codec (protobuf.js), and the type declarations (types/).
// dist/ is committed so that `go build` and `npm install ./clients/js` need
// no build step; a Go test rebuilds it into a temporary directory and fails
// when the committed files differ.
//
// Usage: node scripts/build.mjs [--outdir DIR]
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const i = process.argv.indexOf('--outdir');
const out = i > 0 ? resolve(process.argv[i + 1]) : join(root, 'dist');

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

const common = {
  bundle: true,
  format: 'esm',
  target: 'es2020',
  platform: 'neutral',
  legalComments: 'none',
  logLevel: 'warning',
};
await Promise.all([
  build({ ...common, entryPoints: [join(root, 'src/index.ts')], outfile: join(out, 'herald.js') }),
  build({ ...common, entryPoints: [join(root, 'src/index.ts')], outfile: join(out, 'herald.min.js'), minify: true }),
  build({ ...common, entryPoints: [join(root, 'src/protobuf.ts')], outfile: join(out, 'protobuf.js') }),
  build({ ...common, entryPoints: [join(root, 'src/protobuf.ts')], outfile: join(out, 'protobuf.min.js'), minify: true }),
]);

// Declarations: tsc type-checks the sources as it writes them.
execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', root, '--outDir', join(out, 'types')], {
  stdio: 'inherit',
});
