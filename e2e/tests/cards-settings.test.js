import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { AGENT_EMAIL, BASE_URL, api, apiLogin, launch, operatorTopUp, signedInPage, thousands, withPage } from '../lib/harness.js';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

test('a new card is created from the form and listed in its colours', async () => {
  await withPage(browser, 'cards-create', signedInPage, async (page, session) => {
    const name = `E2E card ${Date.now()}`;
    await page.goto('/cards');
    await page.getByTestId('card-row').first().waitFor();

    // Without a name the form refuses, next to the field.
    await page.getByTestId('card-save').click();
    await page.locator('#card-name-error').waitFor();

    await page.getByTestId('card-name').fill(name);
    await page.getByTestId('card-kind').selectOption('points');
    await page.getByTestId('card-logo-text').fill('E2E');
    await page.locator('#card-bg-hex').fill('#123456');
    assert.match(await page.getByTestId('card-preview').innerText(), new RegExp(name));
    await page.getByTestId('card-save').click();
    await page.getByTestId('card-saved').waitFor();
    const row = page.getByTestId('card-row').filter({ hasText: name });
    await row.waitFor();
    assert.match(await row.innerText(), /Points card/);

    const saved = (await api(session, '/cards?page=1&per_page=100')).items.find((c) => c.name === name);
    assert.ok(saved, 'the card is saved');
    assert.equal(saved.kind, 'points');
    assert.equal(saved.design.background_color, '#123456');
    await api(session, `/cards/${saved.id}`, { method: 'DELETE' });
  });
});

test('settings show the team, and an API key is shown once when created', async () => {
  await withPage(browser, 'settings-api-key', signedInPage, async (page, session) => {
    const name = `E2E key ${Date.now()}`;
    await page.goto('/settings');
    await page.getByTestId('team-member').first().waitFor();
    const team = await api(session, '/team');
    assert.equal(await page.getByTestId('team-member').count(), team.length);

    await page.getByTestId('api-key-name').fill(name);
    // Without a scope ticked nothing is sent: the form says what is missing.
    await page.getByTestId('api-key-create').click();
    await page.getByText('Tick what the integration may do.').waitFor();
    await page.locator('[data-testid="api-key-scope"][value="customers:read"]').check();
    await page.getByTestId('api-key-create').click();
    const secret = await page.getByTestId('api-key-secret').inputValue();
    assert.ok(secret.length >= 16, 'the secret is shown');
    const row = page.getByTestId('api-key-row').filter({ hasText: name });
    await row.waitFor();
    assert.equal((await row.getByTestId('api-key-scopes').innerText()).trim(), 'customers:read');

    // The secret works as a bearer token.
    const me = await fetch(`${process.env.E2E_BASE_URL || 'http://127.0.0.1:8080'}/api/v1/me`, {
      headers: { authorization: `Bearer ${secret}` },
    });
    assert.equal(me.status, 200);
    // It may do what was ticked, and nothing else.
    const segments = await fetch(`${process.env.E2E_BASE_URL || 'http://127.0.0.1:8080'}/api/v1/segments`, {
      headers: { authorization: `Bearer ${secret}` },
    });
    assert.equal(segments.status, 403);

    // Revoking is asked in the page first.
    await row.getByTestId('api-key-revoke').click();
    assert.match(await page.getByTestId('confirm-dialog').innerText(), /Revoke the key/);
    await page.getByTestId('confirm-yes').click();
    await page.waitForFunction(
      ([n]) => {
        const rows = [...document.querySelectorAll('[data-testid="api-key-row"]')].filter((r) => r.innerText.includes(n));
        return rows.length === 0 || rows.every((r) => /Revoked/.test(r.innerText));
      },
      [name],
    );
  });
});

