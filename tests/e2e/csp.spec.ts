import type { Locator, Page } from '@playwright/test';
import { expect, registerAndSignIn, test, uniqueUsername } from './fixtures.ts';

/**
 * The Content-Security-Policy allows what the site runs and nothing else: signing up, the
 * main page and /create-item, with the add-item island validating and adding an item, report
 * no violation, neither as a `securitypolicyviolation` event nor in the console.
 */

/** Collects violations from every document the page loads, and console complaints. */
async function watchCsp(page: Page): Promise<string[]> {
  const violations: string[] = [];
  await page.exposeFunction('reportCspViolation', (text: string) => violations.push(text));
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (event) => {
      const report = (window as unknown as { reportCspViolation: (text: string) => void })
        .reportCspViolation;
      report(
        `${event.violatedDirective} blocked ${event.blockedURI || '(inline)'} at ${event.sourceFile}:${event.lineNumber} on ${location.pathname}`,
      );
    });
  });
  page.on('console', (message) => {
    if (/content security policy/i.test(message.text()))
      violations.push(`console: ${message.text()}`);
  });
  page.on('pageerror', (error) => violations.push(`page error: ${error.message}`));
  return violations;
}

function addForm(page: Page) {
  const form = page.locator('form').filter({ has: page.getByRole('button', { name: 'Add Item' }) });
  return {
    island: page.locator('astro-island').filter({ has: form }),
    name: form.getByLabel('Name', { exact: true }),
    amount: form.getByLabel('Amount', { exact: true }),
    submit: form.getByRole('button', { name: 'Add Item' }),
    // What an add says is the page's notice, beside its Undo button.
    status: form.page().locator('section.inventory [data-announce]'),
  };
}

async function expectFieldError(input: Locator, message: string): Promise<void> {
  await expect(input).toHaveAttribute('aria-invalid', 'true');
  const id = (await input.getAttribute('id'))!;
  await expect(input.page().locator(`[id="${id}_error"]`)).toHaveText(message);
}

/**
 * Validates a bad amount in the browser, then adds the item: on the main page through the
 * API without a page load; on the full page, which carries more fields than the island's
 * own (place, tags, minimum), by letting the browser post the whole form.
 */
async function useIsland(page: Page, name: string, through: 'api' | 'form'): Promise<void> {
  const form = addForm(page);
  // Hydrated: Astro removes the island's `ssr` marker once its script has run. On the main
  // page the island waits for its first use, which focusing Name is.
  await expect(form.island).toHaveCount(1);
  await form.name.focus();
  await expect(form.island).not.toHaveAttribute('ssr');
  await form.name.fill(name);
  await form.amount.fill('ten');
  await expectFieldError(form.amount, 'Enter a whole number.');
  await form.amount.fill('10');
  await expect(form.amount).not.toHaveAttribute('aria-invalid', 'true');
  const sent = page.waitForResponse(
    (response) =>
      new URL(response.url()).pathname === (through === 'api' ? '/api/items' : '/create-item') &&
      response.request().method() === 'POST',
  );
  await form.submit.click();
  if (through === 'api') {
    expect((await sent).status()).toBe(201);
    await expect(form.status).toContainText(name);
  } else {
    expect((await sent).status()).toBe(303);
    await expect(page).toHaveURL((url) => url.pathname === '/');
  }
}

test('the pages and the add-item island run under the CSP without a violation', async ({
  page,
}) => {
  const violations = await watchCsp(page);
  await registerAndSignIn(page, uniqueUsername('csp'));

  const main = await page.goto('/');
  expect(main?.headers()['content-security-policy']).toContain("frame-ancestors 'none'");
  await useIsland(page, 'CSP main page item', 'api');
  await expect(page.getByRole('cell', { name: 'CSP main page item', exact: true })).toBeVisible();

  const full = await page.goto('/create-item');
  expect(full?.headers()['content-security-policy']).toContain("script-src 'self'");
  await useIsland(page, 'CSP full page item', 'form');

  await page.goto('/');
  await expect(page.getByRole('cell', { name: 'CSP full page item', exact: true })).toBeVisible();
  expect(violations).toEqual([]);

  // The watch works: an inline script the policy does not allow is reported.
  await page.evaluate(() => {
    const script = document.createElement('script');
    script.textContent = 'document.body.dataset.inlineRan = "yes";';
    document.body.append(script);
  });
  await expect.poll(() => violations.length).toBeGreaterThan(0);
  expect(violations.join('\n')).toContain('script-src');
  expect(await page.evaluate(() => document.body.dataset.inlineRan)).toBeUndefined();
});
