import type { Page } from '@playwright/test';
import { expect, registerAndSignIn, test, uniqueUsername } from './fixtures.ts';

/**
 * Bulk changes from the main page (issue 19): "select all matching" and a move with
 * JavaScript on, checked rows tagged with it off (the form needs none), and each undone from
 * the notice.
 */

interface Listed {
  name: string;
  location_id: number | null;
  tags: string[];
}

async function seed(page: Page, names: string[], fields: Record<string, unknown> = {}) {
  const origin = { Origin: new URL(page.url()).origin };
  for (const name of names) {
    const response = await page.request.post('/api/items', {
      data: { name, amount: 1, description: '', ...fields },
      headers: origin,
    });
    expect(response.status(), await response.text()).toBe(201);
  }
}

async function listed(page: Page): Promise<Listed[]> {
  const response = await page.request.get('/api/items?limit=100&sort=name');
  return ((await response.json()) as { items: Listed[] }).items;
}

const notice = (page: Page) => page.locator('section.inventory [data-announce]');

test('moves every item matching the search at once, then undoes it (JavaScript on)', async ({
  page,
}) => {
  await registerAndSignIn(page, uniqueUsername('bulkjs'));
  const inventory = Number(
    /\/inventories\/(\d+)\//.exec(
      (await page.getByRole('link', { name: 'Activity' }).getAttribute('href')) ?? '',
    )?.[1],
  );
  const created = await page.request.post(`/api/inventories/${inventory}/locations`, {
    data: { name: 'Garage' },
    headers: { Origin: new URL(page.url()).origin },
  });
  const garage = ((await created.json()) as { id: number }).id;
  // More than a page (25) of matches, and one item that does not match.
  await seed(
    page,
    Array.from({ length: 27 }, (_, i) => `Bolt ${String(i + 1).padStart(2, '0')}`),
  );
  await seed(page, ['Nut']);
  await page.goto('/?q=bolt');

  const bulk = page.locator('form[data-bulk]');
  const apply = bulk.getByRole('button', { name: 'Apply to the selected' });
  await expect(apply).toBeHidden();
  await page.getByRole('checkbox', { name: 'Select Bolt 03' }).check();
  // CSS counts the checked rows (a counter: no script) and shows the actions.
  await expect(bulk.locator('[data-bulk-count]')).toBeVisible();
  await expect(apply).toBeVisible();
  await bulk.getByLabel('Select all 27 items matching').check();
  await bulk.getByLabel('With the selected').selectOption('move');
  await bulk.getByLabel('Move to').selectOption(String(garage));
  await apply.click();

  await expect(notice(page)).toHaveText('Moved 27 items to “Garage”.');
  await expect(page).toHaveURL(/\/\?q=bolt$/);
  const moved = await listed(page);
  expect(moved.filter((item) => item.location_id === garage)).toHaveLength(27);
  expect(moved.find((item) => item.name === 'Nut')?.location_id).toBeNull();

  await page.getByRole('button', { name: 'Undo', exact: true }).click();
  await expect(notice(page)).toContainText('Undid the change');
  expect((await listed(page)).every((item) => item.location_id === null)).toBe(true);
});

test.describe('JavaScript off', () => {
  test.use({ javaScriptEnabled: false });

  test('tags the checked rows with one plain form post, then undoes it', async ({ page }) => {
    await registerAndSignIn(page, uniqueUsername('bulknojs'));
    await seed(page, ['Drill', 'Hammer', 'Saw']);
    await page.goto('/');
    const bulk = page.locator('form[data-bulk]');
    await page.getByRole('checkbox', { name: 'Select Drill' }).check();
    await page.getByRole('checkbox', { name: 'Select Saw' }).check();
    // Shown by CSS alone once a row is checked, with the field the action needs.
    await bulk.getByLabel('With the selected').selectOption('tag');
    await bulk.getByLabel('Tag').fill('spare');
    await bulk.getByRole('button', { name: 'Apply to the selected' }).click();

    await expect(notice(page)).toHaveText('Tagged 2 items “spare”.');
    expect((await listed(page)).map(({ name, tags }) => [name, tags])).toEqual([
      ['Drill', ['spare']],
      ['Hammer', []],
      ['Saw', ['spare']],
    ]);
    await page.getByRole('button', { name: 'Undo', exact: true }).click();
    await expect(notice(page)).toContainText('Undid the change');
    expect((await listed(page)).every((item) => item.tags.length === 0)).toBe(true);
  });
});
