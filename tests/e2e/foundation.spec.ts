import { expect, test } from '@playwright/test';

test('the health check answers without a session', async ({ request }) => {
  const response = await request.get('/healthz');
  expect(response.status()).toBe(200);
  expect(await response.json()).toEqual({ status: 'ok' });
});

test('every response carries the security headers, static files included', async ({ request }) => {
  for (const path of ['/healthz', '/site.css', '/login/']) {
    const response = await request.get(path);
    expect(response.headers()['x-frame-options'], path).toBe('DENY');
    expect(response.headers()['x-content-type-options'], path).toBe('nosniff');
    expect(response.headers()['referrer-policy'], path).toBe('same-origin');
    expect(response.headers()['cross-origin-opener-policy'], path).toBe('same-origin');
  }
});
