import { readFile } from 'node:fs/promises';
import type { Page } from '@playwright/test';
import { expect, registerAndSignIn, test } from './fixtures.ts';

/**
 * The main page's "Export CSV" link, without JavaScript: it carries the list's search,
 * filters and sort, and the file it downloads holds exactly the rows that list has, on
 * every page of it, in its order.
 */

test.use({ javaScriptEnabled: false });

const originOf = (page: Page) => new URL(page.url()).origin;

async function addItem(
  page: Page,
  item: { name: string; amount: number; description?: string; tags?: string[] },
) {
  const response = await page.request.post('/api/items', {
    data: { description: '', ...item },
    headers: { Origin: originOf(page) },
  });
  expect(response.status(), await response.text()).toBe(201);
  return ((await response.json()) as { id: number }).id;
}

test('the Export CSV link keeps the filters and sort and downloads every listed row', async ({
  page,
}) => {
  await registerAndSignIn(page);
  const bolts: number[] = [];
  // More than a page of them (25 by default), so the file must hold what the pager hides.
  for (let i = 1; i <= 30; i += 1) {
    bolts.push(
      await addItem(page, {
        name: `Bolt ${String(i).padStart(2, '0')}`,
        amount: i,
        tags: ['metal'],
      }),
    );
  }
  await addItem(page, { name: 'Bolt, wooden', amount: 99, description: 'not "metal"' });
  await addItem(page, { name: '=HYPERLINK("x")', amount: 1, tags: ['metal'] });

  // Filter and sort through the page's own form, as a person would.
  await page.goto('/');
  await page.getByLabel('Search', { exact: true }).fill('bolt');
  await page.getByLabel('Tag', { exact: true }).selectOption('metal');
  await page.getByLabel('Sort by', { exact: true }).selectOption('-amount');
  await page.getByRole('button', { name: 'Apply' }).click();
  await expect(page.getByTestId('summary')).toContainText('30 items');

  const link = page.getByRole('link', { name: 'Export CSV' });
  const href = new URL((await link.getAttribute('href'))!, page.url());
  expect(href.pathname).toBe('/export.csv');
  expect(href.searchParams.get('q')).toBe('bolt');
  expect(href.searchParams.getAll('tag')).toEqual(['metal']);
  expect(href.searchParams.get('sort')).toBe('-amount');

  const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
  expect(download.suggestedFilename()).toMatch(/^My items-\d{4}-\d{2}-\d{2}\.csv$/);
  const bytes = await readFile((await download.path())!);
  expect([...bytes.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
  const lines = bytes.subarray(3).toString('utf8').split('\r\n');
  expect(lines.at(-1)).toBe('');
  expect(lines[0]).toBe('id,name,amount,description,location,tags,min_amount');
  // Highest amount first: Bolt 30 down to Bolt 01; neither the untagged bolt nor the formula.
  expect(lines.slice(1, -1)).toEqual(
    [...bolts]
      .reverse()
      .map((id, i) => `${id},Bolt ${String(30 - i).padStart(2, '0')},${30 - i},,,metal,`),
  );
});

test('an empty inventory’s link downloads the header alone', async ({ page }) => {
  await registerAndSignIn(page);
  await page.goto('/');
  const link = page.getByRole('link', { name: 'Export CSV' });
  await expect(link).toBeVisible();
  const inventory = new URL((await link.getAttribute('href'))!, page.url()).searchParams.get(
    'inventory',
  );
  expect(Number(inventory)).toBeGreaterThan(0);
  const response = await page.request.get((await link.getAttribute('href'))!);
  expect(response.status()).toBe(200);
  expect(await response.text()).toBe(
    '\uFEFFid,name,amount,description,location,tags,min_amount\r\n',
  );
});

test('a spreadsheet comes in through the preview, and one Undo takes it back', async ({ page }) => {
  await registerAndSignIn(page);
  await addItem(page, { name: 'Hammer', amount: 1 });
  await page.goto('/');
  await page.getByRole('link', { name: 'Import CSV' }).click();
  await expect(page.getByRole('heading', { name: 'Import CSV' })).toBeVisible();

  // A file with a problem: shown with its row and column, and nothing to confirm.
  await page.getByLabel('CSV file').setInputFiles({
    name: 'broken.csv',
    mimeType: 'text/csv',
    buffer: Buffer.from('name;amount\nSaw;many\n'),
  });
  await page.getByRole('button', { name: 'Preview' }).click();
  const problems = page.getByTestId('import-problems');
  await expect(problems).toContainText('1 problem in the file');
  await expect(problems.getByRole('row').nth(1)).toContainText('2amountEnter a whole number.many');
  await expect(page.getByTestId('import-apply')).toHaveCount(0);
  await page.getByRole('button', { name: 'Start over' }).click();

  // Excel's way: semicolons, Windows-1252, CRLF, a quoted line break.
  const excel = Buffer.from(
    'Name;Qty;Notes;Location\r\nSäge;2;"Blade:\r\nfine";Shed / Wall\r\n',
    'latin1',
  );
  await page
    .getByLabel('CSV file')
    .setInputFiles({ name: 'tools.csv', mimeType: 'text/csv', buffer: excel });
  await page.getByRole('button', { name: 'Preview' }).click();
  await expect(page.getByTestId('import-summary')).toContainText('1 row: 1 to add, 0 to update');
  await expect(page.getByText('so it was read as Windows-1252')).toBeVisible();
  await expect(page.getByTestId('import-adds')).toContainText('Säge');
  await expect(page.getByText('2 new locations: Shed · Shed / Wall')).toBeVisible();
  await page.getByRole('button', { name: 'Import 1 item' }).click();

  await expect(page.getByText('Imported “tools.csv”: 1 item added.')).toBeVisible();
  await expect(page.getByTestId('summary')).toContainText('2 items');
  await page.getByRole('button', { name: 'Undo', exact: true }).click();
  await expect(page.getByTestId('summary')).toContainText('1 item,');
  await expect(page.getByText('Undid the change to “Säge”.')).toBeVisible();
  await expect(page.getByRole('table', { name: 'Your items' }).getByText('Säge')).toHaveCount(0);
});
