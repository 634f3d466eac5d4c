import AxeBuilder from '@axe-core/playwright';
import type { Page } from '@playwright/test';
import { expect, registerAndSignIn, test, uniqueUsername } from './fixtures.ts';

/**
 * Finding things: items put in nested places through the add and edit forms, tagged and
 * given minimums, then found from the main page by place (sub-places included), by two tags
 * at once, by low stock and by text, with removable chips; and an item's own page. With
 * JavaScript and without it: every filter is a plain GET form or link.
 */

const originOf = (page: Page) => new URL(page.url()).origin;

/** The signed-in user's personal inventory (the one `/` opens for a new account). */
async function personalInventory(page: Page): Promise<number> {
  const response = await page.request.get('/api/inventories');
  expect(response.status()).toBe(200);
  const { inventories } = (await response.json()) as { inventories: { id: number }[] };
  return inventories[0]!.id;
}

/** A location made through the API: the page under test here is the main page. */
async function addLocation(
  page: Page,
  inventory: number,
  name: string,
  parentId: number | null = null,
): Promise<number> {
  const response = await page.request.post(`/api/inventories/${inventory}/locations`, {
    data: { name, parent_id: parentId },
    headers: { Origin: originOf(page) },
  });
  expect(response.status(), await response.text()).toBe(201);
  return ((await response.json()) as { id: number }).id;
}

/** Adds an item through the full-page form, with its place, tags and minimum. */
async function addThroughForm(
  page: Page,
  item: { name: string; amount: string; location?: string; tags?: string; min?: string },
): Promise<void> {
  await page.goto('/create-item?return_to=%2F');
  await page.getByLabel('Name', { exact: true }).fill(item.name);
  await page.getByLabel('Amount', { exact: true }).fill(item.amount);
  if (item.location)
    await page.getByLabel('Location', { exact: true }).selectOption({ label: item.location });
  if (item.tags) await page.getByLabel('Tags', { exact: true }).fill(item.tags);
  if (item.min) await page.getByLabel('Minimum amount', { exact: true }).fill(item.min);
  await page.getByRole('button', { name: 'Add Item' }).click();
  await expect(page).toHaveURL((url) => url.pathname === '/');
}

const listedNames = async (page: Page) =>
  (await page.locator('section.inventory tbody [data-cell="name"]').allTextContents()).sort();

/**
 * Changes the filter form with `change` and waits for the list it asks for: with JavaScript
 * a change applies by itself, without it Apply does.
 */
async function filter(page: Page, javaScriptEnabled: boolean, change: () => Promise<unknown>) {
  await toNewAddress(page, async () => {
    await change();
    if (!javaScriptEnabled) await page.getByRole('button', { name: 'Apply' }).click();
  });
}

/** Does `action` and waits until the page is at another address. */
async function toNewAddress(page: Page, action: () => Promise<unknown>) {
  const before = page.url();
  await action();
  await page.waitForURL((url) => url.href !== before);
}

