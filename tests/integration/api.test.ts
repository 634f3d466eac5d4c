import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AMOUNT_MAX } from '../../src/lib/contracts/item-input.ts';

import { BACKENDS } from '../helpers/database.ts';
import { signUp, startSite, type Site, type SiteClient } from '../helpers/site.ts';
import { ITEM_SORTS } from '../../src/lib/contracts/items.ts';

interface ApiItem {
  id: number;
  inventory: number;
  name: string;
  amount: number;
  description: string;
  created_at: string;
  created_by: { id: number; username: string } | null;
  updated_at: string;
  version: number;
}

/** What a change leaves of an item: its fields as given, one version more, a new time. */
function changed(item: ApiItem, fields: Partial<ApiItem>): ApiItem {
  return {
    ...item,
    ...fields,
    version: item.version + 1,
    updated_at: expect.any(String) as unknown as string,
  };
}

interface ApiError {
  error: { code: string; message: string; fields?: Record<string, string[]> };
}

interface ItemList {
  items: ApiItem[];
  page: number;
  limit: number;
  total: number;
}

async function json<T>(response: Response): Promise<T> {
  expect(response.headers.get('content-type')).toBe('application/json');
  return (await response.json()) as T;
}

async function expectError(
  response: Response,
  status: number,
  code: string,
): Promise<ApiError['error']> {
  expect(response.status).toBe(status);
  const body = await json<ApiError>(response);
  expect(body.error.code).toBe(code);
  expect(body.error.message).toEqual(expect.any(String));
  return body.error;
}

