// Live updates: an open mailing page follows what the server does (the delivery worker
// settling its batches) through the change stream, with no reload and no polling.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { api, launch, operatorTopUp, signedInPage, withPage } from '../lib/harness.js';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

/** The smallest seeded segment that reaches someone by SMS. */
async function smallSmsSegment(session) {
  const segments = (await api(session, '/segments?page=1&per_page=100')).items;
  const candidates = segments.filter((s) => s.customers > 0).sort((a, b) => a.customers - b.customers);
  for (const segment of candidates) {
    const estimate = await api(session, '/mailings/estimate', {
      method: 'POST',
      body: JSON.stringify({
        audience: { type: 'segment', segment_id: segment.id },
        channels: ['sms'],
        content: { sms: { body: 'Hi' } },
      }),
    });
    const sms = estimate.reachable.find((r) => r.channel === 'sms')?.customers ?? 0;
    if (sms > 0) return { segment, sms };
  }
  throw new Error('the demo data should have a segment reachable by SMS');
}

test('a mailing page shows its figures change as the server settles deliveries, without a reload', async () => {
  await withPage(browser, 'live-mailing', signedInPage, async (page, session) => {
    const { segment, sms } = await smallSmsSegment(session);
    // Scheduled a few seconds ahead, so that the page is open, showing nothing sent, before
    // the worker starts it: only the change stream can tell the page what happened.
    const mailing = await api(session, '/mailings', {
      method: 'POST',
      body: JSON.stringify({
        name: `E2E live mailing ${Date.now()}`,
        audience: { type: 'segment', segment_id: segment.id },
        channels: ['sms'],
        content: { sms: { body: 'Hello {first_name}, see you soon!' } },
        send_at: new Date(Date.now() + 6_000).toISOString(),
      }),
    });
    assert.equal(mailing.status, 'scheduled');

    // Count the page's own requests for the mailing: there must be no polling.
    let reads = 0;
    page.on('request', (request) => {
      if (new URL(request.url()).pathname === `/api/v1/mailings/${mailing.id}`) reads += 1;
    });
    let streams = 0;
    page.on('request', (request) => {
      if (new URL(request.url()).pathname === '/api/v1/changes/stream') streams += 1;
    });

    await page.goto(`/mailings/${mailing.id}`);
    await page.getByTestId('page-mailing').waitFor();
    await page.locator('[data-testid="live"][data-status="live"]').waitFor({ state: 'attached' });
    assert.equal(await page.getByTestId('mailing-status').getAttribute('data-status'), 'scheduled');
    assert.equal(await page.getByTestId('mailing-progress').getAttribute('data-percent'), '0');
    const before = await page.getByTestId('mailing-progress-text').innerText();
    assert.match(before, new RegExp(`0 of ${sms.toLocaleString('en-US')} messages processed`));

    // The worker starts it at its time and settles it; the page follows, unreloaded.
    await page.waitForFunction(
      () => document.querySelector('[data-testid="mailing-status"]')?.getAttribute('data-status') === 'completed',
      null,
      { timeout: 30_000 },
    );
    assert.equal(await page.getByTestId('mailing-progress').getAttribute('data-percent'), '100');
    const row = page.getByTestId('report-sms');
    const sent =
      Number((await row.getByTestId('report-sent').innerText()).replace(/[^0-9]/g, '')) +
      Number((await row.getByTestId('report-delivered').innerText()).replace(/[^0-9]/g, ''));
    assert.ok(sent > 0, 'messages went out');
    assert.equal(Number((await row.getByTestId('report-queued').innerText()).replace(/[^0-9]/g, '')), 0);

    // One stream, opened once; the page read the mailing on opening and when told to (a
    // few times), not once a second.
    assert.equal(streams, 1);
    assert.ok(reads <= 6, `the mailing was read ${reads} times`);
    assert.equal(await page.getByTestId('live-down').count(), 0);
    assert.deepEqual(page.consoleErrors.filter((e) => !e.includes('favicon')), []);
  });
});

test('changes made elsewhere show in the history list and the header figures without a reload', async () => {
  await withPage(browser, 'live-history', signedInPage, async (page, session) => {
    await page.goto('/mailings/history');
    await page.getByTestId('page-history').waitFor();
    await page.locator('[data-testid="live"][data-status="live"]').waitFor({ state: 'attached' });
    const smsFigure = page.getByTestId('figure-sms').getByTestId('figure-value');
    await smsFigure.waitFor();
    // A top-up by the operator (another client) moves the SMS figure.
    const before = (await api(session, '/figures')).sms_balance;
    await operatorTopUp(session, 'sms', 7);
    await page.waitForFunction(
      (n) => document.querySelector('[data-testid="figure-sms"] [data-testid="figure-value"]')?.innerText.trim() === n,
      (before + 7).toLocaleString('en-US'),
      { timeout: 5_000 },
    );
    const name = `E2E made elsewhere ${Date.now()}`;
    await api(session, '/mailings', {
      method: 'POST',
      body: JSON.stringify({
        name,
        audience: { type: 'all' },
        channels: ['sms'],
        content: { sms: { body: 'Hello {first_name}' } },
        draft: true,
      }),
    });
    const row = page.getByTestId('mailing-row').filter({ hasText: name });
    await row.waitFor({ timeout: 5_000 });
    assert.equal((await row.getByTestId('mailing-status').innerText()).trim(), 'Draft');
  });
});
