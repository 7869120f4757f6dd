// Compresses the built dashboard once, at build time: beside each text asset of `dist`
// (wasm, JS, CSS, HTML, SVG), `NAME.br` (brotli, quality 11) and `NAME.gz` (gzip, level 9).
// The server sends these as they are to browsers that accept them, so no request spends CPU
// on compressing the 1.5 MB wasm again. Prints each file's sizes.
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';

const dist = process.argv[2] || 'dist';
const compressible = /\.(wasm|js|css|html|svg)$/;
let raw = 0;
let br = 0;
let gz = 0;
for (const name of readdirSync(dist)) {
  const path = join(dist, name);
  if (!statSync(path).isFile() || !compressible.test(name)) continue;
  const bytes = readFileSync(path);
  const brotli = brotliCompressSync(bytes, {
    params: {
      [constants.BROTLI_PARAM_QUALITY]: constants.BROTLI_MAX_QUALITY,
      [constants.BROTLI_PARAM_SIZE_HINT]: bytes.length,
      [constants.BROTLI_PARAM_MODE]: name.endsWith('.wasm') ? constants.BROTLI_MODE_GENERIC : constants.BROTLI_MODE_TEXT,
    },
  });
  const gzip = gzipSync(bytes, { level: 9 });
  writeFileSync(`${path}.br`, brotli);
  writeFileSync(`${path}.gz`, gzip);
  raw += bytes.length;
  br += brotli.length;
  gz += gzip.length;
  console.log(`${name}: ${bytes.length} B raw, ${brotli.length} B brotli, ${gzip.length} B gzip`);
}
console.log(`dist: ${raw} B raw, ${br} B brotli, ${gz} B gzip`);
