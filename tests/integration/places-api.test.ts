import { sql, type Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  LOCATION_MAX_DEPTH,
  MAX_TAGS_PER_ITEM,
  PATH_SEPARATOR,
} from '../../src/lib/contracts/places.ts';
import { createApiToken } from '../../src/lib/server/auth/tokens.ts';
import { openDatabase, type DatabaseHandle } from '../../src/lib/server/db/connect.ts';
import type { Database } from '../../src/lib/server/db/types.ts';
import { FORBIDDEN_MESSAGE } from '../../src/lib/server/inventories/access.ts';
import { createInventory } from '../../src/lib/server/inventories/inventories.ts';
import { BACKENDS } from '../helpers/database.ts';
import { checkedFetch } from '../helpers/openapi.ts';
import {
  nextAddress,
  registerInDatabase,
  signIn,
  startSite,
  type ClientRequest,
  type Site,
  type SiteClient,
} from '../helpers/site.ts';

/**
 * Issue #17: places, tags and minimum amounts through the API, over HTTP against the
 * production server: the locations and tags endpoints for every role (owner, editor,
 * viewer, a stranger, nobody signed in), the tree's rules, items with a location, tags and a
 * minimum, the list's filters, tokens limited to one inventory. Every response under /api is
 * checked against the OpenAPI document (SiteClient and checkedFetch do that); every refusal
 * is followed by a look at the data, to see that nothing changed.
 */

interface ApiLocation {
  id: number;
  name: string;
  parent_id: number | null;
  path: string;
  item_count: number;
}

interface ApiTag {
  id: number;
  name: string;
  item_count: number;
}

interface ApiItem {
  id: number;
  inventory: number;
  name: string;
  amount: number;
  version: number;
  location_id: number | null;
  tags: string[];
  min_amount: number | null;
  low: boolean;
}

interface ItemList {
  items: ApiItem[];
  page: number;
  limit: number;
  total: number;
}

interface ApiError {
  error: { code: string; message: string; fields?: Record<string, string[]> };
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
  expect(response.status, await response.clone().text()).toBe(status);
  const body = await json<ApiError>(response);
  expect(body.error.code).toBe(code);
  expect(body.error.message).toEqual(expect.any(String));
  return body.error;
}

const MISSING_ID = 2_147_483_647;
const NOT_IDS = ['abc', '0', '-1', '99999999999', '1.5'];

const NAMES = {
  owner: 'pl_owner',
  editor: 'pl_editor',
  viewer: 'pl_viewer',
  stranger: 'pl_stranger',
} as const;
type Person = keyof typeof NAMES;

