import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { AGENT_EMAIL, api, launch, signedInPage, thousands, withPage } from '../lib/harness.js';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

test('send a push from the tab: live preview while typing, reach, a confirm step, then history with its figures', async () => {
  await withPage(browser, 'push-send', signedInPage, async (page, session) => {
    const card = (await api(session, '/cards?page=1&per_page=100')).items[0];
    const expected = await api(session, '/pushes/estimate', {
      method: 'POST',
      body: JSON.stringify({ card_id: card.id, audience: { type: 'all' } }),
    });
    assert.ok(expected.passes > 0, 'the demo card has passes');

    await page.goto('/mailings/send-push');
    await page.getByTestId('page-send-push').waitFor();
    await page.getByTestId('push-card').selectOption(card.id);
    const text = `Double stamps this weekend ${Date.now()}`;
    await page.getByTestId('push-message').fill(text);
    // The previews follow the typing: the lock screen and the back of the card.
    await page.getByTestId('phone-preview').getByText(text).waitFor();
    assert.equal(await page.getByTestId('card-back-message').textContent(), text);
    assert.equal(await page.getByTestId('push-counter').textContent(), `${text.length} / 260`);
    await page.waitForFunction(
      (n) => document.querySelector('[data-testid="reach-passes"]')?.textContent.startsWith(n),
      thousands(expected.passes),
    );
    assert.match(await page.getByTestId('push-reach').textContent(), new RegExp(`${thousands(expected.holders)} customers? will receive this`));
    // Every platform's reach is the server's: Google passes and browser subscriptions too.
    assert.ok((await page.getByTestId('reach-google').textContent()).startsWith(thousands(expected.google_passes)));
    assert.ok((await page.getByTestId('reach-web').textContent()).startsWith(thousands(expected.web_subscriptions)));

    // Nothing goes out before the confirm step.
    await page.getByTestId('push-review').click();
    const confirm = page.getByTestId('push-confirm');
    await confirm.waitFor();
    assert.match(await confirm.textContent(), new RegExp(`${thousands(expected.passes)} pass`));
    assert.equal((await api(session, '/pushes?page=1&per_page=100')).items.filter((p) => p.message === text).length, 0);
    await page.getByTestId('push-confirm-send').dblclick();
    await page.getByTestId('push-sent').waitFor();

    const row = page.getByTestId('push-row').filter({ hasText: text });
    await row.waitFor();
    assert.equal(await row.getByTestId('push-row-passes').textContent(), thousands(expected.passes));
    // Sending while the engine wakes the devices, then Sent: the row follows the change feed.
    await page.waitForFunction(
      (t) => [...document.querySelectorAll('[data-testid="push-row"]')]
        .find((r) => r.textContent.includes(t))
        ?.querySelector('[data-testid="push-row-status"]')?.textContent === 'Sent',
      text,
      { timeout: 30_000 },
    );
    const sent = (await api(session, '/pushes?page=1&per_page=100')).items.filter((p) => p.message === text);
    assert.equal(sent.length, 1, 'a double click sends once');
    assert.equal(sent[0].passes, expected.passes);

    // The same text again: the tab warns that an iPhone would show nothing.
    await page.getByTestId('push-message').fill(text);
    await page.getByTestId('push-same-message').waitFor();
  });
});

test('a push scheduled from the tab fires at its minute and the history shows it without a reload', async () => {
  await withPage(browser, 'push-scheduled', signedInPage, async (page, session) => {
    const me = await api(session, '/me');
    const zone = me.merchant.time_zone;
    const card = (await api(session, '/cards?page=1&per_page=100')).items[0];
    await page.goto('/mailings/send-push');
    await page.getByTestId('page-send-push').waitFor();
    await page.getByTestId('push-card').selectOption(card.id);
    const text = `Opening early tomorrow ${Date.now()}`;
    await page.getByTestId('push-message').fill(text);
    // The next whole minute in the merchant's time zone (two ahead when this one ends soon).
    const at = new Date(Date.now() + (new Date().getSeconds() >= 45 ? 120_000 : 60_000));
    const date = at.toLocaleDateString('sv-SE', { timeZone: zone });
    const time = at.toLocaleTimeString('en-GB', { timeZone: zone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
    await page.getByTestId('push-when-schedule').check();
    assert.ok((await page.getByTestId('push-time-zone').innerText()).includes(zone));
    await page.getByTestId('push-date').fill(date);
    await page.getByTestId('push-time').fill(time);
    await page.getByTestId('push-review').click();
    await page.getByTestId('push-confirm').waitFor();
    await page.getByTestId('push-confirm-send').click();
    const row = page.getByTestId('push-row').filter({ hasText: text });
    await row.waitFor();
    assert.equal(await row.getByTestId('push-row-status').textContent(), 'Scheduled');
    const scheduled = (await api(session, '/pushes?page=1&per_page=100')).items.find((p) => p.message === text);
    assert.equal(scheduled.status, 'scheduled');
    const due = new Date(scheduled.scheduled_at);
    assert.equal(due.toLocaleDateString('sv-SE', { timeZone: zone }), date, 'the date typed, in the merchant time zone');
    assert.equal(due.toLocaleTimeString('en-GB', { timeZone: zone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }), time);
    await page.waitForFunction(
      (t) => [...document.querySelectorAll('[data-testid="push-row"]')]
        .find((r) => r.textContent.includes(t))
        ?.querySelector('[data-testid="push-row-status"]')?.textContent === 'Sent',
      text,
      { timeout: 150_000 },
    );
  });
});

test('an agent sees the history but is not offered Send', async () => {
  await withPage(
    browser,
    'push-agent',
    (b) => signedInPage(b, undefined, { email: AGENT_EMAIL }),
    async (page) => {
      await page.goto('/mailings/send-push');
      await page.getByTestId('push-agent-note').waitFor();
      assert.equal(await page.getByTestId('push-review').isDisabled(), true);
    },
  );
});

test('a card holder enrols on the public page, with their own consent, and gets their pass', async () => {
  await withPage(browser, 'enrol', signedInPage, async (page, session) => {
    const card = (await api(session, '/cards?page=1&per_page=100')).items[0];
    // The dashboard links each card's enrolment page and its QR code.
    await page.goto('/cards');
    const link = page.getByTestId('card-row').filter({ hasText: card.name }).getByTestId('card-enrol-link');
    assert.equal(await link.getAttribute('href'), `/join/${card.id}`);
    const qr = await page.request.get(`/join/${card.id}/qr.svg`);
    assert.equal(qr.status(), 200);

    await page.goto(`/join/${card.id}`);
    const phone = `+1415555${String(Date.now()).slice(-4)}`;
    await page.fill('#first_name', 'Enrolled');
    await page.fill('#last_name', 'Holder');
    await page.fill('#phone', phone);
    await page.check('#consent_sms');
    await page.click('button[type=submit]');
    await page.getByText('Welcome, Enrolled!').waitFor();
    const passLink = page.locator('a[href*="/passes/"]');
    const href = await passLink.getAttribute('href');
    const pkpass = await page.request.get(href);
    assert.equal(pkpass.status(), 200);
    assert.equal(pkpass.headers()['content-type'], 'application/vnd.apple.pkpass');
    // Without Apple credentials the page says why the button is unavailable.
    await page.getByText('Apple Wallet is not available yet').waitFor();

    const found = await api(session, `/customers?q=${encodeURIComponent(phone)}`);
    assert.equal(found.items.length, 1);
    assert.equal(found.items[0].consent.sms, true);
    assert.equal(found.items[0].consent.email, false);
  });
});
