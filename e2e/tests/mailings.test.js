import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { AGENT_EMAIL, api, apiLogin, launch, pathOf, signedInPage, thousands, withPage } from '../lib/harness.js';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

const TABS = [
  ['tab-inbox', '/mailings/inbox', 'page-inbox'],
  ['tab-history', '/mailings/history', 'page-history'],
  ['tab-send-push', '/mailings/send-push', 'page-send-push'],
  ['tab-automation', '/mailings/automation', 'page-automation'],
  ['tab-auto-push', '/mailings/auto-push', 'page-auto-push'],
];

async function checkFigures(page, figures) {
  const value = (id) => page.getByTestId(id).getByTestId('figure-value').innerText();
  await page.getByTestId('figure-customers').waitFor();
  assert.equal((await value('figure-customers')).trim(), thousands(figures.customers));
  assert.equal((await value('figure-push')).trim(), figures.push_free ? 'Free' : 'Paid');
  assert.equal((await value('figure-sms')).trim(), thousands(figures.sms_balance));
  assert.equal((await value('figure-email')).trim(), thousands(figures.email_balance));
}

test('/ and /mailings open the mailings history; an unknown address shows not found', async () => {
  await withPage(browser, 'root-redirect', signedInPage, async (page) => {
    await page.goto('/');
    await page.waitForURL((url) => url.pathname === '/mailings/history');
    await page.getByTestId('page-history').waitFor();
    await page.goto('/mailings');
    await page.waitForURL((url) => url.pathname === '/mailings/history');
    // An unknown address says so, with a way back.
    await page.goto('/no-such-page');
    await page.getByTestId('not-found').waitFor();
  });
});

test('every Mailings tab has its own route and shows the header figures', async () => {
  await withPage(browser, 'mailings-tabs', signedInPage, async (page, session) => {
    const figures = await api(session, '/figures');
    await page.goto('/mailings/inbox');
    for (const [tab, route, panel] of TABS) {
      await page.getByTestId(tab).click();
      await page.waitForURL((url) => url.pathname === route);
      await page.getByTestId(panel).waitFor();
      assert.equal(await page.getByTestId(tab).getAttribute('aria-current'), 'page');
      await checkFigures(page, figures);
    }
    // Each tab is bookmarkable: loading its URL directly opens it.
    for (const [tab, route, panel] of TABS) {
      await page.goto(route);
      await page.getByTestId(panel).waitFor();
      assert.equal(pathOf(page), route);
      assert.equal(await page.getByTestId(tab).getAttribute('aria-current'), 'page');
    }
    // The back button walks back through the tabs.
    await page.goBack();
    await page.waitForURL((url) => url.pathname === TABS[3][1]);
  });
});

test('the mailings history lists mailings and searches them by name', async () => {
  await withPage(browser, 'mailings-history', signedInPage, async (page, session) => {
    const name = `E2E draft ${Date.now()}`;
    await api(session, '/mailings', {
      method: 'POST',
      body: JSON.stringify({
        name,
        audience: { type: 'all' },
        channels: ['sms'],
        content: { sms: { body: 'Hello {first_name}, see you soon!' } },
        draft: true,
      }),
    });
    await page.goto('/mailings/history');
    const row = page.getByTestId('mailing-row').filter({ hasText: name });
    await row.waitFor();
    assert.equal((await row.getByTestId('mailing-status').innerText()).trim(), 'Draft');
    assert.equal(await row.locator('.channel-sms').count(), 1);

    await page.getByTestId('mailing-search').fill(name);
    await page.waitForURL((url) => url.searchParams.get('q') === name);
    await page.waitForFunction(
      ([n]) => {
        const rows = [...document.querySelectorAll('[data-testid="mailing-row"]')];
        return rows.length >= 1 && rows.every((r) => r.innerText.includes(n)) && !document.querySelector('.fetched.stale');
      },
      [name],
    );
    await page.getByTestId('mailing-search').fill(`${name} no such mailing`);
    await page.getByTestId('empty').waitFor();
  });
});

test('an agent is told before acting: no Create, no Send, Pause or Cancel, and no form the server would refuse', async () => {
  const owner = await apiLogin();
  const draft = await api(owner, '/mailings', {
    method: 'POST',
    body: JSON.stringify({
      name: `E2E agent view ${Date.now()}`,
      audience: { type: 'all' },
      channels: ['sms'],
      content: { sms: { body: 'Hello {first_name}!' } },
      draft: true,
    }),
  });
  await withPage(
    browser,
    'mailings-agent',
    (b) => signedInPage(b, undefined, { email: AGENT_EMAIL }),
    async (page) => {
      await page.goto('/mailings/history');
      await page.getByTestId('create-mailing-note').waitFor();
      assert.equal(await page.getByTestId('create-mailing').count(), 0);
      await page.goto(`/mailings/${draft.id}`);
      await page.getByTestId('mailing-agent-note').waitFor();
      for (const action of ['action-send', 'action-pause', 'action-resume', 'action-resend', 'action-cancel']) {
        assert.equal(await page.getByTestId(action).count(), 0, action);
      }
      await page.goto('/mailings/new');
      await page.getByTestId('mailing-agent-note').waitFor();
      assert.equal(await page.getByTestId('mailing-form').count(), 0);
    },
  );
});
