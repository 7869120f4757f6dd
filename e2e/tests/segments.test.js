import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { api, launch, signedInPage, thousands, withPage } from '../lib/harness.js';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

/** Waits for the live count to settle and returns it. */
async function settledCount(page) {
  const count = page.getByTestId('segment-count');
  await count.waitFor();
  return Number(await count.getAttribute('data-count'));
}

async function waitForCount(page, expected) {
  await page.waitForFunction(
    ([n]) => document.querySelector('[data-testid="segment-count"]')?.getAttribute('data-count') === String(n),
    [expected],
  );
}

test('building a rule updates the live count', async () => {
  await withPage(browser, 'segments-count', signedInPage, async (page, session) => {
    const everyone = (await api(session, '/segments/count', { method: 'POST', body: JSON.stringify({ rule: { type: 'and', rules: [] } }) })).customers;
    const regulars = (await api(session, '/segments/count', {
      method: 'POST',
      body: JSON.stringify({ rule: { type: 'and', rules: [{ type: 'visits', cmp: 'gte', value: 1000000 }] } }),
    })).customers;
    assert.notEqual(everyone, regulars, 'the demo data should make these two rules differ');

    await page.goto('/segments');
    // An empty AND group matches everyone.
    assert.equal(await settledCount(page), everyone);
    assert.match(await page.getByTestId('segment-count').innerText(), new RegExp(thousands(everyone)));

    await page.getByTestId('add-condition').first().click();
    const row = page.getByTestId('condition-row').first();
    await row.getByTestId('condition-kind').selectOption('visits');
    await row.getByTestId('condition-cmp').selectOption('gte');
    await row.getByTestId('condition-value').fill('1000000');
    await waitForCount(page, regulars);

    // An incomplete condition says what is missing instead of counting.
    await row.getByTestId('condition-value').fill('');
    await page.getByTestId('segment-count-invalid').waitFor();

    // A nested OR group: (visits >= 1000000) AND (has phone OR has email).
    await row.getByTestId('condition-value').fill('1000000');
    await waitForCount(page, regulars);
    await page.getByTestId('add-group').first().click();
    const nested = page.locator('[data-testid="rule-group"][data-depth="1"]');
    await nested.waitFor();
    await nested.getByTestId('group-op').selectOption('or');
    await nested.getByTestId('condition-kind').first().selectOption('has_phone');
    await nested.getByTestId('add-condition').click();
    await nested.getByTestId('condition-kind').nth(1).selectOption('has_email');
    const expected = (await api(session, '/segments/count', {
      method: 'POST',
      body: JSON.stringify({
        rule: {
          type: 'and',
          rules: [
            { type: 'visits', cmp: 'gte', value: 1000000 },
            { type: 'or', rules: [{ type: 'has_phone', value: true }, { type: 'has_email', value: true }] },
          ],
        },
      }),
    })).customers;
    await waitForCount(page, expected);

    // Removing the first condition leaves only the nested group.
    await row.getByTestId('remove-condition').click();
    const withContact = (await api(session, '/segments/count', {
      method: 'POST',
      body: JSON.stringify({
        rule: { type: 'and', rules: [{ type: 'or', rules: [{ type: 'has_phone', value: true }, { type: 'has_email', value: true }] }] },
      }),
    })).customers;
    await waitForCount(page, withContact);
  });
});

test('saving a segment lists it with its count, and it can be deleted', async () => {
  await withPage(browser, 'segments-save', signedInPage, async (page, session) => {
    const name = `E2E visitors ${Date.now()}`;
    await page.goto('/segments');
    await page.getByTestId('segment-name').fill(name);
    await page.getByTestId('add-condition').first().click();
    const row = page.getByTestId('condition-row').first();
    await row.getByTestId('condition-kind').selectOption('visits');
    await row.getByTestId('condition-cmp').selectOption('gte');
    await row.getByTestId('condition-value').fill('1');
    const count = (await api(session, '/segments/count', {
      method: 'POST',
      body: JSON.stringify({ rule: { type: 'and', rules: [{ type: 'visits', cmp: 'gte', value: 1 }] } }),
    })).customers;
    await waitForCount(page, count);

    await page.getByTestId('segment-save').click();
    await page.getByTestId('segment-saved').waitFor();
    const listed = page.getByTestId('segment-row').filter({ hasText: name });
    await listed.waitFor();
    assert.equal((await listed.getByTestId('segment-row-count').innerText()).replace(/\s+/g, ' ').trim().split(' ')[0], thousands(count));

    // Saved on the server, with the rule as built.
    const saved = (await api(session, '/segments?page=1&per_page=100')).items.find((s) => s.name === name);
    assert.ok(saved, 'the segment is saved');
    assert.deepEqual(saved.rule, { type: 'and', rules: [{ type: 'visits', cmp: 'gte', value: 1 }] });

    // Saving without a name is refused next to the field.
    await page.getByTestId('new-segment').click();
    await page.getByTestId('segment-save').click();
    await page.locator('#segment-name-error').waitFor();

    await listed.getByTestId('segment-delete').click();
    await page.getByTestId('confirm-yes').click();
    await listed.waitFor({ state: 'detached' });
  });
});

test('a value the server would refuse is said at its condition, and the error goes once it is fixed', async () => {
  await withPage(browser, 'segments-condition-errors', signedInPage, async (page) => {
    await page.goto('/segments');
    await page.getByTestId('add-condition').first().click();
    const row = page.getByTestId('condition-row').first();
    await row.getByTestId('condition-kind').selectOption('visits');
    await row.getByTestId('condition-value').fill('99999999999999999999');
    assert.match(await row.getByTestId('condition-error').innerText(), /whole number up to 9,223,372,036,854,775,807/);
    await row.getByTestId('condition-value').fill('12');
    await row.getByTestId('condition-error').waitFor({ state: 'detached' });

    await row.getByTestId('condition-kind').selectOption('no_visit_for_days');
    await row.getByTestId('condition-value').fill('4000');
    assert.match(await row.getByTestId('condition-error').innerText(), /1 to 3650 days/);
    await row.getByTestId('condition-value').fill('60');
    await row.getByTestId('condition-error').waitFor({ state: 'detached' });

    await row.getByTestId('condition-kind').selectOption('has_tag');
    await row.getByTestId('condition-value').fill('vip!');
    assert.match(await row.getByTestId('condition-error').innerText(), /letters, digits/);
    // Saving says it once, pointing at the condition.
    await page.getByTestId('segment-name').fill('Typo segment');
    await page.getByTestId('segment-save').click();
    assert.equal(await page.getByText('letters, digits', { exact: false }).count(), 2, 'at the condition and under the rule');
  });
});
