import { gzipSync } from 'node:zlib';
import AxeBuilder from '@axe-core/playwright';
import type { Browser, Locator, Page, Request, Response } from '@playwright/test';
import {
  expect,
  GOOD_PASSWORD,
  openAccountMenu,
  registerAndSignIn,
  test,
  uniqueUsername,
} from './fixtures.ts';

/**
 * The inventory in the browser: adding items with JavaScript (no page load) and without,
 * validation both ways, edit, delete and +1/−1 with and without JavaScript, owner scoping,
 * paging, sorting and search through the query string, accessibility and the JavaScript
 * budget of the main page. What needs no browser (404s for foreign and malformed ids, a form
 * sent twice) is checked over HTTP in tests/integration/pages.test.ts.
 */

/** The main page ships at most this much gzipped JavaScript at load (issue 4). */
const JS_BUDGET_BYTES = 20 * 1024;
/** …and at most this much once the add-item form is first used, lazy chunks included (issue 15). */
const JS_AFTER_USE_BUDGET_BYTES = 24 * 1024;
/** The main page with 25 rows comes in at most this much, compressed, all of it (issue 20). */
const PAGE_WEIGHT_BUDGET_BYTES = 30 * 1024;

interface ItemJson {
  id: number;
  name: string;
  amount: number;
  description: string;
}

type ItemFields = { name: string; amount: number; description?: string };

/** The add-item form (the island on the main page, or the full page at /create-item). */
function addForm(page: Page): Locator {
  return page.locator('form').filter({ has: page.getByRole('button', { name: 'Add Item' }) });
}

function fields(page: Page) {
  const form = addForm(page);
  return {
    form,
    name: form.getByLabel('Name', { exact: true }),
    amount: form.getByLabel('Amount', { exact: true }),
    description: form.getByLabel('Description', { exact: true }),
    submit: form.getByRole('button', { name: 'Add Item' }),
    // What an add says is the page's notice, beside its Undo button.
    status: form.page().locator('section.inventory [data-announce]'),
  };
}

function table(page: Page): Locator {
  return page.getByRole('table', { name: 'Your items' });
}

/** The table row of the item with this (unique) name. */
function row(page: Page, name: string): Locator {
  return page
    .locator('section.inventory tbody tr')
    .filter({ has: page.getByRole('cell', { name, exact: true }) });
}

function amountOf(page: Page, name: string): Locator {
  return row(page, name).locator('[data-cell="amount"]');
}

/** Names in the table, top to bottom. */
async function tableNames(page: Page): Promise<string[]> {
  return (await page.locator('section.inventory tbody [data-cell="name"]').allTextContents()).map(
    (text) => text.trim(),
  );
}

function summary(page: Page): Locator {
  return page.getByTestId('summary');
}

/** What the last change said about itself (after a redirect, or in place with JavaScript). */
function notice(page: Page): Locator {
  return page.locator('section.inventory [data-announce]');
}

/** The site's own origin, for state-changing requests sent outside of a form. */
function originOf(page: Page): string {
  return new URL(page.url()).origin;
}

/** Stores an item through the JSON API with the page's session (fast seeding). */
async function seed(page: Page, item: ItemFields): Promise<ItemJson> {
  const response = await page.request.post('/api/items', {
    data: { description: '', ...item },
    headers: { Origin: originOf(page) },
  });
  expect(response.status(), await response.text()).toBe(201);
  return (await response.json()) as ItemJson;
}

/** The caller's items as the API lists them (the source of truth, not the page). */
async function storedItems(page: Page): Promise<ItemJson[]> {
  const response = await page.request.get('/api/items?limit=100&sort=oldest');
  expect(response.status()).toBe(200);
  return ((await response.json()) as { items: ItemJson[] }).items;
}

/** Counts main-frame navigations from now on, and plants a marker a page load would wipe. */
async function watchNavigations(page: Page): Promise<() => Promise<void>> {
  let navigations = 0;
  page.on('framenavigated', (frame) => {
    if (frame === page.mainFrame()) navigations += 1;
  });
  await page.evaluate(() => {
    (window as unknown as { __marker: number }).__marker = 1;
  });
  return async () => {
    expect(navigations, 'main-frame navigations').toBe(0);
    expect(await page.evaluate(() => (window as unknown as { __marker?: number }).__marker)).toBe(
      1,
    );
  };
}

/** Requests to the item API's create endpoint from now on. */
function watchCreates(page: Page): { count: () => number } {
  let count = 0;
  page.on('request', (request) => {
    if (new URL(request.url()).pathname === '/api/items' && request.method() === 'POST') count += 1;
  });
  return { count: () => count };
}

/** The field is marked invalid and its `aria-describedby` names an element with `message`. */
async function expectFieldError(page: Page, input: Locator, message: string): Promise<void> {
  await expect(input).toHaveAttribute('aria-invalid', 'true');
  const describedBy = (await input.getAttribute('aria-describedby')) ?? '';
  const ids = describedBy.split(/\s+/).filter(Boolean);
  expect(ids.length, 'aria-describedby names an element').toBeGreaterThan(0);
  const texts = await Promise.all(
    ids.map(async (id) => {
      const element = page.locator(`[id="${id}"]`);
      await expect(element, `#${id} exists`).toHaveCount(1);
      return (await element.textContent()) ?? '';
    }),
  );
  expect(texts.join('\n')).toContain(message);
  await expect(input.locator('xpath=ancestor::*[contains(@class,"field")][1]')).toContainText(
    message,
  );
}

async function expectFieldValid(input: Locator): Promise<void> {
  await expect(input).not.toHaveAttribute('aria-invalid', 'true');
}

/** The add-item island's element, which Astro marks `ssr` until it has hydrated. */
function island(page: Page): Locator {
  return page.locator('astro-island').filter({ has: addForm(page) });
}

/**
 * Wakes the add-item island as a user would, by focusing its Name field (on the main page it
 * hydrates on first use, `client:interact`), and waits until it has hydrated (Astro removes
 * the island's `ssr` marker), so that what the test types and clicks reaches the island
 * rather than the plain form. Fails when the island never hydrates.
 */
async function hydrated(page: Page): Promise<void> {
  await expect(island(page)).toHaveCount(1);
  await fields(page).name.focus();
  await expect(island(page)).not.toHaveAttribute('ssr');
}