for (const javaScriptEnabled of [true, false]) {
  test.describe(`places, tags and low stock, JavaScript ${javaScriptEnabled ? 'on' : 'off'}`, () => {
    test.use({ javaScriptEnabled });

    test('put items in places, tag them, then find them by place, tags, stock and text', async ({
      page,
    }) => {
      await registerAndSignIn(page, uniqueUsername(javaScriptEnabled ? 'filtjs' : 'filtnojs'));
      const inventory = await personalInventory(page);
      const garage = await addLocation(page, inventory, 'Garage');
      const shelf = await addLocation(page, inventory, 'Shelf 2', garage);
      await addLocation(page, inventory, 'Blue box', shelf);
      await addLocation(page, inventory, 'Attic');

      await addThroughForm(page, {
        name: 'Hammer',
        amount: '1',
        location: 'Garage / Shelf 2 / Blue box',
        tags: 'tools, red',
        min: '3',
      });
      await addThroughForm(page, { name: 'Saw', amount: '2', location: 'Attic', tags: 'Tools' });
      await addThroughForm(page, {
        name: 'Rope',
        amount: '5',
        location: 'Attic',
        tags: 'red',
        min: '5',
      });
      await addThroughForm(page, { name: 'Lamp', amount: '4' });

      // Moving an item is one select on its edit form.
      await page.goto('/');
      await page.getByRole('link', { name: 'Edit Saw', exact: true }).click();
      await page
        .getByLabel('Location', { exact: true })
        .selectOption({ label: 'Garage / Shelf 2' });
      await expect(page.getByLabel('Tags', { exact: true })).toHaveValue('tools');
      await page.getByRole('button', { name: 'Save changes' }).click();
      await expect(page).toHaveURL((url) => url.pathname === '/');

      // By place, sub-places included.
      await filter(page, javaScriptEnabled, () =>
        page.getByLabel('Location', { exact: true }).selectOption({ label: 'Garage' }),
      );
      await expect(page).toHaveURL((url) => url.searchParams.get('location') === String(garage));
      await expect.poll(() => listedNames(page)).toEqual(['Hammer', 'Saw']);
      await expect(page.getByTestId('filter-chip')).toHaveText(['In Garage Remove']);

      // And two tags, all of which must match ("Tools" and "tools" are one tag).
      await filter(page, javaScriptEnabled, () =>
        page.getByLabel('Tag', { exact: true }).selectOption({ label: 'tools' }),
      );
      await expect.poll(() => listedNames(page)).toEqual(['Hammer', 'Saw']);
      await filter(page, javaScriptEnabled, () =>
        page.getByLabel('And tag', { exact: true }).selectOption({ label: 'red' }),
      );
      await expect.poll(() => listedNames(page)).toEqual(['Hammer']);
      await expect(page).toHaveURL((url) => url.searchParams.getAll('tag').length === 2);
      await expect(page.getByTestId('filter-chip')).toHaveCount(3);

      // Chips take one filter away each.
      await toNewAddress(page, () =>
        page.getByRole('link', { name: 'Remove the filter in Garage' }).click(),
      );
      await expect.poll(() => listedNames(page)).toEqual(['Hammer']);
      await toNewAddress(page, () =>
        page.getByRole('link', { name: 'Remove the filter tagged red' }).click(),
      );
      await expect.poll(() => listedNames(page)).toEqual(['Hammer', 'Saw']);
      await toNewAddress(page, () =>
        page.getByRole('link', { name: 'Remove the filter tagged tools' }).click(),
      );
      await expect.poll(() => listedNames(page)).toEqual(['Hammer', 'Lamp', 'Rope', 'Saw']);

      // Low stock: Hammer (1 of at least 3) is low; Rope (5 of 5) is not.
      const summary = page.getByTestId('summary');
      await expect(summary).toHaveText('4 items, total amount 12 · 1 low');
      const hammer = page.locator('tbody tr').filter({ hasText: 'Hammer' });
      await expect(hammer.locator('[data-low]')).toHaveText('Low (min 3)');
      await expect(
        page.locator('tbody tr').filter({ hasText: 'Rope' }).locator('[data-low]'),
      ).toBeHidden();
      await toNewAddress(page, () => page.getByTestId('low-link').click());
      await expect(page).toHaveURL((url) => url.searchParams.get('low') === 'true');
      await expect.poll(() => listedNames(page)).toEqual(['Hammer']);
      await expect(page.getByTestId('filter-chip')).toHaveText(['Only low stock Remove']);
      await toNewAddress(page, () =>
        page.getByRole('link', { name: /Remove the filter only low stock/ }).click(),
      );

      // Text also finds tag names and places (and what is inside them).
      await page.getByLabel('Search', { exact: true }).fill('blue box');
      await page.getByLabel('Search', { exact: true }).press('Enter');
      await expect.poll(() => listedNames(page)).toEqual(['Hammer']);
      await page.getByLabel('Search', { exact: true }).fill('RED');
      await page.getByLabel('Search', { exact: true }).press('Enter');
      await expect.poll(() => listedNames(page)).toEqual(['Hammer', 'Rope']);

      // The item's own page: its path, its tags, who added it.
      await page.getByRole('link', { name: 'Hammer', exact: true }).click();
      await expect(page).toHaveURL(/\/items\/\d+\/$/);
      await expect(page.getByRole('heading', { level: 1 })).toHaveText('Hammer');
      await expect(page.getByTestId('item-location')).toHaveText('Garage / Shelf 2 / Blue box');
      await expect(page.locator('.item-facts .tag')).toHaveText(['red', 'tools']);
      // A tag on it lists everything with that tag.
      await page.getByRole('link', { name: 'red', exact: true }).click();
      await expect.poll(() => listedNames(page)).toEqual(['Hammer', 'Rope']);
    });
  });
}

test('the filtered main page and the item page have no axe violations', async ({ page }) => {
  await registerAndSignIn(page, uniqueUsername('filtaxe'));
  const inventory = await personalInventory(page);
  const garage = await addLocation(page, inventory, 'Garage');
  await addThroughForm(page, {
    name: 'Hammer',
    amount: '1',
    location: 'Garage',
    tags: 'tools',
    min: '2',
  });
  for (const colorScheme of ['light', 'dark'] as const) {
    await page.emulateMedia({ colorScheme });
    await page.goto(`/?location=${garage}&tag=tools&low=true`);
    await expect(page.getByTestId('filter-chip')).toHaveCount(3);
    const list = await new AxeBuilder({ page }).analyze();
    expect
      .soft(
        list.violations.map((v) => `${v.id}: ${v.help}`),
        `main page (${colorScheme})`,
      )
      .toEqual([]);
    await page.getByRole('link', { name: 'Hammer', exact: true }).click();
    const item = await new AxeBuilder({ page }).analyze();
    expect
      .soft(
        item.violations.map((v) => `${v.id}: ${v.help}`),
        `item page (${colorScheme})`,
      )
      .toEqual([]);
    await page.getByRole('link', { name: 'Edit' }).click();
    const edit = await new AxeBuilder({ page }).analyze();
    expect
      .soft(
        edit.violations.map((v) => `${v.id}: ${v.help}`),
        `edit page (${colorScheme})`,
      )
      .toEqual([]);
  }
});
