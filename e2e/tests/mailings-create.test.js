import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { api, launch, pathOf, screenshot, signedInPage, thousands, withPage } from '../lib/harness.js';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

const number = (text) => Number(String(text).replace(/[^0-9]/g, ''));

/** The smallest seeded segment that reaches someone by both SMS and email, with its estimate. */
async function smallSegment(session) {
  const segments = (await api(session, '/segments?page=1&per_page=100')).items;
  const candidates = segments.filter((s) => s.customers > 0).sort((a, b) => a.customers - b.customers);
  for (const segment of candidates) {
    const estimate = await api(session, '/mailings/estimate', {
      method: 'POST',
      body: JSON.stringify({
        audience: { type: 'segment', segment_id: segment.id },
        channels: ['sms', 'email'],
        content: { sms: { body: 'Hi' }, email: { subject: 'Hi', body: 'Hi' } },
      }),
    });
    const reach = Object.fromEntries(estimate.reachable.map((r) => [r.channel, r.customers]));
    if (reach.sms > 0 && reach.email > 0) return { segment, estimate, reach };
  }
  throw new Error('the demo data should have a segment reachable by SMS and email');
}

test('create a mailing to a segment by SMS and email, watch it complete, find it in the history', async () => {
  await withPage(browser, 'mailing-create', signedInPage, async (page, session) => {
    const { segment, reach } = await smallSegment(session);
    const name = `E2E spring mailing ${Date.now()}`;

    await page.goto('/mailings/history');
    await page.getByTestId('create-mailing').click();
    await page.waitForURL((url) => url.pathname === '/mailings/new');
    await page.getByTestId('page-mailing-new').waitFor();

    await page.getByTestId('mailing-name').fill(name);
    await page.getByTestId('mailing-audience-segment').check();
    await page.getByTestId('mailing-segment').selectOption(segment.id);
    // The recipient count comes from the estimate.
    const count = page.getByTestId('audience-count');
    await count.waitFor();
    await page.waitForFunction(
      (n) => document.querySelector('[data-testid="audience-count"]')?.getAttribute('data-count') === String(n),
      segment.customers,
    );
    // Who can get it on the chosen channel, out of the audience: what the mailing will record.
    assert.match(
      (await count.textContent()).replace(/\s+/g, ' '),
      new RegExp(`${thousands(reach.sms)} by SMS of ${thousands(segment.customers)} customers? can get this`),
    );

    // SMS is on by default; add email.
    assert.equal(await page.getByTestId('channel-sms').isChecked(), true);
    await page.getByTestId('channel-email').check();
    await page.getByTestId('editor-email').waitFor();
    await page.waitForFunction(
      (text) => document.querySelector('[data-testid="audience-count"]')?.textContent.replace(/\s+/g, ' ').includes(text),
      `: ${thousands(reach.sms)} by SMS, ${thousands(reach.email)} by email can get this`,
    );

    // A variable chip inserts at the cursor.
    await page.getByTestId('mailing-sms-body').fill('Hello , double points this week!');
    await page.getByTestId('mailing-sms-body').evaluate((el) => el.setSelectionRange(6, 6));
    await page.getByTestId('mailing-sms-body-var-first_name').click();
    assert.equal(await page.getByTestId('mailing-sms-body').inputValue(), 'Hello {first_name}, double points this week!');

    await page.getByTestId('mailing-email-subject').fill('Double points, {first_name}');
    await page.getByTestId('mailing-email-body').fill('Hello {first_name},\n\nDouble points all week at {merchant_name}.');

    // The preview shows the SMS as the first customer gets it (the variable filled in).
    await page.waitForFunction(() => {
      const t = document.querySelector('[data-testid="preview-sms"]')?.innerText || '';
      return t.includes('double points') && !t.includes('{first_name}');
    });
    // So does the email, subject and text, and with the business's name.
    await page.waitForFunction(() => {
      const t = document.querySelector('[data-testid="preview-email"]')?.innerText || '';
      return t.includes('Double points,') && t.includes('Double points all week at') && !t.includes('{');
    });
    await page.waitForFunction(() => /SMS segments? · .* left · (GSM-7|Unicode)/.test(document.querySelector('[data-testid="sms-counter"]')?.innerText || ''));
    // The cost line: segments × recipients = credits; balance.
    const smsCost = page.getByTestId('cost-sms');
    await page.waitForFunction(
      () => /= [0-9,]+ credits; balance [0-9,]+/.test(document.querySelector('[data-testid="cost-sms"]')?.innerText || ''),
    );
    const smsCostText = await smsCost.innerText();
    assert.match(smsCostText, new RegExp(`${thousands(reach.sms)} recipients?`));
    assert.match(await page.getByTestId('cost-email').innerText(), new RegExp(`${thousands(reach.email)} emails? × 1 = ${thousands(reach.email)} credits`));
    assert.equal(await page.getByTestId('cost-insufficient').count(), 0);
    await screenshot(page, 'mailing-create-form');

    // Review: the exact recipients per channel and the cost; nothing is sent before the
    // confirmation, which says what it will do.
    await page.getByTestId('mailing-send').click();
    const review = page.getByTestId('mailing-review');
    await review.waitFor();
    await page.getByTestId('review-confirm').waitFor();
    assert.match(await page.getByTestId('review-sms').innerText(), new RegExp(`${thousands(reach.sms)} recipients?`));
    assert.match(await page.getByTestId('review-email').innerText(), new RegExp(`${thousands(reach.email)} recipients?`));
    assert.match(await page.getByTestId('review-sms-cost').innerText(), /balance [0-9,]+ → [0-9,]+/);
    const label = await page.getByTestId('review-confirm').innerText();
    assert.match(label, new RegExp(`^Send ${thousands(reach.sms)} SMS \\+ ${thousands(reach.email)} emails? · [0-9,]+ credits$`));
    assert.equal((await api(session, `/mailings?q=${encodeURIComponent(name)}`)).total, 0, 'nothing before the confirmation');
    await page.getByTestId('review-confirm').dblclick();
    await page.waitForURL((url) => /^\/mailings\/[0-9a-f-]{36}$/.test(url.pathname));
    const id = pathOf(page).split('/').pop();
    await page.getByTestId('page-mailing').waitFor();
    assert.equal((await page.getByTestId('mailing-title').innerText()).trim(), name);
    assert.equal((await api(session, `/mailings?q=${encodeURIComponent(name)}`)).total, 1, 'a double click sends once');

    // Progress reaches 100% and the status becomes Completed, without reloading the page.
    await page.waitForFunction(
      () => document.querySelector('[data-testid="mailing-status"]')?.getAttribute('data-status') === 'completed',
      null,
      { timeout: 60_000 },
    );
    assert.equal((await page.getByTestId('mailing-status').innerText()).trim(), 'Completed');
    assert.equal(await page.getByTestId('mailing-progress').getAttribute('data-percent'), '100');
    assert.equal(await page.getByTestId('mailing-progress').getAttribute('aria-valuenow'), '100');

    // The per-channel report has both channels, with messages that went out.
    for (const channel of ['sms', 'email']) {
      const row = page.getByTestId(`report-${channel}`);
      await row.waitFor();
      const out =
        number(await row.getByTestId('report-sent').innerText()) +
        number(await row.getByTestId('report-delivered').innerText()) +
        number(await row.getByTestId('report-opened').innerText());
      assert.ok(out > 0, `${channel}: messages sent`);
      assert.equal(number(await row.getByTestId('report-queued').innerText()), 0);
    }
    // The demo merchant's providers are sandboxes, and the page says so.
    assert.ok((await page.getByTestId('sandbox').count()) >= 1);
    // The content sent, read-only.
    assert.match(await page.getByTestId('content-sms').innerText(), /Hello \{first_name\}, double points/);
    assert.match(await page.getByTestId('content-email').innerText(), /Double points, \{first_name\}/);
    await screenshot(page, 'mailing-detail-completed');

    // The server agrees.
    const mailing = await api(session, `/mailings/${id}`);
    assert.equal(mailing.status, 'completed');
    assert.deepEqual(mailing.channels, ['sms', 'email']);
    assert.deepEqual(mailing.audience, { type: 'segment', segment_id: segment.id });

    // Back in the history, it is listed and links to its page.
    await page.getByTestId('back-to-history').click();
    await page.waitForURL((url) => url.pathname === '/mailings/history');
    const row = page.getByTestId('mailing-row').filter({ hasText: name });
    await row.waitFor();
    assert.equal((await row.getByTestId('mailing-status').innerText()).trim(), 'Completed');
    await row.getByTestId('mailing-link').click();
    await page.waitForURL((url) => url.pathname === `/mailings/${id}`);
    await page.getByTestId('mailing-title').waitFor();
    assert.deepEqual(page.consoleErrors.filter((e) => !e.includes('favicon')), []);
  });
});