/** A second signed-in user in a browser context of their own. */
async function otherUser(
  browser: Browser,
  baseURL: string | undefined,
  headers: Record<string, string> | undefined,
) {
  const context = await browser.newContext({ baseURL, extraHTTPHeaders: headers });
  const page = await context.newPage();
  const username = await registerAndSignIn(page, uniqueUsername('other'));
  return { context, page, username };
}

test.describe('adding an item with JavaScript', () => {
  test('adds in place: no navigation, row at once, announced, form cleared, focus on Name', async ({
    page,
  }) => {
    await registerAndSignIn(page, uniqueUsername('add'));
    await hydrated(page);
    const form = fields(page);
    await expect(page.getByTestId('empty-state')).toBeVisible();
    const noNavigation = await watchNavigations(page);
    const creates: string[] = [];
    page.on('request', (request) => {
      if (new URL(request.url()).pathname === '/api/items' && request.method() === 'POST') {
        creates.push(request.headers()['idempotency-key'] ?? '');
      }
    });

    await form.name.fill('Blue Widget');
    await form.amount.fill('12');
    await form.description.fill('Top shelf\nleft side');
    await form.submit.click();

    await expect(row(page, 'Blue Widget')).toHaveCount(1);
    await expect(amountOf(page, 'Blue Widget')).toHaveText('12');
    await expect(row(page, 'Blue Widget').locator('[data-cell="description"]')).toHaveText(
      /Top shelf\s+left side/,
    );
    await expect(form.status).toContainText('Blue Widget');
    await expect(form.status.locator('xpath=..')).toHaveAttribute('aria-live', 'polite');
    await expect(page.getByRole('button', { name: 'Undo' })).toBeVisible();
    await expect(form.name).toHaveValue('');
    await expect(form.amount).toHaveValue('');
    await expect(form.description).toHaveValue('');
    await expect(form.name).toBeFocused();
    await expect(page.getByTestId('empty-state')).toBeHidden();
    await expect(summary(page)).toHaveText('1 item, total amount 12');
    // The fields are fresh, not marked as errors after clearing.
    await expectFieldValid(form.name);
    await expectFieldValid(form.amount);

    // A second item right away: a new idempotency key, so it is stored too, on top.
    await form.name.fill('Red Widget');
    await form.amount.fill('3');
    await form.submit.click();
    await expect(row(page, 'Red Widget')).toHaveCount(1);
    await expect(form.status).toContainText('Red Widget');
    await expect(summary(page)).toHaveText('2 items, total amount 15');
    expect(await tableNames(page)).toEqual(['Red Widget', 'Blue Widget']);
    expect(creates).toHaveLength(2);
    expect(creates[0]).not.toBe('');
    expect(creates[0]).not.toBe(creates[1]);
    await noNavigation();

    await page.reload();
    expect(await tableNames(page)).toEqual(['Red Widget', 'Blue Widget']);
    await expect(summary(page)).toHaveText('2 items, total amount 15');
    expect(await storedItems(page)).toMatchObject([
      { name: 'Blue Widget', amount: 12, description: 'Top shelf\nleft side' },
      { name: 'Red Widget', amount: 3, description: '' },
    ]);
  });

  test('puts a new row only where the search, sort and page put it, and says where it went', async ({
    page,
  }) => {
    await registerAndSignIn(page, uniqueUsername('place'));
    await seed(page, { name: 'Green apple', amount: 1 });
    await seed(page, { name: 'Cherry', amount: 2 });
    const form = fields(page);

    // A search the new item does not match: not shown, and the view says why.
    await page.goto('/?q=apple');
    await hydrated(page);
    await form.name.fill('Banana');
    await form.amount.fill('1000');
    await form.submit.click();
    await expect(notice(page)).toHaveText(
      'Added “Banana”. “Banana” does not match “apple”, so it is not shown. Clear the search to see it.',
    );
    expect(await tableNames(page)).toEqual(['Green apple']);
    await expect(summary(page)).toHaveText('1 item, total amount 1');
    // One it matches appears where the sort (newest first) puts it.
    await form.name.fill('Red apple');
    await form.amount.fill('3');
    await form.submit.click();
    await expect(row(page, 'Red apple')).toHaveCount(1);
    expect(await tableNames(page)).toEqual(['Red apple', 'Green apple']);
    await expect(summary(page)).toHaveText('2 items, total amount 4');

    // Oldest first, one per page: a new item is on the last page, not this one.
    await page.goto('/?sort=oldest&limit=1');
    await hydrated(page);
    await form.name.fill('Damson');
    await form.amount.fill('1');
    await form.submit.click();
    await expect(notice(page)).toHaveText(
      'Added “Damson”. “Damson” is on another page of this list.',
    );
    expect(await tableNames(page)).toEqual(['Green apple']);
    await expect(summary(page)).toHaveText('5 items, total amount 1,007');

    // By name: among the rows, in its place.
    await page.goto('/?sort=name');
    await hydrated(page);
    await form.name.fill('Apricot');
    await form.amount.fill('1');
    await form.submit.click();
    await expect(row(page, 'Apricot')).toHaveCount(1);
    expect(await tableNames(page)).toEqual([
      'Apricot',
      'Banana',
      'Cherry',
      'Damson',
      'Green apple',
      'Red apple',
    ]);
  });

  test('what is typed before the island has loaded is kept, with the focus', async ({ page }) => {
    await registerAndSignIn(page, uniqueUsername('early'));
    // The island's code arrives only when the test lets it, as over a slow connection.
    let release = () => {};
    const held = new Promise<void>((resolve) => (release = resolve));
    let requested = () => {};
    const asked = new Promise<void>((resolve) => (requested = resolve));
    await page.route('**/_astro/island.*.js', async (route) => {
      requested();
      await held;
      await route.continue();
    });
    await page.mouse.move(0, 0);
    await page.goto('/');
    const form = fields(page);
    await expect(island(page)).toHaveAttribute('ssr');
    const noNavigation = await watchNavigations(page);

    // The click wakes the island; the typing happens while its code is on the way.
    await form.name.click();
    await asked;
    await page.keyboard.type('Claw ham');
    await expect(island(page)).toHaveAttribute('ssr');
    await expect(form.name).toHaveValue('Claw ham');

    release();
    await expect(island(page)).not.toHaveAttribute('ssr');
    await expect(form.name).toHaveValue('Claw ham');
    await expect(form.name).toBeFocused();
    // The caret stayed at the end, and the island knows what the field holds: it adds it.
    await page.keyboard.type('mer');
    await expect(form.name).toHaveValue('Claw hammer');
    await form.amount.fill('2');
    await form.submit.click();
    await expect(row(page, 'Claw hammer')).toHaveCount(1);
    await expect(form.name).toHaveValue('');
    expect((await storedItems(page)).map((item) => item.name)).toEqual(['Claw hammer']);
    await noNavigation();
  });

  test('disables Add Item while the request is pending', async ({ page }) => {
    await registerAndSignIn(page, uniqueUsername('pending'));
    await hydrated(page);
    const form = fields(page);
    await page.route('**/api/items', async (route) => {
      await new Promise((resolve) => setTimeout(resolve, 800));
      await route.continue();
    });
    await form.name.fill('Slow Item');
    await form.amount.fill('1');
    await expect(form.submit).toBeEnabled();
    await form.submit.click();
    await expect(form.submit).toBeDisabled();
    await expect(row(page, 'Slow Item')).toHaveCount(1);
    await expect(form.submit).toBeEnabled();
  });

  test('a retry after a network failure stores the item once', async ({ page }) => {
    await registerAndSignIn(page, uniqueUsername('retry'));
    await hydrated(page);
    const form = fields(page);
    const noNavigation = await watchNavigations(page);
    const keys: string[] = [];
    let firstStatus = 0;
    await page.route('**/api/items', async (route) => {
      keys.push(route.request().headers()['idempotency-key'] ?? '');
      if (keys.length === 1) {
        // The server stores the item, but the browser never hears back.
        const response = await route.fetch();
        firstStatus = response.status();
        await route.abort('failed');
        return;
      }
      await route.continue();
    });

    await form.name.fill('Flaky Item');
    await form.amount.fill('4');
    await form.submit.click();
    await expect(form.form.getByRole('alert')).toContainText(/could not reach the server/i);
    expect(firstStatus, 'the first request reached the server').toBe(201);
    await expect(row(page, 'Flaky Item')).toHaveCount(0);
    // What the user typed is still there to send again.
    await expect(form.name).toHaveValue('Flaky Item');
    await expect(form.amount).toHaveValue('4');
    await expect(form.submit).toBeEnabled();

    await form.submit.click();
    await expect(row(page, 'Flaky Item')).toHaveCount(1);
    await expect(form.status).toContainText('Flaky Item');
    await expect(form.form.getByRole('alert')).toHaveCount(0);
    expect(keys).toHaveLength(2);
    expect(keys[0]).not.toBe('');
    expect(keys[1]).toBe(keys[0]);
    await noNavigation();

    await page.reload();
    await expect(row(page, 'Flaky Item')).toHaveCount(1);
    await expect(summary(page)).toHaveText('1 item, total amount 4');
    expect((await storedItems(page)).filter((item) => item.name === 'Flaky Item')).toHaveLength(1);
  });
});

