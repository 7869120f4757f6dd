import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { AGENT_EMAIL, api, launch, signedInPage, withPage } from '../lib/harness.js';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

/** A US number nobody else in the demo has: +1 415 7xx xxxx. */
function freshPhone() {
  const digits = String(Math.floor(Math.random() * 1_000_000)).padStart(6, '0');
  return `+14157${digits}`;
}

async function findByPhone(session, phone) {
  const found = await api(session, `/customers?q=${encodeURIComponent(phone)}&page=1&per_page=5`);
  return found.items.find((c) => c.phone === phone);
}

test('a customer is added, edited and deleted in the browser, with errors at their fields', async () => {
  await withPage(browser, 'customers-add-edit-delete', signedInPage, async (page, session) => {
    const phone = freshPhone();
    const tag = `e2e-${Date.now() % 100000}`;
    await page.goto('/customers');
    await page.getByTestId('customer-add').click();
    const form = page.getByTestId('customer-new');
    await form.getByTestId('customer-form').waitFor();

    // Nothing typed: the name is asked for at its field, and nothing is sent.
    await form.getByTestId('customer-save').click();
    await form.locator('#customer-first-name-error').waitFor();
    await form.getByTestId('customer-first-name').fill('Dana');
    await form.locator('#customer-first-name-error').waitFor({ state: 'detached' });

    // An email of the wrong shape is said at the email field.
    await form.getByTestId('customer-email').fill('dana@');
    await form.getByTestId('customer-save').click();
    await form.locator('#customer-email-error').waitFor();
    await form.getByTestId('customer-email').fill(`dana.${Date.now()}@example.com`);
    await form.locator('#customer-email-error').waitFor({ state: 'detached' });

    await form.getByTestId('customer-last-name').fill('Okafor');
    await form.getByTestId('customer-phone').fill(phone);
    await form.getByTestId('tag-input').fill(tag);
    await form.getByTestId('tag-input').press('Enter');
    // A tag no customer has yet is marked as new, so a typo shows before it is saved.
    await form.locator('.tag-new', { hasText: tag }).waitFor();
    await form.getByTestId('tag-input').fill('bad tag!');
    await form.getByTestId('tag-input').press('Enter');
    await form.getByTestId('tag-problem').waitFor();
    await form.getByTestId('tag-input').fill('');
    await form.getByTestId('customer-consent-sms').check();
    await form.getByTestId('customer-save').click();

    const drawer = page.getByTestId('customer-drawer');
    await drawer.getByTestId('customer-id').waitFor();
    const created = await findByPhone(session, phone);
    assert.ok(created, 'the customer exists on the server');
    assert.equal((await drawer.getByTestId('customer-id').innerText()).trim(), created.id);
    assert.equal(created.first_name, 'Dana');
    assert.deepEqual(created.tags, [tag]);
    assert.deepEqual(created.consent, { sms: true, email: false, telegram: false, messenger: false });

    // Edit: only what changed is sent; a cleared email is removed.
    await drawer.getByTestId('customer-edit').click();
    await drawer.getByTestId('customer-last-name').fill('Okafor-Reyes');
    await drawer.getByTestId('customer-email').fill('');
    await drawer.getByTestId('customer-save').click();
    await drawer.getByTestId('customer-edit').waitFor();
    const edited = await api(session, `/customers/${created.id}`);
    assert.equal(edited.last_name, 'Okafor-Reyes');
    assert.equal(edited.email, null);
    assert.deepEqual(edited.consent, created.consent, 'consent left as it was');
    await page.getByTestId('drawer-close').waitFor();
    assert.match(await drawer.locator('h2').innerText(), /Dana Okafor-Reyes/);

    // A phone another customer has is refused at the phone field.
    const other = (await api(session, '/customers?page=1&per_page=5&sort=name&order=asc')).items.find(
      (c) => c.phone && c.id !== created.id,
    );
    await drawer.getByTestId('customer-edit').click();
    await drawer.getByTestId('customer-phone').fill(other.phone);
    await drawer.getByTestId('customer-save').click();
    await drawer.locator('#customer-phone-error').waitFor();
    await drawer.getByTestId('customer-cancel').click();

    // Delete asks in the page first; "Cancel" keeps the customer.
    await drawer.getByTestId('customer-delete').click();
    const dialog = page.getByTestId('confirm-dialog');
    await dialog.waitFor();
    assert.match(await dialog.innerText(), /Delete Dana Okafor-Reyes\?/);
    await dialog.getByTestId('confirm-no').click();
    await dialog.waitFor({ state: 'detached' });
    assert.ok(await api(session, `/customers/${created.id}`));

    await drawer.getByTestId('customer-delete').click();
    await dialog.getByTestId('confirm-yes').click();
    await drawer.waitFor({ state: 'detached' });
    await assert.rejects(api(session, `/customers/${created.id}`), /404/);
  });
});

