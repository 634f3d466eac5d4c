import http from 'node:http';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS } from '../helpers/database.ts';
import { signUp, startSite, type Site, type SiteClient } from '../helpers/site.ts';
import { createItem, FORM_TYPE } from '../security/kit.ts';

/**
 * What every answer carries besides its body: compression when the client accepts it (and
 * not otherwise), `no-store` on every signed-in page, and the status line's own reason.
 */

interface Answer {
  status: number;
  reason: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** One request through node:http, which neither asks for compression nor undoes it. */
function raw(
  url: string,
  path: string,
  headers: Record<string, string>,
  init: { method?: string; body?: string } = {},
): Promise<Answer> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { hostname, port, path, method: init.method ?? 'GET', headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            reason: res.statusMessage ?? '',
            headers: res.headers,
            body: Buffer.concat(chunks),
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(init.body);
  });
}

const decoded = (answer: Answer): string => {
  const encoding = answer.headers['content-encoding'];
  if (encoding === 'gzip') return gunzipSync(answer.body).toString('utf8');
  if (encoding === 'br') return brotliDecompressSync(answer.body).toString('utf8');
  return answer.body.toString('utf8');
};

describe.each(BACKENDS)('HTTP hygiene on %s', (backend) => {
  let site: Site;
  let owner: SiteClient;

  beforeAll(async () => {
    site = await startSite(backend);
    owner = await signUp(site.url, `hygiene_${backend}`);
    for (let i = 0; i < 30; i += 1) {
      await createItem(owner, { name: `Item ${i}`, amount: i, description: 'x'.repeat(100) });
    }
  });

  afterAll(async () => {
    await site?.close();
  });

  const as = (extra: Record<string, string> = {}) => ({
    Cookie: owner.cookie!,
    'X-Forwarded-For': owner.address,
    ...extra,
  });

  it('compresses what the client accepts, and nothing for a client that accepts nothing', async () => {
    const stylesheet = '/site.css';
    for (const path of ['/', '/json/', '/xml/', '/api/items?limit=50', stylesheet, '/settings/']) {
      const plain = await raw(site.url, path, as());
      expect(plain.status, path).toBe(200);
      expect(plain.headers['content-encoding'], path).toBeUndefined();
      for (const [accept, encoding] of [
        ['gzip', 'gzip'],
        ['br', 'br'],
        ['gzip, deflate, br', 'br'],
        ['identity', undefined],
      ] as const) {
        const answer = await raw(site.url, path, as({ 'Accept-Encoding': accept }));
        expect(answer.headers['content-encoding'], `${path} ${accept}`).toBe(encoding);
        expect(String(answer.headers.vary), `${path} ${accept}`).toMatch(/accept-encoding/i);
        if (encoding) expect(answer.body.length, path).toBeLessThan(plain.body.length);
        // The same bytes once decoded (the pages carry per-request values; the data do not).
        if (path !== '/' && path !== '/settings/') {
          expect(decoded(answer), `${path} ${accept}`).toBe(plain.body.toString('utf8'));
        }
      }
    }
  });

  it('marks every signed-in page no-store', async () => {
    const item = await createItem(owner, { name: 'Private', amount: 1 });
    for (const path of ['/', '/?q=x', '/settings/', '/create-item', `/items/${item.id}/edit`]) {
      const answer = await raw(site.url, path, as());
      expect(answer.status, path).toBe(200);
      expect(answer.headers['cache-control'], path).toBe('no-store');
    }
  });

  it('gives every status line its own reason phrase', async () => {
    const refused = await raw(
      site.url,
      '/create-item',
      as({ 'Content-Type': FORM_TYPE, Origin: site.url, Accept: 'text/html' }),
      { method: 'POST', body: 'name=&amount=x' },
    );
    expect([refused.status, refused.reason]).toEqual([400, 'Bad Request']);
    const missing = await raw(site.url, '/items/2147483647/edit', as({ Accept: 'text/html' }));
    expect([missing.status, missing.reason]).toEqual([404, 'Not Found']);
    const added = await raw(
      site.url,
      '/create-item',
      as({ 'Content-Type': FORM_TYPE, Origin: site.url }),
      { method: 'POST', body: 'name=Ok&amount=1' },
    );
    expect([added.status, added.reason]).toEqual([303, 'See Other']);
    const anonymous = await raw(site.url, '/', {});
    expect([anonymous.status, anonymous.reason]).toEqual([302, 'Found']);
    const api = await raw(site.url, '/api/items/0', as());
    expect([api.status, api.reason]).toEqual([404, 'Not Found']);
  });
});