test.describe('validation with JavaScript', () => {
  test('shows errors beside the fields as the user leaves them, before any submit', async ({
    page,
  }) => {
    await registerAndSignIn(page, uniqueUsername('validate'));
    await hydrated(page);
    const form = fields(page);
    const creates = watchCreates(page);

    await form.name.fill('Something');
    await form.name.fill('');
    await form.name.blur();
    await expectFieldError(page, form.name, 'This field is required.');
    await expect(form.name).toHaveAttribute('aria-describedby', /\bid_name_error\b/);

    await form.amount.fill('10abc');
    await form.amount.blur();
    await expectFieldError(page, form.amount, 'Enter a whole number.');
    await expect(form.amount).toHaveAttribute('aria-describedby', /\bid_amount_error\b/);

    // Errors update as the user types.
    await form.amount.fill('-1');
    await expectFieldError(page, form.amount, 'Ensure this value is greater than or equal to 0.');
    await form.amount.fill('2147483648');
    await expectFieldError(page, form.amount, 'Ensure this value is less than or equal to');
    await form.amount.fill('10');
    await expectFieldValid(form.amount);
    await expect(page.locator('#id_amount_error')).toHaveCount(0);
    await form.name.fill('Named');
    await expectFieldValid(form.name);
    await expect(page.locator('#id_name_error')).toHaveCount(0);

    expect(creates.count()).toBe(0);
  });

  test('submitting invalid input sends nothing and focuses the first bad field', async ({
    page,
  }) => {
    await registerAndSignIn(page, uniqueUsername('invalid'));
    await hydrated(page);
    const form = fields(page);
    const creates = watchCreates(page);
    const noNavigation = await watchNavigations(page);

    await form.submit.click();
    await expectFieldError(page, form.name, 'This field is required.');
    await expectFieldError(page, form.amount, 'This field is required.');
    await expect(form.name).toBeFocused();

    await form.name.fill('Good name');
    await form.amount.fill('1e3');
    await form.submit.click();
    await expectFieldError(page, form.amount, 'Enter a whole number.');
    await expect(form.amount).toBeFocused();

    await form.amount.fill('5');
    await form.description.fill('bad \u0007 bell');
    await form.submit.click();
    await expectFieldError(page, form.description, 'U+0007');

    expect(creates.count()).toBe(0);
    await noNavigation();
    await expect(page.getByTestId('empty-state')).toBeVisible();
  });
});