describe.each(BACKENDS)('the places API on %s', (backend) => {
  let site: Site;
  let own: DatabaseHandle | undefined;
  const ids = {} as Record<Person, number>;
  const clients = {} as Record<Person, SiteClient>;
  let anonymous: SiteClient;
  /** The owner's inventory that the limited token reaches. */
  let tokenLab: number;
  let labToken: string;

  beforeAll(async () => {
    site = await startSite(backend, async (db) => {
      for (const person of Object.keys(NAMES) as Person[]) {
        ids[person] = await registerInDatabase(db, NAMES[person]);
      }
      tokenLab = await createInventory(db, ids.owner, 'Token lab');
      const outcome = await createApiToken(db, ids.owner, {
        name: 'lab',
        scope: 'read-write',
        expiresAt: null,
        inventoryId: tokenLab,
      });
      if (outcome.status !== 'created') throw new Error(outcome.status);
      labToken = outcome.token;
    });
    for (const person of Object.keys(NAMES) as Person[]) {
      clients[person] = await signIn(site.url, NAMES[person]);
    }
    anonymous = clients.owner.anonymous();
    own = site.databaseUrl ? openDatabase({ databaseUrl: site.databaseUrl }) : undefined;
  });

  afterAll(async () => {
    await own?.close();
    await site?.close();
  });

  const owner = () => clients.owner;
  const editor = () => clients.editor;
  const viewer = () => clients.viewer;
  const stranger = () => clients.stranger;

  /** A new inventory of the owner's, with the editor and the viewer in it. */
  async function sharedInventory(name = 'Shared'): Promise<number> {
    const created = await owner().request('/api/inventories', { method: 'POST', json: { name } });
    expect(created.status).toBe(201);
    const { id } = await json<{ id: number }>(created);
    for (const person of ['editor', 'viewer'] as const) {
      const added = await owner().request(`/api/inventories/${id}/members/${NAMES[person]}`, {
        method: 'PUT',
        json: { role: person },
      });
      expect(added.status).toBe(201);
    }
    return id;
  }

  async function addLocation(
    inventory: number,
    name: string,
    parent: number | null = null,
    as: SiteClient = owner(),
  ): Promise<ApiLocation> {
    const response = await as.request(`/api/inventories/${inventory}/locations`, {
      method: 'POST',
      json: { name, parent_id: parent },
    });
    expect(response.status, await response.clone().text()).toBe(201);
    return json<ApiLocation>(response);
  }

  async function addItem(
    inventory: number,
    fields: Record<string, unknown>,
    as: SiteClient = owner(),
  ): Promise<ApiItem> {
    const response = await as.request('/api/items', {
      method: 'POST',
      json: { name: 'Thing', amount: 5, inventory, ...fields },
    });
    expect(response.status, await response.clone().text()).toBe(201);
    return json<ApiItem>(response);
  }

  async function locationsOf(inventory: number): Promise<ApiLocation[]> {
    const response = await owner().request(`/api/inventories/${inventory}/locations`);
    expect(response.status).toBe(200);
    return (await json<{ locations: ApiLocation[] }>(response)).locations;
  }

  async function tagsOf(inventory: number): Promise<ApiTag[]> {
    const response = await owner().request(`/api/inventories/${inventory}/tags`);
    expect(response.status).toBe(200);
    return (await json<{ tags: ApiTag[] }>(response)).tags;
  }

  async function list(query: string): Promise<ItemList> {
    const response = await owner().request(`/api/items?${query}`);
    expect(response.status, await response.clone().text()).toBe(200);
    return json<ItemList>(response);
  }

  /**
   * An inventory's locations, tags and items as its owner sees them through the API and,
   * where the test has a connection of its own (PostgreSQL), every row of the tables they
   * are kept in.
   */
  async function stateOf(inventory: number): Promise<string> {
    const views = await Promise.all([
      owner()
        .request(`/api/inventories/${inventory}/locations`)
        .then((r) => r.text()),
      owner()
        .request(`/api/inventories/${inventory}/tags`)
        .then((r) => r.text()),
      owner()
        .request(`/api/items?inventory=${inventory}&limit=100&sort=oldest`)
        .then((r) => r.text()),
    ]);
    return [...views, await dumpData()].join('\n');
  }

  async function dumpData(): Promise<string> {
    if (!own) return '';
    const db: Kysely<Database> = own.db;
    const parts: string[] = [];
    for (const [table, order] of [
      ['locations', 'id'],
      ['tags', 'id'],
      ['item_tags', 'item_id, tag_id'],
      ['items', 'id'],
    ] as const) {
      const rows = await sql<{ row: string }>`
        select to_jsonb(t)::text as row from ${sql.table(table)} t
        order by ${sql.raw(order)}`.execute(db);
      parts.push(...rows.rows.map((row) => `${table}: ${row.row}`));
    }
    return parts.join('\n');
  }

  /** A program with the token limited to the lab: no cookie, no Origin. */
  function withToken(pathname: string, init: ClientRequest = {}) {
    const headers: Record<string, string> = {
      'X-Forwarded-For': nextAddress(),
      Authorization: `Bearer ${labToken}`,
    };
    if (init.json !== undefined) headers['Content-Type'] = 'application/json';
    return checkedFetch(`${site.url}${pathname}`, {
      method: init.method ?? 'GET',
      headers,
      body: init.json === undefined ? undefined : JSON.stringify(init.json),
      redirect: 'manual',
    });
  }

  describe('GET and POST /api/inventories/{id}/locations', () => {
    it('lists the tree in order, with paths and the items in each and inside it', async () => {
      const shared = await sharedInventory('Workshop');
      const garage = await addLocation(shared, 'Garage');
      expect(garage).toEqual({
        id: expect.any(Number),
        name: 'Garage',
        parent_id: null,
        path: 'Garage',
        item_count: 0,
      });
      const shelf = await addLocation(shared, '  Shelf 2 ', garage.id, editor());
      const box = await addLocation(shared, 'Blue box', shelf.id);
      const attic = await addLocation(shared, 'attic');
      expect(box.path).toBe(['Garage', 'Shelf 2', 'Blue box'].join(PATH_SEPARATOR));
      expect(box.path).toBe('Garage / Shelf 2 / Blue box');
      await addItem(shared, { name: 'Drill', location_id: box.id });
      await addItem(shared, { name: 'Saw', location_id: garage.id });
      await addItem(shared, { name: 'Loose' });
      for (const person of ['owner', 'editor', 'viewer'] as const) {
        const response = await clients[person].request(`/api/inventories/${shared}/locations`);
        expect(response.status).toBe(200);
        expect(await json(response), person).toEqual({
          locations: [
            { ...attic, item_count: 0 },
            { ...garage, item_count: 2 },
            { ...shelf, item_count: 1 },
            { ...box, item_count: 1 },
          ],
        });
      }
      const one = await owner().request(`/api/locations/${shelf.id}`);
      expect(await json(one)).toEqual({
        id: shelf.id,
        name: 'Shelf 2',
        parent_id: garage.id,
        path: 'Garage / Shelf 2',
        item_count: 1,
      });
    });

    it('POST: 201 with Location for owners and editors; 403 for a viewer, 404 for a stranger, nothing changed', async () => {
      const shared = await sharedInventory('Pantry');
      const response = await owner().request(`/api/inventories/${shared}/locations`, {
        method: 'POST',
        json: { name: 'Top shelf' },
      });
      expect(response.status).toBe(201);
      const created = await json<ApiLocation>(response);
      expect(created.parent_id).toBe(null);
      expect(response.headers.get('location')).toBe(`/api/locations/${created.id}`);
      expect(await json(await owner().request(response.headers.get('location')!))).toEqual(created);
      await addLocation(shared, 'Jar', created.id, editor());

      const before = await stateOf(shared);
      const body = { name: 'Mine', parent_id: created.id };
      const denied = await expectError(
        await viewer().request(`/api/inventories/${shared}/locations`, {
          method: 'POST',
          json: body,
        }),
        403,
        'forbidden',
      );
      expect(denied.message).toBe(FORBIDDEN_MESSAGE.edit);
      const foreign = await expectError(
        await stranger().request(`/api/inventories/${shared}/locations`, {
          method: 'POST',
          json: body,
        }),
        404,
        'not_found',
      );
      const missing = await expectError(
        await stranger().request(`/api/inventories/${MISSING_ID}/locations`, {
          method: 'POST',
          json: body,
        }),
        404,
        'not_found',
      );
      expect(foreign).toEqual(missing);
      await expectError(
        await anonymous.request(`/api/inventories/${shared}/locations`, {
          method: 'POST',
          json: body,
        }),
        401,
        'unauthorized',
      );
      for (const [bad, field] of [
        [{}, 'name'],
        [{ name: '' }, 'name'],
        [{ name: '  ' }, 'name'],
        [{ name: 'x'.repeat(101) }, 'name'],
        [{ name: 'Garage / Shelf' }, 'name'],
        [{ name: 5 }, 'name'],
        [{ name: 'Ok', parent_id: 0 }, 'parent_id'],
        [{ name: 'Ok', parent_id: '1' }, 'parent_id'],
        [{ name: 'Ok', inventory: 3 }, 'inventory'],
        [[], '_form'],
      ] as const) {
        const error = await expectError(
          await owner().request(`/api/inventories/${shared}/locations`, {
            method: 'POST',
            json: bad,
          }),
          400,
          'validation_error',
        );
        expect(Object.keys(error.fields ?? {}), JSON.stringify(bad)).toContain(field);
      }
      expect((await addLocation(shared, 'x'.repeat(100))).name).toBe('x'.repeat(100));
      await owner().request(`/api/locations/${(await locationsOf(shared)).at(-1)!.id}`, {
        method: 'DELETE',
      });
      expect(await stateOf(shared)).toBe(before);
    });

    it('GET: a stranger gets the 404 of a missing id; ids that are not ids are 404', async () => {
      const shared = await sharedInventory('Cellar');
      await addLocation(shared, 'Rack');
      const foreign = await expectError(
        await stranger().request(`/api/inventories/${shared}/locations`),
        404,
        'not_found',
      );
      const missing = await expectError(
        await stranger().request(`/api/inventories/${MISSING_ID}/locations`),
        404,
        'not_found',
      );
      expect(foreign).toEqual(missing);
      for (const id of NOT_IDS) {
        await expectError(
          await owner().request(`/api/inventories/${id}/locations`),
          404,
          'not_found',
        );
      }
      await expectError(
        await anonymous.request(`/api/inventories/${shared}/locations`),
        401,
        'unauthorized',
      );
    });
  });

  describe('the tree’s rules', () => {
    it('refuses a sibling’s name in any case (409), and allows it elsewhere', async () => {
      const shared = await sharedInventory('Names');
      const garage = await addLocation(shared, 'Garage');
      const shed = await addLocation(shared, 'Shed');
      await addLocation(shared, 'Box', garage.id);
      const before = await stateOf(shared);
      for (const [name, parent] of [
        ['garage', null],
        ['GARAGE', null],
        [' Garage ', null],
        ['box', garage.id],
      ] as const) {
        const error = await expectError(
          await owner().request(`/api/inventories/${shared}/locations`, {
            method: 'POST',
            json: { name, parent_id: parent },
          }),
          409,
          'validation_error',
        );
        expect(error.fields?.name?.[0]).toMatch(/already/);
      }
      const renamed = await expectError(
        await owner().request(`/api/locations/${shed.id}`, {
          method: 'PATCH',
          json: { name: 'gArAgE' },
        }),
        409,
        'validation_error',
      );
      expect(renamed.message).toContain('Garage');
      expect(await stateOf(shared)).toBe(before);
      // Elsewhere in the tree, and the location's own name in another case, are fine.
      expect((await addLocation(shared, 'box', shed.id)).path).toBe('Shed / box');
      const recased = await owner().request(`/api/locations/${garage.id}`, {
        method: 'PATCH',
        json: { name: 'GARAGE' },
      });
      expect(recased.status).toBe(200);
      expect((await json<ApiLocation>(recased)).name).toBe('GARAGE');
    });

    it('refuses a move into the location itself or inside it (422), changing nothing', async () => {
      const shared = await sharedInventory('Cycles');
      const a = await addLocation(shared, 'A');
      const b = await addLocation(shared, 'B', a.id);
      const c = await addLocation(shared, 'C', b.id);
      const before = await stateOf(shared);
      for (const [moving, into] of [
        [a, c],
        [a, b],
        [a, a],
        [b, c],
      ] as const) {
        const error = await expectError(
          await owner().request(`/api/locations/${moving.id}`, {
            method: 'PATCH',
            json: { parent_id: into.id },
          }),
          422,
          'validation_error',
        );
        expect(error.fields?.parent_id?.[0]).toMatch(/inside itself/);
      }
      expect(await stateOf(shared)).toBe(before);
      // A move elsewhere takes everything inside along.
      const moved = await owner().request(`/api/locations/${b.id}`, {
        method: 'PATCH',
        json: { parent_id: null, name: 'B2' },
      });
      expect(await json(moved)).toEqual({ ...b, name: 'B2', parent_id: null, path: 'B2' });
      expect((await locationsOf(shared)).find((l) => l.id === c.id)!.path).toBe('B2 / C');
    });

    it(`allows ${LOCATION_MAX_DEPTH} levels and no more, when adding and when moving`, async () => {
      const shared = await sharedInventory('Deep');
      const chain: ApiLocation[] = [];
      for (let level = 1; level <= LOCATION_MAX_DEPTH; level += 1) {
        chain.push(await addLocation(shared, `L${level}`, chain.at(-1)?.id ?? null));
      }
      expect(chain.at(-1)!.path.split(PATH_SEPARATOR)).toHaveLength(LOCATION_MAX_DEPTH);
      const other = await addLocation(shared, 'Other');
      await addLocation(shared, 'Inner', other.id);
      const before = await stateOf(shared);
      const tooDeep = await expectError(
        await owner().request(`/api/inventories/${shared}/locations`, {
          method: 'POST',
          json: { name: 'L11', parent_id: chain.at(-1)!.id },
        }),
        422,
        'validation_error',
      );
      expect(tooDeep.fields?.parent_id?.[0]).toContain(String(LOCATION_MAX_DEPTH));
      // Two levels under the ninth make eleven.
      await expectError(
        await owner().request(`/api/locations/${other.id}`, {
          method: 'PATCH',
          json: { parent_id: chain[LOCATION_MAX_DEPTH - 2]!.id },
        }),
        422,
        'validation_error',
      );
      expect(await stateOf(shared)).toBe(before);
      const fits = await owner().request(`/api/locations/${other.id}`, {
        method: 'PATCH',
        json: { parent_id: chain[LOCATION_MAX_DEPTH - 3]!.id },
      });
      expect(fits.status).toBe(200);
    });

    it('refuses a parent of another inventory like a missing one (422), and bad patches (400)', async () => {
      const shared = await sharedInventory('Parents');
      const mine = await addLocation(shared, 'Mine');
      const strangers = await json<{ inventories: { id: number }[] }>(
        await stranger().request('/api/inventories'),
      );
      const theirs = await addLocation(strangers.inventories[0]!.id, 'Theirs', null, stranger());
      const before = await stateOf(shared);
      for (const parent of [theirs.id, MISSING_ID]) {
        const created = await expectError(
          await owner().request(`/api/inventories/${shared}/locations`, {
            method: 'POST',
            json: { name: 'Sneaky', parent_id: parent },
          }),
          422,
          'validation_error',
        );
        const moved = await expectError(
          await owner().request(`/api/locations/${mine.id}`, {
            method: 'PATCH',
            json: { parent_id: parent },
          }),
          422,
          'validation_error',
        );
        expect(created.fields?.parent_id).toEqual(moved.fields?.parent_id);
      }
      for (const [bad, field] of [
        [{}, '_form'],
        [{ name: '' }, 'name'],
        [{ name: 'a / b' }, 'name'],
        [{ parent_id: -1 }, 'parent_id'],
        [{ name: 'Ok', id: 2 }, 'id'],
        [null, '_form'],
      ] as const) {
        const error = await expectError(
          await owner().request(`/api/locations/${mine.id}`, { method: 'PATCH', json: bad }),
          400,
          'validation_error',
        );
        expect(Object.keys(error.fields ?? {}), JSON.stringify(bad)).toContain(field);
      }
      expect(await stateOf(shared)).toBe(before);
      expect((await stranger().request(`/api/locations/${theirs.id}`)).status).toBe(200);
    });
  });

  describe('one location', () => {
    it('GET for members; PATCH and DELETE for editors; 403 for a viewer, 404 for a stranger', async () => {
      const shared = await sharedInventory('Roles');
      const shelf = await addLocation(shared, 'Shelf');
      for (const person of ['owner', 'editor', 'viewer'] as const) {
        const response = await clients[person].request(`/api/locations/${shelf.id}`);
        expect(await json(response), person).toEqual(shelf);
      }
      const foreign = await expectError(
        await stranger().request(`/api/locations/${shelf.id}`),
        404,
        'not_found',
      );
      const missing = await expectError(
        await stranger().request(`/api/locations/${MISSING_ID}`),
        404,
        'not_found',
      );
      expect(foreign).toEqual(missing);
      for (const id of NOT_IDS) {
        await expectError(await owner().request(`/api/locations/${id}`), 404, 'not_found');
      }

      const before = await stateOf(shared);
      const writes: ClientRequest[] = [
        { method: 'PATCH', json: { name: 'Taken over' } },
        { method: 'DELETE' },
      ];
      for (const init of writes) {
        const denied = await expectError(
          await viewer().request(`/api/locations/${shelf.id}`, init),
          403,
          'forbidden',
        );
        expect(denied.message).toBe(FORBIDDEN_MESSAGE.edit);
        const hidden = await expectError(
          await stranger().request(`/api/locations/${shelf.id}`, init),
          404,
          'not_found',
        );
        expect(hidden).toEqual(missing);
        await expectError(
          await anonymous.request(`/api/locations/${shelf.id}`, init),
          401,
          'unauthorized',
        );
      }
      expect(await stateOf(shared)).toBe(before);

      const renamed = await editor().request(`/api/locations/${shelf.id}`, {
        method: 'PATCH',
        json: { name: 'Bottom shelf' },
      });
      expect(await json(renamed)).toEqual({ ...shelf, name: 'Bottom shelf', path: 'Bottom shelf' });
      const deleted = await editor().request(`/api/locations/${shelf.id}`, { method: 'DELETE' });
      expect(deleted.status).toBe(204);
      expect(await deleted.text()).toBe('');
      await expectError(await owner().request(`/api/locations/${shelf.id}`), 404, 'not_found');
    });

    it('DELETE of a non-empty location needs move_to: 409 says what it holds; none and an id move it all', async () => {
      const shared = await sharedInventory('Deleting');
      const garage = await addLocation(shared, 'Garage');
      const shelf = await addLocation(shared, 'Shelf', garage.id);
      const box = await addLocation(shared, 'Box', shelf.id);
      const shed = await addLocation(shared, 'Shed');
      const drill = await addItem(shared, { name: 'Drill', location_id: shelf.id });
      const saw = await addItem(shared, { name: 'Saw', location_id: shelf.id });

      const before = await stateOf(shared);
      const refused = await expectError(
        await owner().request(`/api/locations/${shelf.id}`, { method: 'DELETE' }),
        409,
        'validation_error',
      );
      expect(refused.message).toContain('2 items and 1 location');
      expect(refused.message).toContain('move_to=none');
      expect(refused.fields?.move_to).toEqual([refused.message]);
      // Into itself or what it holds, another inventory's location, or a value that is none.
      for (const [moveTo, status] of [
        [String(shelf.id), 422],
        [String(box.id), 422],
        [String(MISSING_ID), 422],
        ['None', 400],
        ['', 400],
        ['-1', 400],
        ['1.5', 400],
      ] as const) {
        const error = await expectError(
          await owner().request(
            `/api/locations/${shelf.id}?move_to=${encodeURIComponent(moveTo)}`,
            {
              method: 'DELETE',
            },
          ),
          status,
          'validation_error',
        );
        expect(Object.keys(error.fields ?? {}), moveTo).toEqual(['move_to']);
      }
      expect(await stateOf(shared)).toBe(before);

      const moved = await owner().request(`/api/locations/${shelf.id}?move_to=${shed.id}`, {
        method: 'DELETE',
      });
      expect(moved.status).toBe(204);
      expect(await locationsOf(shared)).toEqual([
        { ...garage, item_count: 0 },
        { ...shed, item_count: 2 },
        { ...box, parent_id: shed.id, path: 'Shed / Box', item_count: 0 },
      ]);
      const drillNow = await json<ApiItem>(await owner().request(`/api/items/${drill.id}`));
      expect(drillNow).toMatchObject({ location_id: shed.id, version: drill.version + 1 });
      // Box holds nothing now but Saw, moved in to test none.
      await owner().request(`/api/items/${saw.id}`, {
        method: 'PATCH',
        json: { location_id: box.id },
      });
      const none = await owner().request(`/api/locations/${box.id}?move_to=none`, {
        method: 'DELETE',
      });
      expect(none.status).toBe(204);
      expect(await json<ApiItem>(await owner().request(`/api/items/${saw.id}`))).toMatchObject({
        location_id: null,
      });
      // Deleting Shed with none puts what it holds at the top and in no location.
      await addLocation(shared, 'Crate', shed.id);
      expect(
        (await owner().request(`/api/locations/${shed.id}?move_to=none`, { method: 'DELETE' }))
          .status,
      ).toBe(204);
      expect((await locationsOf(shared)).map((l) => [l.path, l.parent_id])).toEqual([
        ['Crate', null],
        ['Garage', null],
      ]);
      expect(
        (await list(`inventory=${shared}&sort=oldest`)).items.map((i) => i.location_id),
      ).toEqual([null, null]);
    });

    it('DELETE with move_to refuses a name clash among what moves (409)', async () => {
      const shared = await sharedInventory('Clash');
      const a = await addLocation(shared, 'A');
      await addLocation(shared, 'Box', a.id);
      const b = await addLocation(shared, 'B');
      await addLocation(shared, 'box', b.id);
      const before = await stateOf(shared);
      const error = await expectError(
        await owner().request(`/api/locations/${a.id}?move_to=${b.id}`, { method: 'DELETE' }),
        409,
        'validation_error',
      );
      expect(Object.keys(error.fields ?? {})).toEqual(['move_to']);
      expect(await stateOf(shared)).toBe(before);
    });
  });

  describe('items with a location, tags and a minimum', () => {
    it('creates and patches them; PATCH with place fields only works, with nothing at all it is 400', async () => {
      const shared = await sharedInventory('Items');
      const shelf = await addLocation(shared, 'Shelf');
      const created = await owner().request('/api/items', {
        method: 'POST',
        json: {
          name: 'Paint',
          amount: 3,
          inventory: shared,
          location_id: shelf.id,
          tags: [' red ', 'Tools'],
          min_amount: 4,
        },
      });
      expect(created.status).toBe(201);
      const paint = await json<ApiItem>(created);
      expect(paint).toMatchObject({
        location_id: shelf.id,
        tags: ['red', 'Tools'],
        min_amount: 4,
        low: true,
        version: 1,
      });
      expect(await json(await viewer().request(`/api/items/${paint.id}`))).toEqual(paint);

      const retagged = await editor().request(`/api/items/${paint.id}`, {
        method: 'PATCH',
        json: { tags: ['blue'] },
      });
      expect(retagged.status).toBe(200);
      expect(retagged.headers.get('etag')).toBe('"2"');
      expect(await json(retagged)).toMatchObject({
        name: 'Paint',
        tags: ['blue'],
        location_id: shelf.id,
        min_amount: 4,
        version: 2,
      });
      const cleared = await owner().request(`/api/items/${paint.id}`, {
        method: 'PATCH',
        json: { location_id: null, min_amount: null, tags: [], amount: 1 },
      });
      expect(await json(cleared)).toMatchObject({
        amount: 1,
        location_id: null,
        min_amount: null,
        tags: [],
        low: false,
        version: 3,
      });

      const before = await stateOf(shared);
      for (const body of [{}, [], null]) {
        const error = await expectError(
          await owner().request(`/api/items/${paint.id}`, { method: 'PATCH', json: body }),
          400,
          'validation_error',
        );
        expect(Object.keys(error.fields ?? {})).toEqual(['_form']);
      }
      const nothing = await expectError(
        await owner().request(`/api/items/${paint.id}`, { method: 'PATCH', json: {} }),
        400,
        'validation_error',
      );
      expect(nothing.fields?._form?.[0]).toMatch(/at least one field/i);
      // Problems of both parts of the body come together.
      const both = await expectError(
        await owner().request(`/api/items/${paint.id}`, {
          method: 'PATCH',
          json: { amount: -1, min_amount: -1, tags: 'red', colour: 'x' },
        }),
        400,
        'validation_error',
      );
      expect(Object.keys(both.fields ?? {}).sort()).toEqual(
        ['amount', 'colour', 'min_amount', 'tags'].sort(),
      );
      await expectError(
        await viewer().request(`/api/items/${paint.id}`, {
          method: 'PATCH',
          json: { tags: ['x'] },
        }),
        403,
        'forbidden',
      );
      await expectError(
        await stranger().request(`/api/items/${paint.id}`, {
          method: 'PATCH',
          json: { tags: ['x'] },
        }),
        404,
        'not_found',
      );
      await expectError(
        await viewer().request('/api/items', {
          method: 'POST',
          json: { name: 'No', amount: 1, inventory: shared, tags: ['viewer-tag'] },
        }),
        403,
        'forbidden',
      );
      expect(await stateOf(shared)).toBe(before);
    });

    it('refuses a location of another inventory, storing nothing', async () => {
      const shared = await sharedInventory('Foreign');
      const mine = await addLocation(shared, 'Mine');
      const personal = await json<{ inventories: { id: number }[] }>(
        await stranger().request('/api/inventories'),
      );
      const theirs = await addLocation(personal.inventories[0]!.id, 'Theirs 2', null, stranger());
      const item = await addItem(shared, { name: 'Kept', location_id: mine.id });
      const before = await stateOf(shared);
      for (const location of [theirs.id, MISSING_ID]) {
        const created = await expectError(
          await owner().request('/api/items', {
            method: 'POST',
            json: {
              name: 'Sneaky',
              amount: 1,
              inventory: shared,
              location_id: location,
              tags: ['fresh-tag'],
            },
          }),
          400,
          'validation_error',
        );
        expect(Object.keys(created.fields ?? {})).toEqual(['location_id']);
        const patched = await expectError(
          await owner().request(`/api/items/${item.id}`, {
            method: 'PATCH',
            json: { location_id: location, tags: ['fresh-tag'] },
          }),
          400,
          'validation_error',
        );
        expect(patched.fields).toEqual(created.fields);
      }
      expect(await stateOf(shared)).toBe(before);
      expect((await tagsOf(shared)).map((tag) => tag.name)).not.toContain('fresh-tag');
    });

    it(`takes ${MAX_TAGS_PER_ITEM} tags and refuses more; Red and red are one tag`, async () => {
      const shared = await sharedInventory('Tags');
      const names = (count: number) => Array.from({ length: count }, (_, i) => `t${i}`);
      const full = await addItem(shared, { tags: names(MAX_TAGS_PER_ITEM) });
      expect(full.tags).toHaveLength(MAX_TAGS_PER_ITEM);
      const before = await stateOf(shared);
      const error = await expectError(
        await owner().request('/api/items', {
          method: 'POST',
          json: { name: 'Over', amount: 1, inventory: shared, tags: names(MAX_TAGS_PER_ITEM + 1) },
        }),
        400,
        'validation_error',
      );
      expect(error.fields?.tags?.[0]).toContain(String(MAX_TAGS_PER_ITEM));
      await expectError(
        await owner().request(`/api/items/${full.id}`, {
          method: 'PATCH',
          json: { tags: names(MAX_TAGS_PER_ITEM + 1) },
        }),
        400,
        'validation_error',
      );
      for (const bad of [['a,b'], [''], ['x'.repeat(51)], [5], 'red']) {
        await expectError(
          await owner().request(`/api/items/${full.id}`, { method: 'PATCH', json: { tags: bad } }),
          400,
          'validation_error',
        );
      }
      expect(await stateOf(shared)).toBe(before);

      // The same name twice in one list counts once.
      const twice = await addItem(shared, { name: 'Twice', tags: ['Red', 'red', 'RED'] });
      expect(twice.tags).toEqual(['Red']);
      const lower = await addItem(shared, { name: 'Lower', tags: ['red'] });
      // The inventory's tag keeps the spelling it was made with.
      expect(lower.tags).toEqual(['Red']);
      const tags = await tagsOf(shared);
      expect(tags.filter((tag) => tag.name.toLowerCase() === 'red')).toEqual([
        { id: expect.any(Number), name: 'Red', item_count: 2 },
      ]);
      expect(tags.find((tag) => tag.name === 't0')).toMatchObject({ item_count: 1 });
    });

    it('min_amount: 0 and the amount itself are not low, one more is; null and missing are no minimum', async () => {
      const shared = await sharedInventory('Minimums');
      const cases: Array<[Record<string, unknown>, number | null, boolean]> = [
        [{ amount: 0, min_amount: 0 }, 0, false],
        [{ amount: 5, min_amount: 5 }, 5, false],
        [{ amount: 5, min_amount: 6 }, 6, true],
        [{ amount: 0, min_amount: 1 }, 1, true],
        [{ amount: 0, min_amount: null }, null, false],
        [{ amount: 0 }, null, false],
        [{ amount: 3, min_amount: 2_147_483_647 }, 2_147_483_647, true],
      ];
      for (const [fields, min, low] of cases) {
        const item = await addItem(shared, fields);
        expect(item, JSON.stringify(fields)).toMatchObject({ min_amount: min, low });
      }
      const before = await stateOf(shared);
      for (const bad of [-1, 1.5, '3', 2_147_483_648, true]) {
        const error = await expectError(
          await owner().request('/api/items', {
            method: 'POST',
            json: { name: 'Bad', amount: 1, inventory: shared, min_amount: bad },
          }),
          400,
          'validation_error',
        );
        expect(Object.keys(error.fields ?? {})).toEqual(['min_amount']);
      }
      expect(await stateOf(shared)).toBe(before);
      // An adjustment below the minimum makes it low.
      const item = await addItem(shared, { amount: 2, min_amount: 2 });
      const adjusted = await owner().request(`/api/items/${item.id}/adjust`, {
        method: 'POST',
        json: { delta: -1 },
      });
      expect(await json(adjusted)).toMatchObject({ amount: 1, low: true });
    });

    it('If-Match and the ETag still work when only the tags change', async () => {
      const shared = await sharedInventory('Versions');
      const item = await addItem(shared, { tags: ['a'] });
      const first = await owner().request(`/api/items/${item.id}`, {
        method: 'PATCH',
        json: { tags: ['b'] },
        headers: { 'If-Match': '"1"' },
      });
      expect(first.status).toBe(200);
      expect(first.headers.get('etag')).toBe('"2"');
      const before = await stateOf(shared);
      const stale = await expectError(
        await owner().request(`/api/items/${item.id}`, {
          method: 'PATCH',
          json: { tags: ['c'] },
          headers: { 'If-Match': '"1"' },
        }),
        412,
        'precondition_failed',
      );
      expect(stale.message).toContain('version 2');
      expect(await stateOf(shared)).toBe(before);
      const fetched = await owner().request(`/api/items/${item.id}`);
      expect(fetched.headers.get('etag')).toBe('"2"');
      expect((await json<ApiItem>(fetched)).tags).toEqual(['b']);
    });

    it('an Idempotency-Key used again with other tags stores nothing, not even the tags', async () => {
      const shared = await sharedInventory('Keys');
      const body = { name: 'Keyed', amount: 1, inventory: shared, tags: ['first'] };
      const headers = { 'Idempotency-Key': 'places-key-1' };
      const first = await owner().request('/api/items', { method: 'POST', json: body, headers });
      expect(first.status).toBe(201);
      const again = await owner().request('/api/items', { method: 'POST', json: body, headers });
      expect(again.status).toBe(200);
      expect(await json(again)).toEqual(await json(first));
      const before = await stateOf(shared);
      await expectError(
        await owner().request('/api/items', {
          method: 'POST',
          json: { ...body, tags: ['second'] },
          headers,
        }),
        422,
        'idempotency_key_reused',
      );
      expect(await stateOf(shared)).toBe(before);
    });
  });

  describe('GET /api/items filters', () => {
    it('by location (inside it too), by tags (all of them), by low, combined with sort and paging', async () => {
      const shared = await sharedInventory('Filters');
      const garage = await addLocation(shared, 'Garage');
      const shelf = await addLocation(shared, 'Shelf', garage.id);
      const shed = await addLocation(shared, 'Shed');
      const add = (name: string, fields: Record<string, unknown>) =>
        addItem(shared, { name, ...fields });
      const drill = await add('Drill', {
        location_id: shelf.id,
        tags: ['tools', 'red'],
        amount: 1,
        min_amount: 2,
      });
      const saw = await add('Saw', { location_id: garage.id, tags: ['tools'], amount: 9 });
      const hammer = await add('Hammer', {
        location_id: shelf.id,
        tags: ['Tools', 'RED'],
        amount: 0,
        min_amount: 1,
      });
      const rake = await add('Rake', {
        location_id: shed.id,
        tags: ['red'],
        amount: 1,
        min_amount: 5,
      });
      await add('Loose', {});
      const names = (page: ItemList) => page.items.map((item) => item.name);
      const base = `inventory=${shared}&sort=name`;

      expect(names(await list(`${base}&location=${garage.id}`))).toEqual([
        'Drill',
        'Hammer',
        'Saw',
      ]);
      expect(names(await list(`${base}&location=${shelf.id}`))).toEqual(['Drill', 'Hammer']);
      expect(names(await list(`${base}&tag=tools`))).toEqual(['Drill', 'Hammer', 'Saw']);
      expect(names(await list(`${base}&tag=TOOLS&tag=red`))).toEqual(['Drill', 'Hammer']);
      expect(names(await list(`${base}&tag=tools&tag=nope`))).toEqual([]);
      expect(names(await list(`${base}&low=true`))).toEqual(['Drill', 'Hammer', 'Rake']);
      expect(names(await list(`${base}&low=false`))).toHaveLength(5);
      const combined = await list(`${base}&location=${garage.id}&tag=red&low=true&limit=1&page=2`);
      expect(combined).toMatchObject({ page: 2, limit: 1, total: 2 });
      expect(combined.items.map((item) => item.id)).toEqual([hammer.id]);
      const byAmount = await list(`inventory=${shared}&tag=red&low=true&sort=-amount`);
      expect(byAmount.items.map((item) => item.id)).toEqual([rake.id, drill.id, hammer.id]);
      // Text search also finds tag and location names.
      expect(names(await list(`${base}&q=shelf`))).toEqual(['Drill', 'Hammer']);
      expect(names(await list(`${base}&q=tools&location=${garage.id}`))).toEqual([
        'Drill',
        'Hammer',
        'Saw',
      ]);
      expect(saw.low).toBe(false);
      // Another member's view is the same; a location of nobody's gives nothing.
      const viewers = await json<ItemList>(
        await viewer().request(`/api/items?${base}&location=${garage.id}&tag=red`),
      );
      expect(names(viewers)).toEqual(['Drill', 'Hammer']);
      expect(
        names(
          await json<ItemList>(
            await stranger().request(`/api/items?location=${garage.id}&tag=red`),
          ),
        ),
      ).toEqual([]);
      expect((await list(`location=${MISSING_ID}`)).total).toBe(0);

      for (const query of [
        'low=yes',
        'low=TRUE',
        'location=0',
        'location=abc',
        `tag=${'x'.repeat(51)}`,
        Array.from({ length: MAX_TAGS_PER_ITEM + 1 }, (_, i) => `tag=t${i}`).join('&'),
      ]) {
        const error = await expectError(
          await owner().request(`/api/items?${query}`),
          400,
          'validation_error',
        );
        expect(Object.keys(error.fields ?? {}).length, query).toBe(1);
      }
    });
  });

  describe('GET /api/inventories/{id}/tags', () => {
    it('lists the tags with counts, by name, to every member; a stranger gets 404', async () => {
      const shared = await sharedInventory('Tag list');
      await addItem(shared, { tags: ['beta', 'Alpha'] });
      await addItem(shared, { tags: ['alpha'] }, editor());
      for (const person of ['owner', 'editor', 'viewer'] as const) {
        const response = await clients[person].request(`/api/inventories/${shared}/tags`);
        expect(response.status).toBe(200);
        expect(await json(response), person).toEqual({
          tags: [
            { id: expect.any(Number), name: 'Alpha', item_count: 2 },
            { id: expect.any(Number), name: 'beta', item_count: 1 },
          ],
        });
      }
      const foreign = await expectError(
        await stranger().request(`/api/inventories/${shared}/tags`),
        404,
        'not_found',
      );
      const missing = await expectError(
        await stranger().request(`/api/inventories/${MISSING_ID}/tags`),
        404,
        'not_found',
      );
      expect(foreign).toEqual(missing);
      await expectError(
        await owner().request(`/api/inventories/${shared}/tags`, { method: 'POST', json: {} }),
        405,
        'method_not_allowed',
      );
      await expectError(
        await anonymous.request(`/api/inventories/${shared}/tags`),
        401,
        'unauthorized',
      );
    });
  });

  describe('the OpenAPI document', () => {
    it('describes tag as a repeated query parameter, and the new paths and fields', async () => {
      const document = await json<{
        paths: Record<string, Record<string, unknown>>;
        components: { schemas: Record<string, { required?: string[] }> };
      }>(await anonymous.request('/api/openapi.json'));
      const parameters = (document.paths['/api/items']!.get as { parameters: unknown[] })
        .parameters;
      expect(parameters).toContainEqual(
        expect.objectContaining({
          name: 'tag',
          in: 'query',
          style: 'form',
          explode: true,
          schema: expect.objectContaining({ type: 'array', maxItems: MAX_TAGS_PER_ITEM }),
        }),
      );
      for (const name of ['location', 'low']) {
        expect(parameters).toContainEqual(expect.objectContaining({ name, in: 'query' }));
      }
      expect(Object.keys(document.paths['/api/inventories/{id}/locations']!)).toEqual([
        'parameters',
        'get',
        'post',
      ]);
      expect(Object.keys(document.paths['/api/inventories/{id}/tags']!)).toEqual([
        'parameters',
        'get',
      ]);
      expect(Object.keys(document.paths['/api/locations/{id}']!)).toEqual([
        'parameters',
        'get',
        'patch',
        'delete',
      ]);
      expect(document.components.schemas.Item!.required).toEqual(
        expect.arrayContaining(['location_id', 'tags', 'min_amount', 'low']),
      );
      expect(document.components.schemas.Location!.required).toEqual([
        'id',
        'name',
        'parent_id',
        'path',
        'item_count',
      ]);
    });
  });

  describe('a token limited to one inventory', () => {
    it('reaches that inventory’s locations and tags only', async () => {
      const shared = await sharedInventory('Outside the lab');
      const outside = await addLocation(shared, 'Outside');
      const created = await withToken(`/api/inventories/${tokenLab}/locations`, {
        method: 'POST',
        json: { name: 'Bench' },
      });
      expect(created.status).toBe(201);
      const bench = await json<ApiLocation>(created);
      expect((await withToken(`/api/locations/${bench.id}`)).status).toBe(200);
      expect((await withToken(`/api/inventories/${tokenLab}/tags`)).status).toBe(200);
      const onBench = await withToken('/api/items', {
        method: 'POST',
        json: { name: 'On the bench', amount: 1, inventory: tokenLab, location_id: bench.id },
      });
      expect(onBench.status).toBe(201);

      const before = await stateOf(shared);
      for (const [pathname, init] of [
        [`/api/inventories/${shared}/locations`, {}],
        [`/api/inventories/${shared}/locations`, { method: 'POST', json: { name: 'In' } }],
        [`/api/inventories/${shared}/tags`, {}],
        [`/api/locations/${outside.id}`, {}],
        [`/api/locations/${outside.id}`, { method: 'PATCH', json: { name: 'Moved' } }],
        [`/api/locations/${outside.id}`, { method: 'DELETE' }],
      ] as const) {
        await expectError(await withToken(pathname, init), 404, 'not_found');
      }
      // Nor can it move one of the lab's there, or empty one into it.
      await expectError(
        await withToken(`/api/locations/${bench.id}`, {
          method: 'PATCH',
          json: { parent_id: outside.id },
        }),
        422,
        'validation_error',
      );
      await expectError(
        await withToken(`/api/locations/${bench.id}?move_to=${outside.id}`, { method: 'DELETE' }),
        422,
        'validation_error',
      );
      // An item in the lab cannot be put in a location outside it.
      const item = await withToken('/api/items', {
        method: 'POST',
        json: { name: 'Lab thing', amount: 1, inventory: tokenLab, location_id: outside.id },
      });
      await expectError(item, 400, 'validation_error');
      expect(await stateOf(shared)).toBe(before);
    });
  });
});
