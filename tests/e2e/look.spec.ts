import { mkdirSync } from 'node:fs';
import AxeBuilder from '@axe-core/playwright';
import type { Browser, Page } from '@playwright/test';
import { expect, registerAndSignIn, test, uniqueUsername } from './fixtures.ts';

/**
 * The look of the pages with the worst data the rules allow: no page scrolls sideways at a
 * phone's or a desktop's width, in light or dark; the list starts in the first screen; axe
 * finds nothing. Full-page screenshots land in test-results/screenshots/ for a person to look
 * at (CI keeps them as an artifact).
 */

const SCREENSHOTS = 'test-results/screenshots';
const SCHEMES = ['light', 'dark'] as const;
/** Widths with the heights the first screen is measured at (320 is checked for width only). */
const VIEWPORTS = [
  { width: 320, height: 640 },
  { width: 390, height: 844 },
  { width: 1280, height: 800 },
] as const;

const LONG_NAME = 'W'.repeat(255);
const LONG_DESCRIPTION = `${'Unbroken'.repeat(600)}\n${'word '.repeat(1040)}`.slice(0, 10_000);

async function seed(page: Page, name: string, amount: number, description = ''): Promise<number> {
  const response = await page.request.post('/api/items', {
    data: { name, amount, description },
    headers: { Origin: new URL(page.url()).origin },
  });
  expect(response.status(), await response.text()).toBe(201);
  return ((await response.json()) as { id: number }).id;
}

const LONG_INVENTORY = `Shared ${'W'.repeat(93)}`;

/** A shared inventory with the longest name, a member and a live invite link; its id. */
async function seedSharedInventory(page: Page): Promise<{ id: number; invite: string }> {
  const origin = new URL(page.url()).origin;
  const created = await page.request.post('/inventories/', {
    form: { name: LONG_INVENTORY },
    headers: { Origin: origin },
    maxRedirects: 0,
  });
  expect(created.status(), await created.text()).toBe(303);
  const id = Number(/\/inventories\/(\d+)\//.exec(created.headers()['location'] ?? '')?.[1]);
  const members = `/inventories/${id}/members`;
  const link = await page.request.post(members, {
    form: { action: 'create-invite', role: 'editor', days: '30', max_uses: '1000' },
    headers: { Origin: origin },
  });
  expect(link.status()).toBe(200);
  const invite = /value="(http[^"]+\/invite\/[^"]+)"/.exec(await link.text())?.[1];
  expect(invite).toBeTruthy();
  return { id, invite: new URL(invite!).pathname };
}

/** A 100-character name that starts with `prefix`. */
const longPlace = (prefix: string) => `${prefix} ${'W'.repeat(99 - prefix.length)}`;

/**
 * Places at their worst in an inventory: a tree ten levels deep of 100-character names, the
 * deepest holding a low item with the longest name and twenty 50-character tags.
 */
async function seedPlaces(
  page: Page,
  inventory: number,
): Promise<{ top: number; deepest: number; item: number; tag: string }> {
  const origin = new URL(page.url()).origin;
  const locations = `/inventories/${inventory}/locations`;
  const ids: number[] = [];
  for (let level = 1; level <= 10; level += 1) {
    const name = longPlace(`Level ${level}`);
    const created = await page.request.post(locations, {
      form: { action: 'create', name, parent: String(ids.at(-1) ?? '') },
      headers: { Origin: origin },
      maxRedirects: 0,
    });
    expect(created.status(), await created.text()).toBe(303);
    const tree = await (await page.request.get(locations)).text();
    ids.push(Number(new RegExp(`href="/locations/(\\d+)/">${name}<`).exec(tree)?.[1]));
  }
  const tags = Array.from({ length: 20 }, (_, index) => `${index} ${'T'.repeat(47)}`);
  const items: number[] = [];
  for (const [name, amount] of [
    [LONG_NAME, 1],
    ['Plain', 3],
  ] as const) {
    const item = await page.request.post('/api/items', {
      data: {
        inventory,
        name,
        amount,
        description: '',
        location_id: ids.at(-1),
        tags,
        min_amount: 2,
      },
      headers: { Origin: origin },
    });
    expect(item.status(), await item.text()).toBe(201);
    items.push(((await item.json()) as { id: number }).id);
  }
  return { top: ids[0]!, deepest: ids.at(-1)!, item: items[0]!, tag: tags[0]! };
}

async function expectNoSidewaysScroll(page: Page, what: string): Promise<void> {
  const { scrollWidth, clientWidth } = await page.evaluate(() => ({
    scrollWidth: document.documentElement.scrollWidth,
    clientWidth: document.documentElement.clientWidth,
  }));
  expect.soft(scrollWidth, `${what}: page width`).toBeLessThanOrEqual(clientWidth);
}

async function shoot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: `${SCREENSHOTS}/${name}.png`, fullPage: true });
}

