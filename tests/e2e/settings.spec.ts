import type { APIRequestContext, Browser, BrowserContext, Locator, Page } from '@playwright/test';
import {
  expect,
  GOOD_PASSWORD,
  openAccountMenu,
  registerAndSignIn,
  test,
  uniqueUsername,
} from './fixtures.ts';

/**
 * The settings page in the browser (issue 9): changing the password ends the other
 * sessions, signing out everywhere ends them all, deleting the account removes its data and
 * frees the username, and personal API tokens are created, shown once, copied, listed and
 * revoked.
 */

const SESSION_COOKIE = 'sessionid';
const NEW_PASSWORD = 'Lantern-Orchid-Quartz-42';
const SIGN_IN_FAILED = 'Sorry, incorrect username or password. Please try again.';
const REQUIRED = 'This field is required.';
const WRONG_OLD_PASSWORD = 'Your old password was entered incorrectly. Please enter it again.';
const WRONG_PASSWORD = 'Your password was entered incorrectly. Please enter it again.';
const MISMATCH = 'The two password fields didn\u2019t match.';
const CONFIRMATION = 'Type your username exactly as shown to confirm.';
const PASSWORD_CHANGED =
  'Your password has been changed. Other devices have been signed out, and your API tokens have been revoked.';
const SIGNED_OUT_EVERYWHERE =
  'You have been signed out on every device, and your API tokens have been revoked.';
const ACCOUNT_DELETED = 'Your account and all its items have been deleted.';
const TOKEN_REVOKED = 'The token has been revoked.';
const TOKEN_SHAPE = /^pi_[A-Za-z0-9_-]{43}$/;
/** How the page writes times: "2026-11-25 23:58:59 UTC". */
const TIMESTAMP = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/;
const DAY_MS = 86_400_000;

function pathAndQuery(url: URL): string {
  return url.pathname + url.search;
}

async function expectAt(page: Page, expected: string): Promise<void> {
  await expect(page).toHaveURL((url) => pathAndQuery(url) === expected);
}

async function sessionCookie(context: BrowserContext): Promise<string | undefined> {
  return (await context.cookies()).find((cookie) => cookie.name === SESSION_COOKIE)?.value;
}

/** Signs in through the form; the page ends wherever the server sends it. */
async function signIn(page: Page, username: string, password: string): Promise<void> {
  await page.goto('/login/');
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

/** A second browser (its own cookies) signed in as `username`. */
async function secondBrowser(
  browser: Browser,
  baseURL: string | undefined,
  extraHTTPHeaders: Record<string, string> | undefined,
  username: string,
): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ baseURL, extraHTTPHeaders });
  const page = await context.newPage();
  await signIn(page, username, GOOD_PASSWORD);
  await expectAt(page, '/');
  await expect(page.getByTestId('username')).toHaveText(username);
  return { context, page };
}

/** Visiting the main page sends a signed-out browser to sign in. */
async function expectSignedOut(page: Page): Promise<void> {
  await page.goto('/');
  await expectAt(page, '/login/?next=%2F');
  await expect(page.getByRole('heading', { name: 'Sign in' })).toBeVisible();
}

async function openSettings(page: Page): Promise<void> {
  await (await openAccountMenu(page)).getByRole('link', { name: 'Settings' }).click();
  await expectAt(page, '/settings/');
  await expect(page.getByRole('heading', { level: 1, name: 'Settings' })).toBeVisible();
}

/**
 * The input is marked invalid and its `aria-describedby` names an element that holds the
 * message, so the message is read with the field (as on the registration form).
 */
async function expectFieldError(page: Page, input: Locator, message: string): Promise<void> {
  await expect(input).toHaveAttribute('aria-invalid', 'true');
  const ids = ((await input.getAttribute('aria-describedby')) ?? '').split(/\s+/).filter(Boolean);
  expect(ids.length, 'aria-describedby names at least one element').toBeGreaterThan(0);
  const descriptions = await Promise.all(
    ids.map(async (id) => (await page.locator(`[id="${id}"]`).textContent()) ?? ''),
  );
  expect(descriptions.join('\n')).toContain(message);
  await expect(page.getByText(message, { exact: true })).toBeVisible();
}

