// Prints the size of the browser bundles, minified and gzipped (level 9),
// as the README reports them: `npm run size` after `npm run build`.
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';

for (const file of ['dist/herald.min.js', 'dist/protobuf.min.js']) {
  const raw = readFileSync(new URL(`../${file}`, import.meta.url));
  const gz = gzipSync(raw, { level: 9 });
  console.log(`${file}: ${raw.length} B minified, ${gz.length} B gzipped`);
}
