import { randomBytes } from 'node:crypto';
import type { BrowserContext, Locator, Page } from '@playwright/test';
import {
  expect,
  GOOD_PASSWORD,
  openAccountMenu,
  registerAndSignIn,
  test,
  uniqueUsername,
} from './fixtures.ts';

/**
 * Accounts in the browser: registration, sign-in, sign-out, their error messages (Django's,
 * word for word), the sign-in throttle, the session cookie and the `next` parameter. What
 * needs no browser is checked over HTTP: cross-origin form posts in
 * tests/security/cross-site.test.ts, a blocked username tried from another address in
 * tests/security/sessions.test.ts.
 */

const REGISTERED_NOTICE = 'Your account has been successfully created!';
const SIGN_IN_FAILED = 'Sorry, incorrect username or password. Please try again.';
const SESSION_COOKIE = 'sessionid';
const LAST_LOGIN_COOKIE = 'last_login';
const THIRTY_DAYS_SECONDS = 30 * 24 * 60 * 60;

/** The page's path and query string, for exact comparisons that ignore the origin. */
function pathAndQuery(url: URL): string {
  return url.pathname + url.search;
}

async function expectAt(page: Page, expected: string): Promise<void> {
  await expect(page).toHaveURL((url) => pathAndQuery(url) === expected);
}

/** Fills in and sends the registration form; the page ends wherever the server sends it. */
async function submitRegistration(
  page: Page,
  fields: { username: string; password1: string; password2?: string },
): Promise<void> {
  await page.goto('/register/');
  await page.getByLabel('Username').fill(fields.username);
  await page.getByLabel('Password', { exact: true }).fill(fields.password1);
  await page.getByLabel('Password confirmation').fill(fields.password2 ?? fields.password1);
  await page.getByRole('button', { name: 'Register' }).click();
}

/** Registers without signing in; the page ends on /login/ (keeping any `next`). */
async function register(page: Page, username = uniqueUsername()): Promise<string> {
  await submitRegistration(page, { username, password1: GOOD_PASSWORD });
  await expect(page).toHaveURL((url) => url.pathname === '/login/');
  return username;
}