test.describe('without JavaScript', () => {
  test.use({ javaScriptEnabled: false });

  test('the last login reads in UTC, exactly, from the cookie', async ({ page, context }) => {
    await registerAndSignIn(page, uniqueUsername('nojslast'));
    await context.addCookies([
      { name: 'last_login', value: '2026-03-04T05:06:07.000Z', url: page.url() },
    ]);
    await page.reload();
    const time = page.getByTestId('last-login').locator('time');
    await expect(time).toHaveText('2026-03-04 05:06:07 UTC');
    await expect(time).toHaveAttribute('datetime', '2026-03-04T05:06:07.000Z');
  });

  test('adding redirects back to the page it came from', async ({ page }) => {
    await registerAndSignIn(page, uniqueUsername('nojs'));
    await page.goto('/?sort=name');
    const form = fields(page);
    await form.name.fill('Zebra');
    await form.amount.fill('2');
    await form.description.fill('striped');
    await form.submit.click();
    await expect(page).toHaveURL((url) => url.pathname + url.search === '/?sort=name');
    await expect(row(page, 'Zebra')).toHaveCount(1);
    await expect(notice(page)).toHaveText('Added “Zebra” (amount 2).');

    await form.name.fill('Aardvark');
    await form.amount.fill('1');
    await form.submit.click();
    await expect(page).toHaveURL((url) => url.pathname + url.search === '/?sort=name');
    expect(await tableNames(page)).toEqual(['Aardvark', 'Zebra']);
    await expect(summary(page)).toHaveText('2 items, total amount 3');
  });

  test('errors come back beside their fields with the typed values kept', async ({ page }) => {
    await registerAndSignIn(page, uniqueUsername('nojserr'));
    await page.goto('/?sort=amount');
    const form = fields(page);
    await form.name.fill('   ');
    await form.amount.fill('10abc');
    await form.description.fill('kept <b>text</b>');
    const answered = page.waitForResponse(
      (response) =>
        new URL(response.url()).pathname === '/create-item' &&
        response.request().method() === 'POST',
    );
    await form.submit.click();
    expect((await answered).status()).toBe(400);
    await expect(page).toHaveURL((url) => url.pathname === '/create-item');

    const again = fields(page);
    await expectFieldError(page, again.name, 'This field is required.');
    await expectFieldError(page, again.amount, 'Enter a whole number.');
    await expect(again.amount).toHaveValue('10abc');
    await expect(again.description).toHaveValue('kept <b>text</b>');

    // Fixing the input and sending again lands back where the user started.
    await again.name.fill('Fixed');
    await again.amount.fill('10');
    await again.submit.click();
    await expect(page).toHaveURL((url) => url.pathname + url.search === '/?sort=amount');
    await expect(row(page, 'Fixed')).toHaveCount(1);
  });

  test('/create-item adds an item', async ({ page }) => {
    await registerAndSignIn(page, uniqueUsername('fullnojs'));
    await page.goto('/create-item');
    await expect(page.getByRole('heading', { level: 1, name: 'Add an item' })).toBeVisible();
    const form = fields(page);
    await form.name.fill('Full page item');
    await form.amount.fill('9');
    await form.submit.click();
    await expect(page).toHaveURL((url) => url.pathname === '/');
    await expect(amountOf(page, 'Full page item')).toHaveText('9');
  });

  test('edit, +1/−1 and delete behind a confirmation page', async ({ page }) => {
    await registerAndSignIn(page, uniqueUsername('rownojs'));
    await page.goto('/');
    await seed(page, { name: 'Hammer', amount: 1, description: 'claw' });
    await page.goto('/?sort=name&limit=10');
    const here = (url: URL) => url.pathname + url.search === '/?sort=name&limit=10';

    await page.getByRole('button', { name: '+1 to Hammer', exact: true }).click();
    await expect(page).toHaveURL(here);
    await expect(amountOf(page, 'Hammer')).toHaveText('2');
    await expect(notice(page)).toHaveText('“Hammer”: amount 2.');

    const decrease = page.getByRole('button', { name: '−1 from Hammer', exact: true });
    await decrease.click();
    await expect(page).toHaveURL(here);
    await expect(amountOf(page, 'Hammer')).toHaveText('1');
    await decrease.click();
    await expect(amountOf(page, 'Hammer')).toHaveText('0');
    await expect(decrease).toBeDisabled();

    await page.getByRole('link', { name: 'Edit Hammer', exact: true }).click();
    await expect(page).toHaveURL(/\/items\/\d+\/edit/);
    await page.getByLabel('Name', { exact: true }).fill('Mallet');
    await page.getByLabel('Amount', { exact: true }).fill('7');
    await page.getByRole('button', { name: 'Save changes' }).click();
    await expect(page).toHaveURL(here);
    await expect(amountOf(page, 'Mallet')).toHaveText('7');
    await expect(notice(page)).toHaveText('Saved the changes to “Mallet”.');
    await expect(row(page, 'Hammer')).toHaveCount(0);

    await page.getByRole('button', { name: 'Delete Mallet', exact: true }).click();
    await expect(page).toHaveURL(/\/items\/\d+\/delete/);
    await expect(page.getByRole('heading', { level: 1, name: 'Delete item' })).toBeVisible();
    await expect(page.getByRole('main')).toContainText('Mallet');
    // Nothing is deleted by looking at the confirmation.
    expect(await storedItems(page)).toHaveLength(1);
    await page.getByRole('button', { name: 'Delete', exact: true }).click();
    await expect(page).toHaveURL(here);
    await expect(row(page, 'Mallet')).toHaveCount(0);
    await expect(notice(page)).toHaveText('Moved “Mallet” to the trash.');
    await expect(page.getByTestId('empty-state')).toBeVisible();
    expect(await storedItems(page)).toHaveLength(0);
  });
});

test.describe('the full-page form', () => {
  test('/create-item adds an item with JavaScript on', async ({ page }) => {
    await registerAndSignIn(page, uniqueUsername('fulljs'));
    await page.goto('/create-item?return_to=%2F%3Fsort%3Dname');
    const form = fields(page);
    await form.name.fill('Full page JS item');
    await form.amount.fill('8');
    await form.submit.click();
    // Either the island adds it in place and announces it, or the plain form redirects back.
    await expect(async () => {
      const announced = ((await form.status.textContent().catch(() => '')) ?? '').includes(
        'Full page JS item',
      );
      const redirected = new URL(page.url()).pathname === '/';
      expect(announced || redirected).toBe(true);
    }).toPass();
    await page.goto('/');
    await expect(amountOf(page, 'Full page JS item')).toHaveText('8');
    expect(
      (await storedItems(page)).filter((item) => item.name === 'Full page JS item'),
    ).toHaveLength(1);
  });

  test('/create-item shows errors beside the fields', async ({ page }) => {
    await registerAndSignIn(page, uniqueUsername('fullerr'));
    await page.goto('/create-item');
    const form = fields(page);
    await form.amount.fill('abc');
    await form.submit.click();
    await expectFieldError(page, fields(page).name, 'This field is required.');
    await expectFieldError(page, fields(page).amount, 'Enter a whole number.');
    await expect(fields(page).amount).toHaveValue('abc');
    expect(await storedItems(page)).toHaveLength(0);
  });
});