describe.each(BACKENDS)('the items API on %s', (backend) => {
  let site: Site;
  let alice: SiteClient;
  let bob: SiteClient;

  beforeAll(async () => {
    site = await startSite(backend);
    [alice, bob] = await Promise.all([signUp(site.url, 'api_alice'), signUp(site.url, 'api_bob')]);
  });

  afterAll(async () => {
    await site?.close();
  });

  async function create(client: SiteClient, body: unknown, headers?: Record<string, string>) {
    return client.request('/api/items', { method: 'POST', json: body, headers });
  }

  async function createItem(client: SiteClient, body: unknown): Promise<ApiItem> {
    const response = await create(client, body);
    expect(response.status).toBe(201);
    return json<ApiItem>(response);
  }

  async function totalOf(client: SiteClient): Promise<number> {
    return (await json<ItemList>(await client.request('/api/items'))).total;
  }

  describe('creating', () => {
    it('stores a valid item: 201, Location, and the item as the schema normalized it', async () => {
      const response = await create(alice, {
        name: '  Lamp  ',
        amount: ' 7 ',
        description: 'Line 1\r\nLine 2\rLine 3',
      });
      expect(response.status).toBe(201);
      const item = await json<ApiItem>(response);
      expect(Object.keys(item)).toEqual([
        'id',
        'inventory',
        'name',
        'amount',
        'description',
        'created_at',
        'created_by',
        'updated_at',
        'version',
        'location_id',
        'tags',
        'min_amount',
        'low',
      ]);
      const { inventories } = await json<{ inventories: { id: number; name: string }[] }>(
        await alice.request('/api/inventories'),
      );
      expect(item).toMatchObject({
        // Without an inventory in the body, the caller's personal one.
        inventory: inventories.find((inventory) => inventory.name === 'My items')!.id,
        name: 'Lamp',
        amount: 7,
        description: 'Line 1\nLine 2\nLine 3',
        created_by: { id: expect.any(Number), username: 'api_alice' },
        version: 1,
        location_id: null,
        tags: [],
        min_amount: null,
        low: false,
      });
      expect(item.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
      expect(Math.abs(Date.parse(item.created_at) - Date.now())).toBeLessThan(60_000);
      expect(item.updated_at).toBe(item.created_at);
      expect(response.headers.get('location')).toBe(`/api/items/${item.id}`);
      expect(response.headers.get('etag')).toBe('"1"');

      const fetched = await alice.request(response.headers.get('location')!);
      expect(fetched.status).toBe(200);
      expect(await json<ApiItem>(fetched)).toEqual(item);
    });

    it('defaults the description to empty', async () => {
      const item = await createItem(alice, { name: 'Bare', amount: 0 });
      expect(item.description).toBe('');
    });

    it('refuses unknown fields such as user, id and user_id, storing nothing', async () => {
      const before = await totalOf(alice);
      for (const extra of [{ user: 2 }, { id: 99 }, { user_id: 2 }, { created_at: 'x' }]) {
        const error = await expectError(
          await create(alice, { name: 'Sneaky', amount: 1, ...extra }),
          400,
          'validation_error',
        );
        expect(Object.keys(error.fields ?? {})).toEqual(Object.keys(extra));
      }
      expect(await totalOf(alice)).toBe(before);
    });

    it('names the field of every invalid value', async () => {
      const cases: Array<[unknown, string]> = [
        [{ amount: 1 }, 'name'],
        [{ name: '   ', amount: 1 }, 'name'],
        [{ name: 'x'.repeat(256), amount: 1 }, 'name'],
        [{ name: 'Bell\u0007', amount: 1 }, 'name'],
        [{ name: 'Ok', amount: -1 }, 'amount'],
        [{ name: 'Ok', amount: 1.5 }, 'amount'],
        [{ name: 'Ok', amount: AMOUNT_MAX + 1 }, 'amount'],
        [{ name: 'Ok', amount: '1e3' }, 'amount'],
        [{ name: 'Ok', amount: null }, 'amount'],
        [{ name: 'Ok' }, 'amount'],
        [{ name: 'Ok', amount: 1, description: 'x'.repeat(10_001) }, 'description'],
        [{ name: 'Ok', amount: 1, description: 5 }, 'description'],
        [[], '_form'],
        [null, '_form'],
        ['Lamp', '_form'],
      ];
      for (const [body, field] of cases) {
        const error = await expectError(await create(alice, body), 400, 'validation_error');
        expect(Object.keys(error.fields ?? {}), JSON.stringify(body)).toContain(field);
        expect(error.fields![field]!.length).toBeGreaterThan(0);
      }
    });
  });

  describe('idempotent creation', () => {
    it('returns the stored item with 200 when a key is replayed, keeping one row', async () => {
      const before = await totalOf(alice);
      const key = 'order-2026-11-26/line-1';
      const first = await create(alice, { name: 'Once', amount: 1 }, { 'Idempotency-Key': key });
      expect(first.status).toBe(201);
      const stored = await json<ApiItem>(first);
      const replay = await create(alice, { name: 'Once', amount: 1 }, { 'Idempotency-Key': key });
      expect(replay.status).toBe(200);
      expect(await json<ApiItem>(replay)).toEqual(stored);
      expect(await totalOf(alice)).toBe(before + 1);

      // Another key is another item; the same key of another user is that user's own.
      const other = await create(alice, { name: 'Once', amount: 1 }, { 'Idempotency-Key': 'k2' });
      expect(other.status).toBe(201);
      const bobs = await create(bob, { name: 'Once', amount: 1 }, { 'Idempotency-Key': key });
      expect(bobs.status).toBe(201);
      expect((await json<ApiItem>(bobs)).id).not.toBe(stored.id);
    });

    it('makes one item of concurrent retries with the same key', async () => {
      const before = await totalOf(alice);
      const responses = await Promise.all(
        Array.from({ length: 8 }, () =>
          create(alice, { name: 'Raced', amount: 2 }, { 'Idempotency-Key': 'race-key' }),
        ),
      );
      const statuses = responses.map((response) => response.status).sort();
      expect(statuses).toEqual([200, 200, 200, 200, 200, 200, 200, 201]);
      const ids = new Set(await Promise.all(responses.map(async (r) => (await r.json()).id)));
      expect(ids.size).toBe(1);
      expect(await totalOf(alice)).toBe(before + 1);
    });

    it('refuses a key that is empty, too long or not printable ASCII', async () => {
      const before = await totalOf(alice);
      for (const key of ['x'.repeat(101), 'clé', '']) {
        await expectError(
          await create(alice, { name: 'Keyed', amount: 1 }, { 'Idempotency-Key': key }),
          400,
          'invalid_idempotency_key',
        );
      }
      expect(await totalOf(alice)).toBe(before);
      const longest = await create(
        alice,
        { name: 'Keyed', amount: 1 },
        { 'Idempotency-Key': `${'~'.repeat(99)}!` },
      );
      expect(longest.status).toBe(201);
    });
  });

  describe('listing', () => {
    let lister: SiteClient;
    const stock = [
      { name: 'banana', amount: 5, description: 'yellow fruit' },
      { name: 'Apple', amount: 12, description: 'red fruit' },
      { name: 'cherry', amount: 0, description: 'small, red' },
      { name: 'Date', amount: 12, description: 'sweet' },
      { name: '100% juice', amount: 3, description: 'a_b' },
      { name: 'apple pie', amount: 1, description: '' },
    ];
    let created: ApiItem[] = [];

    beforeAll(async () => {
      lister = await signUp(site.url, 'api_lister');
      created = [];
      for (const item of stock) created.push(await createItem(lister, item));
    });

    const list = async (query: string) =>
      json<ItemList>(await lister.request(`/api/items${query}`));
    const names = (page: ItemList) => page.items.map((item) => item.name);

    it('answers items, page, limit and total; newest first by default, 25 a page', async () => {
      const page = await list('');
      expect(Object.keys(page)).toEqual(['items', 'page', 'limit', 'total']);
      expect(page).toMatchObject({ page: 1, limit: 25, total: stock.length });
      expect(page.items).toEqual([...created].reverse());
    });

    it('sorts by each of its orders, ties broken by id', async () => {
      expect(ITEM_SORTS).toEqual(['newest', 'oldest', 'name', '-name', 'amount', '-amount']);
      expect(names(await list('?sort=oldest'))).toEqual(stock.map((item) => item.name));
      expect(names(await list('?sort=name'))).toEqual([
        '100% juice',
        'Apple',
        'apple pie',
        'banana',
        'cherry',
        'Date',
      ]);
      expect(names(await list('?sort=-name'))).toEqual([
        'Date',
        'cherry',
        'banana',
        'apple pie',
        'Apple',
        '100% juice',
      ]);
      expect(names(await list('?sort=amount'))).toEqual([
        'cherry',
        'apple pie',
        '100% juice',
        'banana',
        'Apple',
        'Date',
      ]);
      expect(names(await list('?sort=-amount'))).toEqual([
        'Date',
        'Apple',
        'banana',
        '100% juice',
        'apple pie',
        'cherry',
      ]);
    });

    it('searches names and descriptions, ignoring case; % and _ are plain characters', async () => {
      expect(names(await list('?q=APPLE&sort=oldest'))).toEqual(['Apple', 'apple pie']);
      const red = await list('?q=red&sort=oldest');
      expect(names(red)).toEqual(['Apple', 'cherry']);
      expect(red.total).toBe(2);
      expect(names(await list(`?q=${encodeURIComponent('%')}`))).toEqual(['100% juice']);
      expect(names(await list('?q=_'))).toEqual(['100% juice']);
      expect(await list('?q=nothing-like-this')).toMatchObject({ items: [], total: 0 });
    });

    it('pages with page and limit; a page past the end is empty', async () => {
      const second = await list('?sort=oldest&limit=4&page=2');
      expect(second).toMatchObject({ page: 2, limit: 4, total: stock.length });
      expect(names(second)).toEqual(['100% juice', 'apple pie']);
      expect(await list('?limit=100')).toMatchObject({ limit: 100 });
      expect(await list('?page=9&limit=5')).toMatchObject({ items: [], page: 9, total: 6 });
    });

    it('refuses bad query values with 400 naming them', async () => {
      for (const [query, field] of [
        ['?limit=0', 'limit'],
        ['?limit=101', 'limit'],
        ['?limit=ten', 'limit'],
        ['?page=0', 'page'],
        ['?page=-1', 'page'],
        ['?page=1.5', 'page'],
        ['?sort=price', 'sort'],
        [`?q=${'x'.repeat(201)}`, 'q'],
      ] as const) {
        const error = await expectError(
          await lister.request(`/api/items${query}`),
          400,
          'validation_error',
        );
        expect(Object.keys(error.fields ?? {})).toEqual([field]);
      }
    });

    it('shows only the caller’s items', async () => {
      const bobsNames = names(
        await json<ItemList>(await bob.request('/api/items?limit=100&q=apple')),
      );
      expect(bobsNames).toEqual([]);
    });
  });

  describe('one item', () => {
    it('reads, changes some fields, and deletes', async () => {
      const item = await createItem(alice, { name: 'Kettle', amount: 2, description: 'Steel' });
      expect(await json<ApiItem>(await alice.request(`/api/items/${item.id}`))).toEqual(item);
      // Leading zeros name the same item, as in the exports.
      expect((await alice.request(`/api/items/000${item.id}`)).status).toBe(200);

      const renamed = await alice.request(`/api/items/${item.id}`, {
        method: 'PATCH',
        json: { name: ' Big kettle ' },
      });
      expect(renamed.status).toBe(200);
      // Fields left out keep their values; the version counts the change.
      const afterRename = await json<ApiItem>(renamed);
      expect(afterRename).toEqual(changed(item, { name: 'Big kettle' }));
      expect(renamed.headers.get('etag')).toBe(`"${item.version + 1}"`);
      expect(Date.parse(afterRename.updated_at)).toBeGreaterThanOrEqual(
        Date.parse(item.updated_at),
      );

      const emptied = await alice.request(`/api/items/${item.id}`, {
        method: 'PATCH',
        json: { description: '', amount: '9' },
      });
      expect(await json<ApiItem>(emptied)).toEqual(
        changed(afterRename, { description: '', amount: 9 }),
      );

      const deleted = await alice.request(`/api/items/${item.id}`, { method: 'DELETE' });
      expect(deleted.status).toBe(204);
      expect(await deleted.text()).toBe('');
      await expectError(await alice.request(`/api/items/${item.id}`), 404, 'not_found');
      await expectError(
        await alice.request(`/api/items/${item.id}`, { method: 'DELETE' }),
        404,
        'not_found',
      );
    });

    it('refuses an empty or invalid change, changing nothing', async () => {
      const item = await createItem(alice, { name: 'Stool', amount: 4, description: 'Oak' });
      for (const [body, field] of [
        [{}, '_form'],
        [{ id: 1 }, 'id'],
        [{ user: 2 }, 'user'],
        [{ name: '' }, 'name'],
        [{ amount: -5 }, 'amount'],
        [{ name: 'Fine', amount: 'lots' }, 'amount'],
        [[], '_form'],
      ] as const) {
        const error = await expectError(
          await alice.request(`/api/items/${item.id}`, { method: 'PATCH', json: body }),
          400,
          'validation_error',
        );
        expect(Object.keys(error.fields ?? {}), JSON.stringify(body)).toContain(field);
      }
      expect(await json<ApiItem>(await alice.request(`/api/items/${item.id}`))).toEqual(item);
    });

    it('answers another user’s item exactly like a missing one, and leaves it alone', async () => {
      const item = await createItem(alice, { name: 'Private', amount: 1, description: 'mine' });
      const missing = await expectError(
        await bob.request('/api/items/2147483647'),
        404,
        'not_found',
      );
      const foreign = await expectError(
        await bob.request(`/api/items/${item.id}`),
        404,
        'not_found',
      );
      expect(foreign).toEqual(missing);
      await expectError(
        await bob.request(`/api/items/${item.id}`, { method: 'PATCH', json: { name: 'Mine' } }),
        404,
        'not_found',
      );
      await expectError(
        await bob.request(`/api/items/${item.id}`, { method: 'DELETE' }),
        404,
        'not_found',
      );
      await expectError(
        await bob.request(`/api/items/${item.id}/adjust`, { method: 'POST', json: { delta: 1 } }),
        404,
        'not_found',
      );
      expect(await json<ApiItem>(await alice.request(`/api/items/${item.id}`))).toEqual(item);
    });

    it('answers 404 for ids that are not item ids', async () => {
      for (const id of ['abc', '-1', '0', '99999999999', '1.5', '1%3Bdrop%20table%20items']) {
        await expectError(await alice.request(`/api/items/${id}`), 404, 'not_found');
        await expectError(
          await alice.request(`/api/items/${id}`, { method: 'PATCH', json: { name: 'x' } }),
          404,
          'not_found',
        );
        await expectError(
          await alice.request(`/api/items/${id}`, { method: 'DELETE' }),
          404,
          'not_found',
        );
      }
    });
  });

  describe('adjusting the amount', () => {
    const adjust = (client: SiteClient, id: number | string, body: unknown) =>
      client.request(`/api/items/${id}/adjust`, { method: 'POST', json: body });

    it('adds and takes away within 0..2147483647, refusing with 409 beyond', async () => {
      const item = await createItem(alice, { name: 'Screws', amount: 10 });
      const more = await adjust(alice, item.id, { delta: 5 });
      expect(more.status).toBe(200);
      expect(await json<ApiItem>(more)).toEqual(changed(item, { amount: 15 }));
      expect((await json<ApiItem>(await adjust(alice, item.id, { delta: -15 }))).amount).toBe(0);

      const error = await expectError(
        await adjust(alice, item.id, { delta: -1 }),
        409,
        'out_of_range',
      );
      expect(error.message).toContain('0');
      expect(
        (await json<ApiItem>(await adjust(alice, item.id, { delta: AMOUNT_MAX }))).amount,
      ).toBe(AMOUNT_MAX);
      await expectError(await adjust(alice, item.id, { delta: 1 }), 409, 'out_of_range');
      expect((await json<ApiItem>(await alice.request(`/api/items/${item.id}`))).amount).toBe(
        AMOUNT_MAX,
      );
    });

    it('refuses a delta that is not a whole number within range, or comes with other fields', async () => {
      const item = await createItem(alice, { name: 'Nails', amount: 10 });
      for (const body of [
        {},
        { delta: 1.5 },
        { delta: '5' },
        { delta: null },
        { delta: AMOUNT_MAX + 1 },
        { delta: -AMOUNT_MAX - 1 },
        { delta: 1, amount: 3 },
        [1],
      ]) {
        await expectError(await adjust(alice, item.id, body), 400, 'validation_error');
      }
      await expectError(await adjust(alice, 'abc', { delta: 1 }), 404, 'not_found');
      await expectError(await adjust(alice, 2147483647, { delta: 1 }), 404, 'not_found');
      expect((await json<ApiItem>(await alice.request(`/api/items/${item.id}`))).amount).toBe(10);
    });

    it('loses no change when many clients adjust at once', async () => {
      const item = await createItem(alice, { name: 'Bolts', amount: 100 });
      const responses = await Promise.all(
        Array.from({ length: 20 }, (_, i) => adjust(alice, item.id, { delta: i % 2 ? 3 : -1 })),
      );
      expect(responses.every((response) => response.status === 200)).toBe(true);
      expect((await json<ApiItem>(await alice.request(`/api/items/${item.id}`))).amount).toBe(
        100 + 10 * 3 - 10,
      );
    });
  });

  describe('HTTP', () => {
    it('answers anonymous callers with a JSON 401, even when they prefer HTML', async () => {
      const anonymous = alice.anonymous();
      for (const [pathname, method] of [
        ['/api/items', 'GET'],
        ['/api/items', 'POST'],
        ['/api/items/1', 'GET'],
        ['/api/items/1', 'PATCH'],
        ['/api/items/1', 'DELETE'],
        ['/api/items/1/adjust', 'POST'],
      ] as const) {
        const response = await anonymous.request(pathname, {
          method,
          headers: { Accept: 'text/html' },
          ...(method === 'GET' || method === 'DELETE' ? {} : { json: { delta: 1 } }),
        });
        await expectError(response, 401, 'unauthorized');
      }
    });

    it('refuses other methods with 405 and the methods it does answer', async () => {
      for (const [pathname, method, allow] of [
        ['/api/items', 'PUT', 'GET, HEAD, POST'],
        ['/api/items', 'DELETE', 'GET, HEAD, POST'],
        ['/api/items/1', 'POST', 'GET, HEAD, PATCH, DELETE'],
        ['/api/items/1', 'PUT', 'GET, HEAD, PATCH, DELETE'],
        ['/api/items/1/adjust', 'GET', 'POST'],
        ['/api/items/1/adjust', 'PATCH', 'POST'],
        ['/api/openapi.json', 'POST', 'GET, HEAD'],
      ] as const) {
        const response = await alice.request(pathname, {
          method,
          ...(method === 'GET' ? {} : { json: {} }),
        });
        await expectError(response, 405, 'method_not_allowed');
        expect(response.headers.get('allow'), `${method} ${pathname}`).toBe(allow);
      }
    });

    it('answers HEAD like GET without a body', async () => {
      const response = await alice.request('/api/items', { method: 'HEAD' });
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe('application/json');
      expect(await response.text()).toBe('');
    });

    it('refuses a body over 64 KiB with 413, declared or not', async () => {
      const before = await totalOf(alice);
      const big = { name: 'Big', amount: 1, description: 'x'.repeat(70 * 1024) };
      await expectError(await create(alice, big), 413, 'payload_too_large');

      // Sent in chunks without a Content-Length, the limit still holds.
      const bytes = new TextEncoder().encode(JSON.stringify(big));
      const chunked = await alice.request('/api/items', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: new ReadableStream({
          start(controller) {
            for (let i = 0; i < bytes.length; i += 8192) {
              controller.enqueue(bytes.subarray(i, i + 8192));
            }
            controller.close();
          },
        }),
        duplex: 'half',
      });
      await expectError(chunked, 413, 'payload_too_large');
      expect(await totalOf(alice)).toBe(before);
    });

    it('refuses other media types with 415 and broken JSON with 400, in JSON', async () => {
      const send = (body: BodyInit, type: string | undefined) =>
        alice.request('/api/items', {
          method: 'POST',
          body,
          headers: {
            Accept: 'text/html',
            ...(type === undefined ? {} : { 'Content-Type': type }),
          },
        });
      const valid = JSON.stringify({ name: 'Typed', amount: 1 });
      await expectError(await send(valid, 'text/plain'), 415, 'unsupported_media_type');
      await expectError(
        await send('name=Typed&amount=1', 'application/x-www-form-urlencoded'),
        415,
        'unsupported_media_type',
      );
      await expectError(await send('{"name": "Typed", ', 'application/json'), 400, 'bad_request');
      await expectError(await send('', 'application/json'), 400, 'bad_request');
      await expectError(
        await send(new Uint8Array([0x7b, 0x22, 0xff, 0x22, 0x7d]), 'application/json'),
        400,
        'bad_request',
      );
      // Parameters and case do not matter to the media type.
      const ok = await send(valid, 'Application/JSON; charset=utf-8');
      expect(ok.status).toBe(201);
    });

    it('refuses changes from other origins, or from nowhere in particular', async () => {
      const item = await createItem(alice, { name: 'Guarded', amount: 1 });
      const before = await totalOf(alice);
      const evil = await create(
        alice,
        { name: 'Evil', amount: 1 },
        { Origin: 'http://evil.example' },
      );
      await expectError(evil, 403, 'forbidden');
      await expectError(
        await alice.request('/api/items', {
          method: 'POST',
          json: { name: 'Nowhere', amount: 1 },
          origin: null,
        }),
        403,
        'forbidden',
      );
      await expectError(
        await alice.request('/api/items', {
          method: 'POST',
          json: { name: 'Cross', amount: 1 },
          origin: null,
          headers: { 'Sec-Fetch-Site': 'cross-site' },
        }),
        403,
        'forbidden',
      );
      await expectError(
        await alice.request(`/api/items/${item.id}`, {
          method: 'PATCH',
          json: { name: 'Hijacked' },
          origin: 'http://evil.example',
        }),
        403,
        'forbidden',
      );
      // A bodiless DELETE meets Astro's own origin check first, which answers in plain text.
      const deleted = await alice.request(`/api/items/${item.id}`, {
        method: 'DELETE',
        origin: 'http://evil.example',
      });
      expect(deleted.status).toBe(403);
      await expectError(
        await alice.request(`/api/items/${item.id}/adjust`, {
          method: 'POST',
          json: { delta: 1 },
          origin: 'null',
        }),
        403,
        'forbidden',
      );
      expect(await totalOf(alice)).toBe(before);
      expect(await json<ApiItem>(await alice.request(`/api/items/${item.id}`))).toEqual(item);

      // Without Origin, a browser's own word that the request is same-origin is enough.
      const sameSite = await alice.request('/api/items', {
        method: 'POST',
        json: { name: 'Same origin', amount: 1 },
        origin: null,
        headers: { 'Sec-Fetch-Site': 'same-origin' },
      });
      expect(sameSite.status).toBe(201);
    });
  });

  describe('the OpenAPI document', () => {
    it('is public OpenAPI 3.1 describing every route, the errors and the cookie session', async () => {
      const response = await alice.anonymous().request('/api/openapi.json');
      expect(response.status).toBe(200);
      const document = await json<{
        openapi: string;
        paths: Record<string, Record<string, { responses?: Record<string, unknown> }>>;
        components: {
          securitySchemes: Record<string, { type: string; in: string; name: string }>;
        };
        security: unknown;
      }>(response);
      expect(document.openapi).toBe('3.1.0');
      expect(Object.keys(document.paths).sort()).toEqual(
        [
          '/api/inventories',
          '/api/inventories/{id}',
          '/api/inventories/{id}/members',
          '/api/inventories/{id}/members/{username}',
          '/api/items',
          '/api/items/{id}',
          '/api/items/{id}/adjust',
          '/api/items/{id}/history',
          '/api/items/{id}/restore',
          '/api/items/bulk',
          '/api/inventories/{id}/imports',
          '/api/changes/{id}/undo',
          '/api/inventories/{id}/activity',
          '/api/inventories/{id}/trash',
          '/api/inventories/{id}/locations',
          '/api/inventories/{id}/tags',
          '/api/locations/{id}',
          '/api/openapi.json',
        ].sort(),
      );
      expect(Object.keys(document.paths['/api/items']!)).toEqual(['get', 'post']);
      expect(Object.keys(document.paths['/api/items/{id}']!)).toEqual([
        'parameters',
        'get',
        'patch',
        'delete',
      ]);
      expect(document.components.securitySchemes.sessionCookie).toMatchObject({
        type: 'apiKey',
        in: 'cookie',
        name: 'sessionid',
      });
      expect(document.security).toEqual([{ sessionCookie: [] }, { bearerToken: ['read'] }]);

      // Every reference resolves inside the document.
      const text = JSON.stringify(document);
      const refs = [...text.matchAll(/"\$ref":"#\/([^"]+)"/g)].map((match) => match[1]!);
      expect(refs.length).toBeGreaterThan(10);
      for (const ref of refs) {
        const target = ref
          .split('/')
          .reduce<unknown>(
            (node, key) => (node as Record<string, unknown> | undefined)?.[key],
            document,
          );
        expect(target, ref).toBeDefined();
      }
      for (const status of ['400', '401', '404', '405', '413', '415', '429']) {
        expect(text).toContain(`"${status}":`);
      }
    });
  });
});