test('a CSV import shows its first rows, matches columns from the header and reports the bad row', async () => {
  await withPage(browser, 'customers-import', signedInPage, async (page, session) => {
    const [a, b, c] = [freshPhone(), freshPhone(), freshPhone()];
    const csv = [
      'Given name,Mobile,E-mail,Favourite drink',
      `Ines,${a},ines.${Date.now()}@example.com,tea`,
      `Omar,${b},not-an-email,coffee`,
      `"Lee, Jo",${c},,water`,
      '',
    ].join('\r\n');
    await page.goto('/customers');
    await page.getByTestId('customers-import').click();
    await page.waitForURL('**/customers/import');
    await page.getByTestId('import-file').setInputFiles({
      name: 'regulars.csv',
      mimeType: 'text/csv',
      buffer: Buffer.from(`\ufeff${csv}`),
    });
    await page.getByTestId('import-preview').waitFor();
    assert.equal(await page.getByTestId('import-preview-row').count(), 3);
    assert.match(await page.getByTestId('import-summary').innerText(), /regulars\.csv · 4 columns · about 3 rows/);
    const guessed = await page.getByTestId('import-column').evaluateAll((s) => s.map((x) => x.value));
    assert.deepEqual(guessed, ['first_name', 'phone', 'email', '']);
    assert.match(await page.getByTestId('import-preview').innerText(), /Lee, Jo/);

    // Two columns for one field are refused before sending.
    await page.getByTestId('import-column').nth(3).selectOption('phone');
    await page.getByTestId('import-submit').click();
    await page.locator('#import-columns-error').waitFor();
    await page.getByTestId('import-column').nth(3).selectOption('');
    await page.locator('#import-columns-error').waitFor({ state: 'detached' });

    // A consent declaration needs its legal basis.
    await page.getByTestId('import-consent-sms').check();
    await page.getByTestId('import-submit').click();
    await page.locator('#import-legal-basis-error').waitFor();
    await page.getByTestId('import-legal-basis').fill('Signed up at the counter, e2e');
    await page.getByTestId('import-submit').click();

    const result = page.getByTestId('import-result');
    await result.waitFor();
    assert.equal(await result.getByTestId('import-created').innerText(), '2');
    assert.equal(await result.getByTestId('import-refused').innerText(), '1');
    const errors = await result.getByTestId('import-errors-row').allInnerTexts();
    assert.equal(errors.length, 1);
    assert.match(errors[0], /^3\s/, 'the bad row is named by its line in the file');
    assert.match(errors[0], /Email/);
    assert.match(await result.getByTestId('import-ignored').innerText(), /Favourite drink/);

    const ines = await findByPhone(session, a);
    assert.equal(ines.first_name, 'Ines');
    assert.equal(ines.consent.sms, true, 'the declared consent reached the customer');
    assert.equal(ines.consent.email, false);
    assert.equal(await findByPhone(session, b), undefined, 'the refused row wrote nothing');
    assert.equal((await findByPhone(session, c)).first_name, 'Lee, Jo');
  });
});

