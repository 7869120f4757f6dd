import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { EMAIL, PASSWORD, SESSION_KEY, apiLogin, launch, newPage, pathOf, signedInPage, withPage } from '../lib/harness.js';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

test('a signed-out visit to /customers lands on the sign-in page', async () => {
  await withPage(browser, 'unauthenticated-customers', (b) => newPage(b), async (page) => {
    await page.goto('/customers');
    await page.waitForURL((url) => url.pathname === '/sign-in');
    const url = new URL(page.url());
    assert.equal(url.searchParams.get('next'), '/customers');
    await page.getByTestId('sign-in-form').waitFor();
  });
});

test('a malformed email is refused at its field without asking the server, and the error clears once fixed', async () => {
  await withPage(browser, 'sign-in-malformed', (b) => newPage(b), async (page) => {
    const logins = [];
    page.on('request', (r) => { if (r.url().includes('/api/v1/auth/login')) logins.push(r.url()); });
    await page.goto('/sign-in');
    for (const typed of ['', 'owner', 'owner@demo', 'a b@example.com']) {
      await page.getByTestId('sign-in-email').fill(typed);
      await page.getByTestId('sign-in-password').fill(PASSWORD);
      await page.getByTestId('sign-in-submit').click();
      await page.locator('#sign-in-email-error').waitFor();
    }
    assert.equal(logins.length, 0, 'nothing was sent');
    await page.getByTestId('sign-in-email').fill(EMAIL);
    assert.equal(await page.locator('#sign-in-email-error').count(), 0, 'fixed, the error is gone');
    await page.getByTestId('sign-in-submit').click();
    await page.waitForURL((url) => url.pathname === '/mailings/history');
    assert.equal(logins.length, 1);
  });
});

test('wrong credentials show an error and stay on the sign-in page', async () => {
  await withPage(browser, 'sign-in-wrong-password', (b) => newPage(b), async (page) => {
    await page.goto('/sign-in');
    await page.getByTestId('sign-in-email').fill(EMAIL);
    await page.getByTestId('sign-in-password').fill(`${PASSWORD}-wrong`);
    await page.getByTestId('sign-in-submit').click();
    const error = page.getByTestId('sign-in-error');
    await error.waitFor();
    assert.match(await error.innerText(), /\S/);
    assert.equal(pathOf(page), '/sign-in');
  });
});

test('signing in opens the mailings history (the first built tab) and shows who is signed in', async () => {
  await withPage(browser, 'sign-in', (b) => newPage(b), async (page) => {
    await page.goto('/');
    await page.waitForURL((url) => url.pathname === '/sign-in');
    await page.getByTestId('sign-in-email').fill(EMAIL);
    await page.getByTestId('sign-in-password').fill(PASSWORD);
    await page.getByTestId('sign-in-submit').click();
    await page.waitForURL((url) => url.pathname === '/mailings/history');
    assert.notEqual((await page.getByTestId('merchant-name').innerText()).trim(), '');
    assert.notEqual((await page.getByTestId('member-name').innerText()).trim(), '');
    assert.match(await page.getByTestId('member-role').innerText(), /owner|admin|agent/i);
  });
});

test('after signing in, the user returns to the page they asked for', async () => {
  await withPage(browser, 'sign-in-return', (b) => newPage(b), async (page) => {
    await page.goto('/segments');
    await page.waitForURL((url) => url.pathname === '/sign-in');
    await page.getByTestId('sign-in-email').fill(EMAIL);
    await page.getByTestId('sign-in-password').fill(PASSWORD);
    await page.getByTestId('sign-in-submit').click();
    await page.waitForURL((url) => url.pathname === '/segments');
  });
});

test('signing out returns to the sign-in page and forgets the session', async () => {
  await withPage(browser, 'sign-out', signedInPage, async (page) => {
    await page.goto('/customers');
    await page.getByTestId('sign-out').click();
    await page.waitForURL((url) => url.pathname === '/sign-in');
    assert.equal(new URL(page.url()).searchParams.get('next'), null);
    assert.equal(await page.evaluate((key) => window.localStorage.getItem(key), SESSION_KEY), null);
    // The session is gone: a protected page sends us back to sign in.
    await page.goto('/settings');
    await page.waitForURL((url) => url.pathname === '/sign-in');
  });
});

test('a session the server no longer accepts sends the user to sign in, then back', async () => {
  await withPage(browser, 'expired-session', (b) => newPage(b), async (page) => {
    const session = await apiLogin();
    const revoked = { ...session, token: `${session.token}x` };
    await page.addInitScript(([key, value]) => window.localStorage.setItem(key, value), [SESSION_KEY, JSON.stringify(revoked)]);
    await page.goto('/customers?q=ada');
    await page.waitForURL((url) => url.pathname === '/sign-in');
    assert.equal(new URL(page.url()).searchParams.get('next'), '/customers?q=ada');
    assert.equal(await page.evaluate((key) => window.localStorage.getItem(key), SESSION_KEY), null);
    await page.getByTestId('sign-in-email').fill(EMAIL);
    await page.getByTestId('sign-in-password').fill(PASSWORD);
    await page.getByTestId('sign-in-submit').click();
    await page.waitForURL((url) => url.pathname === '/customers' && url.searchParams.get('q') === 'ada');
  });
});