test.describe('changing items with JavaScript', () => {
  test('+1 and −1 change the amount in place; −1 is disabled at 0', async ({ page }) => {
    await registerAndSignIn(page, uniqueUsername('adjust'));
    await seed(page, { name: 'Screws', amount: 1 });
    await seed(page, { name: 'Nails', amount: 10 });
    await page.reload();
    await expect(summary(page)).toHaveText('2 items, total amount 11');
    const noNavigation = await watchNavigations(page);

    const increase = page.getByRole('button', { name: '+1 to Screws', exact: true });
    const decrease = page.getByRole('button', { name: '−1 from Screws', exact: true });
    await increase.click();
    await expect(amountOf(page, 'Screws')).toHaveText('2');
    await expect(summary(page)).toHaveText('2 items, total amount 12');
    await decrease.click();
    await expect(amountOf(page, 'Screws')).toHaveText('1');
    await decrease.click();
    await expect(amountOf(page, 'Screws')).toHaveText('0');
    await expect(decrease).toBeDisabled();
    await expect(summary(page)).toHaveText('2 items, total amount 10');
    await expect(notice(page)).toHaveText('“Screws”: amount 0.');
    await increase.click();
    await expect(amountOf(page, 'Screws')).toHaveText('1');
    await expect(decrease).toBeEnabled();
    await expect(amountOf(page, 'Nails')).toHaveText('10');
    await noNavigation();

    await page.reload();
    await expect(amountOf(page, 'Screws')).toHaveText('1');
    await expect(amountOf(page, 'Nails')).toHaveText('10');
  });

  test('+1/−1 work on a row added without a reload', async ({ page }) => {
    await registerAndSignIn(page, uniqueUsername('adjustnew'));
    await hydrated(page);
    const form = fields(page);
    await form.name.fill('Fresh');
    await form.amount.fill('0');
    await form.submit.click();
    await expect(row(page, 'Fresh')).toHaveCount(1);
    const decrease = page.getByRole('button', { name: '−1 from Fresh', exact: true });
    await expect(decrease).toBeDisabled();
    await page.getByRole('button', { name: '+1 to Fresh', exact: true }).click();
    await expect(amountOf(page, 'Fresh')).toHaveText('1');
    await expect(decrease).toBeEnabled();
    await expect(page.getByRole('link', { name: 'Edit Fresh', exact: true })).toHaveAttribute(
      'href',
      new RegExp(`^/items/${(await storedItems(page))[0]!.id}/edit`),
    );
  });

  test('edit through the row’s Edit link, with errors beside the fields', async ({ page }) => {
    await registerAndSignIn(page, uniqueUsername('edit'));
    const item = await seed(page, { name: 'Drill', amount: 2, description: 'cordless' });
    await page.goto('/?sort=-amount');
    await page.getByRole('link', { name: 'Edit Drill', exact: true }).click();
    await expect(page).toHaveURL((url) => url.pathname === `/items/${item.id}/edit`);
    const name = page.getByLabel('Name', { exact: true });
    const amount = page.getByLabel('Amount', { exact: true });
    const description = page.getByLabel('Description', { exact: true });
    // Soft: a wrong prefill is reported, and the rest of the edit is still exercised.
    await expect.soft(name).toHaveValue('Drill');
    await expect.soft(amount).toHaveValue('2');
    await expect.soft(description).toHaveValue('cordless');

    await name.fill('');
    await amount.fill('lots');
    const answered = page.waitForResponse((response) => response.request().method() === 'POST');
    await page.getByRole('button', { name: 'Save changes' }).click();
    expect((await answered).status()).toBe(400);
    await expectFieldError(
      page,
      page.getByLabel('Name', { exact: true }),
      'This field is required.',
    );
    await expectFieldError(
      page,
      page.getByLabel('Amount', { exact: true }),
      'Enter a whole number.',
    );
    await expect(page.getByLabel('Amount', { exact: true })).toHaveValue('lots');
    expect(await storedItems(page)).toMatchObject([{ name: 'Drill', amount: 2 }]);

    await page.getByLabel('Name', { exact: true }).fill('Hammer drill');
    await page.getByLabel('Amount', { exact: true }).fill('3');
    await page.getByLabel('Description', { exact: true }).fill('corded now');
    await page.getByRole('button', { name: 'Save changes' }).click();
    await expect(page).toHaveURL((url) => url.pathname + url.search === '/?sort=-amount');
    await expect(amountOf(page, 'Hammer drill')).toHaveText('3');
    await expect(row(page, 'Hammer drill').locator('[data-cell="description"]')).toHaveText(
      'corded now',
    );
    expect(await storedItems(page)).toMatchObject([
      { id: item.id, name: 'Hammer drill', amount: 3, description: 'corded now' },
    ]);
  });

  test('saving the edit form unchanged changes nothing', async ({ page }) => {
    await registerAndSignIn(page, uniqueUsername('editsame'));
    const item = await seed(page, { name: 'Saw', amount: 4, description: 'hand saw\nsharp' });
    await page.goto(`/items/${item.id}/edit`);
    await page.getByRole('button', { name: 'Save changes' }).click();
    await expect(page).toHaveURL((url) => url.pathname === '/');
    expect(await storedItems(page)).toEqual([
      expect.objectContaining({
        id: item.id,
        name: 'Saw',
        amount: 4,
        description: 'hand saw\nsharp',
      }),
    ]);
  });

  test('delete asks first, then removes the row without a page load', async ({ page }) => {
    await registerAndSignIn(page, uniqueUsername('delete'));
    await seed(page, { name: 'Keep me', amount: 1 });
    await seed(page, { name: 'Remove me', amount: 5 });
    await page.reload();
    const noNavigation = await watchNavigations(page);

    // Saying no keeps the item.
    let asked = '';
    page.once('dialog', async (dialog) => {
      asked = dialog.message();
      await dialog.dismiss();
    });
    await page.getByRole('button', { name: 'Delete Remove me', exact: true }).click();
    await expect.poll(() => asked).toContain('Remove me');
    await expect(row(page, 'Remove me')).toHaveCount(1);
    expect(await storedItems(page)).toHaveLength(2);

    page.once('dialog', (dialog) => dialog.accept());
    await page.getByRole('button', { name: 'Delete Remove me', exact: true }).click();
    await expect(row(page, 'Remove me')).toHaveCount(0);
    await expect(row(page, 'Keep me')).toHaveCount(1);
    await expect(notice(page)).toHaveText('Moved “Remove me” to the trash.');
    await expect(notice(page)).toBeVisible();
    await expect(summary(page)).toHaveText('1 item, total amount 1');
    await noNavigation();
    expect(await storedItems(page)).toMatchObject([{ name: 'Keep me' }]);

    // Deleting the last item shows the empty state.
    page.once('dialog', (dialog) => dialog.accept());
    await page.getByRole('button', { name: 'Delete Keep me', exact: true }).click();
    await expect(page.getByTestId('empty-state')).toBeVisible();
    await expect(summary(page)).toHaveText('0 items, total amount 0');
    await page.reload();
    await expect(page.getByTestId('empty-state')).toBeVisible();
  });
});

