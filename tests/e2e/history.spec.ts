import AxeBuilder from '@axe-core/playwright';
import type { Page } from '@playwright/test';
import { expect, registerAndSignIn, test, uniqueUsername } from './fixtures.ts';

/**
 * History, trash and undo from the pages: delete an item and undo it from the notice (with
 * JavaScript and without), restore one from the trash, the Activity page with its Undo;
 * and axe on the Activity, Trash and item pages.
 */

async function seedItem(page: Page, name: string, amount = 1): Promise<number> {
  const response = await page.request.post('/api/items', {
    data: { name, amount, description: '' },
    headers: { Origin: new URL(page.url()).origin },
  });
  expect(response.status(), await response.text()).toBe(201);
  return ((await response.json()) as { id: number }).id;
}

/** The signed-in user's personal inventory, from the main page's Activity link. */
async function inventoryId(page: Page): Promise<number> {
  await page.goto('/');
  const href = await page.getByRole('link', { name: 'Activity' }).getAttribute('href');
  return Number(/\/inventories\/(\d+)\//.exec(href ?? '')?.[1]);
}

const names = (page: Page) =>
  page.locator('section.inventory tbody [data-cell="name"]').allInnerTexts();

const notice = (page: Page) => page.locator('section.inventory [data-announce]');

for (const javaScriptEnabled of [true, false]) {
  test.describe(`history, JavaScript ${javaScriptEnabled ? 'on' : 'off'}`, () => {
    test.use({ javaScriptEnabled });

    test('delete, then Undo from the notice brings the item back as it was', async ({ page }) => {
      await registerAndSignIn(page, uniqueUsername('undo'));
      await seedItem(page, 'Keep me', 2);
      await seedItem(page, 'Oops', 7);
      await page.goto('/');
      if (javaScriptEnabled) page.once('dialog', (dialog) => dialog.accept());
      await page.getByRole('button', { name: 'Delete Oops', exact: true }).click();
      if (!javaScriptEnabled) await page.getByRole('button', { name: 'Delete' }).click();
      await expect(notice(page)).toHaveText('Moved “Oops” to the trash.');
      expect(await names(page)).toEqual(['Keep me']);

      await page.getByRole('button', { name: 'Undo', exact: true }).click();
      await expect(notice(page)).toHaveText('Undid the change to “Oops”.');
      expect(await names(page)).toEqual(['Oops', 'Keep me']);
      await expect(page.getByRole('button', { name: 'Redo', exact: true })).toBeVisible();
      const items = (await (await page.request.get('/api/items')).json()) as {
        items: { name: string; amount: number }[];
      };
      expect(items.items.map(({ name, amount }) => ({ name, amount }))).toEqual([
        { name: 'Oops', amount: 7 },
        { name: 'Keep me', amount: 2 },
      ]);
    });

    test('restore from the trash; the Activity page lists it all and undoes', async ({ page }) => {
      await registerAndSignIn(page, uniqueUsername('trash'));
      const id = await seedItem(page, 'Old lamp', 3);
      const inventory = await inventoryId(page);
      await page.goto(`/items/${id}/delete?return_to=/`);
      await page.getByRole('button', { name: 'Delete' }).click();
      await expect((await page.request.get(`/items/${id}/`)).status()).toBe(404);

      await page.goto(`/inventories/${inventory}/trash`);
      await expect(page.getByTestId('trash-summary')).toHaveText('1 item in the trash.');
      await page.getByRole('button', { name: 'Restore “Old lamp”' }).click();
      await expect(page.getByRole('status')).toContainText('Restored “Old lamp” from the trash.');
      await expect(page.getByText('The trash is empty.')).toBeVisible();
      await page.goto(`/items/${id}/`);
      await expect(page.getByRole('heading', { level: 1 })).toHaveText('Old lamp');
      const history = page.getByTestId('changes').locator('> li');
      await expect(history).toHaveCount(3);
      await expect(history.first()).toContainText('restored from the trash');

      // −1 on the main page, then undo it from the Activity page.
      await page.goto('/');
      await page.getByRole('button', { name: '−1 from Old lamp' }).click();
      await expect(page.locator('section.inventory [data-cell="amount"]')).toHaveText('2');
      await page.goto(`/inventories/${inventory}/activity`);
      const newest = page.getByTestId('changes').locator('> li').first();
      await expect(newest).toContainText('Changed the amount');
      await expect(newest).toContainText('amount 3 → 2');
      await newest.getByRole('button', { name: 'Undo this change' }).click();
      await expect(page.getByRole('status')).toContainText('Undid the change to “Old lamp”.');
      await expect(page.getByTestId('changes').locator('> li').first()).toContainText(
        'amount 2 → 3',
      );

      // An older change cannot be undone over a later one: nothing changes, and the page says why.
      await page
        .getByTestId('changes')
        .locator('> li')
        .filter({ hasText: 'Moved to the trash' })
        .getByRole('button', { name: 'Undo this change' })
        .click();
      await expect(page.getByRole('heading', { level: 1 })).toHaveText('Not undone');
      await expect(page.getByText(/was changed again since/)).toBeVisible();
      await page.goto(`/items/${id}/`);
      await expect(page.getByTestId('item-amount')).toHaveText('3');
    });
  });
}

test('the Activity, Trash and item pages have no axe violations', async ({ page }) => {
  await registerAndSignIn(page, uniqueUsername('histaxe'));
  const kept = await seedItem(page, 'Kept', 1);
  const gone = await seedItem(page, 'Gone', 1);
  const inventory = await inventoryId(page);
  await page.goto(`/items/${gone}/delete?return_to=/`);
  await page.getByRole('button', { name: 'Delete' }).click();
  for (const path of [
    `/inventories/${inventory}/activity`,
    `/inventories/${inventory}/trash`,
    `/items/${kept}/`,
  ]) {
    for (const colorScheme of ['light', 'dark'] as const) {
      await page.emulateMedia({ colorScheme });
      await page.goto(path);
      const results = await new AxeBuilder({ page }).analyze();
      expect(results.violations, `${path} (${colorScheme})`).toEqual([]);
    }
  }
});
