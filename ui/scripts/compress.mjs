// Writes a gzip copy (level 9) next to each text asset in dist/, which `porchlight serve`
// embeds and sends to browsers that accept gzip. Prints each asset's size both ways.
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

const dist = new URL('../dist/', import.meta.url).pathname;
const walk = (d) => readdirSync(d).flatMap((f) => (statSync(join(d, f)).isDirectory() ? walk(join(d, f)) : [join(d, f)]));
for (const f of walk(dist)) {
  if (!/\.(js|css|html|svg|json|txt)$/.test(f)) continue;
  const raw = readFileSync(f);
  const gz = gzipSync(raw, { level: 9 });
  if (gz.length < raw.length) writeFileSync(`${f}.gz`, gz);
  console.log(`${f.slice(dist.length).padEnd(36)} ${String(raw.length).padStart(8)} B, gzip ${String(gz.length).padStart(7)} B`);
}
