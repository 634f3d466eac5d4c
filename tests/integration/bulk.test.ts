import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_BULK_ITEMS } from '../../src/lib/contracts/bulk.ts';
import { createApiToken } from '../../src/lib/server/auth/tokens.ts';
import { BACKENDS } from '../helpers/database.ts';
import { checkedFetch } from '../helpers/openapi.ts';
import {
  nextAddress,
  registerInDatabase,
  signIn,
  startSite,
  type Site,
  type SiteClient,
} from '../helpers/site.ts';
import { FORM_TYPE } from '../security/kit.ts';

/**
 * Issue #19, bulk changes: `POST /api/items/bulk` and the main page's bulk form, over HTTP
 * against the production server. Each action is one change (`via` and `action` `bulk`)
 * that one undo reverts; a list with any id the caller cannot change changes nothing;
 * viewers are refused (403), strangers told there is no such item (404), bad input 4xx.
 * Every /api response is checked against the OpenAPI document (SiteClient does that).
 */

interface ApiItem {
  id: number;
  name: string;
  amount: number;
  location_id: number | null;
  tags: string[];
  min_amount: number | null;
  version: number;
}

interface ApiChange {
  id: number;
  via: string;
  token: string | null;
  action: string;
  item_ids: number[];
  changes: { item_id: number; field: string; before: unknown; after: unknown }[];
}

const NAMES = {
  owner: 'bk_owner',
  editor: 'bk_editor',
  viewer: 'bk_viewer',
  stranger: 'bk_x',
  hoarder: 'bk_many',
};
type Person = keyof typeof NAMES;