function passwordForm(page: Page) {
  return {
    old: page.getByLabel('Old password', { exact: true }),
    new1: page.getByLabel('New password', { exact: true }),
    new2: page.getByLabel('New password confirmation', { exact: true }),
    submit: page.getByRole('button', { name: 'Change password' }),
  };
}

/** Sends the change-password form and returns the server's status for the POST. */
async function changePassword(page: Page, old: string, new1: string, new2 = new1): Promise<number> {
  const form = passwordForm(page);
  await form.old.fill(old);
  await form.new1.fill(new1);
  await form.new2.fill(new2);
  const answered = page.waitForResponse(
    (response) =>
      new URL(response.url()).pathname === '/settings/' && response.request().method() === 'POST',
  );
  await form.submit.click();
  return (await answered).status();
}

function deleteForm(page: Page) {
  return {
    confirmation: page.getByLabel('Username', { exact: true }),
    password: page.getByLabel('Password', { exact: true }),
    submit: page.getByRole('button', { name: 'Delete my account' }),
  };
}

async function deleteAccount(page: Page, confirmation: string, password: string): Promise<void> {
  const form = deleteForm(page);
  await form.confirmation.fill(confirmation);
  await form.password.fill(password);
  await form.submit.click();
}

/** Creates a token through the form; the page ends on the settings page that shows it. */
async function createToken(
  page: Page,
  name: string,
  access: 'Read only' | 'Read and write',
  expires: 'Never' | 'In 7 days' | 'In 30 days' | 'In 90 days' | 'In a year',
): Promise<string> {
  await page.getByLabel('Token name').fill(name);
  await page.getByLabel('Access').selectOption({ label: access });
  await page.getByLabel('Expires').selectOption({ label: expires });
  await page.getByRole('button', { name: 'Create token' }).click();
  await expect(page).toHaveURL((url) => url.pathname === '/settings/' && url.hash === '#tokens');
  const shown = page.getByTestId('new-token');
  await expect(shown).toBeVisible();
  const token = ((await shown.textContent()) ?? '').trim();
  expect(token).toMatch(TOKEN_SHAPE);
  await expect(page.getByText('it will not be shown again')).toBeVisible();
  return token;
}

/** The token's row in the list, by its (unique) name. */
function tokenRow(page: Page, name: string): Locator {
  return page
    .locator('tr[data-token-id]')
    .filter({ has: page.getByRole('cell', { name: new RegExp(`^${name}\\b`) }) });
}

async function rowCells(row: Locator) {
  const cells = (await row.getByRole('cell').allTextContents()).map((text) =>
    text.replace(/\s+/g, ' ').trim(),
  );
  const [name, access, created, lastUsed, expires] = cells;
  return {
    name: name!,
    access: access!,
    created: created!,
    lastUsed: lastUsed!,
    expires: expires!,
  };
}

function parseTimestamp(text: string): number {
  expect(text).toMatch(TIMESTAMP);
  return Date.parse(text.replace(' UTC', 'Z').replace(' ', 'T'));
}

/** A program's request with the token only: the `request` fixture carries no cookies. */
function withToken(request: APIRequestContext, token: string, path = '/api/items') {
  return request.get(path, { headers: { Authorization: `Bearer ${token}` } });
}