/** Fills in and sends the sign-in form of the current page. */
async function submitSignIn(page: Page, username: string, password = GOOD_PASSWORD) {
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

/** Sends the sign-in form and returns the server's answer to the POST. */
async function signInResponse(page: Page, username: string, password: string) {
  const answered = page.waitForResponse(
    (response) =>
      new URL(response.url()).pathname === '/login/' && response.request().method() === 'POST',
  );
  await submitSignIn(page, username, password);
  return answered;
}

async function cookieNamed(context: BrowserContext, name: string) {
  return (await context.cookies()).find((cookie) => cookie.name === name);
}

/** A token of the shape the site issues (so the server really looks it up), but random. */
function randomToken(length = 30): string {
  return randomBytes(length).toString('base64url').slice(0, length);
}

/**
 * The input is marked invalid and its `aria-describedby` names an element that holds the
 * message, so a screen reader reads the message with the field.
 */
async function expectFieldError(page: Page, input: Locator, message: string): Promise<void> {
  await expect(input).toHaveAttribute('aria-invalid', 'true');
  const describedBy = (await input.getAttribute('aria-describedby')) ?? '';
  const ids = describedBy.split(/\s+/).filter(Boolean);
  expect(ids.length, 'aria-describedby names at least one element').toBeGreaterThan(0);
  const descriptions = await Promise.all(
    ids.map(async (id) => {
      const element = page.locator(`[id="${id}"]`);
      await expect(element, `#${id} exists`).toHaveCount(1);
      return (await element.textContent()) ?? '';
    }),
  );
  expect(descriptions.join('\n')).toContain(message);
  await expect(page.getByText(message, { exact: true })).toBeVisible();
}

/**
 * Register → notice shown once → sign in → main page → sign out → protected pages send the
 * visitor back to sign in. Nothing here needs JavaScript, so it runs with and without.
 */
async function journey(page: Page): Promise<void> {
  const username = uniqueUsername('journey');
  await submitRegistration(page, { username, password1: GOOD_PASSWORD });
  await expectAt(page, '/login/');
  await expect(page.getByText(REGISTERED_NOTICE)).toHaveCount(1);
  await expect(page.getByRole('status')).toHaveText(REGISTERED_NOTICE);

  await page.reload();
  await expectAt(page, '/login/');
  await expect(page.getByRole('heading', { name: 'Sign in' })).toBeVisible();
  await expect(page.getByText(REGISTERED_NOTICE)).toHaveCount(0);

  await submitSignIn(page, username);
  await expectAt(page, '/');
  await expect(page.getByRole('heading', { level: 1, name: 'Pacil Inventory Page' })).toBeVisible();
  await expect(page.getByTestId('username')).toHaveText(username);
  const account = page.getByRole('navigation', { name: 'Account' });
  await expect(account).toContainText(username);

  const signOut = page.waitForRequest((request) => new URL(request.url()).pathname === '/logout/');
  await (await openAccountMenu(page)).getByRole('button', { name: 'Sign out' }).click();
  expect((await signOut).method()).toBe('POST');
  await expectAt(page, '/login/');
  await expect(page.getByRole('heading', { name: 'Sign in' })).toBeVisible();
  await expect(page.getByText(username)).toHaveCount(0);

  await page.goto('/');
  await expectAt(page, '/login/?next=%2F');
  await expect(page.getByRole('heading', { name: 'Sign in' })).toBeVisible();
}

test.describe('the account journey', () => {
  test('register, sign in and sign out with JavaScript on', async ({ page }) => {
    await journey(page);
  });

  test.describe('with JavaScript disabled', () => {
    test.use({ javaScriptEnabled: false });

    test('register, sign in and sign out', async ({ page }) => {
      await journey(page);
    });
  });
});

test.describe('registration errors', () => {
  const cases: {
    title: string;
    username?: (unique: string) => string;
    password1: (username: string) => string;
    password2?: (username: string) => string;
    field: 'username' | 'password2';
    message: string;
  }[] = [
    {
      title: 'passwords that differ',
      password1: () => GOOD_PASSWORD,
      password2: () => `${GOOD_PASSWORD}x`,
      field: 'password2',
      message: 'The two password fields didn\u2019t match.',
    },
    {
      title: 'a password that is too short',
      password1: () => 'Zq9!kW',
      field: 'password2',
      message: 'This password is too short. It must contain at least 8 characters.',
    },
    {
      title: 'an entirely numeric password',
      password1: () => '90817263541928',
      field: 'password2',
      message: 'This password is entirely numeric.',
    },
    {
      title: 'a common password',
      password1: () => 'password',
      field: 'password2',
      message: 'This password is too common.',
    },
    {
      title: 'a password too similar to the username',
      password1: (username) => `${username}!`,
      field: 'password2',
      message: 'The password is too similar to the username.',
    },
    {
      title: 'an invalid username',
      username: (unique) => `bad name!${unique}`,
      password1: () => GOOD_PASSWORD,
      field: 'username',
      message:
        'Enter a valid username. This value may contain only letters, numbers, and @/./+/-/_ characters.',
    },
  ];

  for (const c of cases) {
    test(`${c.title}: the error is shown beside the field`, async ({ page }) => {
      const unique = uniqueUsername('reg');
      const username = c.username ? c.username(unique) : unique;
      await submitRegistration(page, {
        username,
        password1: c.password1(username),
        password2: (c.password2 ?? c.password1)(username),
      });

      await expectAt(page, '/register/');
      const usernameInput = page.getByLabel('Username');
      const password1 = page.getByLabel('Password', { exact: true });
      const password2 = page.getByLabel('Password confirmation');
      const input = c.field === 'username' ? usernameInput : password2;
      await expectFieldError(page, input, c.message);
      if (c.field !== 'username') await expect(usernameInput).not.toHaveAttribute('aria-invalid');
      await expect(usernameInput).toHaveValue(username);
      await expect(password1).toHaveValue('');
      await expect(password2).toHaveValue('');
      expect(await page.content()).not.toContain(GOOD_PASSWORD);
    });
  }

  test('a username taken in another case is refused', async ({ page }) => {
    const first = uniqueUsername('Bob');
    const second = first.toLowerCase();
    expect(second).not.toBe(first);
    await register(page, first);

    await submitRegistration(page, { username: second, password1: GOOD_PASSWORD });
    await expectAt(page, '/register/');
    const usernameInput = page.getByLabel('Username');
    await expectFieldError(page, usernameInput, 'A user with that username already exists.');
    await expect(usernameInput).toHaveValue(second);
    await expect(page.getByLabel('Password', { exact: true })).toHaveValue('');
    await expect(page.getByLabel('Password confirmation')).toHaveValue('');
    await expect(page.getByLabel('Password confirmation')).not.toHaveAttribute('aria-invalid');
  });
});

test.describe('sign-in', () => {
  test('a wrong password and an unknown username fail alike', async ({ page }) => {
    const username = await register(page);

    const wrongPassword = await signInResponse(page, username, `${GOOD_PASSWORD}-wrong`);
    await expect(page.getByRole('alert')).toHaveText(SIGN_IN_FAILED);
    await expect(page.getByLabel('Username')).toHaveValue(username);
    await expect(page.getByLabel('Password')).toHaveValue('');

    const unknownUser = await signInResponse(page, uniqueUsername('nobody'), GOOD_PASSWORD);
    await expect(page.getByRole('alert')).toHaveText(SIGN_IN_FAILED);
    await expect(page.getByLabel('Password')).toHaveValue('');

    expect(unknownUser.status()).toBe(wrongPassword.status());
    expect(wrongPassword.status()).toBeLessThan(500);
    expect(await cookieNamed(page.context(), SESSION_COOKIE)).toBeUndefined();
  });

  test('the sixth attempt after five failures is refused with 429 and Retry-After', async ({
    page,
  }) => {
    const username = await register(page);
    for (let attempt = 1; attempt <= 5; attempt += 1) {
      const response = await signInResponse(page, username, `wrong-${attempt}`);
      expect(response.status(), `failure ${attempt}`).not.toBe(429);
      await expect(page.getByRole('alert')).toHaveText(SIGN_IN_FAILED);
    }

    // Even the right password is not checked while the username is blocked.
    const refused = await signInResponse(page, username, GOOD_PASSWORD);
    expect(refused.status()).toBe(429);
    const retryAfter = Number(await refused.headerValue('retry-after'));
    expect(Number.isInteger(retryAfter)).toBe(true);
    expect(retryAfter).toBeGreaterThan(0);
    await expect(page.getByRole('alert')).toContainText(/wait .+ and try again/i);
    await expectAt(page, '/login/');
    expect(await cookieNamed(page.context(), SESSION_COOKIE)).toBeUndefined();
  });
});

test.describe('cookies and sessions', () => {
  test('sign-in sets the session and last_login cookies; sign-out deletes both', async ({
    page,
    context,
  }) => {
    const before = Date.now();
    await registerAndSignIn(page);

    const session = await cookieNamed(context, SESSION_COOKIE);
    expect(session).toBeDefined();
    expect(session!.httpOnly).toBe(true);
    expect(session!.sameSite).toBe('Lax');
    expect(session!.path).toBe('/');
    expect(session!.secure).toBe(false);
    expect(session!.value.length).toBeGreaterThanOrEqual(27); // ≥ 160 bits in base64url
    const expected = before / 1000 + THIRTY_DAYS_SECONDS;
    expect(session!.expires).toBeGreaterThan(expected - 60 * 60);
    expect(session!.expires).toBeLessThan(expected + 60 * 60);

    const lastLogin = await cookieNamed(context, LAST_LOGIN_COOKIE);
    expect(lastLogin).toBeDefined();
    expect(lastLogin!.path).toBe('/');
    expect(lastLogin!.sameSite).toBe('Lax');
    const lastLoginValue = lastLogin!.value;
    expect(lastLoginValue).toMatch(
      /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/,
    );
    const signedInAt = new Date(lastLoginValue).getTime();
    expect(signedInAt).toBeGreaterThanOrEqual(before - 5_000);
    expect(signedInAt).toBeLessThanOrEqual(Date.now() + 5_000);
    await expect(page.getByTestId('last-login').locator('time')).toHaveAttribute(
      'datetime',
      new Date(signedInAt).toISOString(),
    );

    await (await openAccountMenu(page)).getByRole('button', { name: 'Sign out' }).click();
    await expectAt(page, '/login/');
    expect(await cookieNamed(context, SESSION_COOKIE)).toBeUndefined();
    expect(await cookieNamed(context, LAST_LOGIN_COOKIE)).toBeUndefined();
  });

  test('a session cookie planted before sign-in is replaced', async ({
    page,
    context,
    baseURL,
  }) => {
    const username = await register(page);
    await page.getByLabel('Username').fill(username);
    await page.getByLabel('Password').fill(GOOD_PASSWORD);
    // Planted after the page loaded, so the sign-in POST itself carries it.
    const planted = randomToken();
    await context.addCookies([{ name: SESSION_COOKIE, value: planted, url: baseURL! }]);
    await page.getByRole('button', { name: 'Sign in' }).click();

    await expectAt(page, '/');
    await expect(page.getByTestId('username')).toHaveText(username);
    const session = await cookieNamed(context, SESSION_COOKIE);
    expect(session?.value).toBeTruthy();
    expect(session!.value).not.toBe(planted);
  });

  test('a live session token planted by someone else is ended, not adopted', async ({
    browser,
    page,
    context,
    baseURL,
    extraHTTPHeaders,
  }) => {
    // The attacker signs in on their own browser and plants their token in the victim's.
    const attacker = await browser.newContext({ baseURL, extraHTTPHeaders });
    const attackerPage = await attacker.newPage();
    await registerAndSignIn(attackerPage, uniqueUsername('attacker'));
    const attackerToken = (await cookieNamed(attacker, SESSION_COOKIE))!.value;

    const victim = await register(page, uniqueUsername('victim'));
    await page.getByLabel('Username').fill(victim);
    await page.getByLabel('Password').fill(GOOD_PASSWORD);
    await context.addCookies([{ name: SESSION_COOKIE, value: attackerToken, url: baseURL! }]);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expectAt(page, '/');
    await expect(page.getByTestId('username')).toHaveText(victim);
    expect((await cookieNamed(context, SESSION_COOKIE))!.value).not.toBe(attackerToken);

    // The planted token no longer signs anybody in: the attacker cannot ride the victim's session.
    await attackerPage.goto('/');
    await expectAt(attackerPage, '/login/?next=%2F');
    await attacker.close();
  });

  test('a signed-out session token is useless in another browser', async ({
    browser,
    page,
    context,
    baseURL,
    extraHTTPHeaders,
  }) => {
    const username = await registerAndSignIn(page);
    const token = (await cookieNamed(context, SESSION_COOKIE))!.value;

    // While the session lives, the token alone signs in (so the check below means something).
    const thief = await browser.newContext({ baseURL, extraHTTPHeaders });
    await thief.addCookies([{ name: SESSION_COOKIE, value: token, url: baseURL! }]);
    const thiefPage = await thief.newPage();
    await thiefPage.goto('/');
    await expectAt(thiefPage, '/');
    await expect(thiefPage.getByTestId('username')).toHaveText(username);
    await thief.close();

    await (await openAccountMenu(page)).getByRole('button', { name: 'Sign out' }).click();
    await expectAt(page, '/login/');

    const replay = await browser.newContext({ baseURL, extraHTTPHeaders });
    await replay.addCookies([{ name: SESSION_COOKIE, value: token, url: baseURL! }]);
    const replayPage = await replay.newPage();
    await replayPage.goto('/');
    await expectAt(replayPage, '/login/?next=%2F');
    await expect(replayPage.getByText(username)).toHaveCount(0);
    await replay.close();
  });
});

test.describe('next', () => {
  test('sign-in returns to the protected page that sent the visitor to sign in', async ({
    page,
  }) => {
    const username = await register(page);
    await page.goto('/create-item');
    await expectAt(page, '/login/?next=%2Fcreate-item');
    await submitSignIn(page, username);
    await expect(page).toHaveURL((url) => url.pathname === '/create-item');
  });

  for (const next of ['//evil.example', 'https://evil.example', '/\\evil.example']) {
    test(`next=${next} lands on the main page`, async ({ page, baseURL }) => {
      const username = await register(page);
      await page.goto(`/login/?next=${next}`);
      await submitSignIn(page, username);
      await expect(page).toHaveURL(`${baseURL}/`);
      await expect(page.getByTestId('username')).toHaveText(username);
    });
  }
});

test.describe('sign-out', () => {
  test('GET /logout/ asks to confirm and does not sign out', async ({ page }) => {
    const username = await registerAndSignIn(page);
    await page.goto('/logout/');
    await expectAt(page, '/logout/');
    await expect(page.getByRole('heading', { name: 'Sign out' })).toBeVisible();
    const confirm = page.getByRole('main').getByRole('button', { name: 'Sign out' });
    await expect(confirm).toBeVisible();

    await page.goto('/');
    await expectAt(page, '/');
    await expect(page.getByTestId('username')).toHaveText(username);

    await page.goto('/logout/');
    await confirm.click();
    await expectAt(page, '/login/');
    await page.goto('/');
    await expectAt(page, '/login/?next=%2F');
  });
});