test('an unknown variable shows a field error next to the SMS text, and nothing is created', async () => {
  await withPage(browser, 'mailing-unknown-variable', signedInPage, async (page, session) => {
    const name = `E2E typo ${Date.now()}`;
    await page.goto('/mailings/new');
    await page.getByTestId('page-mailing-new').waitFor();
    await page.getByTestId('mailing-name').fill(name);
    await page.getByTestId('mailing-sms-body').fill('Hi {firstname}, see you soon');

    // The live estimate already flags it next to the editor.
    const fieldError = page.getByTestId('mailing-sms-body-error');
    await fieldError.waitFor();
    assert.match(await fieldError.innerText(), /firstname/i);
    assert.equal(await page.getByTestId('mailing-sms-body').getAttribute('aria-invalid'), 'true');
    // The audience is still counted, and the cost says why it is not known.
    await page.getByTestId('audience-count').waitFor();
    assert.match(await page.getByTestId('cost-sms').innerText(), /Correct the SMS text/);

    // Sending is refused by the server with the same field error; the page stays.
    await page.getByTestId('mailing-send').click();
    await page.waitForFunction(() => document.querySelector('[data-testid="mailing-send"]')?.getAttribute('aria-busy') === 'false');
    await fieldError.waitFor();
    assert.equal(pathOf(page), '/mailings/new');
    await screenshot(page, 'mailing-unknown-variable');

    const found = await api(session, `/mailings?q=${encodeURIComponent(name)}`);
    assert.equal(found.total, 0, 'no mailing was created');
  });
});

