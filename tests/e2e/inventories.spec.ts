import type { Browser, Page } from '@playwright/test';
import { expect, GOOD_PASSWORD, registerAndSignIn, test, uniqueUsername } from './fixtures.ts';

/**
 * Two people sharing an inventory from the site alone: one makes it and an invite link, the
 * other opens the link signed out, registers, and joins; each then sees what the other did.
 * With JavaScript and without it.
 */

let secondAddress = 0;

/** A browser of its own (its own cookies and client address), as the first one is set up. */
async function secondBrowser(
  browser: Browser,
  page: Page,
  javaScriptEnabled: boolean,
): Promise<Page> {
  secondAddress += 1;
  const context = await browser.newContext({
    baseURL: new URL(page.url()).origin,
    javaScriptEnabled,
    extraHTTPHeaders: {
      'X-Forwarded-For': `10.251.${secondAddress % 250}.${(secondAddress % 200) + 1}`,
    },
  });
  return context.newPage();
}

/** Makes an inventory through its form and lands on its page; its id. */
async function createInventory(page: Page, name: string): Promise<number> {
  await page.goto('/inventories/');
  await page.getByLabel('Name').fill(name);
  await page.getByRole('button', { name: 'Create inventory' }).click();
  await expect(page).toHaveURL(/\/inventories\/\d+\/$/);
  await expect(page.getByRole('status').filter({ hasText: 'Created the inventory' })).toBeVisible();
  return Number(/\/inventories\/(\d+)\//.exec(page.url())![1]);
}

/** Makes an invite link with `role` on the Members page; the link. */
async function createInvite(page: Page, id: number, role: 'Editor' | 'Viewer'): Promise<string> {
  await page.goto(`/inventories/${id}/members`);
  const invites = page.locator('#invites');
  await invites.getByLabel('Joins as').selectOption({ label: role });
  await invites.getByRole('button', { name: 'Create link' }).click();
  const link = await page.getByTestId('new-invite').inputValue();
  expect(link).toMatch(/\/invite\/[A-Za-z0-9_-]{43}$/);
  return link;
}

/** Opens the link signed out, registers from the sign-in page, signs in, and joins. */
async function joinAsNewUser(page: Page, link: string): Promise<string> {
  const username = uniqueUsername('joiner');
  await page.goto(link);
  await expect(page).toHaveURL(/\/login\/\?next=%2Finvite%2F/);
  await page.getByRole('link', { name: 'Register now' }).click();
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password', { exact: true }).fill(GOOD_PASSWORD);
  await page.getByLabel('Password confirmation').fill(GOOD_PASSWORD);
  await page.getByRole('button', { name: 'Register' }).click();
  await expect(page).toHaveURL(/\/login\/\?next=%2Finvite%2F/);
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(GOOD_PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page).toHaveURL(/\/invite\//);
  await page.getByRole('button', { name: 'Join' }).click();
  await expect(page).toHaveURL(/\/inventories\/\d+\/$/);
  await expect(page.getByRole('status').filter({ hasText: 'You have joined' })).toBeVisible();
  return username;
}

async function addItem(page: Page, name: string, amount: string): Promise<void> {
  const form = page.locator('form').filter({ has: page.getByRole('button', { name: 'Add Item' }) });
  await form.getByLabel('Name').fill(name);
  await form.getByLabel('Amount').fill(amount);
  await form.getByRole('button', { name: 'Add Item' }).click();
  await expect(page.locator('section.inventory tbody')).toContainText(name);
}

for (const javaScriptEnabled of [true, false]) {
  test.describe(`sharing an inventory, JavaScript ${javaScriptEnabled ? 'on' : 'off'}`, () => {
    test.use({ javaScriptEnabled });

    test('one invites, the other joins by link, and each sees the other’s items', async ({
      page,
      browser,
    }) => {
      await registerAndSignIn(page);
      const id = await createInventory(page, 'Our kitchen');
      const link = await createInvite(page, id, 'Editor');

      const other = await secondBrowser(browser, page, javaScriptEnabled);
      const joiner = await joinAsNewUser(other, link);
      await expect(other.getByTestId('inventory-name')).toHaveText('Our kitchen');
      await expect(other.getByTestId('role')).toHaveText('Editor');

      await page.goto(`/inventories/${id}/`);
      await addItem(page, 'Flour', '2');
      await other.reload();
      await expect(other.locator('section.inventory tbody')).toContainText('Flour');
      await addItem(other, 'Sugar', '1');
      await page.reload();
      await expect(page.locator('section.inventory tbody')).toContainText('Sugar');

      // The owner sees the new member, and the switcher names both inventories.
      await page.goto(`/inventories/${id}/members`);
      await expect(page.locator('table.members')).toContainText(joiner);
      await other.goto('/');
      await expect(other.getByTestId('current-inventory')).toHaveText('Our kitchen');
      await other.context().close();
    });

    test('a viewer sees no control that changes anything, and the server refuses one', async ({
      page,
      browser,
    }) => {
      await registerAndSignIn(page);
      const id = await createInventory(page, 'Lab shelf');
      await addItem(page, 'Pipette', '3');
      const link = await createInvite(page, id, 'Viewer');
      const viewer = await secondBrowser(browser, page, javaScriptEnabled);
      await joinAsNewUser(viewer, link);
      await page.goto(`/inventories/${id}/`);

      await expect(viewer.locator('section.inventory tbody')).toContainText('Pipette');
      await expect(viewer.getByRole('button', { name: 'Add Item' })).toHaveCount(0);
      await expect(viewer.getByRole('button', { name: /^[−+]1/ })).toHaveCount(0);
      await expect(viewer.getByRole('link', { name: /^Edit/ })).toHaveCount(0);
      await expect(viewer.getByRole('button', { name: /^Delete/ })).toHaveCount(0);
      await expect(viewer.getByTestId('viewer-note')).toBeVisible();

      const itemId = /\/items\/(\d+)\//.exec(
        (await page.getByRole('link', { name: /^Edit/ }).first().getAttribute('href')) ?? '',
      )![1];
      const refused = await viewer.request.post(`/items/${itemId}/adjust`, {
        form: { delta: '1' },
        headers: { Origin: new URL(viewer.url()).origin },
      });
      expect(refused.status()).toBe(403);
      await page.reload();
      await expect(page.locator(`tr[data-item-id="${itemId}"]`)).toHaveAttribute(
        'data-amount',
        '3',
      );
      await viewer.context().close();
    });

    test('two members saving one item at once: the second sees both versions', async ({
      page,
      browser,
    }) => {
      await registerAndSignIn(page);
      const id = await createInventory(page, 'Garage');
      await addItem(page, 'Ladder', '1');
      const link = await createInvite(page, id, 'Editor');
      const other = await secondBrowser(browser, page, javaScriptEnabled);
      await joinAsNewUser(other, link);
      await page.goto(`/inventories/${id}/`);

      const edit = await page.getByRole('link', { name: /^Edit/ }).first().getAttribute('href');
      await page.goto(edit!);
      await other.goto(edit!);
      await page.getByLabel('Description').fill('Aluminium, 3 m');
      await page.getByRole('button', { name: 'Save changes' }).click();
      await expect(page).toHaveURL(/\/$|\/inventories\//);

      await other.getByLabel('Name').fill('Step ladder');
      await other.getByRole('button', { name: 'Save changes' }).click();
      await expect(other.getByRole('alert')).toContainText('Someone else saved this item');
      await expect(other.getByRole('heading', { name: /Saved meanwhile/ })).toBeVisible();
      await expect(other.locator('.conflict-values')).toContainText('Aluminium, 3 m');
      await expect(other.getByLabel('Name')).toHaveValue('Step ladder');
      await other.getByRole('button', { name: 'Save mine instead' }).click();
      await other.goto(`/inventories/${id}/`);
      await expect(other.locator('section.inventory tbody')).toContainText('Step ladder');
      await other.context().close();
    });
  });
}

test('an invite link that does not work says so', async ({ page }) => {
  await registerAndSignIn(page, uniqueUsername('deadlink'));
  const response = await page.goto(`/invite/${'x'.repeat(43)}`);
  expect(response?.status()).toBe(404);
  await expect(page.getByRole('heading', { name: 'This invite link does not work' })).toBeVisible();
});