/** A signed-out page of its own, for the sign-in and registration pages. */
async function anonymousPage(browser: Browser, baseURL: string | undefined): Promise<Page> {
  const context = await browser.newContext({ baseURL });
  return context.newPage();
}

test('every page fits every width, light and dark, with the longest data', async ({
  page,
  browser,
  baseURL,
}) => {
  test.setTimeout(120_000);
  mkdirSync(SCREENSHOTS, { recursive: true });
  await registerAndSignIn(page, uniqueUsername('look'));
  const anonymous = await anonymousPage(browser, baseURL);

  for (const scheme of SCHEMES) {
    await page.emulateMedia({ colorScheme: scheme });
    await page.setViewportSize(VIEWPORTS[2]);
    await page.goto('/');
    await shoot(page, `main-empty-1280-${scheme}`);
  }

  const worst = await seed(page, LONG_NAME, 2_147_483_647, LONG_DESCRIPTION);
  for (let index = 1; index <= 30; index += 1) {
    await seed(page, `Item number ${index}`, index * 1000, index % 4 === 0 ? 'A short note' : '');
  }
  await seed(page, `Another ${'long'.repeat(40)}`, 2_147_483_647, 'Two\nlines');
  const trashed = await seed(page, LONG_NAME, 0, LONG_DESCRIPTION);
  // One in the trash, and a history with the longest names in it.
  const deleted = await page.request.delete(`/api/items/${trashed}`, {
    headers: { Origin: new URL(page.url()).origin },
  });
  expect(deleted.status()).toBe(204);
  const { inventory: personal } = (
    (await (await page.request.get('/api/items?limit=1')).json()) as {
      items: { inventory: number }[];
    }
  ).items[0]!;
  const shared = await seedSharedInventory(page);
  const places = await seedPlaces(page, shared.id);

  for (const scheme of SCHEMES) {
    await page.emulateMedia({ colorScheme: scheme });
    await anonymous.emulateMedia({ colorScheme: scheme });
    for (const viewport of VIEWPORTS) {
      const at = `${viewport.width}-${scheme}`;
      await page.setViewportSize(viewport);
      await anonymous.setViewportSize(viewport);

      await page.goto('/');
      await expectNoSidewaysScroll(page, `/ at ${at}`);
      const top = (await page.locator('section.inventory tbody tr').first().boundingBox())?.y;
      if (viewport.width !== 320) {
        expect.soft(top ?? Infinity, `first row at ${at}`).toBeLessThan(viewport.height);
      }
      await shoot(page, `main-full-${at}`);
      await page.screenshot({ path: `${SCREENSHOTS}/main-first-screen-${at}.png` });
      // The rows themselves, one screen's worth from the first, at a size one can read.
      await page.screenshot({
        path: `${SCREENSHOTS}/main-rows-${at}.png`,
        fullPage: true,
        clip: { x: 0, y: top ?? 0, width: viewport.width, height: viewport.height },
      });

      await page.goto('/?q=number+2');
      await shoot(page, `main-search-${at}`);
      await page.goto('/?q=no-such-thing');
      await expectNoSidewaysScroll(page, `/ with no matches at ${at}`);

      const pages: [string, Page, string][] = [
        ['sign-in', anonymous, '/login/'],
        ['registration', anonymous, '/register/'],
        ['settings', page, '/settings/'],
        ['edit', page, `/items/${worst}/edit`],
        ['delete-confirm', page, `/items/${worst}/delete`],
        ['create-item', page, '/create-item/'],
        ['sign-out', page, '/logout/'],
        ['not-found', page, '/no-such-page/'],
        ['inventories', page, '/inventories/'],
        ['shared-inventory', page, `/inventories/${shared.id}/`],
        ['members', page, `/inventories/${shared.id}/members`],
        ['inventory-settings', page, `/inventories/${shared.id}/settings`],
        ['invite', page, shared.invite],
        ['invite-dead', page, '/invite/no-such-link'],
        [
          'inventory-filtered',
          page,
          `/inventories/${shared.id}/?${new URLSearchParams([
            ['location', String(places.top)],
            ['tag', places.tag],
            ['low', 'true'],
            ['q', 'W'],
          ])}`,
        ],
        ['item', page, `/items/${places.item}/`],
        ['item-edit', page, `/items/${places.item}/edit`],
        ['locations', page, `/inventories/${shared.id}/locations`],
        ['location-top', page, `/locations/${places.top}/`],
        ['location-deepest', page, `/locations/${places.deepest}/`],
        ['tags', page, `/inventories/${shared.id}/tags`],
        ['locations-empty', page, `/inventories/${personal}/locations`],
        ['tags-empty', page, `/inventories/${personal}/tags`],
        ['activity', page, `/inventories/${personal}/activity`],
        ['activity-shared', page, `/inventories/${shared.id}/activity`],
        ['trash', page, `/inventories/${personal}/trash`],
        ['trash-empty', page, `/inventories/${shared.id}/trash`],
        ['item-history', page, `/items/${worst}/`],
        // Last: `/` opens the inventory used last, and the loop starts there again.
        ['my-items', page, `/inventories/${personal}/`],
      ];
      for (const [name, where, path] of pages) {
        await where.goto(path);
        await expectNoSidewaysScroll(where, `${path} at ${at}`);
        await shoot(where, `${name}-${at}`);
      }
      // A tag renamed to another's name: its forms open, the error, the offer to merge.
      await page.goto(`/inventories/${shared.id}/tags`);
      const tag = page.locator('.tag-list > li').first();
      await tag.locator('summary').click();
      await tag.getByLabel('New name').fill(`1 ${'T'.repeat(47)}`);
      await tag.getByRole('button', { name: 'Rename' }).click();
      await expect(page.getByText('Merge the two instead?')).toBeVisible();
      await expectNoSidewaysScroll(page, `tags with a merge offer at ${at}`);
      await shoot(page, `tags-merge-offer-${at}`);
    }
  }
  await anonymous.context().close();
});