/** The UTC instant when the clocks in `timeZone` show `date` `time` (as the dashboard computes it). */
function zonedToUtc(date, time, timeZone) {
  const [y, mo, d] = date.split('-').map(Number);
  const [h, mi] = time.split(':').map(Number);
  const wanted = Date.UTC(y, mo - 1, d, h, mi);
  let at = wanted;
  for (let i = 0; i < 2; i++) {
    const shown = new Date(at).toLocaleString('sv-SE', { timeZone, hourCycle: 'h23' });
    const offset = new Date(shown.replace(' ', 'T') + 'Z').getTime() - at;
    at = wanted - offset;
  }
  return new Date(at);
}

test('a scheduled mailing is sent at the time typed in the merchant time zone, and can be cancelled', async () => {
  await withPage(browser, 'mailing-schedule', signedInPage, async (page, session) => {
    const me = await api(session, '/me');
    const zone = me.merchant.time_zone;
    const name = `E2E scheduled ${Date.now()}`;
    await page.goto('/mailings/new');
    await page.getByTestId('mailing-name').fill(name);
    await page.getByTestId('mailing-sms-body').fill('See you tomorrow, {first_name}!');
    await page.getByTestId('mailing-when-schedule').check();
    assert.equal((await page.getByTestId('mailing-time-zone').innerText()).includes(zone), true);
    const tomorrow = new Date(Date.now() + 2 * 86_400_000).toLocaleDateString('sv-SE', { timeZone: zone });
    await page.getByTestId('mailing-date').fill(tomorrow);
    await page.getByTestId('mailing-time').fill('09:30');
    await page.getByTestId('mailing-send').click();
    await page.getByTestId('review-when').waitFor();
    assert.match(await page.getByTestId('review-when').innerText(), /^Scheduled for /);
    assert.match(await page.getByTestId('review-confirm').innerText(), /^Schedule /);
    await page.getByTestId('review-confirm').click();
    await page.waitForURL((url) => /^\/mailings\/[0-9a-f-]{36}$/.test(url.pathname));
    const id = pathOf(page).split('/').pop();
    await page.waitForFunction(() => document.querySelector('[data-testid="mailing-status"]')?.getAttribute('data-status') === 'scheduled');

    const mailing = await api(session, `/mailings/${id}`);
    assert.equal(new Date(mailing.scheduled_at).toISOString(), zonedToUtc(tomorrow, '09:30', zone).toISOString());

    // Cancel, after confirming.
    await page.getByTestId('action-cancel').click();
    // Nothing happens before the dialog is answered; "Cancel" there keeps the mailing.
    await page.getByTestId('confirm-no').click();
    await page.getByTestId('confirm-dialog').waitFor({ state: 'detached' });
    assert.equal((await api(session, `/mailings/${id}`)).status, 'scheduled');
    await page.getByTestId('action-cancel').click();
    await page.getByTestId('confirm-yes').click();
    await page.waitForFunction(() => document.querySelector('[data-testid="mailing-status"]')?.getAttribute('data-status') === 'cancelled');
    assert.equal(await page.getByTestId('action-cancel').count(), 0);
    assert.equal((await api(session, `/mailings/${id}`)).status, 'cancelled');
  });
});

