import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS } from '../helpers/database.ts';
import { signUp, startSite, type Site, type SiteClient } from '../helpers/site.ts';
import { createItem, postForm, type ApiItem } from '../security/kit.ts';

/**
 * The item pages over plain HTTP: answers that need no rendering and no JavaScript (status
 * codes, what a page's HTML holds, what a form post stores), which the browser tests used to
 * check through Playwright. The browser tests keep what needs a browser.
 */
describe.each(BACKENDS)('the item pages over HTTP on %s', (backend) => {
  let site: Site;

  beforeAll(async () => {
    site = await startSite(backend);
  });
  afterAll(async () => {
    await site?.close();
  });

  async function itemsOf(client: SiteClient): Promise<ApiItem[]> {
    const response = await client.request('/api/items?limit=100&sort=oldest');
    expect(response.status).toBe(200);
    return ((await response.json()) as { items: ApiItem[] }).items;
  }

  it('answers 404 for ids that are not ids', async () => {
    const client = await signUp(site.url, `weird_ids_${backend}`);
    for (const id of ['0', 'abc', '1e3', '-1', '2147483648', '1%3Bdrop%20table%20items']) {
      expect((await client.request(`/items/${id}/edit`)).status, id).toBe(404);
    }
  });

  it('stores the add-item form once when it is sent twice (back button, double click)', async () => {
    const client = await signUp(site.url, `sent_twice_${backend}`);
    const page = await (await client.request('/')).text();
    const key = /name="idempotency_key" value="([^"]*)"/.exec(page)?.[1] ?? '';
    expect(key).not.toBe('');
    for (let attempt = 0; attempt < 2; attempt += 1) {
      const response = await postForm(client, '/create-item?return_to=%2F', {
        name: 'Sent twice',
        amount: '1',
        description: '',
        idempotency_key: key,
      });
      expect(response.status).toBe(303);
    }
    const after = await (await client.request('/')).text();
    expect(after.match(/<a data-cell="name"[^>]*>Sent twice<\/a>/g)).toHaveLength(1);
    expect(await itemsOf(client)).toHaveLength(1);
  });

  it('sends a page past the end to the last page, keeping search, sort and size', async () => {
    const client = await signUp(site.url, `past_end_${backend}`);
    for (let index = 1; index <= 12; index += 1) {
      await createItem(client, { name: `Bolt ${index}`, amount: index, description: '' });
    }
    await createItem(client, { name: 'Nut', amount: 1, description: '' });

    const past = await client.request('/?q=bolt&sort=-amount&limit=10&page=999');
    expect([302, 303]).toContain(past.status);
    expect(past.headers.get('location')).toBe('/?q=bolt&sort=-amount&limit=10&page=2');
    const last = await client.request('/?q=bolt&sort=-amount&limit=10&page=2');
    expect(last.status).toBe(200);
    const html = await last.text();
    expect(html).toContain('Showing 11–12 of 12');
    expect(html).not.toContain('Your inventory is empty');

    // With nothing to show, the last page is the first, which has no page parameter.
    const none = await client.request('/?q=nothing-at-all&page=3');
    expect([302, 303]).toContain(none.status);
    expect(none.headers.get('location')).toBe('/?q=nothing-at-all');
    // The last page itself, and the first, are served as they are.
    expect((await client.request('/?limit=10&page=2')).status).toBe(200);
    expect((await client.request('/?q=nothing-at-all')).status).toBe(200);
  });

  it('answers another user’s item ids exactly like missing ones, changing nothing', async () => {
    const owner = await signUp(site.url, `scoped_owner_${backend}`);
    const mine = await createItem(owner, {
      name: 'Private Thing',
      amount: 5,
      description: 'secret',
    });
    const stranger = await signUp(site.url, `scoped_stranger_${backend}`);
    const missing = 2147483647;

    for (const path of [`/items/${mine.id}/edit`, `/items/${mine.id}/delete`]) {
      const foreign = await stranger.request(path);
      expect(foreign.status, path).toBe(404);
      const body = await foreign.text();
      expect(body).not.toContain('secret');
      expect(body).not.toContain('Private Thing');
      const absent = await stranger.request(path.replace(String(mine.id), String(missing)));
      expect(absent.status).toBe(404);
      expect(await absent.text()).toBe(body);
    }

    const posts: [string, Record<string, string>][] = [
      [`/items/${mine.id}/adjust`, { delta: '1' }],
      [`/items/${mine.id}/adjust`, { delta: '-1' }],
      [`/items/${mine.id}/delete`, {}],
      [`/items/${mine.id}/edit`, { name: 'Stolen', amount: '0', description: '' }],
    ];
    for (const [path, fields] of posts) {
      expect((await postForm(stranger, path, fields)).status, `POST ${path}`).toBe(404);
    }
    const api = await Promise.all([
      stranger.request(`/api/items/${mine.id}/adjust`, { method: 'POST', json: { delta: 1 } }),
      stranger.request(`/api/items/${mine.id}`, { method: 'DELETE' }),
      stranger.request(`/api/items/${mine.id}`, { method: 'PATCH', json: { amount: 0 } }),
      stranger.request(`/api/items/${mine.id}`),
    ]);
    for (const response of api) expect(response.status, response.url).toBe(404);
    expect(await itemsOf(stranger)).toEqual([]);

    // Nothing changed for the owner.
    expect(await itemsOf(owner)).toMatchObject([
      { id: mine.id, name: 'Private Thing', amount: 5, description: 'secret' },
    ]);
  });
});
