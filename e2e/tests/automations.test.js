import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { AGENT_EMAIL, BASE_URL, api, launch, signedInPage, withPage } from '../lib/harness.js';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

/// A customer of the demo holding a Google pass of `card` (always notifiable).
async function googleHolder(session, card) {
  for (let page = 1; page <= 10; page += 1) {
    const customers = await api(session, `/customers?page=${page}&per_page=50`);
    for (const c of customers.items) {
      const detail = await api(session, `/customers/${c.id}`);
      if (detail.passes.some((p) => p.card_id === card.id && p.platform === 'google')) {
        return detail;
      }
    }
  }
  throw new Error('the demo has no Google pass of the card');
}

const DEFAULT_RULES = {
  paused: false, quiet_start: '21:00', quiet_end: '08:00', cap_messages: 3, cap_days: 7, staleness_hours: 24,
};

test('a custom rule made in the browser fires on an event an API key posts: the push is in the history and in the rule\'s figures', async () => {
  await withPage(browser, 'auto-push-rule', signedInPage, async (page, session) => {
    const card = (await api(session, '/cards?page=1&per_page=100')).items[0];
    const holder = await googleHolder(session, card);
    // Whatever the hour this runs at: no quiet hours, and room under the cap.
    await api(session, '/automation-settings', {
      method: 'PUT',
      body: JSON.stringify({ ...DEFAULT_RULES, quiet_start: '00:00', quiet_end: '00:00', cap_messages: 100 }),
    });
    try {
      await page.goto('/mailings/auto-push');
      await page.getByTestId('page-auto-push').waitFor();
      await page.getByTestId('automation-card').selectOption(card.id);
      await page.getByTestId('rule-new').click();
      const editor = page.getByTestId('automation-editor');
      await editor.waitFor();
      const name = `Review thanks ${Date.now()}`;
      await page.getByTestId('automation-name').fill(name);
      await page.getByTestId('automation-event').selectOption('review_sent');
      await page.getByTestId('automation-delay').fill('0');
      await page.getByTestId('automation-message').fill('Thanks for the review, {first_name}! {points} points.');
      // The preview fills the variables for a sample customer.
      await editor.getByTestId('phone-preview').getByText('Thanks for the review, Ada! 120 points.').waitFor();
      await page.getByTestId('automation-save').click();
      await page.getByTestId('automation-note').waitFor();
      const row = page.getByTestId('rule-row').filter({ hasText: name });
      await row.waitFor();
      assert.equal(await row.getByTestId('rule-trigger').textContent(), 'Review sent');
      assert.equal(await row.getByTestId('rule-delay').textContent(), 'right away');
      assert.equal(await row.getByTestId('figure-sent').textContent(), '0');
      const rule = (await api(session, `/automations?card_id=${card.id}`)).find((a) => a.name === name);
      assert.ok(rule?.enabled, 'created enabled');

      // An integration posts a review with a key that may only record events.
      const key = await api(session, '/api-keys', {
        method: 'POST',
        body: JSON.stringify({ name: `reviews ${Date.now()}`, scopes: ['events:write'] }),
      });
      const posted = await fetch(`${BASE_URL}/api/v1/events`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${key.secret}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ events: [{ id: `review-${Date.now()}`, kind: 'review_sent', customer_id: holder.id }] }),
      });
      assert.equal(posted.status, 200);

      // The engine fires it; the row's figures follow without a reload.
      await page.waitForFunction(
        (n) => [...document.querySelectorAll('[data-testid="rule-row"]')]
          .find((r) => r.textContent.includes(n))
          ?.querySelector('[data-testid="figure-sent"]')?.textContent === '1',
        name,
        { timeout: 30_000 },
      );
      const fired = await api(session, `/automations/${rule.id}`);
      assert.equal(fired.figures.sent, 1);
      assert.ok(fired.figures.last_fired_at);

      // The push history names the rule; the customer's pass carries the filled-in message.
      const pushes = (await api(session, '/pushes?page=1&per_page=20')).items.filter((p) => p.automation_id === rule.id);
      assert.equal(pushes.length, 1);
      assert.equal(pushes[0].automation_name, name);
      await page.goto('/mailings/send-push');
      await page.getByTestId('push-row').filter({ hasText: `automation “${name}”` }).waitFor();
      const messages = await api(session, `/customers/${holder.id}/messages?page=1&per_page=10`);
      assert.equal(messages.items[0].source, 'automation');
      assert.equal(messages.items[0].source_name, name);

      // Deleting it from the table asks first.
      await page.goto('/mailings/auto-push');
      await page.getByTestId('automation-card').selectOption(card.id);
      const again = page.getByTestId('rule-row').filter({ hasText: name });
      await again.getByTestId('rule-delete').click();
      await page.getByTestId('rule-delete-confirm').waitFor();
      await page.getByTestId('rule-delete-yes').click();
      await again.waitFor({ state: 'detached' });
      assert.equal((await api(session, `/automations?card_id=${card.id}`)).filter((a) => a.name === name).length, 0);
    } finally {
      await api(session, '/automation-settings', { method: 'PUT', body: JSON.stringify(DEFAULT_RULES) });
    }
  });
});

