import { sql, type Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
 * Issue #16: the inventories API of SPEC's table, over HTTP against the production server,
 * every endpoint for every role (owner, editor, viewer, a stranger, nobody signed in), the
 * items API across those roles, If-Match, tokens limited to one inventory. Every response
 * under /api is checked against the OpenAPI document (SiteClient and checkedFetch do that);
 * every refusal is followed by a look at the data, to see that nothing changed.
 */

interface ApiInventory {
  id: number;
  name: string;
  role: string;
  item_count: number;
}

interface ApiMember {
  user_id: number;
  username: string;
  role: string;
}

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

interface ApiError {
  error: { code: string; message: string; fields?: Record<string, string[]> };
}

interface ExportObject {
  pk: number;
  fields: { name: string };
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
const NOT_IDS = ['abc', '0', '-1', '99999999999', '1.5', '1%3Bdrop%20table%20inventories'];

/** The names the seed registers; each site has a database of its own. */
const NAMES = {
  owner: 'inv_owner',
  editor: 'inv_editor',
  viewer: 'inv_viewer',
  stranger: 'inv_stranger',
  // Characters a URL path must encode (`@`, `+`) or may (`.`).
  odd: 'Odd.Name+1@x',
} as const;
type Person = keyof typeof NAMES;

describe.each(BACKENDS)('the inventories API on %s', (backend) => {
  let site: Site;
  let own: DatabaseHandle | undefined;
  const ids = {} as Record<Person, number>;
  const clients = {} as Record<Person, SiteClient>;
  let anonymous: SiteClient;
  /** The owner's inventory that the limited tokens reach. */
  let tokenLab: number;
  const tokens = {} as { labWrite: string; labRead: string; ownerRead: string };

  beforeAll(async () => {
    // Accounts and tokens are seeded before the server opens the database (the embedded
    // one belongs to one process at a time); everything else goes through the API.
    site = await startSite(backend, async (db) => {
      for (const person of Object.keys(NAMES) as Person[]) {
        ids[person] = await registerInDatabase(db, NAMES[person]);
      }
      tokenLab = await createInventory(db, ids.owner, 'Token lab');
      const token = async (scope: 'read' | 'read-write', inventoryId: number | null) => {
        const outcome = await createApiToken(db, ids.owner, {
          name: `${scope} ${inventoryId ?? 'all'}`,
          scope,
          expiresAt: null,
          inventoryId,
        });
        if (outcome.status !== 'created') throw new Error(outcome.status);
        return outcome.token;
      };
      tokens.labWrite = await token('read-write', tokenLab);
      tokens.labRead = await token('read', tokenLab);
      tokens.ownerRead = await token('read', null);
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

  const send = (client: SiteClient, pathname: string, init: ClientRequest = {}) =>
    client.request(pathname, init);

  async function personalOf(client: SiteClient): Promise<number> {
    const { inventories } = await json<{ inventories: ApiInventory[] }>(
      await client.request('/api/inventories'),
    );
    return inventories.find((inventory) => inventory.name === 'My items')!.id;
  }

  /** A new inventory of the owner's, with the editor and the viewer in it. */
  async function sharedInventory(name = 'Shared'): Promise<number> {
    const created = await owner().request('/api/inventories', { method: 'POST', json: { name } });
    expect(created.status).toBe(201);
    const { id } = await json<ApiInventory>(created);
    for (const [person, role] of [
      ['editor', 'editor'],
      ['viewer', 'viewer'],
    ] as const) {
      const added = await owner().request(`/api/inventories/${id}/members/${NAMES[person]}`, {
        method: 'PUT',
        json: { role },
      });
      expect(added.status).toBe(201);
    }
    return id;
  }

  async function addItem(
    client: SiteClient,
    inventory: number | undefined,
    name: string,
    amount = 5,
  ): Promise<ApiItem> {
    const response = await client.request('/api/items', {
      method: 'POST',
      json: { name, amount, ...(inventory === undefined ? {} : { inventory }) },
    });
    expect(response.status, await response.clone().text()).toBe(201);
    return json<ApiItem>(response);
  }

  /**
   * Everything about an inventory as its owner sees it through the API, and, where the test
   * has a connection of its own (PostgreSQL), every row of the tables inventories, members
   * and items are kept in.
   */
  async function stateOf(inventoryId: number, as: SiteClient = owner()): Promise<string> {
    const views = await Promise.all([
      as.request(`/api/inventories/${inventoryId}`).then((r) => r.text()),
      as.request(`/api/inventories/${inventoryId}/members`).then((r) => r.text()),
      as.request(`/api/items?inventory=${inventoryId}&limit=100&sort=oldest`).then((r) => r.text()),
    ]);
    return [...views, await dumpData()].join('\n');
  }

  async function dumpData(): Promise<string> {
    if (!own) return '';
    const db: Kysely<Database> = own.db;
    const parts: string[] = [];
    for (const [table, order] of [
      ['inventories', 'id'],
      ['memberships', 'inventory_id, user_id'],
      ['items', 'id'],
      ['invite_links', 'id'],
    ] as const) {
      const rows = await sql<{ row: string }>`
        select to_jsonb(t)::text as row from ${sql.table(table)} t
        order by ${sql.raw(order)}`.execute(db);
      parts.push(...rows.rows.map((row) => `${table}: ${row.row}`));
    }
    return parts.join('\n');
  }

  /** A program with a token: no cookie, no Origin. */
  function withToken(token: string, pathname: string, init: ClientRequest = {}) {
    const headers: Record<string, string> = {
      'X-Forwarded-For': nextAddress(),
      Authorization: `Bearer ${token}`,
      ...init.headers,
    };
    if (init.json !== undefined) headers['Content-Type'] = 'application/json';
    return checkedFetch(`${site.url}${pathname}`, {
      method: init.method ?? 'GET',
      headers,
      body: init.json === undefined ? undefined : JSON.stringify(init.json),
      redirect: 'manual',
    });
  }

  describe('GET and POST /api/inventories', () => {
    it('lists each member’s inventories with their role and item count, personal first', async () => {
      const shared = await sharedInventory('Garage');
      await addItem(owner(), shared, 'Drill');
      await addItem(editor(), shared, 'Saw');
      for (const [person, role] of [
        ['owner', 'owner'],
        ['editor', 'editor'],
        ['viewer', 'viewer'],
      ] as const) {
        const response = await send(clients[person], '/api/inventories');
        expect(response.status).toBe(200);
        const { inventories } = await json<{ inventories: ApiInventory[] }>(response);
        expect(inventories[0], person).toMatchObject({ name: 'My items', role: 'owner' });
        expect(
          inventories.find((inventory) => inventory.id === shared),
          person,
        ).toEqual({ id: shared, name: 'Garage', role, item_count: 2 });
        for (const inventory of inventories) {
          expect(Object.keys(inventory)).toEqual(['id', 'name', 'role', 'item_count']);
        }
      }
      const strangers = await json<{ inventories: ApiInventory[] }>(
        await stranger().request('/api/inventories'),
      );
      expect(strangers.inventories.map((inventory) => inventory.id)).not.toContain(shared);
      expect(strangers.inventories.map((inventory) => inventory.name)).toEqual(['My items']);
      await expectError(await anonymous.request('/api/inventories'), 401, 'unauthorized');
    });

    it('creates an inventory the caller owns: 201, Location, and it reads back', async () => {
      const response = await viewer().request('/api/inventories', {
        method: 'POST',
        json: { name: '  Book club  ' },
      });
      expect(response.status).toBe(201);
      const created = await json<ApiInventory>(response);
      expect(created).toEqual({
        id: expect.any(Number),
        name: 'Book club',
        role: 'owner',
        item_count: 0,
      });
      expect(response.headers.get('location')).toBe(`/api/inventories/${created.id}`);
      const fetched = await viewer().request(response.headers.get('location')!);
      expect(await json<ApiInventory>(fetched)).toEqual(created);
      const members = await json<{ members: ApiMember[] }>(
        await viewer().request(`/api/inventories/${created.id}/members`),
      );
      expect(members).toEqual({
        members: [{ user_id: ids.viewer, username: NAMES.viewer, role: 'owner' }],
      });
      // Nobody else is in it.
      await expectError(await owner().request(`/api/inventories/${created.id}`), 404, 'not_found');

      const longest = await viewer().request('/api/inventories', {
        method: 'POST',
        json: { name: '😀'.repeat(100) },
      });
      expect(longest.status).toBe(201);
      expect((await json<ApiInventory>(longest)).name).toBe('😀'.repeat(100));
    });

    it('refuses a name that is missing, empty, too long or not text, and unknown fields; creates nothing', async () => {
      const before = await owner()
        .request('/api/inventories')
        .then((r) => r.text());
      const dump = await dumpData();
      const cases: Array<[unknown, string]> = [
        [{}, 'name'],
        [{ name: '' }, 'name'],
        [{ name: '   ' }, 'name'],
        [{ name: 'x'.repeat(101) }, 'name'],
        [{ name: '😀'.repeat(101) }, 'name'],
        [{ name: 5 }, 'name'],
        [{ name: null }, 'name'],
        [{ name: 'Bell\u0007' }, 'name'],
        [{ name: 'Fine', id: 3 }, 'id'],
        [{ name: 'Fine', role: 'owner' }, 'role'],
        [[], '_form'],
        [null, '_form'],
        ['Pantry', '_form'],
      ];
      for (const [body, field] of cases) {
        const error = await expectError(
          await owner().request('/api/inventories', { method: 'POST', json: body }),
          400,
          'validation_error',
        );
        expect(Object.keys(error.fields ?? {}), JSON.stringify(body)).toContain(field);
        expect(error.fields![field]!.length).toBeGreaterThan(0);
      }
      const broken = await owner().request('/api/inventories', {
        method: 'POST',
        body: '{"name": ',
        headers: { 'Content-Type': 'application/json' },
      });
      await expectError(broken, 400, 'bad_request');
      const form = await owner().request('/api/inventories', {
        method: 'POST',
        body: 'name=Pantry',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      });
      await expectError(form, 415, 'unsupported_media_type');
      await expectError(
        await anonymous.request('/api/inventories', { method: 'POST', json: { name: 'Nope' } }),
        401,
        'unauthorized',
      );
      expect(
        await owner()
          .request('/api/inventories')
          .then((r) => r.text()),
      ).toBe(before);
      expect(await dumpData()).toBe(dump);
    });
  });

  describe('one inventory', () => {
    it('GET: every member sees it with their own role; a stranger gets the 404 of a missing id', async () => {
      const shared = await sharedInventory('Attic');
      for (const person of ['owner', 'editor', 'viewer'] as const) {
        const response = await send(clients[person], `/api/inventories/${shared}`);
        expect(response.status).toBe(200);
        expect(await json<ApiInventory>(response)).toEqual({
          id: shared,
          name: 'Attic',
          role: person,
          item_count: 0,
        });
      }
      const missing = await expectError(
        await stranger().request(`/api/inventories/${MISSING_ID}`),
        404,
        'not_found',
      );
      const foreign = await expectError(
        await stranger().request(`/api/inventories/${shared}`),
        404,
        'not_found',
      );
      expect(foreign).toEqual(missing);
      // Leading zeros name the same inventory, as they name the same item.
      expect((await owner().request(`/api/inventories/000${shared}`)).status).toBe(200);
      for (const id of NOT_IDS) {
        await expectError(await owner().request(`/api/inventories/${id}`), 404, 'not_found');
      }
      await expectError(await anonymous.request(`/api/inventories/${shared}`), 401, 'unauthorized');
    });

    it('PATCH: the owner renames; editors and viewers get 403, strangers 404, and nothing changes', async () => {
      const shared = await sharedInventory('Cellar');
      const before = await stateOf(shared);
      for (const person of ['editor', 'viewer'] as const) {
        const error = await expectError(
          await send(clients[person], `/api/inventories/${shared}`, {
            method: 'PATCH',
            json: { name: 'Mine now' },
          }),
          403,
          'forbidden',
        );
        expect(error.message).toBe(FORBIDDEN_MESSAGE.own);
      }
      await expectError(
        await stranger().request(`/api/inventories/${shared}`, {
          method: 'PATCH',
          json: { name: 'Mine now' },
        }),
        404,
        'not_found',
      );
      await expectError(
        await anonymous.request(`/api/inventories/${shared}`, {
          method: 'PATCH',
          json: { name: 'Mine now' },
        }),
        401,
        'unauthorized',
      );
      for (const [body, field] of [
        [{}, 'name'],
        [{ name: ' ' }, 'name'],
        [{ name: 'x'.repeat(101) }, 'name'],
        [{ name: 'Ok', role: 'viewer' }, 'role'],
        [[], '_form'],
      ] as const) {
        const error = await expectError(
          await owner().request(`/api/inventories/${shared}`, { method: 'PATCH', json: body }),
          400,
          'validation_error',
        );
        expect(Object.keys(error.fields ?? {})).toContain(field);
      }
      for (const id of NOT_IDS) {
        await expectError(
          await owner().request(`/api/inventories/${id}`, {
            method: 'PATCH',
            json: { name: 'x' },
          }),
          404,
          'not_found',
        );
      }
      expect(await stateOf(shared)).toBe(before);

      const renamed = await owner().request(`/api/inventories/${shared}`, {
        method: 'PATCH',
        json: { name: ' Wine cellar ' },
      });
      expect(renamed.status).toBe(200);
      expect(await json<ApiInventory>(renamed)).toEqual({
        id: shared,
        name: 'Wine cellar',
        role: 'owner',
        item_count: 0,
      });
      // Every member sees the new name.
      const seen = await json<ApiInventory>(await viewer().request(`/api/inventories/${shared}`));
      expect(seen.name).toBe('Wine cellar');
    });

    it('DELETE: the owner deletes it with its items; others are refused and nothing changes', async () => {
      const shared = await sharedInventory('Shed');
      const item = await addItem(editor(), shared, 'Rake');
      const before = await stateOf(shared);
      for (const person of ['editor', 'viewer'] as const) {
        const error = await expectError(
          await send(clients[person], `/api/inventories/${shared}`, { method: 'DELETE' }),
          403,
          'forbidden',
        );
        expect(error.message).toBe(FORBIDDEN_MESSAGE.own);
      }
      await expectError(
        await stranger().request(`/api/inventories/${shared}`, { method: 'DELETE' }),
        404,
        'not_found',
      );
      await expectError(
        await anonymous.request(`/api/inventories/${shared}`, { method: 'DELETE' }),
        401,
        'unauthorized',
      );
      for (const id of NOT_IDS) {
        await expectError(
          await owner().request(`/api/inventories/${id}`, { method: 'DELETE' }),
          404,
          'not_found',
        );
      }
      expect(await stateOf(shared)).toBe(before);

      const deleted = await owner().request(`/api/inventories/${shared}`, { method: 'DELETE' });
      expect(deleted.status).toBe(204);
      expect(await deleted.text()).toBe('');
      for (const person of ['owner', 'editor', 'viewer'] as const) {
        await expectError(
          await send(clients[person], `/api/inventories/${shared}`),
          404,
          'not_found',
        );
        await expectError(await send(clients[person], `/api/items/${item.id}`), 404, 'not_found');
        const { inventories } = await json<{ inventories: ApiInventory[] }>(
          await send(clients[person], '/api/inventories'),
        );
        expect(inventories.map((inventory) => inventory.id)).not.toContain(shared);
      }
      await expectError(
        await owner().request(`/api/inventories/${shared}`, { method: 'DELETE' }),
        404,
        'not_found',
      );
    });

    it('DELETE of a personal inventory is refused with 409 personal_inventory', async () => {
      const personal = await personalOf(owner());
      await addItem(owner(), personal, 'Keep me');
      const before = await stateOf(personal);
      const error = await expectError(
        await owner().request(`/api/inventories/${personal}`, { method: 'DELETE' }),
        409,
        'personal_inventory',
      );
      expect(error.message).toMatch(/personal/i);
      expect(error.message).toMatch(/cannot be deleted/);
      expect(await stateOf(personal)).toBe(before);
      // Someone else's personal inventory is a stranger's: 404, not 409.
      await expectError(
        await stranger().request(`/api/inventories/${personal}`, { method: 'DELETE' }),
        404,
        'not_found',
      );
    });
  });

  describe('members', () => {
    it('GET: every member sees the members, owners first; strangers get 404', async () => {
      const shared = await sharedInventory('Lab');
      const expected = {
        members: [
          { user_id: ids.owner, username: NAMES.owner, role: 'owner' },
          { user_id: ids.editor, username: NAMES.editor, role: 'editor' },
          { user_id: ids.viewer, username: NAMES.viewer, role: 'viewer' },
        ],
      };
      for (const person of ['owner', 'editor', 'viewer'] as const) {
        const response = await send(clients[person], `/api/inventories/${shared}/members`);
        expect(response.status).toBe(200);
        expect(await json(response)).toEqual(expected);
      }
      const missing = await expectError(
        await stranger().request(`/api/inventories/${MISSING_ID}/members`),
        404,
        'not_found',
      );
      expect(
        await expectError(
          await stranger().request(`/api/inventories/${shared}/members`),
          404,
          'not_found',
        ),
      ).toEqual(missing);
      for (const id of NOT_IDS) {
        await expectError(
          await owner().request(`/api/inventories/${id}/members`),
          404,
          'not_found',
        );
      }
      await expectError(
        await anonymous.request(`/api/inventories/${shared}/members`),
        401,
        'unauthorized',
      );
    });

    it('PUT: the owner adds someone (201), changes a role (200), and the change is in effect at once', async () => {
      const shared = await sharedInventory('Club');
      const item = await addItem(owner(), shared, 'Ball');
      await expectError(await stranger().request(`/api/items/${item.id}`), 404, 'not_found');

      const added = await owner().request(`/api/inventories/${shared}/members/${NAMES.stranger}`, {
        method: 'PUT',
        json: { role: 'viewer' },
      });
      expect(added.status).toBe(201);
      const member = { user_id: ids.stranger, username: NAMES.stranger, role: 'viewer' };
      expect(await json(added)).toEqual(member);
      expect(added.headers.get('location')).toBe(
        `/api/inventories/${shared}/members/${NAMES.stranger}`,
      );
      // Now they read it, and cannot change it.
      expect((await stranger().request(`/api/items/${item.id}`)).status).toBe(200);
      await expectError(
        await stranger().request(`/api/items/${item.id}`, { method: 'PATCH', json: { amount: 1 } }),
        403,
        'forbidden',
      );

      const again = await owner().request(`/api/inventories/${shared}/members/${NAMES.stranger}`, {
        method: 'PUT',
        json: { role: 'viewer' },
      });
      expect(again.status).toBe(200);
      expect(await json(again)).toEqual(member);

      // Usernames compare ignoring case, as signing in does; the answer names the account.
      const promoted = await owner().request(
        `/api/inventories/${shared}/members/${NAMES.stranger.toUpperCase()}`,
        { method: 'PUT', json: { role: 'editor' } },
      );
      expect(promoted.status).toBe(200);
      expect(await json(promoted)).toEqual({ ...member, role: 'editor' });
      const patched = await stranger().request(`/api/items/${item.id}`, {
        method: 'PATCH',
        json: { amount: 1 },
      });
      expect(patched.status).toBe(200);

      // A lower role takes effect on the very next request.
      const demoted = await owner().request(
        `/api/inventories/${shared}/members/${NAMES.stranger}`,
        {
          method: 'PUT',
          json: { role: 'viewer' },
        },
      );
      expect(demoted.status).toBe(200);
      await expectError(
        await stranger().request(`/api/items/${item.id}`, { method: 'PATCH', json: { amount: 2 } }),
        403,
        'forbidden',
      );
      const { members } = await json<{ members: ApiMember[] }>(
        await owner().request(`/api/inventories/${shared}/members`),
      );
      expect(members.map((each) => `${each.username}:${each.role}`)).toEqual([
        `${NAMES.owner}:owner`,
        `${NAMES.editor}:editor`,
        `${NAMES.stranger}:viewer`,
        `${NAMES.viewer}:viewer`,
      ]);
    });

    it('PUT: editors and viewers get 403, strangers 404, bad roles 400, unknown users 404; nothing changes', async () => {
      const shared = await sharedInventory('Office');
      const before = await stateOf(shared);
      const put = (client: SiteClient, username: string, body: unknown) =>
        client.request(`/api/inventories/${shared}/members/${username}`, {
          method: 'PUT',
          json: body,
        });
      for (const person of ['editor', 'viewer'] as const) {
        // Promoting themself, or adding a friend.
        for (const [username, role] of [
          [NAMES[person], 'owner'],
          [NAMES.stranger, 'editor'],
        ] as const) {
          const error = await expectError(
            await put(clients[person], username, { role }),
            403,
            'forbidden',
          );
          expect(error.message).toBe(FORBIDDEN_MESSAGE.own);
        }
      }
      // Adding themself to someone else's inventory.
      await expectError(await put(stranger(), NAMES.stranger, { role: 'owner' }), 404, 'not_found');
      await expectError(
        await put(anonymous, NAMES.stranger, { role: 'owner' }),
        401,
        'unauthorized',
      );
      for (const [body, field] of [
        [{ role: 'admin' }, 'role'],
        [{ role: 'Owner' }, 'role'],
        [{ role: null }, 'role'],
        [{}, 'role'],
        [{ role: 'viewer', username: 'x' }, 'username'],
        [[], '_form'],
        ['viewer', '_form'],
      ] as const) {
        const error = await expectError(
          await put(owner(), NAMES.stranger, body),
          400,
          'validation_error',
        );
        expect(Object.keys(error.fields ?? {}), JSON.stringify(body)).toContain(field);
      }
      const unknown = await expectError(
        await put(owner(), 'nobody_like_this', { role: 'viewer' }),
        404,
        'not_found',
      );
      expect(unknown.message).toContain('nobody_like_this');
      for (const id of NOT_IDS) {
        await expectError(
          await owner().request(`/api/inventories/${id}/members/${NAMES.stranger}`, {
            method: 'PUT',
            json: { role: 'viewer' },
          }),
          404,
          'not_found',
        );
      }
      expect(await stateOf(shared)).toBe(before);
    });

    it('PUT and DELETE: any percent-encoded username is decoded once, never a 500', async () => {
      const shared = await sharedInventory('Encodings');
      const path = (segment: string) => `/api/inventories/${shared}/members/${segment}`;
      const added = await owner().request(path(encodeURIComponent(NAMES.odd)), {
        method: 'PUT',
        json: { role: 'viewer' },
      });
      expect(added.status).toBe(201);
      expect(await json(added)).toEqual({ user_id: ids.odd, username: NAMES.odd, role: 'viewer' });
      expect(added.headers.get('location')).toBe(path(encodeURIComponent(NAMES.odd)));
      // `@` and `+` need no encoding in a path; case does not matter, encoded or not.
      for (const segment of [NAMES.odd, encodeURIComponent(NAMES.odd.toLowerCase())]) {
        const response = await owner().request(path(segment), {
          method: 'PUT',
          json: { role: 'viewer' },
        });
        expect(response.status, segment).toBe(200);
      }

      const before = await stateOf(shared);
      const oddities = [
        '%00',
        'a%00b',
        'a%2Fb',
        '%2F',
        '%20',
        'x'.repeat(2000),
        encodeURIComponent('😀'),
        encodeURIComponent('\u202e\u0007'),
        encodeURIComponent("' or 1=1 --"),
        '%25',
        '%2540x',
      ];
      for (const segment of oddities) {
        for (const method of ['PUT', 'DELETE'] as const) {
          const response = await owner().request(path(segment), {
            method,
            ...(method === 'PUT' ? { json: { role: 'owner' } } : {}),
          });
          expect(response.status, `${method} ${segment}`).toBe(404);
          expect((await json<ApiError>(response)).error.code).toBe('not_found');
        }
      }
      // Bytes that are not UTF-8 are refused before the API, in plain text: never a 500.
      for (const segment of ['%FF', '%E0%A4%A', '%C0%AF', '%']) {
        const response = await fetch(`${site.url}${path(segment)}`, {
          method: 'DELETE',
          headers: { Cookie: owner().cookie!, Origin: site.url, 'X-Forwarded-For': nextAddress() },
        });
        expect(response.status, segment).toBe(400);
      }
      expect(await stateOf(shared)).toBe(before);
    });

    it('DELETE: the owner removes a member, who is refused (404) on their very next request', async () => {
      const shared = await sharedInventory('Kitchen');
      const item = await addItem(owner(), shared, 'Pan');
      const removed = await owner().request(`/api/inventories/${shared}/members/${NAMES.viewer}`, {
        method: 'DELETE',
      });
      expect(removed.status).toBe(204);
      expect(await removed.text()).toBe('');
      await expectError(await viewer().request(`/api/inventories/${shared}`), 404, 'not_found');
      await expectError(await viewer().request(`/api/items/${item.id}`), 404, 'not_found');
      await expectError(
        await viewer().request(`/api/inventories/${shared}/members`),
        404,
        'not_found',
      );
      const list = await json<{ items: ApiItem[]; total: number }>(
        await viewer().request(`/api/items?inventory=${shared}`),
      );
      expect(list).toMatchObject({ items: [], total: 0 });
      const all = await json<{ items: ApiItem[] }>(await viewer().request('/api/items?limit=100'));
      expect(all.items.map((each) => each.id)).not.toContain(item.id);
      // Not a member any more: removing them again is a 404.
      await expectError(
        await owner().request(`/api/inventories/${shared}/members/${NAMES.viewer}`, {
          method: 'DELETE',
        }),
        404,
        'not_found',
      );
    });

    it('DELETE: editors and viewers cannot remove others, strangers get 404; nothing changes', async () => {
      const shared = await sharedInventory('Workshop');
      const before = await stateOf(shared);
      for (const [person, target] of [
        ['editor', 'viewer'],
        ['editor', 'owner'],
        ['viewer', 'editor'],
        ['viewer', 'owner'],
      ] as const) {
        const error = await expectError(
          await send(clients[person], `/api/inventories/${shared}/members/${NAMES[target]}`, {
            method: 'DELETE',
          }),
          403,
          'forbidden',
        );
        expect(error.message).toBe(FORBIDDEN_MESSAGE.own);
      }
      for (const target of ['owner', 'editor', 'stranger'] as const) {
        await expectError(
          await stranger().request(`/api/inventories/${shared}/members/${NAMES[target]}`, {
            method: 'DELETE',
          }),
          404,
          'not_found',
        );
      }
      await expectError(
        await anonymous.request(`/api/inventories/${shared}/members/${NAMES.viewer}`, {
          method: 'DELETE',
        }),
        401,
        'unauthorized',
      );
      // Someone who is not in it, or no one at all.
      for (const username of [NAMES.stranger, 'nobody_like_this']) {
        const error = await expectError(
          await owner().request(`/api/inventories/${shared}/members/${username}`, {
            method: 'DELETE',
          }),
          404,
          'not_found',
        );
        expect(error.message).toContain(username);
      }
      expect(await stateOf(shared)).toBe(before);
    });

    it('DELETE: viewers and editors may leave', async () => {
      const shared = await sharedInventory('Allotment');
      for (const person of ['viewer', 'editor'] as const) {
        const left = await send(
          clients[person],
          `/api/inventories/${shared}/members/${NAMES[person]}`,
          {
            method: 'DELETE',
          },
        );
        expect(left.status).toBe(204);
        await expectError(
          await send(clients[person], `/api/inventories/${shared}`),
          404,
          'not_found',
        );
      }
      const { members } = await json<{ members: ApiMember[] }>(
        await owner().request(`/api/inventories/${shared}/members`),
      );
      expect(members).toEqual([{ user_id: ids.owner, username: NAMES.owner, role: 'owner' }]);
    });

    it('the last owner can neither leave nor be demoted (409 last_owner); with two owners, either can', async () => {
      const shared = await sharedInventory('Boat');
      const before = await stateOf(shared);
      const self = `/api/inventories/${shared}/members/${NAMES.owner}`;
      for (const role of ['editor', 'viewer'] as const) {
        const error = await expectError(
          await owner().request(self, { method: 'PUT', json: { role } }),
          409,
          'last_owner',
        );
        expect(error.message).toMatch(/owner/);
      }
      await expectError(await owner().request(self, { method: 'DELETE' }), 409, 'last_owner');
      // Staying what they are is no change at all.
      expect((await owner().request(self, { method: 'PUT', json: { role: 'owner' } })).status).toBe(
        200,
      );
      expect(await stateOf(shared)).toBe(before);

      // With a second owner, the first may step down, and then the second is the last.
      const promoted = await owner().request(`/api/inventories/${shared}/members/${NAMES.editor}`, {
        method: 'PUT',
        json: { role: 'owner' },
      });
      expect(promoted.status).toBe(200);
      expect(
        (await owner().request(self, { method: 'PUT', json: { role: 'editor' } })).status,
      ).toBe(200);
      // The former owner's very next change as an owner is refused.
      await expectError(
        await owner().request(`/api/inventories/${shared}`, {
          method: 'PATCH',
          json: { name: 'Mine' },
        }),
        403,
        'forbidden',
      );
      const editorSelf = `/api/inventories/${shared}/members/${NAMES.editor}`;
      await expectError(
        await editor().request(editorSelf, { method: 'DELETE' }),
        409,
        'last_owner',
      );
      await expectError(
        await editor().request(editorSelf, { method: 'PUT', json: { role: 'viewer' } }),
        409,
        'last_owner',
      );
      // And the former owner, an editor now, can leave.
      expect((await owner().request(self, { method: 'DELETE' })).status).toBe(204);
      const { members } = await json<{ members: ApiMember[] }>(
        await editor().request(`/api/inventories/${shared}/members`),
      );
      expect(members.map((each) => `${each.username}:${each.role}`)).toEqual([
        `${NAMES.editor}:owner`,
        `${NAMES.viewer}:viewer`,
      ]);
    });

    it('two owners demoting each other at once leave one owner, never none', async () => {
      for (let round = 0; round < 3; round += 1) {
        const shared = await sharedInventory(`Duel ${round}`);
        await owner().request(`/api/inventories/${shared}/members/${NAMES.editor}`, {
          method: 'PUT',
          json: { role: 'owner' },
        });
        const [first, second] = await Promise.all([
          owner().request(`/api/inventories/${shared}/members/${NAMES.editor}`, {
            method: 'PUT',
            json: { role: 'viewer' },
          }),
          editor().request(`/api/inventories/${shared}/members/${NAMES.owner}`, {
            method: 'PUT',
            json: { role: 'viewer' },
          }),
        ]);
        const statuses = [first.status, second.status].sort();
        // One wins; the other finds itself the last owner (409) or no owner any more (403).
        expect([
          [200, 403],
          [200, 409],
        ]).toContainEqual(statuses);
        const asWinner = first.status === 200 ? owner() : editor();
        const { members } = await json<{ members: ApiMember[] }>(
          await asWinner.request(`/api/inventories/${shared}/members`),
        );
        expect(members.filter((each) => each.role === 'owner')).toHaveLength(1);
      }
    });
  });

  describe('the items API across roles', () => {
    it('a viewer reads but cannot add, change, delete or adjust (403); nothing changes', async () => {
      const shared = await sharedInventory('Pantry');
      const item = await addItem(owner(), shared, 'Rice', 3);
      expect(await json<ApiItem>(await viewer().request(`/api/items/${item.id}`))).toEqual(item);
      const before = await stateOf(shared);
      const refusals: Array<[string, ClientRequest]> = [
        ['/api/items', { method: 'POST', json: { name: 'Beans', amount: 1, inventory: shared } }],
        [`/api/items/${item.id}`, { method: 'PATCH', json: { amount: 99 } }],
        [
          `/api/items/${item.id}`,
          { method: 'PATCH', json: { amount: 99 }, headers: { 'If-Match': '"1"' } },
        ],
        [`/api/items/${item.id}`, { method: 'DELETE' }],
        [`/api/items/${item.id}/adjust`, { method: 'POST', json: { delta: -1 } }],
      ];
      for (const [pathname, init] of refusals) {
        const error = await expectError(await viewer().request(pathname, init), 403, 'forbidden');
        expect(error.message, `${init.method} ${pathname}`).toBe(FORBIDDEN_MESSAGE.edit);
      }
      expect(await stateOf(shared)).toBe(before);
    });

    it('an editor adds, changes, adjusts and deletes in the shared inventory', async () => {
      const shared = await sharedInventory('Toolbox');
      const item = await addItem(editor(), shared, 'Hammer', 2);
      expect(item).toMatchObject({
        inventory: shared,
        created_by: { id: ids.editor, username: NAMES.editor },
        version: 1,
      });
      // The owner's item, too.
      const owners = await addItem(owner(), shared, 'Level', 1);
      const patched = await editor().request(`/api/items/${owners.id}`, {
        method: 'PATCH',
        json: { name: 'Spirit level' },
      });
      expect(patched.status).toBe(200);
      expect(await json<ApiItem>(patched)).toMatchObject({
        name: 'Spirit level',
        version: 2,
        // Who added it stays who added it.
        created_by: { id: ids.owner, username: NAMES.owner },
      });
      const adjusted = await editor().request(`/api/items/${item.id}/adjust`, {
        method: 'POST',
        json: { delta: 3 },
      });
      expect(adjusted.status).toBe(200);
      expect(adjusted.headers.get('etag')).toBe('"2"');
      expect(await json<ApiItem>(adjusted)).toMatchObject({ amount: 5, version: 2 });
      expect((await editor().request(`/api/items/${owners.id}`, { method: 'DELETE' })).status).toBe(
        204,
      );
      await expectError(await owner().request(`/api/items/${owners.id}`), 404, 'not_found');
      const { item_count } = await json<ApiInventory>(
        await viewer().request(`/api/inventories/${shared}`),
      );
      expect(item_count).toBe(1);
    });

    it('a stranger gets the 404 of a missing id for every item of the inventory; nothing changes', async () => {
      const shared = await sharedInventory('Vault');
      const item = await addItem(owner(), shared, 'Gold', 1);
      const before = await stateOf(shared);
      const calls: Array<[string, ClientRequest]> = [
        ['GET', {}],
        ['PATCH', { method: 'PATCH', json: { amount: 0 } }],
        ['PATCH', { method: 'PATCH', json: { amount: 0 }, headers: { 'If-Match': '"1"' } }],
        ['DELETE', { method: 'DELETE' }],
      ];
      for (const [label, init] of calls) {
        const missing = await expectError(
          await stranger().request(`/api/items/${MISSING_ID}`, init),
          404,
          'not_found',
        );
        const foreign = await expectError(
          await stranger().request(`/api/items/${item.id}`, init),
          404,
          'not_found',
        );
        expect(foreign, label).toEqual(missing);
      }
      await expectError(
        await stranger().request(`/api/items/${item.id}/adjust`, {
          method: 'POST',
          json: { delta: -1 },
        }),
        404,
        'not_found',
      );
      const intoShared = await expectError(
        await stranger().request('/api/items', {
          method: 'POST',
          json: { name: 'Planted', amount: 1, inventory: shared },
        }),
        404,
        'not_found',
      );
      const intoMissing = await expectError(
        await stranger().request('/api/items', {
          method: 'POST',
          json: { name: 'Planted', amount: 1, inventory: MISSING_ID },
        }),
        404,
        'not_found',
      );
      expect(intoShared).toEqual(intoMissing);
      expect(await stateOf(shared)).toBe(before);
    });

    it('POST /api/items adds to the personal inventory by default, and refuses an inventory that is no id', async () => {
      const shared = await sharedInventory('Default');
      const personal = await personalOf(editor());
      const item = await addItem(editor(), undefined, 'Where does it go');
      expect(item.inventory).toBe(personal);
      expect(item.inventory).not.toBe(shared);
      const before = await stateOf(shared);
      for (const inventory of ['abc', '1', 0, -1, 1.5, null, MISSING_ID + 1]) {
        const error = await expectError(
          await editor().request('/api/items', {
            method: 'POST',
            json: { name: 'Nowhere', amount: 1, inventory },
          }),
          400,
          'validation_error',
        );
        expect(Object.keys(error.fields ?? {}), String(inventory)).toEqual(['inventory']);
      }
      expect(await stateOf(shared)).toBe(before);
    });

    it('GET /api/items lists every item the caller can read; ?inventory= narrows to one', async () => {
      const shared = await sharedInventory('Everything');
      const mine = await addItem(viewer(), undefined, 'Viewer’s own');
      const theirs = await addItem(owner(), shared, 'In the shared one');
      const strangers = await addItem(stranger(), undefined, 'Stranger’s');
      const listed = async (query: string) =>
        (
          await json<{ items: ApiItem[] }>(await viewer().request(`/api/items?limit=100${query}`))
        ).items.map((each) => each.id);
      const all = await listed('');
      expect(all).toEqual(expect.arrayContaining([mine.id, theirs.id]));
      expect(all).not.toContain(strangers.id);
      expect(await listed(`&inventory=${shared}`)).toEqual([theirs.id]);
      expect(await listed(`&inventory=${await personalOf(viewer())}`)).not.toContain(theirs.id);
      // Another's inventory lists like a missing one: nothing.
      expect(await listed(`&inventory=${strangers.inventory}`)).toEqual([]);
      expect(await listed(`&inventory=${MISSING_ID}`)).toEqual([]);
      for (const bad of ['abc', '0', '-3', '99999999999']) {
        const error = await expectError(
          await viewer().request(`/api/items?inventory=${bad}`),
          400,
          'validation_error',
        );
        expect(Object.keys(error.fields ?? {})).toEqual(['inventory']);
      }
    });
  });

  describe('If-Match', () => {
    const patch = (client: SiteClient, id: number, json: unknown, ifMatch?: string) =>
      client.request(`/api/items/${id}`, {
        method: 'PATCH',
        json,
        headers: ifMatch === undefined ? {} : { 'If-Match': ifMatch },
      });

    it('a matching version changes the item and moves the ETag; a stale one is 412 and changes nothing', async () => {
      const shared = await sharedInventory('Versions');
      const item = await addItem(owner(), shared, 'Counter', 1);
      const fetched = await editor().request(`/api/items/${item.id}`);
      expect(fetched.headers.get('etag')).toBe('"1"');

      const first = await patch(editor(), item.id, { amount: 2 }, '"1"');
      expect(first.status).toBe(200);
      expect(first.headers.get('etag')).toBe('"2"');
      const afterFirst = await json<ApiItem>(first);
      expect(afterFirst).toMatchObject({ amount: 2, version: 2 });

      const before = await stateOf(shared);
      const stale = await patch(owner(), item.id, { amount: 100 }, '"1"');
      const error = await expectError(stale, 412, 'precondition_failed');
      expect(error.message).toContain('2');
      expect(stale.headers.get('etag')).toBe('"2"');
      await expectError(
        await owner().request(`/api/items/${item.id}`, {
          method: 'DELETE',
          headers: { 'If-Match': '"1"' },
        }),
        412,
        'precondition_failed',
      );
      expect(await stateOf(shared)).toBe(before);
      expect(await json<ApiItem>(await owner().request(`/api/items/${item.id}`))).toEqual(
        afterFirst,
      );

      // The current version deletes it.
      const deleted = await owner().request(`/api/items/${item.id}`, {
        method: 'DELETE',
        headers: { 'If-Match': '"2"' },
      });
      expect(deleted.status).toBe(204);
      await expectError(await owner().request(`/api/items/${item.id}`), 404, 'not_found');
    });

    it('without If-Match, or with *, the last write wins', async () => {
      const item = await addItem(owner(), await sharedInventory('Anyhow'), 'Loose', 1);
      expect((await patch(owner(), item.id, { amount: 2 })).status).toBe(200);
      const star = await patch(editor(), item.id, { amount: 3 }, '*');
      expect(star.status).toBe(200);
      expect(await json<ApiItem>(star)).toMatchObject({ amount: 3, version: 3 });
      expect(star.headers.get('etag')).toBe('"3"');
      expect((await patch(owner(), item.id, { amount: 4 }, ' * ')).status).toBe(200);
      const deleted = await editor().request(`/api/items/${item.id}`, {
        method: 'DELETE',
        headers: { 'If-Match': '*' },
      });
      expect(deleted.status).toBe(204);
    });

    it('an If-Match that names no single version is 412, and changes nothing', async () => {
      const shared = await sharedInventory('Garbage');
      const item = await addItem(owner(), shared, 'Target', 1);
      const before = await stateOf(shared);
      for (const ifMatch of [
        '1',
        'W/"1"',
        '"1", "2"',
        '"0"',
        '"-1"',
        '"abc"',
        '""',
        '"99999999999"',
      ]) {
        await expectError(
          await patch(owner(), item.id, { amount: 50 }, ifMatch),
          412,
          'precondition_failed',
        );
        await expectError(
          await owner().request(`/api/items/${item.id}`, {
            method: 'DELETE',
            headers: { 'If-Match': ifMatch },
          }),
          412,
          'precondition_failed',
        );
      }
      expect(await stateOf(shared)).toBe(before);
    });

    it('two members changing the same version at once: exactly one wins, the other gets 412', async () => {
      const shared = await sharedInventory('Race');
      for (let round = 0; round < 5; round += 1) {
        const item = await addItem(owner(), shared, `Contested ${round}`, 10);
        const [ownerAnswer, editorAnswer] = await Promise.all([
          patch(owner(), item.id, { amount: 11, name: 'Owner’s' }, '"1"'),
          patch(editor(), item.id, { amount: 12, name: 'Editor’s' }, '"1"'),
        ]);
        expect([ownerAnswer.status, editorAnswer.status].sort()).toEqual([200, 412]);
        const winner = ownerAnswer.status === 200 ? ownerAnswer : editorAnswer;
        const loser = ownerAnswer.status === 200 ? editorAnswer : ownerAnswer;
        const saved = await json<ApiItem>(winner);
        expect(saved.version).toBe(2);
        await expectError(loser, 412, 'precondition_failed');
        expect(loser.headers.get('etag')).toBe('"2"');
        // The winner's change is what is stored: nothing was lost or mixed.
        expect(await json<ApiItem>(await viewer().request(`/api/items/${item.id}`))).toEqual(saved);
      }
    });
  });

  describe('a token limited to one inventory', () => {
    it('sees that inventory only: lists, members, items, exports', async () => {
      const personal = await personalOf(owner());
      const outside = await addItem(owner(), personal, 'Outside the lab');
      const inside = await addItem(owner(), tokenLab, 'Inside the lab');

      const { inventories } = await json<{ inventories: ApiInventory[] }>(
        await withToken(tokens.labRead, '/api/inventories'),
      );
      expect(inventories).toEqual([
        { id: tokenLab, name: 'Token lab', role: 'owner', item_count: expect.any(Number) },
      ]);
      // The same user's session and unlimited token see more.
      const unlimited = await json<{ inventories: ApiInventory[] }>(
        await withToken(tokens.ownerRead, '/api/inventories'),
      );
      expect(unlimited.inventories.map((each) => each.id)).toEqual(
        expect.arrayContaining([personal, tokenLab]),
      );

      expect((await withToken(tokens.labRead, `/api/inventories/${tokenLab}`)).status).toBe(200);
      expect((await withToken(tokens.labRead, `/api/inventories/${tokenLab}/members`)).status).toBe(
        200,
      );
      await expectError(
        await withToken(tokens.labRead, `/api/inventories/${personal}`),
        404,
        'not_found',
      );
      await expectError(
        await withToken(tokens.labRead, `/api/inventories/${personal}/members`),
        404,
        'not_found',
      );

      const listed = await json<{ items: ApiItem[] }>(
        await withToken(tokens.labRead, '/api/items?limit=100'),
      );
      expect(listed.items.map((each) => each.id)).toContain(inside.id);
      expect(listed.items.every((each) => each.inventory === tokenLab)).toBe(true);
      const narrowed = await json<{ items: ApiItem[] }>(
        await withToken(tokens.labRead, `/api/items?inventory=${personal}`),
      );
      expect(narrowed.items).toEqual([]);
      expect((await withToken(tokens.labRead, `/api/items/${inside.id}`)).status).toBe(200);
      await expectError(
        await withToken(tokens.labRead, `/api/items/${outside.id}`),
        404,
        'not_found',
      );

      const exported = (await (await withToken(tokens.labRead, '/json/')).json()) as ExportObject[];
      expect(exported.map((object) => object.pk)).toContain(inside.id);
      expect(exported.map((object) => object.pk)).not.toContain(outside.id);
      expect(await (await withToken(tokens.labRead, `/json/${outside.id}/`)).json()).toEqual([]);
      const xml = await (await withToken(tokens.labRead, '/xml/')).text();
      expect(xml).toContain(`pk="${inside.id}"`);
      expect(xml).not.toContain(`pk="${outside.id}"`);
      expect(xml).not.toContain('Outside the lab');
    });

    it('changes nothing outside it, and makes no new inventory', async () => {
      const personal = await personalOf(owner());
      const outside = await addItem(owner(), personal, 'Untouchable', 4);
      const before = await stateOf(personal);
      const listBefore = await owner()
        .request('/api/inventories')
        .then((r) => r.text());

      for (const [pathname, init] of [
        [`/api/items/${outside.id}`, { method: 'PATCH', json: { amount: 0 } }],
        [`/api/items/${outside.id}`, { method: 'DELETE' }],
        [`/api/items/${outside.id}/adjust`, { method: 'POST', json: { delta: 1 } }],
        [
          '/api/items',
          { method: 'POST', json: { name: 'Smuggled', amount: 1, inventory: personal } },
        ],
        [`/api/inventories/${personal}`, { method: 'PATCH', json: { name: 'Renamed' } }],
        [`/api/inventories/${personal}`, { method: 'DELETE' }],
        [
          `/api/inventories/${personal}/members/${NAMES.stranger}`,
          { method: 'PUT', json: { role: 'owner' } },
        ],
      ] as Array<[string, ClientRequest]>) {
        await expectError(await withToken(tokens.labWrite, pathname, init), 404, 'not_found');
      }
      const created = await expectError(
        await withToken(tokens.labWrite, '/api/inventories', {
          method: 'POST',
          json: { name: 'Escape hatch' },
        }),
        403,
        'forbidden',
      );
      expect(created.message).toMatch(/limited to one inventory/);
      expect(await stateOf(personal)).toBe(before);
      expect(
        await owner()
          .request('/api/inventories')
          .then((r) => r.text()),
      ).toBe(listBefore);

      // Inside it, it is its owner: a new item without an inventory goes there.
      const added = await withToken(tokens.labWrite, '/api/items', {
        method: 'POST',
        json: { name: 'Made by the lab token', amount: 1 },
      });
      expect(added.status).toBe(201);
      expect(await json<ApiItem>(added)).toMatchObject({ inventory: tokenLab });
    });

    it('a read token changes no membership (403 insufficient_scope)', async () => {
      const before = await stateOf(tokenLab);
      const response = await withToken(
        tokens.labRead,
        `/api/inventories/${tokenLab}/members/${NAMES.stranger}`,
        { method: 'PUT', json: { role: 'owner' } },
      );
      await expectError(response, 403, 'insufficient_scope');
      expect(await stateOf(tokenLab)).toBe(before);
    });
  });

  describe('HTTP', () => {
    it('answers nobody signed in with a JSON 401 on every inventories route', async () => {
      for (const [pathname, method] of [
        ['/api/inventories', 'GET'],
        ['/api/inventories', 'POST'],
        ['/api/inventories/1', 'GET'],
        ['/api/inventories/1', 'PATCH'],
        ['/api/inventories/1', 'DELETE'],
        ['/api/inventories/1/members', 'GET'],
        ['/api/inventories/1/members/someone', 'PUT'],
        ['/api/inventories/1/members/someone', 'DELETE'],
      ] as const) {
        const response = await anonymous.request(pathname, {
          method,
          headers: { Accept: 'text/html' },
          ...(method === 'GET' || method === 'DELETE'
            ? {}
            : { json: { name: 'x', role: 'owner' } }),
        });
        await expectError(response, 401, 'unauthorized');
      }
    });

    it('refuses other methods with 405 and the methods it answers', async () => {
      for (const [pathname, method, allow] of [
        ['/api/inventories', 'PUT', 'GET, HEAD, POST'],
        ['/api/inventories', 'DELETE', 'GET, HEAD, POST'],
        ['/api/inventories/1', 'POST', 'GET, HEAD, PATCH, DELETE'],
        ['/api/inventories/1', 'PUT', 'GET, HEAD, PATCH, DELETE'],
        ['/api/inventories/1/members', 'POST', 'GET, HEAD'],
        ['/api/inventories/1/members', 'DELETE', 'GET, HEAD'],
        ['/api/inventories/1/members/someone', 'GET', 'PUT, DELETE'],
        ['/api/inventories/1/members/someone', 'PATCH', 'PUT, DELETE'],
      ] as const) {
        const response = await owner().request(pathname, {
          method,
          ...(method === 'GET' ? {} : { json: {} }),
        });
        await expectError(response, 405, 'method_not_allowed');
        expect(response.headers.get('allow'), `${method} ${pathname}`).toBe(allow);
      }
    });

    it('refuses membership changes from another origin, changing nothing', async () => {
      const shared = await sharedInventory('Guarded');
      const before = await stateOf(shared);
      await expectError(
        await owner().request(`/api/inventories/${shared}/members/${NAMES.stranger}`, {
          method: 'PUT',
          json: { role: 'owner' },
          origin: 'http://evil.example',
        }),
        403,
        'forbidden',
      );
      await expectError(
        await owner().request(`/api/inventories/${shared}`, {
          method: 'PATCH',
          json: { name: 'Hijacked' },
          origin: 'http://evil.example',
        }),
        403,
        'forbidden',
      );
      expect(await stateOf(shared)).toBe(before);
    });
  });
});