test.describe('change password', () => {
  test('ends the other sessions and keeps this one with a new session', async ({
    page,
    context,
    browser,
    baseURL,
    extraHTTPHeaders,
  }) => {
    const username = await registerAndSignIn(page, uniqueUsername('chpw'));
    const other = await secondBrowser(browser, baseURL, extraHTTPHeaders, username);
    const before = await sessionCookie(context);
    expect(before).toBeTruthy();

    await openSettings(page);
    expect(await changePassword(page, GOOD_PASSWORD, NEW_PASSWORD)).toBe(303);
    await expectAt(page, '/settings/');
    await expect(page.getByRole('status')).toHaveText(PASSWORD_CHANGED);

    // This browser is still signed in, on a new session.
    const after = await sessionCookie(context);
    expect(after).toBeTruthy();
    expect(after).not.toBe(before);
    await page.goto('/');
    await expectAt(page, '/');
    await expect(page.getByTestId('username')).toHaveText(username);

    // The other browser is signed out.
    await expectSignedOut(other.page);

    // The old password no longer signs in; the new one does.
    await signIn(other.page, username, GOOD_PASSWORD);
    await expectAt(other.page, '/login/');
    await expect(other.page.getByRole('alert')).toHaveText(SIGN_IN_FAILED);
    await signIn(other.page, username, NEW_PASSWORD);
    await expectAt(other.page, '/');
    await expect(other.page.getByTestId('username')).toHaveText(username);
    await other.context.close();

    // The old session token itself is dead, too.
    const replay = await browser.newContext({ baseURL, extraHTTPHeaders });
    await replay.addCookies([{ name: SESSION_COOKIE, value: before!, url: baseURL! }]);
    await expectSignedOut(await replay.newPage());
    await replay.close();
  });

  test('shows Django’s errors beside the fields and changes nothing', async ({ page }) => {
    const username = await registerAndSignIn(page, uniqueUsername('chpwerr'));
    await openSettings(page);
    const form = passwordForm(page);

    const cases: {
      old: string;
      new1: string;
      new2?: string;
      field: 'old' | 'new1' | 'new2';
      message: string;
    }[] = [
      {
        old: `${GOOD_PASSWORD}-wrong`,
        new1: NEW_PASSWORD,
        field: 'old',
        message: WRONG_OLD_PASSWORD,
      },
      {
        old: GOOD_PASSWORD,
        new1: NEW_PASSWORD,
        new2: `${NEW_PASSWORD}x`,
        field: 'new2',
        message: MISMATCH,
      },
      {
        old: GOOD_PASSWORD,
        new1: 'password',
        field: 'new2',
        message: 'This password is too common.',
      },
      {
        old: GOOD_PASSWORD,
        new1: 'Zq9!kW',
        field: 'new2',
        message: 'This password is too short. It must contain at least 8 characters.',
      },
      {
        old: GOOD_PASSWORD,
        new1: '90817263541928',
        field: 'new2',
        message: 'This password is entirely numeric.',
      },
      {
        old: GOOD_PASSWORD,
        new1: `${username}!`,
        field: 'new2',
        message: 'The password is too similar to the username.',
      },
    ];
    for (const c of cases) {
      expect(await changePassword(page, c.old, c.new1, c.new2), c.message).toBe(400);
      await expectAt(page, '/settings/');
      await expectFieldError(page, form[c.field], c.message);
      for (const field of ['old', 'new1', 'new2'] as const) {
        if (field !== c.field)
          await expect(form[field], c.message).not.toHaveAttribute('aria-invalid');
        // Passwords are never echoed.
        await expect(form[field]).toHaveValue('');
      }
      expect(await page.content()).not.toContain(GOOD_PASSWORD);
    }

    // Nothing filled in: every field says it is required.
    expect(await changePassword(page, '', '', '')).toBe(400);
    for (const field of [form.old, form.new1, form.new2]) {
      await expect(field).toHaveAttribute('aria-invalid', 'true');
    }
    await expect(page.getByText(REQUIRED, { exact: true })).toHaveCount(3);

    // The password is still the old one.
    expect(await changePassword(page, GOOD_PASSWORD, NEW_PASSWORD)).toBe(303);
    await expect(page.getByRole('status')).toHaveText(PASSWORD_CHANGED);
  });
});

test.describe('sign out everywhere', () => {
  test('ends every session of the user, this one included', async ({
    page,
    context,
    browser,
    baseURL,
    extraHTTPHeaders,
  }) => {
    const username = await registerAndSignIn(page, uniqueUsername('everywhere'));
    const other = await secondBrowser(browser, baseURL, extraHTTPHeaders, username);
    const before = await sessionCookie(context);

    await openSettings(page);
    await page.getByRole('button', { name: 'Sign out everywhere' }).click();
    await expectAt(page, '/login/');
    await expect(page.getByRole('status')).toHaveText(SIGNED_OUT_EVERYWHERE);
    expect(await sessionCookie(context)).toBeFalsy();

    await expectSignedOut(page);
    await expectSignedOut(other.page);
    await other.context.close();

    const replay = await browser.newContext({ baseURL, extraHTTPHeaders });
    await replay.addCookies([{ name: SESSION_COOKIE, value: before!, url: baseURL! }]);
    await expectSignedOut(await replay.newPage());
    await replay.close();

    // The password still works: only the sessions ended.
    await signIn(page, username, GOOD_PASSWORD);
    await expectAt(page, '/');
  });
});