describe.each(BACKENDS)('bulk changes on %s', (backend) => {
  let site: Site;
  const clients = {} as Record<Person, SiteClient>;
  let editorToken = '';
  let inventory = 0;
  let shelf = 0;
  let items: number[] = [];
  let foreign = 0;

  beforeAll(async () => {
    site = await startSite(backend, async (db) => {
      for (const person of Object.keys(NAMES) as Person[]) {
        const id = await registerInDatabase(db, NAMES[person]);
        if (person === 'hoarder') {
          // One more item than a bulk change takes, in the personal inventory.
          await sql`insert into items (inventory_id, created_by, updated_by, name, amount, description)
            select m.inventory_id, ${id}, ${id}, 'Box ' || g, 1, ''
            from memberships m, generate_series(1, ${MAX_BULK_ITEMS + 1}) g
            where m.user_id = ${id}`.execute(db);
        }
        if (person !== 'editor') continue;
        const made = await createApiToken(db, id, {
          name: 'editor script',
          scope: 'read-write',
          expiresAt: null,
        });
        if (made.status !== 'created') throw new Error(made.status);
        editorToken = made.token;
      }
    });
    for (const person of Object.keys(NAMES) as Person[]) {
      clients[person] = await signIn(site.url, NAMES[person]);
    }
    const created = await clients.owner.request('/api/inventories', {
      method: 'POST',
      json: { name: 'Workshop' },
    });
    inventory = ((await created.json()) as { id: number }).id;
    for (const person of ['editor', 'viewer'] as const) {
      const added = await clients.owner.request(
        `/api/inventories/${inventory}/members/${NAMES[person]}`,
        { method: 'PUT', json: { role: person } },
      );
      expect(added.status).toBe(201);
    }
    const location = await clients.owner.request(`/api/inventories/${inventory}/locations`, {
      method: 'POST',
      json: { name: 'Shelf' },
    });
    shelf = ((await location.json()) as { id: number }).id;
    items = [];
    for (const [name, tags] of [
      ['Bolt', ['metal']],
      ['Nut', []],
      ['Washer', []],
    ] as const) {
      items.push((await addItem(clients.owner, { name, inventory, tags: [...tags] })).id);
    }
    // The stranger's own item, in their personal inventory.
    foreign = (await addItem(clients.stranger, { name: 'Not yours' })).id;
  });

  afterAll(async () => {
    await site?.close();
  });

  async function addItem(as: SiteClient, fields: Record<string, unknown>): Promise<ApiItem> {
    const response = await as.request('/api/items', {
      method: 'POST',
      json: { amount: 5, description: '', ...fields },
    });
    expect(response.status, await response.clone().text()).toBe(201);
    return (await response.json()) as ApiItem;
  }

  const bulk = (body: unknown, as: SiteClient = clients.owner) =>
    as.request('/api/items/bulk', { method: 'POST', json: body });

  async function changed(body: unknown, as?: SiteClient) {
    const response = await bulk(body, as);
    expect(response.status, await response.clone().text()).toBe(200);
    const result = (await response.json()) as { change_id: number | null; changed: number };
    expect(response.headers.get('change-id')).toBe(
      result.change_id === null ? null : String(result.change_id),
    );
    return result;
  }

  async function listed(): Promise<ApiItem[]> {
    const response = await clients.owner.request(
      `/api/items?inventory=${inventory}&sort=oldest&limit=100`,
    );
    return ((await response.json()) as { items: ApiItem[] }).items;
  }

  async function newestChange(): Promise<ApiChange> {
    const response = await clients.owner.request(`/api/inventories/${inventory}/activity?limit=1`);
    return ((await response.json()) as { changes: ApiChange[] }).changes[0]!;
  }

  async function undo(change: number) {
    const response = await clients.owner.request(`/api/changes/${change}/undo`, {
      method: 'POST',
    });
    expect(response.status, await response.clone().text()).toBe(200);
  }

  /** What the owner sees of the inventory: its items, its trash and its newest change. */
  async function state(): Promise<string> {
    const trash = await clients.owner.request(`/api/inventories/${inventory}/trash`);
    return JSON.stringify([await listed(), await trash.json(), await newestChange()]);
  }

  it('does each action as one change, which one undo reverts', async () => {
    const [bolt, nut, washer] = items as [number, number, number];
    const before = await listed();
    const fields = (list: ApiItem[]) =>
      list.map(({ id, location_id, tags, min_amount }) => ({ id, location_id, tags, min_amount }));
    const steps: [body: Record<string, unknown>, count: number][] = [
      [{ action: 'move', ids: [bolt, nut, nut], location_id: shelf }, 2],
      // A new tag is made; an item that has it already is left as it is.
      [{ action: 'tag', ids: [bolt, nut, washer], tag: 'Metal' }, 2],
      [{ action: 'tag', ids: [washer, nut], tag: 'spare' }, 2],
      [{ action: 'untag', ids: [bolt, nut, washer], tag: 'METAL' }, 3],
      [{ action: 'set_min', ids: [bolt, washer], min_amount: 10 }, 2],
      [{ action: 'move', ids: [bolt], location_id: null }, 1],
      [{ action: 'delete', ids: [nut, washer] }, 2],
    ];
    const changes: number[] = [];
    for (const [body, count] of steps) {
      const result = await changed(body);
      expect(result.changed, JSON.stringify(body)).toBe(count);
      const change = await newestChange();
      expect(change).toMatchObject({ id: result.change_id, via: 'bulk', action: 'bulk' });
      changes.push(change.id);
    }
    expect(fields(await listed())).toEqual([
      { id: bolt, location_id: null, tags: [], min_amount: 10 },
    ]);
    const trash = await clients.owner.request(`/api/inventories/${inventory}/trash`);
    expect(((await trash.json()) as { items: { id: number }[] }).items.map((i) => i.id)).toEqual(
      expect.arrayContaining([nut, washer]),
    );
    const deleted = await newestChange();
    expect(deleted.item_ids).toEqual([nut, washer]);

    // Undone newest first, each all at once: back to how it was.
    for (const change of changes.reverse()) await undo(change);
    expect(fields(await listed())).toEqual(fields(before));
    // Nothing left to change: no change recorded.
    expect(await changed({ action: 'set_min', ids: [nut], min_amount: null })).toEqual({
      change_id: null,
      changed: 0,
    });
  });

  it('changes nothing when any id is not the caller’s to change: 404, or 403 for a viewer', async () => {
    const [bolt, nut] = items as [number, number];
    const trashed = (await addItem(clients.owner, { name: 'Gone', inventory })).id;
    expect(
      (await clients.owner.request(`/api/items/${trashed}`, { method: 'DELETE' })).status,
    ).toBe(204);
    const before = await state();
    for (const other of [foreign, trashed, 2_147_483_647]) {
      for (const body of [
        { action: 'move', ids: [bolt, other, nut], location_id: shelf },
        { action: 'tag', ids: [other, bolt], tag: 'never-made' },
        { action: 'delete', ids: [bolt, nut, other] },
      ]) {
        const response = await bulk(body);
        expect(response.status, JSON.stringify(body)).toBe(404);
        expect(((await response.json()) as { error: { code: string } }).error.code).toBe(
          'not_found',
        );
      }
    }
    // A stranger learns nothing of the owner's items; a viewer is told why not.
    expect((await bulk({ action: 'delete', ids: [bolt] }, clients.stranger)).status).toBe(404);
    const viewer = await bulk({ action: 'delete', ids: [bolt, nut] }, clients.viewer);
    expect(viewer.status).toBe(403);
    expect(((await viewer.json()) as { error: { code: string } }).error.code).toBe('forbidden');
    // Ids of two inventories, each the caller's: refused as such.
    const mixed = await bulk({ action: 'delete', ids: [bolt, foreign] }, clients.stranger);
    expect(mixed.status).toBe(404);
    const mine = await addItem(clients.owner, { name: 'Personal' });
    const two = await bulk({ action: 'set_min', ids: [bolt, mine.id], min_amount: 1 });
    expect(two.status).toBe(400);
    expect(await two.text()).toContain('one inventory');
    expect(await state()).toBe(before);
    expect((await listed()).map((item) => item.name)).not.toContain('never-made');
    const tags = await clients.owner.request(`/api/inventories/${inventory}/tags`);
    expect(JSON.stringify(await tags.json())).not.toContain('never-made');
  });

  it('refuses bad input with 4xx, never 500, and changes nothing', async () => {
    const [bolt] = items as [number];
    const otherPlace = await clients.stranger.request('/api/inventories', {
      method: 'POST',
      json: { name: 'Elsewhere' },
    });
    const elsewhere = ((await otherPlace.json()) as { id: number }).id;
    const foreignShelf = await clients.stranger.request(`/api/inventories/${elsewhere}/locations`, {
      method: 'POST',
      json: { name: 'Their shelf' },
    });
    const theirShelf = ((await foreignShelf.json()) as { id: number }).id;
    const before = await state();
    const refused: [body: unknown, field: string][] = [
      [{}, 'action'],
      [[bolt], '_form'],
      [{ action: 'frobnicate', ids: [bolt] }, 'action'],
      [{ action: 'delete', ids: [] }, 'ids'],
      [{ action: 'delete' }, 'ids'],
      [{ action: 'delete', ids: 'all' }, 'ids'],
      [{ action: 'delete', ids: [bolt, 0] }, 'ids'],
      [{ action: 'delete', ids: [bolt, '1'] }, 'ids'],
      [{ action: 'delete', ids: [bolt, 2_147_483_648] }, 'ids'],
      [
        { action: 'delete', ids: Array.from({ length: MAX_BULK_ITEMS + 1 }, (_, i) => i + 1) },
        'ids',
      ],
      [{ action: 'delete', ids: [bolt], tag: 'x' }, 'tag'],
      [{ action: 'move', ids: [bolt] }, 'location_id'],
      [{ action: 'move', ids: [bolt], location_id: theirShelf }, 'location_id'],
      [{ action: 'move', ids: [bolt], location_id: '1' }, 'location_id'],
      [{ action: 'tag', ids: [bolt], tag: 'a,b' }, 'tag'],
      [{ action: 'tag', ids: [bolt], tag: '  ' }, 'tag'],
      [{ action: 'untag', ids: [bolt], tag: 'x'.repeat(51) }, 'tag'],
      [{ action: 'set_min', ids: [bolt], min_amount: -1 }, 'min_amount'],
      [{ action: 'set_min', ids: [bolt], min_amount: 1.5 }, 'min_amount'],
    ];
    for (const [body, field] of refused) {
      const response = await bulk(body);
      const text = await response.text();
      expect(response.status, `${JSON.stringify(body).slice(0, 80)}: ${text}`).toBe(400);
      const error = (JSON.parse(text) as { error: { code: string; fields?: object } }).error;
      expect(error.code).toBe('validation_error');
      expect(Object.keys(error.fields ?? {}), JSON.stringify(body).slice(0, 80)).toContain(field);
    }
    expect(await state()).toBe(before);
    // An item with as many tags as an item may have takes no more: nothing is tagged or made.
    const listedBefore = await listed();
    const original = listedBefore.find((item) => item.id === bolt)!.tags;
    const full = Array.from({ length: 20 }, (_, i) => `t${i}`);
    const tagged = await clients.owner.request(`/api/items/${bolt}`, {
      method: 'PATCH',
      json: { tags: full },
    });
    expect(tagged.status).toBe(200);
    const fullBefore = await state();
    const tooMany = await bulk({ action: 'tag', ids: items, tag: 'one-more' });
    expect(tooMany.status).toBe(400);
    expect(await tooMany.text()).toContain('20 tags already');
    expect(await state()).toBe(fullBefore);
    const tagList = await clients.owner.request(`/api/inventories/${inventory}/tags`);
    expect(JSON.stringify(await tagList.json())).not.toContain('one-more');
    await clients.owner.request(`/api/items/${bolt}`, {
      method: 'PATCH',
      json: { tags: original },
    });
    const notJson = await clients.owner.request('/api/items/bulk', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: '{"action": "delete", "ids": [',
    });
    expect(notJson.status).toBe(400);
    const form = await clients.owner.request('/api/items/bulk', {
      method: 'POST',
      headers: { 'Content-Type': FORM_TYPE },
      body: `action=delete&ids=${bolt}`,
    });
    expect(form.status).toBe(415);
    expect((await clients.owner.request('/api/items/bulk')).status).toBe(405);
    const strip = (list: ApiItem[]) =>
      list.map(({ id, name, location_id, tags, min_amount }) => [
        id,
        name,
        location_id,
        tags,
        min_amount,
      ]);
    expect(strip(await listed())).toEqual(strip(listedBefore));
  });

  it('takes a token’s change as the API’s, with its name', async () => {
    const [bolt] = items as [number];
    const response = await checkedFetch(`${site.url}/api/items/bulk`, {
      method: 'POST',
      headers: {
        Authorization: `Bearer ${editorToken}`,
        'Content-Type': 'application/json',
        'X-Forwarded-For': nextAddress(),
      },
      body: JSON.stringify({ action: 'set_min', ids: [bolt], min_amount: 3 }),
    });
    expect(response.status, await response.clone().text()).toBe(200);
    const change = await newestChange();
    expect(change).toMatchObject({ via: 'bulk', action: 'bulk', token: 'editor script' });
    expect(change.changes).toEqual([
      { item_id: bolt, field: 'min_amount', before: null, after: 3 },
    ]);
    await undo(change.id);
  });

  describe('the main page’s bulk form, without JavaScript', () => {
    const post = (as: SiteClient, path: string, body: string) =>
      as.request(path, { method: 'POST', headers: { 'Content-Type': FORM_TYPE }, body });

    it('shows editors a checkbox per row in one form, viewers none', async () => {
      const html = await (await clients.editor.request(`/inventories/${inventory}/`)).text();
      expect(html).toContain('<form id="bulk-form"');
      for (const id of items) expect(html).toMatch(new RegExp(`name="ids" value="${id}"`));
      expect(html).toContain('Select all 3 items matching');
      const viewer = await (await clients.viewer.request(`/inventories/${inventory}/`)).text();
      expect(viewer).not.toContain('bulk-form');
      expect(viewer).not.toContain('name="ids"');
    });

    it('changes the checked rows, then redirects to the list with a notice and its Undo', async () => {
      const [bolt, nut] = items as [number, number];
      const back = `/inventories/${inventory}/?sort=name`;
      const response = await post(
        clients.editor,
        `/inventories/${inventory}/bulk?return_to=${encodeURIComponent(back)}`,
        `ids=${bolt}&ids=${nut}&action=move&location=${shelf}&tag=&min_amount=`,
      );
      expect(response.status).toBe(303);
      expect(response.headers.get('location')).toBe(back);
      const cookie = response.headers
        .getSetCookie()
        .map((c) => c.split(';', 1)[0]!)
        .find((c) => c.startsWith('notice='))!;
      const shown = await clients.editor.request(back, {
        headers: { Cookie: `${clients.editor.cookie}; ${cookie}` },
      });
      const html = await shown.text();
      expect(html).toContain('Moved 2 items to “Shelf”.');
      const change = await newestChange();
      expect(change).toMatchObject({ via: 'bulk', action: 'bulk', item_ids: [bolt, nut] });
      expect(html).toContain(`action="/changes/${change.id}/undo"`);
      // The notice's Undo, as a form post: all of it at once.
      const undone = await post(clients.editor, `/changes/${change.id}/undo`, 'return_to=%2F');
      expect(undone.status).toBe(303);
      expect((await listed()).map((item) => item.location_id)).toEqual([null, null, null]);
    });

    it('changes every row matching the page’s filter, from its query', async () => {
      const query = new URLSearchParams({ q: 'u', sort: 'name', page: '1', limit: '1' });
      const response = await post(
        clients.owner,
        `/inventories/${inventory}/bulk?return_to=%2F`,
        new URLSearchParams({
          all: '1',
          query: query.toString(),
          ids: String(items[0]),
          action: 'set_min',
          min_amount: '7',
        }).toString(),
      );
      expect(response.status).toBe(303);
      // "Nut" and "Washer" hold a "u"? Only Nut; Bolt does not, though its box was checked.
      const byName = Object.fromEntries((await listed()).map((i) => [i.name, i.min_amount]));
      expect(byName).toEqual({ Bolt: null, Nut: 7, Washer: null });
      await undo((await newestChange()).id);
    });

    it('refuses to select all when the filter matches more than one change takes', async () => {
      const hoarder = clients.hoarder;
      const home = await (await hoarder.request('/')).text();
      expect(home).toContain(`Select all ${(MAX_BULK_ITEMS + 1).toLocaleString('en-US')} items`);
      const action = /<form id="bulk-form"[^>]*action="([^"]+)"/.exec(home)?.[1] ?? '';
      expect(action).toMatch(/^\/inventories\/\d+\/bulk\?return_to=/);
      const response = await post(
        hoarder,
        action.replaceAll('&amp;', '&'),
        'all=1&query=&action=delete',
      );
      expect(response.status).toBe(422);
      expect(await response.text()).toContain('one bulk change takes at most 5,000');
      const left = await hoarder.request('/api/items?limit=1');
      expect(((await left.json()) as { total: number }).total).toBe(MAX_BULK_ITEMS + 1);
    });

    it('refuses a viewer (403), a stranger (404) and a form without an action (400)', async () => {
      const path = `/inventories/${inventory}/bulk?return_to=%2F`;
      const body = `ids=${items[0]}&action=delete`;
      expect((await post(clients.viewer, path, body)).status).toBe(403);
      expect((await post(clients.stranger, path, body)).status).toBe(404);
      expect((await post(clients.owner, path, `ids=${items[0]}`)).status).toBe(400);
      expect((await post(clients.owner, path, `ids=${foreign}&action=delete`)).status).toBe(404);
      expect((await post(clients.owner, path, 'ids=abc&action=delete')).status).toBe(400);
      expect((await listed()).length).toBe(3);
    });
  });
});