test('the settings show the balances, how to buy credits and a ledger that follows the operator', async () => {
  await withPage(browser, 'settings-credits', signedInPage, async (page, session) => {
    const before = await api(session, '/balances');
    await page.goto('/settings#balances');
    await page.getByTestId('balance-sms').waitFor();
    assert.equal((await page.getByTestId('balance-sms').innerText()).trim(), thousands(before.sms.available));
    // No top-up form: merchants are told how to buy, as the operator configured it.
    assert.equal(await page.getByTestId('top-up-form').count(), 0);
    assert.equal(
      await page.getByTestId('credits-purchase-link').getAttribute('href'),
      'https://billing.example.com/credits',
    );
    assert.match(await page.getByTestId('credits-purchase-text').innerText(), /billed monthly/);
    // The operator adds 1,500: the page shows it after a reload, with its ledger line.
    await operatorTopUp(session, 'sms', 1500);
    await page.reload();
    const expected = thousands(before.sms.available + 1500);
    await page.waitForFunction(
      ([n]) => document.querySelector('[data-testid="balance-sms"]')?.innerText.trim() === n,
      [expected],
    );
    const first = page.getByTestId('ledger-row').first();
    await first.waitFor();
    assert.match(await first.innerText(), /Added[\s\S]*\+1,500 SMS/);
    // The merchant's own credentials cannot add credits.
    const res = await fetch(`${BASE_URL}/api/v1/balances/top-up`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${session.token}` },
      body: JSON.stringify({ kind: 'sms', amount: 1000 }),
    });
    assert.ok([404, 405].includes(res.status), `${res.status}`);
    assert.equal((await api(session, '/balances')).sms.available, before.sms.available + 1500);
  });
});

test('an agent sees cards, segments and keys without the forms the server would refuse', async () => {
  const asAgent = (b) => signedInPage(b, undefined, { email: AGENT_EMAIL });
  await withPage(browser, 'agent-read-only', asAgent, async (page) => {
    await page.goto('/cards');
    await page.getByTestId('card-row').first().waitFor();
    await page.getByTestId('cards-read-only').waitFor();
    assert.equal(await page.getByTestId('card-form').count(), 0);
    assert.equal(await page.getByTestId('card-edit').count(), 0);

    await page.goto('/segments');
    await page.getByTestId('segment-count').waitFor();
    await page.getByTestId('segments-read-only').waitFor();
    assert.equal(await page.getByTestId('segment-save').count(), 0);

    await page.goto('/settings');
    await page.getByTestId('settings-api-keys').waitFor();
    assert.equal(await page.getByTestId('api-key-form').count(), 0);
    assert.match(await page.getByTestId('member-role').innerText(), /Agent/);
  });
});

test('a member changes their password in settings; the old one stops working and other sessions end', async () => {
  const owner = await apiLogin();
  const email = `e2e-password-${Date.now()}@team.example.com`;
  const first = 'first long password';
  const second = 'second long password';
  await api(owner, '/team', {
    method: 'POST',
    body: JSON.stringify({ name: 'Password Tester', email, password: first, role: 'agent' }),
  });
  const other = await apiLogin(email, first);
  const asMember = (b) => signedInPage(b, undefined, { email, password: first });
  await withPage(browser, 'settings-password', asMember, async (page) => {
    await page.goto('/settings');
    await page.getByTestId('password-form').waitFor();
    // A mistyped repeat is caught at the field, before anything is sent.
    await page.getByTestId('current-password').fill(first);
    await page.getByTestId('new-password').fill(second);
    await page.getByTestId('repeat-password').fill('something else entirely');
    await page.getByTestId('password-save').click();
    await page.locator('#repeat-password-error').waitFor();
    // A wrong current password is the server's answer, at its field.
    await page.getByTestId('current-password').fill('not my password at all');
    await page.getByTestId('repeat-password').fill(second);
    await page.getByTestId('password-save').click();
    await page.locator('#current-password-error').waitFor();

    await page.getByTestId('current-password').fill(first);
    await page.getByTestId('password-save').click();
    await page.getByTestId('password-changed').waitFor();
    // This tab carries on with its new session; the other one has ended.
    await page.reload();
    await page.getByTestId('password-form').waitFor();
    const ended = await fetch(`${BASE_URL}/api/v1/me`, { headers: { authorization: `Bearer ${other.token}` } });
    assert.equal(ended.status, 401);
  });
  const old = await fetch(`${BASE_URL}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password: first }),
  });
  assert.equal(old.status, 401);
  await apiLogin(email, second);
});