test.describe('delete account', () => {
  test('wrong confirmation or password deletes nothing; the right ones delete everything', async ({
    page,
    context,
    browser,
    baseURL,
    extraHTTPHeaders,
    request,
  }) => {
    const username = await registerAndSignIn(page, uniqueUsername('doomed'));
    const itemName = `Heirloom ${username}`;
    const created = await page.request.post('/api/items', {
      data: { name: itemName, amount: 3, description: 'to be deleted' },
      headers: { Origin: new URL(page.url()).origin },
    });
    expect(created.status(), await created.text()).toBe(201);
    await page.reload();
    await expect(page.getByRole('cell', { name: itemName, exact: true })).toBeVisible();
    const other = await secondBrowser(browser, baseURL, extraHTTPHeaders, username);

    await openSettings(page);
    const token = await createToken(page, 'doomed token', 'Read only', 'Never');
    expect((await withToken(request, token)).status()).toBe(200);
    const form = deleteForm(page);

    // The username in another case, or someone else's, is not the confirmation.
    await deleteAccount(page, username.toUpperCase(), GOOD_PASSWORD);
    await expectAt(page, '/settings/');
    await expectFieldError(page, form.confirmation, CONFIRMATION);
    await expect(form.password).not.toHaveAttribute('aria-invalid');
    await expect(form.password).toHaveValue('');

    await deleteAccount(page, username, `${GOOD_PASSWORD}-wrong`);
    await expectAt(page, '/settings/');
    await expectFieldError(page, form.password, WRONG_PASSWORD);
    await expect(form.confirmation).not.toHaveAttribute('aria-invalid');

    await deleteAccount(page, username, '');
    await expectFieldError(page, form.password, REQUIRED);

    // Nothing was deleted: still signed in, the item and the token are there.
    await page.goto('/');
    await expect(page.getByTestId('username')).toHaveText(username);
    await expect(page.getByRole('cell', { name: itemName, exact: true })).toBeVisible();
    expect((await withToken(request, token)).status()).toBe(200);

    await openSettings(page);
    await deleteAccount(page, username, GOOD_PASSWORD);
    await expectAt(page, '/login/');
    await expect(page.getByRole('status')).toHaveText(ACCOUNT_DELETED);
    expect(await sessionCookie(context)).toBeFalsy();
    await expectSignedOut(page);
    await expectSignedOut(other.page);
    await other.context.close();

    // The token went with the account.
    const refused = await withToken(request, token);
    expect(refused.status()).toBe(401);
    expect(refused.headers()['www-authenticate']).toMatch(/^Bearer\b.*error="invalid_token"/);

    // Signing in fails as for any unknown user.
    await signIn(page, username, GOOD_PASSWORD);
    await expectAt(page, '/login/');
    await expect(page.getByRole('alert')).toHaveText(SIGN_IN_FAILED);

    // The username is free again, and the new account starts empty.
    await registerAndSignIn(page, username);
    await expect(page.getByTestId('username')).toHaveText(username);
    await expect(page.getByTestId('empty-state')).toBeVisible();
    await expect(page.getByText(itemName)).toHaveCount(0);
    const exported = await page.request.get('/json/');
    expect(exported.status()).toBe(200);
    expect(await exported.json()).toEqual([]);
    await openSettings(page);
    await expect(page.getByText('You have no tokens.')).toBeVisible();
  });
});

