import AxeBuilder from '@axe-core/playwright';
import type { Page } from '@playwright/test';
import { expect, registerAndSignIn, test, uniqueUsername } from './fixtures.ts';

/**
 * Locations and tags from the pages alone, with JavaScript and without it: a tree of three
 * levels made through the forms, a move, a location that holds something deleted with its
 * contents moved, tags renamed, merged and deleted; and axe on every one of these pages.
 */

/** Makes an inventory through its form; its id. */
async function newInventory(page: Page, name: string): Promise<number> {
  const created = await page.request.post('/inventories/', {
    form: { name },
    headers: { Origin: new URL(page.url()).origin },
    maxRedirects: 0,
  });
  expect(created.status(), await created.text()).toBe(303);
  return Number(/\/inventories\/(\d+)\//.exec(created.headers()['location'] ?? '')?.[1]);
}

/** Stores an item with tags through the API. */
async function seedItem(page: Page, inventory: number, name: string, tags: string[]) {
  const response = await page.request.post('/api/items', {
    data: { inventory, name, amount: 1, description: '', tags },
    headers: { Origin: new URL(page.url()).origin },
  });
  expect(response.status(), await response.text()).toBe(201);
}

async function addLocation(page: Page, name: string, inside: string): Promise<void> {
  const form = page
    .locator('form')
    .filter({ has: page.getByRole('button', { name: 'Add location' }) });
  await form.getByLabel('Name').fill(name);
  await form.getByLabel('Inside').selectOption({ label: inside });
  await form.getByRole('button', { name: 'Add location' }).click();
  await expect(page.getByRole('status')).toContainText(`Added the location “`);
}

/** The rows of the location tree: each location's name. */
const treeNames = (page: Page) => page.locator('table.places tbody th').allInnerTexts();

for (const javaScriptEnabled of [true, false]) {
  test.describe(`places, JavaScript ${javaScriptEnabled ? 'on' : 'off'}`, () => {
    test.use({ javaScriptEnabled });

    test('a tree of three levels, a move, and a delete that keeps what the location held', async ({
      page,
    }) => {
      await registerAndSignIn(page, uniqueUsername('places'));
      const id = await newInventory(page, 'House');
      await page.goto(`/inventories/${id}/locations`);
      await expect(page.getByText('No locations yet.')).toBeVisible();
      await addLocation(page, 'Garage', 'Top level');
      await addLocation(page, 'Shelf 2', 'Garage');
      await addLocation(page, 'Blue box', 'Garage / Shelf 2');
      await addLocation(page, 'Attic', 'Top level');
      expect(await treeNames(page)).toEqual(['Attic', 'Garage', 'Shelf 2', 'Blue box']);

      // A sibling's name in another case is refused, beside the field, with the text kept.
      const form = page
        .locator('form')
        .filter({ has: page.getByRole('button', { name: 'Add location' }) });
      await form.getByLabel('Name').fill('attic');
      await form.getByLabel('Inside').selectOption({ label: 'Top level' });
      await form.getByRole('button', { name: 'Add location' }).click();
      await expect(
        page.getByText('There is a location named “Attic” there already.'),
      ).toBeVisible();
      await expect(form.getByLabel('Name')).toHaveValue('attic');

      await page.getByRole('link', { name: 'Shelf 2' }).click();
      await expect(page.getByRole('heading', { level: 1 })).toHaveText('Shelf 2');
      const trail = page.getByRole('navigation', { name: 'Where it is' });
      await expect(trail.getByRole('link')).toHaveText(['House', 'Garage']);
      const moveTo = page.getByLabel('Move inside');
      await expect(moveTo.locator('option')).toHaveText(['Top level', 'Attic', 'Garage']);
      await moveTo.selectOption({ label: 'Attic' });
      await page.getByRole('button', { name: 'Move', exact: true }).click();
      await expect(page.getByRole('status')).toHaveText('Saved the location “Attic / Shelf 2”.');
      await expect(trail.getByRole('link')).toHaveText(['House', 'Attic']);

      await trail.getByRole('link', { name: 'Attic' }).click();
      await expect(page.getByText('It holds 1 location.')).toBeVisible();
      await page.getByLabel('Move its contents to').selectOption({ label: 'Garage' });
      await page.getByRole('button', { name: 'Move contents and delete' }).click();
      await expect(page).toHaveURL(new RegExp(`/inventories/${id}/locations$`));
      await expect(page.getByRole('status')).toContainText('Deleted the location “Attic”');
      expect(await treeNames(page)).toEqual(['Garage', 'Shelf 2', 'Blue box']);

      await page.getByRole('link', { name: 'Blue box' }).click();
      await page.getByRole('button', { name: 'Delete location' }).click();
      await expect(page.getByRole('status')).toContainText('Deleted the location “Blue box”');
      expect(await treeNames(page)).toEqual(['Garage', 'Shelf 2']);
    });

    test('tags: rename, a taken name offers merging, merge, delete', async ({ page }) => {
      await registerAndSignIn(page, uniqueUsername('tags'));
      const id = await newInventory(page, 'Lab');
      await page.goto(`/inventories/${id}/tags`);
      await expect(page.getByText('No tags yet.')).toBeVisible();
      await seedItem(page, id, 'Drill', ['tools', 'red']);
      await seedItem(page, id, 'Saw', ['hand tools']);
      await seedItem(page, id, 'Glue', ['old']);
      await page.goto(`/inventories/${id}/tags`);
      const tag = (name: string) =>
        page
          .locator('.tag-list > li')
          .filter({ has: page.getByRole('link', { name, exact: true }) });

      await tag('hand tools').getByText('Change').click();
      await tag('hand tools').getByLabel('New name').fill('TOOLS');
      await tag('hand tools').getByRole('button', { name: 'Rename' }).click();
      await expect(page.getByText('There is a tag named “tools” already.')).toBeVisible();
      await page.getByRole('button', { name: 'Merge “hand tools” into “tools”' }).click();
      await expect(page.getByRole('status')).toHaveText('Merged the tag into “tools”.');
      await expect(tag('tools')).toContainText('2 items');
      await expect(tag('hand tools')).toHaveCount(0);

      await tag('red').getByText('Change').click();
      await tag('red').getByLabel('New name').fill('Red paint');
      await tag('red').getByRole('button', { name: 'Rename' }).click();
      await expect(page.getByRole('status')).toHaveText('Renamed the tag to “Red paint”.');
      await expect(page.getByRole('link', { name: 'Red paint' })).toHaveAttribute(
        'href',
        `/inventories/${id}/?tag=Red%20paint`,
      );

      await tag('old').getByText('Change').click();
      await tag('old').getByLabel('Merge into').selectOption({ label: 'tools' });
      await tag('old').getByRole('button', { name: 'Merge', exact: true }).click();
      await expect(tag('tools')).toContainText('3 items');

      await tag('Red paint').getByText('Change').click();
      await tag('Red paint')
        .getByRole('button', { name: /Delete the tag/ })
        .click();
      await expect(page.getByRole('status')).toContainText('Deleted the tag “Red paint”');
      await expect(page.locator('.tag-list > li')).toHaveCount(1);
    });
  });
}

test('the locations, location and tags pages have no axe violations', async ({ page }) => {
  test.setTimeout(60_000);
  await registerAndSignIn(page, uniqueUsername('placesaxe'));
  const id = await newInventory(page, 'Axe');
  const findings: string[] = [];
  const check = async (path: string) => {
    for (const scheme of ['light', 'dark'] as const) {
      await page.emulateMedia({ colorScheme: scheme });
      await page.goto(path);
      const results = await new AxeBuilder({ page }).analyze();
      for (const violation of results.violations) {
        const targets = violation.nodes.map((node) => node.target.join(' ')).join(', ');
        findings.push(`${path} (${scheme}): ${violation.id}: ${violation.help} — ${targets}`);
      }
    }
  };
  await check(`/inventories/${id}/locations`);
  await check(`/inventories/${id}/tags`);
  await page.goto(`/inventories/${id}/locations`);
  await addLocation(page, 'Garage', 'Top level');
  await addLocation(page, 'Shelf', 'Garage');
  await seedItem(page, id, 'Drill', ['tools']);
  await check(`/inventories/${id}/locations`);
  await page.getByRole('link', { name: 'Garage' }).click();
  await check(new URL(page.url()).pathname);
  await check(`/inventories/${id}/tags`);
  expect(findings).toEqual([]);
});
