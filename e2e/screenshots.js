// Takes screenshots of every page at desktop and phone width, for reviewing the design.
//   E2E_BASE_URL=http://127.0.0.1:8080 node screenshots.js [out-dir]
// Writes PNGs to test-results/screenshots (or out-dir).

import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { RESULTS_DIR, api, apiLogin, launch, signedInPage, newPage } from './lib/harness.js';

const out = path.resolve(process.argv[2] || path.join(RESULTS_DIR, 'screenshots'));
await mkdir(out, { recursive: true });

const pages = [
  ['inbox', '/mailings/inbox', 'page-inbox'],
  ['history', '/mailings/history', 'page-history'],
  ['send-push', '/mailings/send-push', 'page-send-push'],
  ['automation', '/mailings/automation', 'page-automation'],
  ['auto-push', '/mailings/auto-push', 'page-auto-push'],
  ['customers', '/customers', 'customer-row'],
  ['segments', '/segments', 'segment-count'],
  ['cards', '/cards', 'card-form'],
  ['settings', '/settings', 'team-list'],
];

// A few mailings, so that the history has rows to show (a throw-away database is assumed).
const session = await apiLogin();
const segments = (await api(session, '/segments?page=1&per_page=5')).items;
const mailings = [
  { name: 'Spring menu', channels: ['sms', 'email'], draft: true },
  { name: 'Weekend double points', channels: ['sms'], segment: segments[0]?.id },
];
for (const m of mailings) {
  await api(session, '/mailings', {
    method: 'POST',
    body: JSON.stringify({
      name: m.name,
      audience: m.segment ? { type: 'segment', segment_id: m.segment } : { type: 'all' },
      channels: m.channels,
      content: {
        sms: { body: 'Hi {first_name}, double points this weekend!' },
        email: m.channels.includes('email') ? { subject: 'Spring menu', body: 'Hi {first_name}, our spring menu is here. {unsubscribe_url}' } : null,
      },
      draft: Boolean(m.draft),
    }),
  }).catch((err) => console.log(`could not create mailing ${m.name}: ${err.message}`));
}

const browser = await launch();
try {
  for (const [label, size] of [['desktop', { width: 1280, height: 860 }], ['phone', { width: 390, height: 844 }]]) {
    const { page: signIn, context: c0 } = await newPage(browser, size);
    await signIn.goto('/sign-in');
    await signIn.getByTestId('sign-in-form').waitFor();
    await signIn.screenshot({ path: path.join(out, `${label}-sign-in.png`) });
    await c0.close();

    const { context, page } = await signedInPage(browser, size);
    for (const [name, route, ready] of pages) {
      await page.goto(route);
      await page.getByTestId(ready).first().waitFor();
      await page.waitForTimeout(400);
      await page.screenshot({ path: path.join(out, `${label}-${name}.png`), fullPage: true });
    }
    // The customer details panel, and a segment rule with a nested group.
    await page.goto('/customers');
    await page.getByTestId('customer-name').first().click();
    await page.getByTestId('customer-id').waitFor();
    await page.waitForTimeout(300);
    await page.screenshot({ path: path.join(out, `${label}-customer-details.png`) });
    await page.goto('/segments');
    await page.getByTestId('add-condition').first().click();
    await page.getByTestId('add-group').first().click();
    await page.locator('[data-testid="rule-group"][data-depth="1"] [data-testid="add-condition"]').click();
    await page.getByTestId('segment-count').waitFor();
    await page.waitForTimeout(600);
    await page.screenshot({ path: path.join(out, `${label}-segment-builder.png`), fullPage: true });
    if (page.consoleErrors.length) console.log(`${label} browser errors:\n  ${page.consoleErrors.join('\n  ')}`);
    await context.close();
  }
} finally {
  await browser.close();
}
console.log(`screenshots in ${out}`);
