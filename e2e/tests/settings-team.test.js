import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { AGENT_EMAIL, BASE_URL, api, apiLogin, launch, newPage, screenshot, signedInPage, withPage } from '../lib/harness.js';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

async function loginStatus(email, password) {
  const res = await fetch(`${BASE_URL}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password }),
  });
  return res.status;
}

test('the owner changes the business details in settings, and they follow everywhere', async () => {
  await withPage(browser, 'settings-business', signedInPage, async (page, session) => {
    const before = (await api(session, '/me')).merchant;
    const zone = before.time_zone === 'Europe/Berlin' ? 'America/Chicago' : 'Europe/Berlin';
    try {
      await page.goto('/settings');
      await page.getByTestId('merchant-edit').click();
      await page.getByTestId('merchant-name-input').fill('');
      await page.getByTestId('merchant-save').click();
      await page.locator('#merchant-name-input-error').waitFor();
      await page.getByTestId('merchant-name-input').fill(`${before.name} (e2e)`);
      await page.locator('#merchant-name-input-error').waitFor({ state: 'detached' });
      await page.getByTestId('merchant-country-input').fill('X1');
      await page.getByTestId('merchant-save').click();
      await page.locator('#merchant-country-input-error').waitFor();
      await page.getByTestId('merchant-country-input').fill(before.default_country);
      await page.getByTestId('merchant-time-zone-input').selectOption(zone);
      await page.getByTestId('merchant-save').click();
      await page.getByTestId('merchant-saved').waitFor();
      const details = page.getByTestId('merchant-details');
      assert.equal(await details.getByTestId('merchant-name').innerText(), `${before.name} (e2e)`);
      assert.equal(await details.getByTestId('merchant-time-zone').innerText(), zone);
      // The header names the business as it is now.
      assert.equal(await page.locator('.topbar-merchant').innerText(), `${before.name} (e2e)`);
      const after = (await api(session, '/me')).merchant;
      assert.equal(after.name, `${before.name} (e2e)`);
      assert.equal(after.time_zone, zone);
      // The session the dashboard keeps carries the new details (the header, times on screen).
      const stored = await page.evaluate(() => JSON.parse(localStorage.getItem('loyalcast.session')).merchant);
      assert.equal(stored.time_zone, zone);
    } finally {
      await api(session, '/merchant', {
        method: 'PATCH',
        body: JSON.stringify({ name: before.name, time_zone: before.time_zone }),
      });
    }
  });
});

test('an owner invites a team member, who chooses a password and signs in; their role changes; they are removed after asking', async () => {
  await withPage(browser, 'settings-team', signedInPage, async (page, session) => {
    const email = `e2e-sam-${Date.now()}@team.example.com`;
    const password = 'a password sam chose';
    await page.goto('/settings');
    await page.getByTestId('team-member').first().waitFor();
    const count = await page.getByTestId('team-member').count();

    await page.getByTestId('team-name').fill('Sam Rivera');
    await page.getByTestId('team-email').fill('sam@');
    await page.getByTestId('team-invite').click();
    await page.locator('#team-email-error').waitFor();
    await page.getByTestId('team-email').fill(email);
    await page.getByTestId('team-role').selectOption('agent');
    await page.getByTestId('team-invite').click();
    await page.getByTestId('invite-created').waitFor();
    const link = await page.getByTestId('invite-link').inputValue();
    assert.match(link, /\/invite\/[A-Za-z0-9_-]{43}$/);
    await page.getByTestId('invitation').filter({ hasText: email }).waitFor();
    assert.equal(await page.getByTestId('team-member').count(), count, 'not a member before joining');

    // Sam opens the link in a browser of their own, chooses a password and is signed in.
    const { context: samContext, page: sam } = await newPage(browser);
    try {
      await sam.goto(new URL(link).pathname);
      const me = (await api(session, '/me')).merchant;
      assert.equal(await sam.getByTestId('join-title').innerText(), `Join ${me.name}`);
      assert.match(await sam.getByTestId('join-role').innerText(), new RegExp(`invited as agent and will sign in as ${email}`));
      assert.equal(await sam.getByTestId('join-name').inputValue(), 'Sam Rivera');
      await sam.getByTestId('join-password').fill('short');
      await sam.getByTestId('join-submit').click();
      await sam.locator('#join-password-error').waitFor();
      await sam.getByTestId('join-password').fill(password);
      await sam.getByTestId('join-submit').click();
      await sam.waitForURL((url) => url.pathname === '/mailings/history');
      const stored = await sam.evaluate(() => JSON.parse(localStorage.getItem('loyalcast.session')).member);
      assert.equal(stored.role, 'agent');
      // The link is spent.
      await sam.goto(new URL(link).pathname);
      await sam.getByTestId('join-gone').waitFor();
      await screenshot(sam, 'team-join-gone');
    } finally {
      await samContext.close();
    }
    assert.equal((await apiLogin(email, password)).member.role, 'agent');

    // In the owner's list: a member now, no longer an invitation.
    await page.reload();
    const row = page.getByTestId('team-member').filter({ hasText: email });
    await row.waitFor();
    await page.getByTestId('invitations-none').waitFor();

    // An email already on a team is refused at the email field.
    await page.getByTestId('team-name').fill('Sam Again');
    await page.getByTestId('team-email').fill(email);
    await page.getByTestId('team-invite').click();
    await page.locator('#team-email-error').waitFor();

    // The role changes in place, and the server has it.
    await row.getByTestId('team-member-role').selectOption('admin');
    for (let i = 0; i < 50; i += 1) {
      const member = (await api(session, '/team')).find((m) => m.email === email);
      if (member.role === 'admin') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal((await api(session, '/team')).find((m) => m.email === email).role, 'admin');

    await row.getByTestId('team-remove').click();
    assert.match(await page.getByTestId('confirm-dialog').innerText(), /Remove Sam Rivera from the team\?/);
    await page.getByTestId('confirm-yes').click();
    await row.waitFor({ state: 'detached' });
    assert.equal(await loginStatus(email, password), 401, 'a removed member cannot sign in');
    assert.equal((await api(session, '/team')).length, count);
  });
});

test('an invitation is withdrawn after asking, and its link stops working', async () => {
  await withPage(browser, 'settings-invite-withdraw', signedInPage, async (page, session) => {
    const email = `e2e-kim-${Date.now()}@team.example.com`;
    const invitation = await api(session, '/team/invitations', {
      method: 'POST',
      body: JSON.stringify({ name: 'Kim Lee', email, role: 'admin' }),
    });
    await page.goto('/settings');
    const row = page.getByTestId('invitation').filter({ hasText: email });
    await row.waitFor();
    await row.getByTestId('invitation-withdraw').click();
    assert.match(await page.getByTestId('confirm-dialog').innerText(), /Withdraw the invitation of Kim Lee\?/);
    await page.getByTestId('confirm-yes').click();
    await row.waitFor({ state: 'detached' });
    const token = invitation.link.split('/').pop();
    const res = await fetch(`${BASE_URL}/api/v1/invitations/${token}`);
    assert.equal(res.status, 404);
  });
});

test('an agent sees the business and is told who manages the team', async () => {
  await withPage(
    browser,
    'settings-agent',
    (b) => signedInPage(b, undefined, { email: AGENT_EMAIL }),
    async (page) => {
      await page.goto('/settings');
      await page.getByTestId('merchant-owner-only').waitFor();
      await page.getByTestId('team-admins-only').waitFor();
      assert.equal(await page.getByTestId('merchant-edit').count(), 0);
      assert.equal(await page.getByTestId('team-form').count(), 0);
    },
  );
});