test.describe('owner scoping', () => {
  test('a second user sees none of the first user’s items', async ({
    page,
    browser,
    baseURL,
    extraHTTPHeaders,
  }) => {
    await registerAndSignIn(page, uniqueUsername('owner'));
    await seed(page, { name: 'Private Thing', amount: 5, description: 'secret' });
    const other = await otherUser(browser, baseURL, extraHTTPHeaders);
    try {
      const stranger = other.page;
      await stranger.goto('/');
      await expect(stranger.getByTestId('empty-state')).toBeVisible();
      await expect(summary(stranger)).toHaveText('0 items, total amount 0');
      await expect(stranger.getByText('Private Thing')).toHaveCount(0);
      await stranger.goto('/?q=Private');
      await expect(summary(stranger)).toContainText('0 items');
    } finally {
      await other.context.close();
    }

    await page.goto('/');
    await expect(amountOf(page, 'Private Thing')).toHaveText('5');
  });
});

test.describe('listing through the query string', () => {
  test('pages, sorts and searches; links are shareable', async ({ page, browser, baseURL }) => {
    const username = await registerAndSignIn(page, uniqueUsername('list'));
    // 12 items: amounts 1..12, every third one a "bolt".
    for (let index = 1; index <= 12; index += 1) {
      const kind = index % 3 === 0 ? 'Bolt' : 'Nut';
      await seed(page, {
        name: `${kind} ${String(index).padStart(2, '0')}`,
        amount: index,
        description: index === 5 ? 'has a BOLT-shaped head' : '',
      });
    }
    await page.goto('/');
    await expect(summary(page)).toHaveText('12 items, total amount 78');
    // Newest first by default.
    expect((await tableNames(page))[0]).toBe('Bolt 12');

    await page.goto('/?sort=amount&limit=10&page=2');
    expect(await tableNames(page)).toEqual(['Nut 11', 'Bolt 12']);
    await expect(summary(page)).toHaveText('12 items, total amount 78');
    const pager = page.getByRole('navigation', { name: 'Pages' });
    await expect(pager).toContainText('Page 2 of 2');
    await expect(page.getByLabel('Sort by')).toHaveValue('amount');
    await expect(page.getByLabel('Per page')).toHaveValue('10');
    await pager.getByRole('link', { name: /Previous/ }).click();
    await expect(page).toHaveURL((url) => url.searchParams.get('page') === null);
    await expect(page).toHaveURL((url) => url.searchParams.get('sort') === 'amount');
    expect(await tableNames(page)).toHaveLength(10);
    expect((await tableNames(page))[0]).toBe('Nut 01');

    // A page past the end is the last page, with the same size.
    await page.goto('/?limit=10&page=9');
    await expect(page).toHaveURL((url) => url.search === '?limit=10&page=2');
    await expect(summary(page)).toHaveText('12 items, total amount 78');
    expect(await tableNames(page)).toEqual(['Nut 02', 'Nut 01']);

    // The search form writes the query string.
    await page.goto('/');
    await page.getByLabel('Search').fill('bolt');
    // With JavaScript a change applies at once (without it, the form has an Apply button).
    await expect(page.getByRole('button', { name: 'Apply' })).toBeHidden();
    await page.getByLabel('Sort by').selectOption('-amount');
    await expect(page).toHaveURL(
      (url) => url.searchParams.get('q') === 'bolt' && url.searchParams.get('sort') === '-amount',
    );
    expect(await tableNames(page)).toEqual(['Bolt 12', 'Bolt 09', 'Bolt 06', 'Nut 05', 'Bolt 03']);
    await expect(summary(page)).toContainText('5 items, total amount 35');
    const shared = page.url();

    await page.goto('/?q=zzz');
    await expect(page.getByTestId('empty-state')).toContainText('No items match your search.');
    await expect(summary(page)).toContainText('0 items, total amount 0');

    // The same link in another browser of the same user shows the same list.
    const context = await browser.newContext({ baseURL });
    try {
      const again = await context.newPage();
      await again.goto('/login/');
      await again.getByLabel('Username').fill(username);
      await again.getByLabel('Password').fill(GOOD_PASSWORD);
      await again.getByRole('button', { name: 'Sign in' }).click();
      await expect(again).toHaveURL((url) => url.pathname === '/');
      await again.goto(shared);
      expect(await tableNames(again)).toEqual([
        'Bolt 12',
        'Bolt 09',
        'Bolt 06',
        'Nut 05',
        'Bolt 03',
      ]);
      await expect(again.getByLabel('Search')).toHaveValue('bolt');
    } finally {
      await context.close();
    }
  });

  test('a new user sees the empty state', async ({ page }) => {
    await registerAndSignIn(page, uniqueUsername('empty'));
    await expect(page.getByTestId('empty-state')).toBeVisible();
    await expect(page.getByTestId('empty-state')).toContainText('Your inventory is empty.');
    await expect(summary(page)).toHaveText('0 items, total amount 0');
    await expect(table(page)).toBeHidden();
  });

  test('the main page shows everything SPEC lists', async ({ page }) => {
    const username = await registerAndSignIn(page, uniqueUsername('main'));
    await expect(
      page.getByRole('heading', { level: 1, name: 'Pacil Inventory Page' }),
    ).toBeVisible();
    await expect(page.getByText('pacil-inventory', { exact: true })).toBeVisible();
    await expect(
      page.getByText('William Joel Matthew Quinn Rompis', { exact: true }),
    ).toBeVisible();
    await expect(page.getByText('PBP A', { exact: true })).toBeVisible();
    await expect(page.getByTestId('username')).toHaveText(username);
    await seed(page, { name: 'Column check', amount: 1 });
    await page.reload();
    const headers = table(page).getByRole('columnheader');
    await expect(headers.nth(0)).toHaveText('Name');
    await expect(headers.nth(1)).toHaveText('Amount');
    await expect(headers.nth(2)).toHaveText('Description');
    await expect(
      (await openAccountMenu(page)).getByRole('button', { name: 'Sign out' }),
    ).toBeVisible();
  });

  test('the last-login line renders with the cookie, without it and with a bad one', async ({
    page,
    context,
  }) => {
    await registerAndSignIn(page, uniqueUsername('lastlogin'));
    const lastLogin = page.getByTestId('last-login');
    await expect(lastLogin.locator('time')).toHaveAttribute('datetime', /^\d{4}-\d\d-\d\dT/);
    // With JavaScript the time reads in the reader's terms, with the exact time on hover.
    await expect(lastLogin.locator('time')).toHaveText(/ago|now/);
    await expect(lastLogin.locator('time')).toHaveAttribute('title', /\d/);

    await context.clearCookies({ name: 'last_login' });
    expect((await context.cookies()).some((cookie) => cookie.name === 'last_login')).toBe(false);
    const response = await page.reload();
    expect(response?.status()).toBe(200);
    await expect(page.getByRole('heading', { name: 'Pacil Inventory Page' })).toBeVisible();
    await expect(lastLogin).toContainText('Last login');
    await expect(lastLogin.locator('time')).toHaveCount(0);

    await context.addCookies([{ name: 'last_login', value: 'not-a-date', url: page.url() }]);
    const odd = await page.reload();
    expect(odd?.status()).toBe(200);
    await expect(lastLogin).toContainText('Last login');
  });
});

