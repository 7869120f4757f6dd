// Shared helpers for the end-to-end tests: launching Debian's Chromium through
// playwright-core, signing in, and reading the API the way the dashboard does.

import { chromium } from 'playwright-core';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const BASE_URL = (process.env.E2E_BASE_URL || 'http://127.0.0.1:8080').replace(/\/$/, '');
export const EMAIL = process.env.E2E_EMAIL || 'owner@demo.loyalcast.dev';
export const PASSWORD = process.env.E2E_PASSWORD || 'loyalcast-demo';
/** A demo team member with the agent role (same password as the owner). */
export const AGENT_EMAIL = process.env.E2E_AGENT_EMAIL || 'agent@demo.loyalcast.dev';
export const CHROMIUM = process.env.E2E_CHROMIUM || '/usr/bin/chromium';
export const SESSION_KEY = 'loyalcast.session';

const here = path.dirname(fileURLToPath(import.meta.url));
export const RESULTS_DIR = path.resolve(here, '..', 'test-results');

export async function launch() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/** A fresh browser context and page at a desktop size, with console errors collected. */
export async function newPage(browser, { width = 1280, height = 900 } = {}) {
  const context = await browser.newContext({ viewport: { width, height }, baseURL: BASE_URL });
  context.setDefaultTimeout(15_000);
  const page = await context.newPage();
  page.consoleErrors = [];
  page.on('pageerror', (err) => page.consoleErrors.push(String(err)));
  page.on('console', (msg) => {
    if (msg.type() === 'error') page.consoleErrors.push(msg.text());
  });
  return { context, page };
}

/** Signs in through the API and stores the session where the dashboard keeps it. */
export async function apiLogin(email = EMAIL, password = PASSWORD) {
  const res = await fetch(`${BASE_URL}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify({ email, password }),
  });
  if (res.status !== 200) {
    throw new Error(`login failed: ${res.status} ${await res.text()}`);
  }
  return res.json();
}

/** A page already signed in (the session injected before the app starts). */
export async function signedInPage(browser, size, credentials = {}) {
  const session = await apiLogin(credentials.email, credentials.password);
  const { context, page } = await newPage(browser, size);
  // Once per tab: a later sign-out must not be undone by the next page load.
  await context.addInitScript(
    ([key, value]) => {
      if (!window.sessionStorage.getItem('e2e-session-injected')) {
        window.sessionStorage.setItem('e2e-session-injected', '1');
        window.localStorage.setItem(key, value);
      }
    },
    [SESSION_KEY, JSON.stringify(session)],
  );
  return { context, page, session };
}

export async function api(session, pathAndQuery, init = {}) {
  const res = await fetch(`${BASE_URL}/api/v1${pathAndQuery}`, {
    ...init,
    headers: {
      accept: 'application/json',
      'content-type': 'application/json',
      authorization: `Bearer ${session.token}`,
      ...(init.headers || {}),
    },
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${init.method || 'GET'} ${pathAndQuery}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

/** The operator's token of the server run.sh started (credits come only from the operator). */
export const OPERATOR_TOKEN = process.env.E2E_OPERATOR_TOKEN || '';

/** Adds credits as the operator does, under a fresh reference. */
export async function operatorTopUp(session, kind, amount) {
  const res = await fetch(`${BASE_URL}/api/v1/operator/merchants/${session.merchant.id}/top-ups`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${OPERATOR_TOKEN}` },
    body: JSON.stringify({ kind, amount, reference: `e2e-${Date.now()}-${Math.random()}` }),
  });
  if (res.status !== 201) throw new Error(`operator top-up: ${res.status} ${await res.text()}`);
  return res.json();
}

/** 12480 -> "12,480", as the dashboard shows numbers. */
export function thousands(n) {
  const sign = n < 0 ? '-' : '';
  return sign + String(Math.abs(n)).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

export function pathOf(page) {
  const url = new URL(page.url());
  return url.pathname;
}

/** Saves a screenshot of the page, e.g. when a test fails. */
export async function screenshot(page, name) {
  await mkdir(RESULTS_DIR, { recursive: true });
  const file = path.join(RESULTS_DIR, `${name.replace(/[^a-z0-9-]+/gi, '-')}.png`);
  await page.screenshot({ path: file, fullPage: true }).catch(() => {});
  return file;
}

/**
 * Runs `body` with a page, and on failure saves a screenshot and adds the page's console
 * errors to the error message.
 */
export async function withPage(browser, name, make, body) {
  const { context, page, session } = await make(browser);
  try {
    await body(page, session);
  } catch (err) {
    const shot = await screenshot(page, name);
    const logs = page.consoleErrors.length ? `\nbrowser errors:\n  ${page.consoleErrors.join('\n  ')}` : '';
    err.message += `\nurl: ${page.url()}\nscreenshot: ${shot}${logs}`;
    throw err;
  } finally {
    await context.close();
  }
}
