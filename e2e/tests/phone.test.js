import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { api, launch, screenshot, signedInPage, withPage } from '../lib/harness.js';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

const PHONE = { width: 390, height: 844 };

/** What a phone-width page is like: sideways overflow, the tab rows, where content starts. */
async function measure(page) {
  return page.evaluate(() => {
    const doc = document.scrollingElement;
    const tabs = [...document.querySelectorAll('.tabs [role="tab"], .tabs a')];
    const rows = new Set(tabs.map((t) => Math.round(t.getBoundingClientRect().top)));
    // Anything wider than the screen that the page itself would scroll to see.
    const wide = [...document.querySelectorAll('body *')]
      .filter((el) => {
        const r = el.getBoundingClientRect();
        if (r.width === 0 || r.right <= window.innerWidth + 1) return false;
        // Inside something that scrolls sideways on its own (the tab strip) is fine.
        for (let p = el.parentElement; p; p = p.parentElement) {
          const s = getComputedStyle(p);
          if ((s.overflowX === 'auto' || s.overflowX === 'scroll' || s.overflowX === 'hidden') && p.getBoundingClientRect().right <= window.innerWidth + 1) return false;
        }
        return true;
      })
      .slice(0, 5)
      .map((el) => `${el.tagName.toLowerCase()}.${el.className} (${Math.round(el.getBoundingClientRect().right)} px)`);
    return {
      overflow: doc.scrollWidth - doc.clientWidth,
      tabRows: rows.size,
      wide,
    };
  });
}

test('at phone width every page fits without sideways scrolling, and the tabs keep to one row', async () => {
  await withPage(browser, 'phone-width', (b) => signedInPage(b, PHONE), async (page, session) => {
    const mailings = await api(session, '/mailings?page=1&per_page=1');
    const pages = ['/mailings/history', '/mailings/new', '/mailings/send-push', '/customers', '/segments', '/cards', '/settings'];
    if (mailings.items[0]) pages.push(`/mailings/${mailings.items[0].id}`);
    for (const path of pages) {
      await page.goto(path);
      await page.locator('main .panel, main section').first().waitFor();
      await page.waitForLoadState('networkidle');
      const m = await measure(page);
      await screenshot(page, `phone${path.replaceAll('/', '-')}`);
      assert.ok(m.overflow <= 1, `${path} scrolls sideways by ${m.overflow} px: ${m.wide.join(', ')}`);
      if (path.startsWith('/mailings')) assert.equal(m.tabRows, 1, `${path}: the tabs take ${m.tabRows} rows`);
    }
  });
});

test('at phone width phone numbers read as the merchant’s country writes them, and the customers list is cards', async () => {
  await withPage(browser, 'phone-customers', (b) => signedInPage(b, PHONE), async (page, session) => {
    const first = (await api(session, '/customers?page=1&per_page=5&sort=name&order=asc')).items.find((c) => c.phone?.startsWith('+1'));
    await page.goto('/customers');
    const row = page.getByTestId('customer-row').first();
    await row.waitFor();
    const text = await page.getByTestId('customers-table').innerText();
    const digits = first.phone.slice(2);
    const written = `(${digits.slice(0, 3)}) ${digits.slice(3, 6)}-${digits.slice(6)}`;
    assert.ok(text.includes(written), `${written} in the list`);
    assert.ok(!text.includes(first.phone), 'no raw E.164 number in the list');
  });
});