test.describe('accessibility', () => {
  async function expectNoViolations(page: Page, what: string): Promise<void> {
    const results = await new AxeBuilder({ page }).analyze();
    const summaryLines = results.violations.map(
      (violation) =>
        `${violation.id} (${violation.impact}): ${violation.help} — ${violation.nodes
          .map((node) => `${node.target.join(' ')} [${node.any[0]?.message ?? ''}]`)
          .join(', ')}`,
    );
    // Soft, so that one page's findings do not hide the others'.
    expect.soft(summaryLines, what).toEqual([]);
  }

  test('the sign-in and registration pages have no axe violations', async ({ page }) => {
    await page.goto('/login/');
    await expectNoViolations(page, '/login/');
    await page.goto('/register/');
    await expectNoViolations(page, '/register/');
  });

  test('the main, add and edit pages have no axe violations', async ({ page }) => {
    await registerAndSignIn(page, uniqueUsername('axe'));
    const item = await seed(page, { name: 'Accessible', amount: 0, description: 'a note' });
    await seed(page, { name: 'Another', amount: 3 });

    for (const colorScheme of ['light', 'dark'] as const) {
      await page.emulateMedia({ colorScheme });
      await page.goto('/');
      await expectNoViolations(page, `/ (${colorScheme})`);
      await page.goto('/create-item');
      await expectNoViolations(page, `/create-item (${colorScheme})`);
      await page.goto(`/items/${item.id}/edit`);
      await expectNoViolations(page, `/items/<id>/edit (${colorScheme})`);
    }
    await page.emulateMedia({ colorScheme: 'light' });

    // With errors and the success message showing.
    await page.goto('/');
    await hydrated(page);
    const form = fields(page);
    await form.amount.fill('x');
    await form.submit.click();
    await expectFieldError(page, form.amount, 'Enter a whole number.');
    await expectNoViolations(page, '/ with field errors');
    await form.name.fill('Announced');
    await form.amount.fill('1');
    await form.submit.click();
    await expect(form.status).toContainText('Announced');
    await expectNoViolations(page, '/ after adding');
    await page.goto('/?q=nothing-matches');
    await expectNoViolations(page, '/ with no matches');
  });
});

