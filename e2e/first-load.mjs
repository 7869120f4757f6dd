// Measures the dashboard's first load in Chromium, cache empty, signed in: bytes over the
// wire for the whole first load (as sent, compressed), the first contentful paint (the
// loader) and the time from navigation to the first table row of the customers page. Run against a fresh server:
//   e2e/run.sh node first-load.mjs [runs]
// Prints one JSON line per run and the medians. Timing is measured here, never asserted.
import { apiLogin, launch, newPage, SESSION_KEY, BASE_URL } from './lib/harness.js';

const runs = Number(process.argv[2] || 5);
const browser = await launch();
const session = await apiLogin();
const results = [];
for (let i = 0; i < runs; i++) {
  const { context, page } = await newPage(browser);
  await context.addInitScript(([key, value]) => window.localStorage.setItem(key, value), [SESSION_KEY, JSON.stringify(session)]);
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.setCacheDisabled', { cacheDisabled: true });
  let bytes = 0;
  cdp.on('Network.loadingFinished', (e) => { bytes += e.encodedDataLength; });
  const started = Date.now();
  await page.goto(`${BASE_URL}/customers`, { waitUntil: 'commit' });
  await page.getByTestId('customer-row').first().waitFor({ timeout: 30_000 });
  const firstRow = Date.now() - started;
  // The first paint with content: the loader of index.html, before any wasm.
  const loader = Math.round(await page.evaluate(
    () => performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? -1,
  ));
  results.push({ loader_ms: loader, first_row_ms: firstRow, bytes });
  console.log(JSON.stringify(results.at(-1)));
  await context.close();
}
await browser.close();
const median = (key) => results.map((r) => r[key]).sort((a, b) => a - b)[Math.floor(results.length / 2)];
console.log(JSON.stringify({ runs, median_loader_ms: median('loader_ms'), median_first_row_ms: median('first_row_ms'), median_bytes: median('bytes') }));
