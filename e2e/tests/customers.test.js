import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { api, launch, signedInPage, withPage } from '../lib/harness.js';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

const rows = (page) => page.getByTestId('customer-row');
const range = (page) => page.getByTestId('pagination-range').innerText();

test('searching narrows the customer list and keeps the search in the URL', async () => {
  await withPage(browser, 'customers-search', signedInPage, async (page, session) => {
    const all = await api(session, '/customers?page=1&per_page=25&sort=name&order=asc');
    assert.ok(all.total >= 2, `the demo data needs at least 2 customers, has ${all.total}`);
    const target = all.items.find((c) => c.last_name.length >= 3) ?? all.items[0];
    const term = target.last_name || target.first_name;
    const expected = await api(session, `/customers?q=${encodeURIComponent(term)}&page=1&per_page=25`);
    assert.ok(expected.total < all.total, 'the search term should not match every customer');

    await page.goto('/customers');
    await rows(page).first().waitFor();
    assert.match(await range(page), new RegExp(`of ${all.total.toLocaleString('en-US')} customers`));

    await page.getByTestId('customer-search').fill(term);
    await page.waitForURL((url) => url.searchParams.get('q') === term);
    await page.waitForFunction(
      ([n]) => document.querySelectorAll('[data-testid="customer-row"]').length === n &&
        !document.querySelector('.fetched.stale'),
      [Math.min(expected.total, 25)],
    );
    const names = await page.getByTestId('customer-name').allInnerTexts();
    assert.ok(names.some((n) => n.includes(`${target.first_name} ${target.last_name}`.trim())));
    assert.ok((await rows(page).count()) < Math.min(all.total, 25) || expected.total < all.total);

    // The search survives a reload: the URL is the state.
    await page.reload();
    assert.equal(await page.getByTestId('customer-search').inputValue(), term);
    await rows(page).first().waitFor();
    assert.equal(await rows(page).count(), Math.min(expected.total, 25));

    // A search that matches nobody shows the empty state.
    await page.getByTestId('customer-search').fill('zz-no-such-customer-zz');
    await page.getByTestId('empty').waitFor();
  });
});

test('paging moves through the list and is kept in the URL', async () => {
  await withPage(browser, 'customers-paging', signedInPage, async (page, session) => {
    const perPage = 5;
    const first = await api(session, `/customers?page=1&per_page=${perPage}&sort=name&order=asc`);
    assert.ok(first.total > perPage, `the demo data needs more than ${perPage} customers`);
    const second = await api(session, `/customers?page=2&per_page=${perPage}&sort=name&order=asc`);

    await page.goto(`/customers?per_page=${perPage}&sort=name&order=asc`);
    await rows(page).first().waitFor();
    assert.equal(await rows(page).count(), perPage);
    assert.match(await range(page), /^1–5 of /);

    await page.getByTestId('page-next').click();
    await page.waitForURL((url) => url.searchParams.get('page') === '2');
    await page.waitForFunction(() => /^6–/.test(document.querySelector('[data-testid="pagination-range"]')?.innerText ?? ''));
    const names = await page.getByTestId('customer-name').allInnerTexts();
    const expectedFirst = `${second.items[0].first_name} ${second.items[0].last_name}`.trim();
    assert.equal(names[0].trim(), expectedFirst);

    await page.getByTestId('page-prev').click();
    await page.waitForURL((url) => url.searchParams.get('page') === '1');
    await page.waitForFunction(() => /^1–/.test(document.querySelector('[data-testid="pagination-range"]')?.innerText ?? ''));
    const back = await page.getByTestId('customer-name').allInnerTexts();
    assert.equal(back[0].trim(), `${first.items[0].first_name} ${first.items[0].last_name}`.trim());
  });
});

test('sorting by a column reorders the list; a row opens the customer details', async () => {
  await withPage(browser, 'customers-sort-details', signedInPage, async (page, session) => {
    const top = await api(session, '/customers?page=1&per_page=25&sort=visits&order=desc');
    await page.goto('/customers');
    await rows(page).first().waitFor();
    await page.getByTestId('sort-visits').click();
    await page.waitForURL((url) => url.searchParams.get('sort') === 'visits' && url.searchParams.get('order') === 'desc');
    const expected = `${top.items[0].first_name} ${top.items[0].last_name}`.trim();
    await page.waitForFunction(
      ([name]) => document.querySelector('[data-testid="customer-name"]')?.innerText.trim() === name &&
        !document.querySelector('.fetched.stale'),
      [expected],
    );

    await page.getByTestId('customer-name').first().click();
    const drawer = page.getByTestId('customer-drawer');
    await drawer.getByTestId('customer-id').waitFor();
    assert.equal((await drawer.getByTestId('customer-id').innerText()).trim(), top.items[0].id);
    await page.keyboard.press('Escape');
    await drawer.waitFor({ state: 'detached' });
  });
});