test.describe('personal API tokens', () => {
  test.use({ permissions: ['clipboard-read', 'clipboard-write'] });

  test('create, show once, copy, list, use and revoke', async ({ page, request }) => {
    await registerAndSignIn(page, uniqueUsername('tokens'));
    await openSettings(page);
    await expect(page.getByText('You have no tokens.')).toBeVisible();

    const startedAt = Date.now();
    const token = await createToken(page, 'spreadsheet', 'Read and write', 'In 30 days');

    // The copy button puts exactly the token on the clipboard.
    const copy = page.getByRole('button', { name: 'Copy token' });
    await expect(copy).toBeVisible();
    await copy.click();
    await expect(page.getByText('Copied.')).toBeVisible();
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(token);

    // The list: name (with the prefix), access, created, never used, expiry in 30 days.
    const row = tokenRow(page, 'spreadsheet');
    await expect(row).toHaveCount(1);
    await expect(row).toContainText(token.slice(0, 8));
    const listed = await rowCells(row);
    expect(listed.access).toBe('Read and write');
    expect(Math.abs(parseTimestamp(listed.created) - startedAt)).toBeLessThan(5 * 60_000);
    expect(listed.lastUsed).toBe('Never');
    expect(Math.abs(parseTimestamp(listed.expires) - (startedAt + 30 * DAY_MS))).toBeLessThan(
      5 * 60_000,
    );
    // The page holds the token once, and the list shows only its prefix.
    expect((await page.content()).split(token)).toHaveLength(2);

    // Shown once: after a reload it is gone for good, the row stays.
    await page.reload();
    await expect(page.getByTestId('new-token')).toHaveCount(0);
    await expect(page.getByRole('button', { name: 'Copy token' })).toHaveCount(0);
    expect(await page.content()).not.toContain(token);
    await expect(tokenRow(page, 'spreadsheet')).toHaveCount(1);

    // A program uses it: the list then shows when.
    const used = await withToken(request, token);
    expect(used.status()).toBe(200);
    await page.reload();
    const afterUse = await rowCells(tokenRow(page, 'spreadsheet'));
    expect(Math.abs(parseTimestamp(afterUse.lastUsed) - Date.now())).toBeLessThan(5 * 60_000);

    // A second, read-only token that never expires.
    const reader = await createToken(page, 'reader', 'Read only', 'Never');
    expect(reader).not.toBe(token);
    const readerRow = await rowCells(tokenRow(page, 'reader'));
    expect(readerRow.access).toBe('Read only');
    expect(readerRow.expires).toBe('Never');
    expect(readerRow.lastUsed).toBe('Never');

    // Revoke with one click.
    await page.getByRole('button', { name: 'Revoke spreadsheet' }).click();
    await expect(page).toHaveURL((url) => url.pathname === '/settings/');
    await expect(page.getByRole('status')).toHaveText(TOKEN_REVOKED);
    await expect(tokenRow(page, 'spreadsheet')).toHaveCount(0);
    await expect(tokenRow(page, 'reader')).toHaveCount(1);

    const refused = await withToken(request, token);
    expect(refused.status()).toBe(401);
    expect(refused.headers()['www-authenticate']).toMatch(/^Bearer\b.*error="invalid_token"/);
    expect((await withToken(request, reader)).status()).toBe(200);
  });

  test('a token form with errors creates nothing and says why', async ({ page }) => {
    await registerAndSignIn(page, uniqueUsername('tokerr'));
    await openSettings(page);
    await page.getByLabel('Token name').fill('   ');
    await page.getByLabel('Access').selectOption({ label: 'Read and write' });
    await page.getByRole('button', { name: 'Create token' }).click();
    await expectAt(page, '/settings/');
    await expectFieldError(page, page.getByLabel('Token name'), REQUIRED);
    await expect(page.getByLabel('Access')).toHaveValue('read-write');
    await expect(page.getByTestId('new-token')).toHaveCount(0);
    await expect(page.getByText('You have no tokens.')).toBeVisible();
  });

  test.describe('with JavaScript disabled', () => {
    test.use({ javaScriptEnabled: false });

    test('the token is shown once, without a copy button', async ({ page, request }) => {
      await registerAndSignIn(page, uniqueUsername('tokennojs'));
      await openSettings(page);
      const token = await createToken(page, 'cron job', 'Read only', 'In 7 days');
      // The button needs JavaScript, so without it there is none to press. Soft, so that the
      // rest of the journey is still checked.
      await expect.soft(page.getByRole('button', { name: 'Copy token' })).toBeHidden();
      const row = await rowCells(tokenRow(page, 'cron job'));
      expect(row.access).toBe('Read only');
      expect(Math.abs(parseTimestamp(row.expires) - (Date.now() + 7 * DAY_MS))).toBeLessThan(
        5 * 60_000,
      );

      await page.reload();
      await expect(page.getByTestId('new-token')).toHaveCount(0);
      expect((await withToken(request, token, '/json/')).status()).toBe(200);

      await page.getByRole('button', { name: 'Revoke cron job' }).click();
      await expect(page.getByRole('status')).toHaveText(TOKEN_REVOKED);
      await expect(tokenRow(page, 'cron job')).toHaveCount(0);
      expect((await withToken(request, token, '/json/')).status()).toBe(401);
    });
  });
});