test('an agent adds and edits customers but is not offered consent, delete or import', async () => {
  await withPage(
    browser,
    'customers-agent',
    (b) => signedInPage(b, undefined, { email: AGENT_EMAIL }),
    async (page, session) => {
      await page.goto('/customers');
      await page.getByTestId('customer-row').first().waitFor();
      assert.equal(await page.getByTestId('customers-import').count(), 0);
      await page.getByTestId('customer-name').first().click();
      const drawer = page.getByTestId('customer-drawer');
      await drawer.getByTestId('customer-edit').waitFor();
      assert.equal(await drawer.getByTestId('customer-delete').count(), 0);
      const id = (await drawer.getByTestId('customer-id').innerText()).trim();
      const before = await api(session, `/customers/${id}`);

      await drawer.getByTestId('customer-edit').click();
      await drawer.getByTestId('consent-admins-only').waitFor();
      for (const channel of ['sms', 'email', 'telegram', 'messenger']) {
        assert.ok(await drawer.getByTestId(`customer-consent-${channel}`).isDisabled(), channel);
      }
      const last = `${before.last_name || 'Agent'}-e`;
      await drawer.getByTestId('customer-last-name').fill(last);
      await drawer.getByTestId('customer-save').click();
      await drawer.getByTestId('customer-edit').waitFor();
      const after = await api(session, `/customers/${id}`);
      assert.equal(after.last_name, last);
      assert.deepEqual(after.consent, before.consent);
    },
  );
});

test("a customer's page lists every message they were sent, with its status and why one failed, live", async () => {
  await withPage(browser, 'customer-messages', signedInPage, async (page, session) => {
    const phone = freshPhone();
    const tag = `e2e-msg-${Date.now() % 100000}`;
    const customer = await api(session, '/customers', {
      method: 'POST',
      body: JSON.stringify({
        first_name: 'Rui',
        last_name: 'Messages',
        phone,
        // The sandbox bounces mail to a `bounce@` address: the email fails for good.
        email: `bounce@rui-${Date.now()}.example.com`,
        tags: [tag],
        consent: { sms: true, email: true, telegram: false, messenger: false },
      }),
    });
    const segment = await api(session, '/segments', {
      method: 'POST',
      body: JSON.stringify({ name: `Only ${tag}`, rule: { type: 'has_tag', tag } }),
    });
    await page.goto('/customers');
    await page.getByTestId('customer-search').fill(phone);
    await page.getByTestId('customer-row').filter({ hasText: 'Rui' }).first().click();
    const drawer = page.getByTestId('customer-drawer');
    await drawer.getByTestId('no-messages').waitFor();
    // Sent while the drawer is open: the messages appear, and settle, without a reload.
    const name = `E2E to one customer ${Date.now()}`;
    const mailing = await api(session, '/mailings', {
      method: 'POST',
      body: JSON.stringify({
        name,
        audience: { type: 'segment', segment_id: segment.id },
        channels: ['sms', 'email'],
        content: { sms: { body: 'Hi {first_name}' }, email: { subject: 'Hi', body: 'Hello {first_name}' } },
      }),
    });
    // Sent by the running server's worker (the sandbox provider).
    for (let i = 0; i < 100; i += 1) {
      if ((await api(session, `/mailings/${mailing.id}`)).status === 'completed') break;
      await new Promise((r) => setTimeout(r, 200));
    }
    const listed = await api(session, `/customers/${customer.id}/messages`);
    assert.equal(listed.total, 2);

    const messages = drawer.getByTestId('customer-message');
    // The statuses as the server has them now, followed live.
    await messages.filter({ hasText: 'Email' }).filter({ hasText: 'Failed' }).waitFor();
    await messages.filter({ hasText: 'SMS' }).filter({ hasText: /Sent|Delivered/ }).waitFor();
    assert.equal(await messages.count(), 2);
    for (const text of await messages.allInnerTexts()) assert.match(text, new RegExp(name));
    const failed = messages.filter({ hasText: 'Email' });
    assert.match(await failed.getByTestId('customer-message-reason').innerText(), /mailbox does not exist/);
    await drawer.getByRole('link', { name }).first().click();
    await page.waitForURL((url) => url.pathname === `/mailings/${mailing.id}`);
    await api(session, `/customers/${customer.id}`, { method: 'DELETE' });
  });
});