test.describe('JavaScript budget', () => {
  /** Every script the page loads from now on, by URL, with its body. */
  function collectScripts(page: Page) {
    const bodies = new Map<string, Promise<Buffer>>();
    const onResponse = (response: Response) => {
      const type = response.request().resourceType();
      const contentType = response.headers()['content-type'] ?? '';
      if (type === 'script' || contentType.includes('javascript')) {
        bodies.set(
          response.url(),
          response.body().catch(() => Buffer.alloc(0)),
        );
      }
    };
    page.on('response', onResponse);
    return {
      async files(): Promise<Map<string, Buffer>> {
        const files = new Map<string, Buffer>();
        for (const [url, body] of bodies) files.set(url, await body);
        return files;
      },
      stop: () => page.off('response', onResponse),
    };
  }

  async function inlineScripts(page: Page): Promise<string[]> {
    return page.$$eval('script:not([src])', (scripts) =>
      (scripts as HTMLScriptElement[])
        .filter((script) => ['', 'module', 'text/javascript'].includes(script.type))
        .map((script) => script.textContent ?? ''),
    );
  }

  const gzipped = (source: Buffer | string) => gzipSync(source, { level: 9 }).length;

  async function measure(page: Page, files: Map<string, Buffer>) {
    const inline = await inlineScripts(page);
    const external = [...files.values()].reduce((sum, body) => sum + gzipped(body), 0);
    const inlined = inline.reduce((sum, source) => sum + gzipped(source), 0);
    return { external, inlined, total: external + inlined, count: files.size + inline.length };
  }

  test('the main page ships at most 20 KB of gzipped JavaScript', async ({ page }) => {
    await registerAndSignIn(page, uniqueUsername('budget'));
    await seed(page, { name: 'Budget item', amount: 1 });
    const scripts = collectScripts(page);
    // The pointer resting over the form would wake the island (it hydrates on first use).
    await page.mouse.move(0, 0);
    await page.goto('/', { waitUntil: 'networkidle' });
    const atLoad = await measure(page, await scripts.files());
    for (const [url, body] of await scripts.files()) {
      console.log(
        `  script ${new URL(url).pathname}: ${body.length} B, ${gzipped(body)} B gzipped`,
      );
    }
    console.log(
      `main page JavaScript at load: ${atLoad.total} B gzipped (${atLoad.external} B in ${
        (await scripts.files()).size
      } files, ${atLoad.inlined} B inline), budget ${JS_BUDGET_BYTES} B`,
    );
    expect(atLoad.total).toBeGreaterThan(0);
    expect(atLoad.total).toBeLessThanOrEqual(JS_BUDGET_BYTES);
    // Svelte is not among it: the island waits to be used.
    const loaded = [...(await scripts.files()).keys()].map((url) => new URL(url).pathname);
    expect(loaded.filter((path) => /\/(island|ItemForm|client\.svelte)\./.test(path))).toEqual([]);
    await expect(island(page)).toHaveAttribute('ssr');

    // Focusing Name hydrates it (`hydrated` focuses it), and brings the schema along.
    await hydrated(page);
    await page.waitForLoadState('networkidle');
    await page.waitForTimeout(300);
    const afterFocus = await measure(page, await scripts.files());
    scripts.stop();
    console.log(
      `main page JavaScript after focusing Name (lazy chunks included): ${afterFocus.total} B gzipped, budget ${JS_AFTER_USE_BUDGET_BYTES} B`,
    );
    expect(afterFocus.total).toBeGreaterThan(atLoad.total);
    expect(afterFocus.total).toBeLessThanOrEqual(JS_AFTER_USE_BUDGET_BYTES);
    // The island works after all of it arrived.
    await fields(page).name.fill('x');
    await fields(page).name.fill('');
    await fields(page).name.blur();
    await expect(page.locator('#id_name_error')).toHaveText('This field is required.');
  });

  /**
   * Text that compresses about as badly as real inventories do: words in no repeating order,
   * with a length picked from [min, max]. A small linear congruential generator keeps it the
   * same from run to run.
   */
  function wordsGenerator(seed: number) {
    const words = (
      'cordless drill battery pack spare lithium charger cable extension reel garden hose ' +
      'nozzle brass fitting stainless screws wall plugs assorted sizes masking tape roll ' +
      'paint brush synthetic bristle roller tray primer white matt ceiling emulsion sanding ' +
      'sheets grit hex keys metric imperial socket set ratchet torque wrench spirit level ' +
      'aluminium ladder folding workbench clamps quick release pliers needle nose cutters ' +
      'insulated electrical junction box waterproof outdoor lamp bulbs warm LED dimmable ' +
      'winter tyres summer wheels bicycle pump inner tubes puncture repair kit camping stove ' +
      'gas canister sleeping bag tent pegs rope paracord first aid bandages plasters gloves'
    ).split(' ');
    let state = seed;
    const next = () => (state = (state * 1_103_515_245 + 12_345) % 2 ** 31);
    return (min: number, max: number): string => {
      const target = min + (next() % (max - min + 1));
      let text = '';
      while (text.length < target) {
        const word = words[next() % words.length]!;
        const candidate = text === '' ? word[0]!.toUpperCase() + word.slice(1) : `${text} ${word}`;
        if (candidate.length > max) break;
        text = candidate;
      }
      return text.padEnd(min, '.');
    };
  }

  test('the main page with 25 rows comes in at most 30 KB compressed in all', async ({
    page,
    browser,
    baseURL,
    extraHTTPHeaders,
  }) => {
    await registerAndSignIn(page, uniqueUsername('weight'));
    const origin = { Origin: originOf(page) };
    const listed = await page.request.get('/api/inventories');
    expect(listed.status()).toBe(200);
    const [inventory] = ((await listed.json()) as { inventories: { id: number }[] }).inventories;
    const locationIds: number[] = [];
    for (const name of ['Garage, top shelf by the door', 'Basement storage room', 'Attic']) {
      const created = await page.request.post(`/api/inventories/${inventory!.id}/locations`, {
        data: { name },
        headers: origin,
      });
      expect(created.status(), await created.text()).toBe(201);
      locationIds.push(((await created.json()) as { id: number }).id);
    }
    const tags = ['tools', 'electrical', 'garden', 'paint and decorating', 'camping', 'spares'];
    const text = wordsGenerator(20);
    // One more than a page, so that the pager shows too.
    for (let i = 0; i < 26; i += 1) {
      const created = await page.request.post('/api/items', {
        data: {
          name: text(40, 60),
          amount: (i * 7919) % 10_000,
          description: text(100, 200),
          location_id: locationIds[i % locationIds.length],
          tags: [tags[i % tags.length], tags[(i * 5 + 1) % tags.length]],
          min_amount: i % 3 === 0 ? 5 : null,
        },
        headers: origin,
      });
      expect(created.status(), await created.text()).toBe(201);
    }

    // A first visit, in a browser with nothing cached (this one has loaded the page's files
    // already, and a cached response has no size), signed in as the same user.
    const context = await browser.newContext({
      baseURL,
      extraHTTPHeaders,
      storageState: await page.context().storageState(),
    });
    const visit = await context.newPage();
    const requests: Request[] = [];
    visit.on('requestfinished', (request) => requests.push(request));
    await visit.goto('/', { waitUntil: 'networkidle' });
    await expect(visit.locator('section.inventory tbody tr')).toHaveCount(25);

    let total = 0;
    for (const request of requests) {
      const response = await request.response();
      const { responseBodySize } = await request.sizes();
      total += responseBodySize;
      console.log(
        `  ${request.resourceType()} ${new URL(request.url()).pathname}: ${responseBodySize} B ${
          response?.headers()['content-encoding'] ?? 'uncompressed'
        }`,
      );
    }
    console.log(
      `main page with 25 rows: ${total} B compressed in ${requests.length} responses, budget ${PAGE_WEIGHT_BUDGET_BYTES} B`,
    );
    await context.close();
    expect(requests.length).toBeGreaterThan(1);
    expect(total).toBeLessThanOrEqual(PAGE_WEIGHT_BUDGET_BYTES);
  });

  test('the sign-in and registration pages load no JavaScript', async ({ page }) => {
    for (const path of ['/login/', '/register/', '/login/?next=%2F']) {
      const scripts = collectScripts(page);
      await page.goto(path, { waitUntil: 'networkidle' });
      const files = await scripts.files();
      scripts.stop();
      expect([...files.keys()], `${path}: script files`).toEqual([]);
      expect(await page.locator('script').count(), `${path}: script elements`).toBe(0);
    }
  });
});