test('a draft is reviewed with its exact figures before it is sent; its page names its segment; the header balance follows', async () => {
  await withPage(browser, 'mailing-draft-review', signedInPage, async (page, session) => {
    const { segment, reach } = await smallSegment(session);
    const draft = await api(session, '/mailings', {
      method: 'POST',
      body: JSON.stringify({
        name: `E2E reviewed draft ${Date.now()}`,
        audience: { type: 'segment', segment_id: segment.id },
        channels: ['sms'],
        content: { sms: { body: 'Hi {first_name}, see you soon' } },
        draft: true,
      }),
    });
    await page.goto(`/mailings/${draft.id}`);
    assert.match(await page.getByTestId('mailing-segment').innerText(), new RegExp(segment.name));
    const smsFigure = page.getByTestId('figure-sms').getByTestId('figure-value');
    await smsFigure.waitFor();
    const before = number(await smsFigure.innerText());

    // "Send now" opens the review; going back sends nothing.
    await page.getByTestId('action-send').click();
    await page.getByTestId('review-confirm').waitFor();
    assert.match(await page.getByTestId('review-sms').innerText(), new RegExp(`${thousands(reach.sms)} recipients?`));
    const label = await page.getByTestId('review-confirm').innerText();
    const match = label.match(new RegExp(`^Send ${thousands(reach.sms)} SMS · ([0-9,]+) credits$`));
    assert.ok(match, label);
    await page.getByTestId('review-back').click();
    await page.getByTestId('mailing-review').waitFor({ state: 'detached' });
    assert.equal((await api(session, `/mailings/${draft.id}`)).status, 'draft', 'nothing sent without the confirmation');

    await page.getByTestId('action-send').click();
    await page.getByTestId('review-confirm').click();
    await page.waitForFunction(
      () => document.querySelector('[data-testid="mailing-status"]')?.getAttribute('data-status') === 'completed',
      null,
      { timeout: 60_000 },
    );
    // The header's SMS balance moves without a reload, to what the server has.
    await page.waitForFunction(
      ([was]) => {
        const text = document.querySelector('[data-testid="figure-sms"] [data-testid="figure-value"]')?.innerText ?? '';
        return Number(text.replace(/[^0-9]/g, '')) !== was;
      },
      [before],
      { timeout: 30_000 },
    );
    const balances = await api(session, '/balances');
    await page.waitForFunction(
      ([want]) => document.querySelector('[data-testid="figure-sms"] [data-testid="figure-value"]')?.innerText === want,
      [thousands(balances.sms.available)],
    );
  });
});

test('a mailing page names who was not reached and why, and the list downloads as CSV', async () => {
  await withPage(browser, 'mailing-problems', signedInPage, async (page, session) => {
    const tag = `e2e-bounce-${Date.now() % 1000000}`;
    // The sandbox refuses mail to bounce@… for good: a failure with a reason.
    await api(session, '/customers', {
      method: 'POST',
      body: JSON.stringify({
        first_name: 'Una',
        last_name: 'Bounce',
        email: `bounce@${tag}.example.com`,
        tags: [tag],
        consent: { sms: false, email: true, telegram: false, messenger: false },
      }),
    });
    const segment = await api(session, '/segments', {
      method: 'POST',
      body: JSON.stringify({ name: `E2E ${tag}`, rule: { type: 'has_tag', tag } }),
    });
    const mailing = await api(session, '/mailings', {
      method: 'POST',
      body: JSON.stringify({
        name: `E2E problems ${tag}`,
        audience: { type: 'segment', segment_id: segment.id },
        channels: ['email'],
        content: { email: { subject: 'Hi {first_name}', body: 'Hello {first_name}' } },
      }),
    });
    await page.goto(`/mailings/${mailing.id}`);
    await page.waitForFunction(
      () => document.querySelector('[data-testid="mailing-status"]')?.getAttribute('data-status') === 'completed',
      null,
      { timeout: 60_000 },
    );
    const row = page.getByTestId('problem-row');
    await row.waitFor();
    assert.equal(await row.count(), 1);
    assert.match(await row.innerText(), /Una Bounce/);
    assert.equal(await row.getAttribute('data-state'), 'failed');
    assert.match(await row.getByTestId('problem-reason').innerText(), /mailbox does not exist/);

    const [file] = await Promise.all([page.waitForEvent('download'), page.getByTestId('problems-csv').click()]);
    const text = await new Promise((resolve, reject) => {
      file.createReadStream().then((stream) => {
        let data = '';
        stream.on('data', (chunk) => { data += chunk; });
        stream.on('end', () => resolve(data));
        stream.on('error', reject);
      }, reject);
    });
    const lines = text.trim().split('\r\n');
    assert.equal(lines[0], 'name,channel,state,reason,attempts,next_attempt_at,updated_at,customer_id');
    assert.equal(lines.length, 2);
    assert.match(lines[1], /^Una Bounce,email,failed,.*mailbox does not exist/);
  });
});