test('push automation tiles: set up a birthday push with its preview, turn it off and on; an agent only reads', async () => {
  await withPage(browser, 'automation-tiles', signedInPage, async (page, session) => {
    const cards = (await api(session, '/cards?page=1&per_page=100')).items;
    const card = cards[cards.length - 1];
    await page.goto('/mailings/automation');
    await page.getByTestId('page-automation').waitFor();
    await page.getByTestId('automation-card').selectOption(card.id);
    const tile = page.getByTestId('tile-birthday');
    await tile.waitFor();
    const existing = (await api(session, `/automations?card_id=${card.id}`)).find((a) => a.kind === 'birthday');
    if (!existing) {
      await tile.getByTestId('automation-setup').click();
    } else {
      await tile.getByTestId('automation-edit').click();
    }
    await page.getByTestId('automation-editor').waitFor();
    await page.getByTestId('automation-days-before').fill('2');
    await page.getByTestId('automation-send-time').fill('09:30');
    await page.getByTestId('automation-message').fill('Happy birthday soon, {first_name}!');
    await page.getByTestId('automation-editor').getByTestId('card-back-message').getByText('Happy birthday soon, Ada!').waitFor();
    await page.getByTestId('automation-save').click();
    await tile.getByText('2 days before the birthday at 09:30').waitFor();
    const saved = (await api(session, `/automations?card_id=${card.id}`)).find((a) => a.kind === 'birthday');
    assert.deepEqual(saved.trigger, { type: 'birthday', days_before: 2, send_time: '09:30' });

    // Off, then on: the server's answer is what the switch shows.
    const toggle = tile.getByTestId('automation-toggle');
    if (await toggle.isChecked()) {
      await toggle.click();
      await page.waitForFunction(() => !document.querySelector('[data-testid="tile-birthday"] [data-testid="automation-toggle"]')?.checked);
    }
    assert.equal((await api(session, `/automations/${saved.id}`)).enabled, false);
    await tile.getByTestId('automation-toggle').click();
    await page.waitForFunction(() => document.querySelector('[data-testid="tile-birthday"] [data-testid="automation-toggle"]')?.checked);
    assert.equal((await api(session, `/automations/${saved.id}`)).enabled, true);
  });

  await withPage(browser, 'automation-agent', (b, size) => signedInPage(b, size, { email: AGENT_EMAIL }), async (page) => {
    await page.goto('/mailings/auto-push');
    await page.getByTestId('page-auto-push').waitFor();
    assert.equal(await page.getByTestId('rule-new').count(), 0, 'agents do not create rules');
    await page.goto('/mailings/automation');
    await page.getByTestId('automation-agent-note').waitFor();
    await page.getByTestId('tile-birthday').waitFor();
    assert.equal(await page.getByTestId('automation-setup').count() + await page.getByTestId('automation-edit').count(), 0);
  });
});
