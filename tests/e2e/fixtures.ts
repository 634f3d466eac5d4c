import { test as base, expect, type Locator, type Page } from '@playwright/test';

/**
 * Every test gets its own client address (the e2e server trusts X-Forwarded-For), so the
 * per-address limits on sign-in failures and registrations count each test on its own.
 */
let addressCounter = 0;

export const test = base.extend({
  extraHTTPHeaders: async ({ extraHTTPHeaders }, use, testInfo) => {
    addressCounter += 1;
    const address = `10.${testInfo.workerIndex % 250}.${Math.floor(addressCounter / 250) % 250}.${addressCounter % 250}`;
    await use({ ...extraHTTPHeaders, 'X-Forwarded-For': address });
  },
});

export { expect };

let userCounter = 0;

/** A username no other test uses. */
export function uniqueUsername(prefix = 'user'): string {
  userCounter += 1;
  return `${prefix}_${Date.now().toString(36)}_${userCounter}`;
}

export const GOOD_PASSWORD = 'Correct-Horse-Battery-9';

/** Registers through the form and signs in; the page ends on the main page. */
export async function registerAndSignIn(page: Page, username = uniqueUsername()): Promise<string> {
  await page.goto('/register/');
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password', { exact: true }).fill(GOOD_PASSWORD);
  await page.getByLabel('Password confirmation').fill(GOOD_PASSWORD);
  await page.getByRole('button', { name: 'Register' }).click();
  await expect(page).toHaveURL(/\/login\/$/);
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(GOOD_PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page).toHaveURL(/\/$/);
  return username;
}

/** The header's account menu, opened: a <details>, so that it works without JavaScript. */
export async function openAccountMenu(page: Page): Promise<Locator> {
  const account = page.getByRole('navigation', { name: 'Account' });
  const menu = account.locator('details');
  if ((await menu.getAttribute('open')) === null) await menu.locator('summary').click();
  return account;
}