test('a draft opens in the editor with its audience and texts, is changed, and is sent as changed', async () => {
  await withPage(browser, 'mailing-draft-edit', signedInPage, async (page, session) => {
    const { segment, reach } = await smallSegment(session);
    const name = `E2E edited draft ${Date.now()}`;
    const draft = await api(session, '/mailings', {
      method: 'POST',
      body: JSON.stringify({
        name,
        audience: { type: 'segment', segment_id: segment.id },
        channels: ['sms'],
        content: { sms: { body: 'Old words for {first_name}' } },
        draft: true,
      }),
    });
    await page.goto(`/mailings/${draft.id}`);
    await page.getByTestId('mailing-draft-note').waitFor();
    assert.equal(await page.getByTestId('mailing-recipients').count(), 0, 'a draft has no recipients yet');
    assert.match(await page.locator('.content-note').innerText(), /are filled in for each customer when it is sent/);

    await page.getByTestId('action-edit').click();
    await page.waitForURL((url) => url.pathname === `/mailings/${draft.id}/edit`);
    await page.getByTestId('mailing-sms-body').waitFor();
    assert.equal(await page.getByTestId('mailing-name').inputValue(), name);
    assert.equal(await page.getByTestId('mailing-sms-body').inputValue(), 'Old words for {first_name}');
    await page.waitForFunction((id) => document.querySelector('[data-testid="mailing-segment"]')?.value === id, segment.id);
    // The live count is the draft's audience.
    await page.waitForFunction(
      (want) => document.querySelector('[data-testid="audience-count"]')?.innerText.startsWith(want),
      `${thousands(reach.sms)} by SMS`,
    );

    // Saved: the draft holds the new words, and nothing is sent.
    await page.getByTestId('mailing-sms-body').fill('New words for {first_name}');
    await page.getByTestId('mailing-save-draft').click();
    await page.waitForURL((url) => url.pathname === `/mailings/${draft.id}`);
    let saved = await api(session, `/mailings/${draft.id}`);
    assert.equal(saved.status, 'draft');
    assert.equal(saved.content.sms.body, 'New words for {first_name}');

    // Changed again and sent from the editor, through the review.
    await page.getByTestId('action-edit').click();
    await page.getByTestId('mailing-sms-body').waitFor();
    assert.equal(await page.getByTestId('mailing-sms-body').inputValue(), 'New words for {first_name}');
    await page.getByTestId('mailing-name').fill(`${name} (final)`);
    await page.getByTestId('mailing-send').click();
    await page.getByTestId('review-confirm').waitFor();
    assert.equal((await api(session, `/mailings/${draft.id}`)).name, name, 'nothing saved before the confirmation');
    await page.getByTestId('review-confirm').click();
    await page.waitForURL((url) => url.pathname === `/mailings/${draft.id}`);
    await page.waitForFunction(
      () => ['sending', 'completed'].includes(document.querySelector('[data-testid="mailing-status"]')?.getAttribute('data-status')),
    );
    saved = await api(session, `/mailings/${draft.id}`);
    assert.equal(saved.name, `${name} (final)`);
    assert.equal(saved.counts.total, reach.sms);
    assert.equal(await page.getByTestId('action-edit').count(), 0, 'a sent mailing is not edited');

    // The editor of a sent mailing says so.
    await page.goto(`/mailings/${draft.id}/edit`);
    await page.getByTestId('mailing-not-draft').waitFor();
    await screenshot(page, 'mailing-draft-edit');
  });
});