test('the main, sign-in, registration, settings and inventory pages have no axe violations', async ({
  page,
  browser,
  baseURL,
}) => {
  // Twenty pages, light and dark: axe takes a second or two on each.
  test.setTimeout(180_000);
  await registerAndSignIn(page, uniqueUsername('lookaxe'));
  await seed(page, LONG_NAME, 2_147_483_647, LONG_DESCRIPTION);
  await seed(page, 'Plain', 0);
  const shared = await seedSharedInventory(page);
  const places = await seedPlaces(page, shared.id);
  const anonymous = await anonymousPage(browser, baseURL);
  const findings: string[] = [];
  for (const scheme of SCHEMES) {
    for (const [where, path] of [
      [page, '/'],
      [page, '/?q=nothing-matches'],
      [page, '/settings/'],
      [page, '/inventories/'],
      [page, `/inventories/${shared.id}/`],
      [page, `/inventories/${shared.id}/members`],
      [page, `/inventories/${shared.id}/settings`],
      [page, `/inventories/${shared.id}/locations`],
      [page, `/inventories/${shared.id}/tags`],
      [page, `/inventories/${shared.id}/?location=${places.top}&low=true`],
      [page, `/items/${places.item}/`],
      [page, `/items/${places.item}/edit`],
      [page, shared.invite],
      [page, '/invite/no-such-link'],
      [anonymous, '/login/'],
      [anonymous, '/register/'],
    ] as const) {
      await where.emulateMedia({ colorScheme: scheme });
      await where.goto(path);
      const results = await new AxeBuilder({ page: where }).analyze();
      for (const violation of results.violations) {
        const targets = violation.nodes.map((node) => node.target.join(' ')).join(', ');
        findings.push(`${path} (${scheme}): ${violation.id}: ${violation.help} — ${targets}`);
      }
    }
  }
  await anonymous.context().close();
  expect(findings).toEqual([]);
});

test('every control shows where the keyboard focus is, light and dark', async ({
  page,
  browser,
  baseURL,
}) => {
  await registerAndSignIn(page, uniqueUsername('lookfocus'));
  const id = await seed(page, 'Focus item', 3, LONG_DESCRIPTION);
  const anonymous = await anonymousPage(browser, baseURL);
  const unmarked: string[] = [];
  for (const scheme of SCHEMES) {
    for (const [where, path] of [
      [page, '/?q=focus'],
      [page, '/settings/'],
      [page, `/items/${id}/edit`],
      [page, `/items/${id}/delete`],
      [anonymous, '/login/'],
      [anonymous, '/register/'],
    ] as const) {
      await where.emulateMedia({ colorScheme: scheme });
      await where.goto(path);
      const seen = new Set<string>();
      // Tab from the top until the focus comes round again (or leaves the page).
      for (let step = 0; step < 80; step += 1) {
        await where.keyboard.press('Tab');
        const focused = await where.evaluate(() => {
          const element = document.activeElement as HTMLElement | null;
          if (!element || element === document.body) return undefined;
          const style = getComputedStyle(element);
          const marked =
            (style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2) ||
            style.boxShadow !== 'none';
          const name = element.getAttribute('aria-label') ?? element.textContent?.trim() ?? '';
          const key = `${element.tagName.toLowerCase()}#${element.id}[${element.getAttribute('name') ?? ''}] ${name.slice(0, 40)}`;
          return { key, marked };
        });
        if (!focused || seen.has(focused.key)) break;
        seen.add(focused.key);
        if (!focused.marked) unmarked.push(`${path} (${scheme}): ${focused.key}`);
      }
      expect(seen.size, `${path}: controls reached with Tab`).toBeGreaterThan(2);
    }
  }
  await anonymous.context().close();
  expect(unmarked).toEqual([]);
});
