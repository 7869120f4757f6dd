import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { BASE_URL } from '../lib/harness.js';

/** A GET with exactly these headers, the body as sent (nothing decompressed). */
function raw(path, headers = {}) {
  return new Promise((resolve, reject) => {
    http
      .get(`${BASE_URL}${path}`, { headers }, (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
      })
      .on('error', reject);
  });
}

test('the first load shows a loader at once and sends the wasm precompressed', async () => {
  const index = await raw('/');
  assert.equal(index.status, 200);
  const html = index.body.toString();
  assert.match(html, /id="boot"/, 'a loader in index.html itself, before any wasm');
  const wasm = html.match(/\/loyalcast-frontend-[0-9a-f]+_bg\.wasm/)?.[0];
  const script = html.match(/\/loyalcast-frontend-[0-9a-f]+\.js/)?.[0];
  assert.ok(wasm && script, 'index.html names the hashed wasm and script');

  const plain = await raw(wasm, { 'accept-encoding': 'identity' });
  assert.equal(plain.status, 200);
  assert.equal(plain.headers['content-encoding'], undefined);
  assert.equal(plain.headers['content-type'], 'application/wasm');

  const brotli = await raw(wasm, { 'accept-encoding': 'gzip, deflate, br' });
  assert.equal(brotli.headers['content-encoding'], 'br');
  assert.equal(brotli.headers['content-type'], 'application/wasm');
  assert.match(brotli.headers.vary ?? '', /accept-encoding/i);
  assert.match(brotli.headers['cache-control'], /immutable/);
  assert.ok(brotli.body.length < plain.body.length / 2, `brotli ${brotli.body.length} B of ${plain.body.length} B`);
  // The file made at build time, sent as it is: the same bytes each time.
  const again = await raw(wasm, { 'accept-encoding': 'br' });
  assert.ok(again.body.equals(brotli.body));

  const gzip = await raw(script, { 'accept-encoding': 'gzip' });
  assert.equal(gzip.headers['content-encoding'], 'gzip');
  assert.match(gzip.headers['content-type'], /javascript/);

  // A path outside the dashboard is the app's index, never a file beside it.
  const outside = await raw('/../Cargo.toml');
  assert.equal(outside.status, 200);
  assert.match(outside.body.toString(), /id="boot"/);
});
