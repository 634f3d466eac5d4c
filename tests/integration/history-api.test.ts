import { sql, type Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_CHANGES_PER_PAGE, TRASH_PAGE_SIZE } from '../../src/lib/contracts/history.ts';
import { formatTimestamp } from '../../src/lib/format.ts';
import { createApiToken } from '../../src/lib/server/auth/tokens.ts';
import { openDatabase, type DatabaseHandle } from '../../src/lib/server/db/connect.ts';
import type { Database } from '../../src/lib/server/db/types.ts';
import { TRASH_DAYS } from '../../src/lib/server/history/trash.ts';
import { FORBIDDEN_MESSAGE } from '../../src/lib/server/inventories/access.ts';
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
 * Issue #18: history, trash and undo through the API, over HTTP against the production
 * server: an item's history, an inventory's activity and trash, restore and undo, for every
 * role (owner, editor, viewer, a stranger, nobody signed in), through a session and through
 * tokens; the `Change-Id` every write answers with; what each write records; that undo puts
 * back exactly what was, refuses when an item changed since, and redoes when undone. Every
 * response under /api is checked against the OpenAPI document (SiteClient and checkedFetch
 * do that); every refusal is followed by a look at the data, to see that nothing changed.
 */

interface ApiItem {
  id: number;
  inventory: number;
  name: string;
  amount: number;
  description: string;
  version: number;
  updated_at: string;
  location_id: number | null;
  tags: string[];
  min_amount: number | null;
}

interface FieldChange {
  item_id: number;
  field: string;
  before: unknown;
  after: unknown;
}

interface ApiChange {
  id: number;
  at: string;
  actor: { id: number; username: string } | null;
  via: string;
  token: string | null;
  action: string;
  undoes: number | null;
  item_ids: number[];
  changes: FieldChange[];
}

interface ChangeList {
  changes: ApiChange[];
  next_before: number | null;
}

interface TrashList {
  items: Array<{
    id: number;
    name: string;
    amount: number;
    deleted_at: string;
    deleted_by: { id: number; username: string } | null;
    purge_at: string;
  }>;
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

/** The change id a write answered with. */
function changeIdOf(response: Response): number {
  const header = response.headers.get('change-id');
  expect(header, `Change-Id of ${response.url}`).toMatch(/^[0-9]+$/);
  return Number(header);
}

/** An item as the API shows it, without what every change moves on. */
function comparable(item: ApiItem) {
  return Object.fromEntries(
    Object.entries(item).filter(([key]) => key !== 'version' && key !== 'updated_at'),
  );
}

const MISSING_ID = 2_147_483_647;
const NOT_IDS = ['abc', '0', '-1', '99999999999', '1.5'];

const NAMES = {
  owner: 'hi_owner',
  editor: 'hi_editor',
  viewer: 'hi_viewer',
  stranger: 'hi_stranger',
} as const;
type Person = keyof typeof NAMES;

/** A read-write token for each person, named after them. */
const TOKEN_NAMES: Record<Person, string> = {
  owner: 'owner sync',
  editor: 'editor script',
  viewer: 'viewer script',
  stranger: 'stranger script',
};

describe.each(BACKENDS)('the history API on %s', (backend) => {
  let site: Site;
  let own: DatabaseHandle | undefined;
  const ids = {} as Record<Person, number>;
  const clients = {} as Record<Person, SiteClient>;
  const tokens = {} as Record<Person, string>;
  let anonymous: SiteClient;

  beforeAll(async () => {
    site = await startSite(backend, async (db) => {
      for (const person of Object.keys(NAMES) as Person[]) {
        ids[person] = await registerInDatabase(db, NAMES[person]);
        const outcome = await createApiToken(db, ids[person], {
          name: TOKEN_NAMES[person],
          scope: 'read-write',
          expiresAt: null,
        });
        if (outcome.status !== 'created') throw new Error(outcome.status);
        tokens[person] = outcome.token;
      }
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

  /** A program with `person`'s token: no cookie, no Origin. */
  function withToken(person: Person, pathname: string, init: ClientRequest = {}) {
    const headers: Record<string, string> = {
      'X-Forwarded-For': nextAddress(),
      Authorization: `Bearer ${tokens[person]}`,
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

  async function addLocation(inventory: number, name: string): Promise<number> {
    const response = await owner().request(`/api/inventories/${inventory}/locations`, {
      method: 'POST',
      json: { name },
    });
    expect(response.status, await response.clone().text()).toBe(201);
    return (await json<{ id: number }>(response)).id;
  }

  async function addItem(
    inventory: number,
    fields: Record<string, unknown> = {},
    as: SiteClient = owner(),
  ): Promise<{ item: ApiItem; change: number }> {
    const response = await as.request('/api/items', {
      method: 'POST',
      json: { name: 'Thing', amount: 5, inventory, ...fields },
    });
    expect(response.status, await response.clone().text()).toBe(201);
    const change = changeIdOf(response);
    return { item: await json<ApiItem>(response), change };
  }

  async function getItem(id: number): Promise<ApiItem> {
    const response = await owner().request(`/api/items/${id}`);
    expect(response.status, await response.clone().text()).toBe(200);
    return json<ApiItem>(response);
  }

  async function patch(id: number, body: Record<string, unknown>, as = owner()) {
    const response = await as.request(`/api/items/${id}`, { method: 'PATCH', json: body });
    expect(response.status, await response.clone().text()).toBe(200);
    return { item: await json<ApiItem>(response), change: changeIdOf(response) };
  }

  async function adjust(id: number, delta: number, as = owner()) {
    const response = await as.request(`/api/items/${id}/adjust`, {
      method: 'POST',
      json: { delta },
    });
    expect(response.status, await response.clone().text()).toBe(200);
    return { item: await json<ApiItem>(response), change: changeIdOf(response) };
  }

  async function remove(id: number, as = owner()): Promise<number> {
    const response = await as.request(`/api/items/${id}`, { method: 'DELETE' });
    expect(response.status, await response.clone().text()).toBe(204);
    expect(await response.text()).toBe('');
    return changeIdOf(response);
  }

  async function restore(id: number, as = owner()) {
    const response = await as.request(`/api/items/${id}/restore`, { method: 'POST' });
    expect(response.status, await response.clone().text()).toBe(200);
    expect(response.headers.get('etag')).toMatch(/^"[0-9]+"$/);
    return { item: await json<ApiItem>(response), change: changeIdOf(response) };
  }

  async function undo(change: number, as = owner()): Promise<ApiChange> {
    const response = await as.request(`/api/changes/${change}/undo`, { method: 'POST' });
    expect(response.status, await response.clone().text()).toBe(200);
    const body = await json<{ change: ApiChange }>(response);
    expect(changeIdOf(response)).toBe(body.change.id);
    expect(body.change.undoes).toBe(change);
    expect(body.change.action).toBe('undo');
    expect(body.change.via).toBe('undo');
    return body.change;
  }

  async function activity(inventory: number, query = '', as = owner()): Promise<ChangeList> {
    const response = await as.request(`/api/inventories/${inventory}/activity${query}`);
    expect(response.status, await response.clone().text()).toBe(200);
    return json<ChangeList>(response);
  }

  async function history(item: number, query = '', as = owner()): Promise<ChangeList> {
    const response = await as.request(`/api/items/${item}/history${query}`);
    expect(response.status, await response.clone().text()).toBe(200);
    return json<ChangeList>(response);
  }

  async function trash(inventory: number, query = '', as = owner()): Promise<TrashList> {
    const response = await as.request(`/api/inventories/${inventory}/trash${query}`);
    expect(response.status, await response.clone().text()).toBe(200);
    return json<TrashList>(response);
  }

  /** The newest change of an inventory. */
  const newest = async (inventory: number) => (await activity(inventory, '?limit=1')).changes[0]!;

  /**
   * An inventory as its owner sees it through the API (items, trash, every change) and,
   * where the test has a connection of its own (PostgreSQL), every row of the tables the
   * items and their history are kept in.
   */
  async function stateOf(inventory: number): Promise<string> {
    const views = await Promise.all(
      [
        `/api/items?inventory=${inventory}&limit=100&sort=oldest`,
        `/api/inventories/${inventory}/trash`,
        `/api/inventories/${inventory}/activity?limit=${MAX_CHANGES_PER_PAGE}`,
        `/api/inventories/${inventory}/tags`,
      ].map((path) =>
        owner()
          .request(path)
          .then((r) => r.text()),
      ),
    );
    return [...views, await dumpData(inventory)].join('\n');
  }

  async function dumpData(inventory: number): Promise<string> {
    if (!own) return '';
    const db: Kysely<Database> = own.db;
    const { rows } = await sql<{ row: string }>`
      select 'item ' || to_jsonb(i)::text as row from stored_items i
        where inventory_id = ${inventory}
      union all
      select 'tag ' || to_jsonb(t)::text from item_tags t
        join stored_items i on i.id = t.item_id where i.inventory_id = ${inventory}
      union all
      select 'change ' || to_jsonb(c)::text from changes c where inventory_id = ${inventory}
      union all
      select 'field ' || to_jsonb(e)::text from item_changes e
        join changes c on c.id = e.change_id where c.inventory_id = ${inventory}
      order by 1`.execute(db);
    return rows.map((row) => row.row).join('\n');
  }

  describe('what each write records, and its Change-Id', () => {
    it('POST, PATCH, adjust, DELETE, restore and undo each leave one change: page by session, api by token', async () => {
      const shared = await sharedInventory('Workshop');
      const shelf = await addLocation(shared, 'Shelf');
      expect((await activity(shared)).changes).toEqual([]);

      const added = await addItem(shared, {
        name: 'Drill',
        amount: 3,
        description: 'Cordless',
        tags: ['tools'],
      });
      const drill = added.item.id;
      const expected: ApiChange[] = [];
      const expect1 = (change: Omit<ApiChange, 'id' | 'at' | 'undoes' | 'item_ids'>, id: number) =>
        expected.unshift({
          id,
          at: expect.any(String) as unknown as string,
          undoes: null,
          item_ids: [drill],
          ...change,
        });
      const ownerActor = { id: ids.owner, username: NAMES.owner };
      const editorActor = { id: ids.editor, username: NAMES.editor };
      expect1(
        {
          actor: ownerActor,
          via: 'page',
          token: null,
          action: 'add',
          changes: [
            { item_id: drill, field: 'name', before: null, after: 'Drill' },
            { item_id: drill, field: 'amount', before: null, after: 3 },
            { item_id: drill, field: 'description', before: null, after: 'Cordless' },
            { item_id: drill, field: 'tag', before: null, after: 'tools' },
          ],
        },
        added.change,
      );
      expect((await activity(shared)).changes).toEqual(expected);

      // A token's change is the API's, with the token's name.
      const renamed = await withToken('editor', `/api/items/${drill}`, {
        method: 'PATCH',
        json: { name: 'Hammer drill', min_amount: 2 },
      });
      expect(renamed.status).toBe(200);
      expect1(
        {
          actor: editorActor,
          via: 'api',
          token: TOKEN_NAMES.editor,
          action: 'edit',
          changes: [
            { item_id: drill, field: 'name', before: 'Drill', after: 'Hammer drill' },
            { item_id: drill, field: 'min_amount', before: null, after: 2 },
          ],
        },
        changeIdOf(renamed),
      );

      const adjusted = await withToken('owner', `/api/items/${drill}/adjust`, {
        method: 'POST',
        json: { delta: -2 },
      });
      expect(adjusted.status).toBe(200);
      expect1(
        {
          actor: ownerActor,
          via: 'api',
          token: TOKEN_NAMES.owner,
          action: 'adjust',
          changes: [{ item_id: drill, field: 'amount', before: 3, after: 1 }],
        },
        changeIdOf(adjusted),
      );

      const moved = await patch(drill, { location_id: shelf }, editor());
      expect1(
        {
          actor: editorActor,
          via: 'page',
          token: null,
          action: 'move',
          changes: [{ item_id: drill, field: 'location_id', before: null, after: shelf }],
        },
        moved.change,
      );

      const retagged = await patch(drill, { tags: ['power'] });
      expect1(
        {
          actor: ownerActor,
          via: 'page',
          token: null,
          action: 'tag',
          changes: [
            { item_id: drill, field: 'tag', before: null, after: 'power' },
            { item_id: drill, field: 'tag', before: 'tools', after: null },
          ],
        },
        retagged.change,
      );
      expect((await activity(shared)).changes).toEqual(expected);

      // Saving the same values changes nothing, so records nothing and names no change.
      const same = await owner().request(`/api/items/${drill}`, {
        method: 'PATCH',
        json: { name: 'Hammer drill' },
      });
      expect(same.status).toBe(200);
      expect(same.headers.get('change-id')).toBe(null);

      const deleted = await withToken('editor', `/api/items/${drill}`, { method: 'DELETE' });
      expect(deleted.status).toBe(204);
      expect1(
        {
          actor: editorActor,
          via: 'api',
          token: TOKEN_NAMES.editor,
          action: 'delete',
          changes: [
            { item_id: drill, field: 'deleted_at', before: null, after: expect.any(String) },
          ],
        },
        changeIdOf(deleted),
      );

      const restored = await restore(drill);
      expect1(
        {
          actor: ownerActor,
          via: 'page',
          token: null,
          action: 'restore',
          changes: [
            { item_id: drill, field: 'deleted_at', before: expect.any(String), after: null },
          ],
        },
        restored.change,
      );

      const undone = await withToken('editor', `/api/changes/${moved.change}/undo`, {
        method: 'POST',
      });
      // The item changed after the move (tags, delete, restore): the move is not undone.
      await expectError(undone, 409, 'changed_since');
      const undoneLast = await withToken('editor', `/api/changes/${restored.change}/undo`, {
        method: 'POST',
      });
      expect(undoneLast.status).toBe(200);
      const { change: undoChange } = await json<{ change: ApiChange }>(undoneLast);
      expected.unshift({
        id: changeIdOf(undoneLast),
        at: expect.any(String) as unknown as string,
        actor: editorActor,
        via: 'undo',
        token: TOKEN_NAMES.editor,
        action: 'undo',
        undoes: restored.change,
        item_ids: [drill],
        changes: [{ item_id: drill, field: 'deleted_at', before: null, after: expect.any(String) }],
      });
      expect(undoChange).toEqual(expected[0]);

      const all = await activity(shared);
      expect(all).toEqual({ changes: expected, next_before: null });
      // Newest first, each at or after the one before it.
      const times = all.changes.map((change) => Date.parse(change.at)).reverse();
      expect(times).toEqual([...times].sort((a, b) => a - b));
      expect(new Set(all.changes.map((change) => change.id)).size).toBe(all.changes.length);

      if (own) {
        // The database holds exactly these changes and field changes, no others.
        const db: Kysely<Database> = own.db;
        const rows = await db
          .selectFrom('changes')
          .select(['id', 'actor_id', 'via', 'token_name', 'action', 'undoes_id'])
          .where('inventory_id', '=', shared)
          .orderBy('id', 'desc')
          .execute();
        expect(rows).toEqual(
          expected.map((change) => ({
            id: change.id,
            actor_id: change.actor?.id ?? null,
            via: change.via,
            token_name: change.token,
            action: change.action,
            undoes_id: change.undoes,
          })),
        );
        const { count } = await db
          .selectFrom('item_changes')
          .innerJoin('changes', 'changes.id', 'item_changes.change_id')
          .where('changes.inventory_id', '=', shared)
          .select(sql<number>`count(*)::int`.as('count'))
          .executeTakeFirstOrThrow();
        expect(count).toBe(expected.reduce((sum, change) => sum + change.changes.length, 0));
      }
    });

    it('a refused write sends no Change-Id and records nothing', async () => {
      const shared = await sharedInventory('Refusals');
      const { item } = await addItem(shared, { name: 'Bolt', amount: 1 });
      const before = await stateOf(shared);
      for (const response of [
        await viewer().request(`/api/items/${item.id}`, { method: 'PATCH', json: { amount: 2 } }),
        await viewer().request(`/api/items/${item.id}`, { method: 'DELETE' }),
        await viewer().request(`/api/items/${item.id}/adjust`, {
          method: 'POST',
          json: { delta: 1 },
        }),
        await owner().request(`/api/items/${item.id}/adjust`, {
          method: 'POST',
          json: { delta: -2 },
        }),
        await owner().request(`/api/items/${item.id}`, {
          method: 'PATCH',
          json: { amount: 9 },
          headers: { 'If-Match': '"99"' },
        }),
        await viewer().request('/api/items', {
          method: 'POST',
          json: { name: 'Nope', amount: 1, inventory: shared },
        }),
      ]) {
        expect(response.status).toBeGreaterThanOrEqual(400);
        expect(response.headers.get('change-id')).toBe(null);
      }
      expect(await stateOf(shared)).toBe(before);
    });
  });

  describe('every endpoint × every role', () => {
    it('reads: members read history, activity and trash alike; a stranger gets the 404 of a missing id', async () => {
      const shared = await sharedInventory('Reading room');
      const { item } = await addItem(shared, { name: 'Book', amount: 2 });
      await adjust(item.id, 1, editor());
      const { item: gone } = await addItem(shared, { name: 'Old book' });
      await remove(gone.id);

      const reads = [
        `/api/items/${item.id}/history`,
        `/api/inventories/${shared}/activity`,
        `/api/inventories/${shared}/trash`,
      ];
      for (const path of reads) {
        const seen = await owner()
          .request(path)
          .then((r) => r.text());
        for (const person of ['editor', 'viewer'] as const) {
          const response = await clients[person].request(path);
          expect(response.status, `${person} ${path}`).toBe(200);
          expect(await response.text(), `${person} ${path}`).toBe(seen);
          const byToken = await withToken(person, path);
          expect(byToken.status).toBe(200);
          expect(await byToken.text()).toBe(seen);
        }
        const foreign = await expectError(await stranger().request(path), 404, 'not_found');
        const missing = await expectError(
          await stranger().request(path.replace(/\/[0-9]+\//, `/${MISSING_ID}/`)),
          404,
          'not_found',
        );
        expect(foreign).toEqual(missing);
        await expectError(await withToken('stranger', path), 404, 'not_found');
        await expectError(await anonymous.request(path), 401, 'unauthorized');
      }
      expect((await history(item.id, '', viewer())).changes.map((c) => c.action)).toEqual([
        'adjust',
        'add',
      ]);
      expect((await trash(shared, '', viewer())).items.map((i) => i.name)).toEqual(['Old book']);

      for (const id of NOT_IDS) {
        await expectError(await owner().request(`/api/items/${id}/history`), 404, 'not_found');
        await expectError(
          await owner().request(`/api/inventories/${id}/activity`),
          404,
          'not_found',
        );
        await expectError(await owner().request(`/api/inventories/${id}/trash`), 404, 'not_found');
        await expectError(
          await owner().request(`/api/items/${id}/restore`, { method: 'POST' }),
          404,
          'not_found',
        );
        await expectError(
          await owner().request(`/api/changes/${id}/undo`, { method: 'POST' }),
          404,
          'not_found',
        );
      }
    });

    it('restore: owners and editors; a viewer 403, a stranger 404, nothing changed', async () => {
      const shared = await sharedInventory('Restorations');
      const { item } = await addItem(shared, { name: 'Lamp', amount: 1 });
      const { item: other } = await addItem(shared, { name: 'Shade', amount: 1 });
      await remove(item.id);
      await remove(other.id);
      const before = await stateOf(shared);
      for (const denied of [
        viewer().request(`/api/items/${item.id}/restore`, { method: 'POST' }),
        withToken('viewer', `/api/items/${item.id}/restore`, { method: 'POST' }),
      ]) {
        const error = await expectError(await denied, 403, 'forbidden');
        expect(error.message).toBe(FORBIDDEN_MESSAGE.edit);
      }
      const foreign = await expectError(
        await stranger().request(`/api/items/${item.id}/restore`, { method: 'POST' }),
        404,
        'not_found',
      );
      const missing = await expectError(
        await stranger().request(`/api/items/${MISSING_ID}/restore`, { method: 'POST' }),
        404,
        'not_found',
      );
      expect(foreign).toEqual(missing);
      await expectError(
        await withToken('stranger', `/api/items/${item.id}/restore`, { method: 'POST' }),
        404,
        'not_found',
      );
      await expectError(
        await anonymous.request(`/api/items/${item.id}/restore`, { method: 'POST' }),
        401,
        'unauthorized',
      );
      expect(await stateOf(shared)).toBe(before);

      expect((await restore(item.id, editor())).item.name).toBe('Lamp');
      expect((await restore(other.id, owner())).item.name).toBe('Shade');
      // Not in the trash (any more): 404, and nothing recorded.
      const after = await stateOf(shared);
      await expectError(
        await owner().request(`/api/items/${item.id}/restore`, { method: 'POST' }),
        404,
        'not_found',
      );
      expect(await stateOf(shared)).toBe(after);
    });

    it('undo: owners and editors; a viewer 403, a stranger 404, nothing changed', async () => {
      const shared = await sharedInventory('Undoings');
      const { item, change: addChange } = await addItem(shared, { name: 'Kettle', amount: 1 });
      const { change: ownerEdit } = await patch(item.id, { amount: 4 });
      const before = await stateOf(shared);
      for (const denied of [
        viewer().request(`/api/changes/${ownerEdit}/undo`, { method: 'POST' }),
        withToken('viewer', `/api/changes/${ownerEdit}/undo`, { method: 'POST' }),
      ]) {
        const error = await expectError(await denied, 403, 'forbidden');
        expect(error.message).toBe(FORBIDDEN_MESSAGE.edit);
      }
      const foreign = await expectError(
        await stranger().request(`/api/changes/${ownerEdit}/undo`, { method: 'POST' }),
        404,
        'not_found',
      );
      const missing = await expectError(
        await stranger().request(`/api/changes/${MISSING_ID}/undo`, { method: 'POST' }),
        404,
        'not_found',
      );
      expect(foreign).toEqual(missing);
      await expectError(
        await withToken('stranger', `/api/changes/${ownerEdit}/undo`, { method: 'POST' }),
        404,
        'not_found',
      );
      await expectError(
        await anonymous.request(`/api/changes/${ownerEdit}/undo`, { method: 'POST' }),
        401,
        'unauthorized',
      );
      await expectError(
        await owner().request(`/api/changes/${ownerEdit}/undo`),
        405,
        'method_not_allowed',
      );
      expect(await stateOf(shared)).toBe(before);

      // An editor undoes the owner's change; the owner undoes the add.
      const undone = await undo(ownerEdit, editor());
      expect(undone.actor).toEqual({ id: ids.editor, username: NAMES.editor });
      expect((await getItem(item.id)).amount).toBe(1);
      await undo(undone.id, owner());
      expect((await getItem(item.id)).amount).toBe(4);
      await expectError(
        await owner().request(`/api/changes/${addChange}/undo`, { method: 'POST' }),
        409,
        'changed_since',
      );
    });
  });

  describe('undo puts back exactly what was', () => {
    it('undoing an add puts the item in the trash; undoing that brings it back as it was', async () => {
      const shared = await sharedInventory('Adds');
      const shelf = await addLocation(shared, 'Shelf');
      const { item, change } = await addItem(shared, {
        name: 'Saw',
        amount: 2,
        description: 'Japanese',
        location_id: shelf,
        tags: ['tools', 'sharp'],
        min_amount: 1,
      });
      const undone = await undo(change);
      expect(undone.changes).toEqual([
        { item_id: item.id, field: 'deleted_at', before: null, after: expect.any(String) },
      ]);
      await expectError(await owner().request(`/api/items/${item.id}`), 404, 'not_found');
      expect((await trash(shared)).items.map((i) => i.id)).toEqual([item.id]);
      const redone = await undo(undone.id);
      expect(redone.changes).toEqual([
        { item_id: item.id, field: 'deleted_at', before: expect.any(String), after: null },
      ]);
      const back = await getItem(item.id);
      expect(comparable(back)).toEqual(comparable(item));
      expect(back.version).toBe(item.version + 2);
      expect((await trash(shared)).items).toEqual([]);
    });

    it('undoing an edit, a move, a retag or an adjust restores every field and tag', async () => {
      const shared = await sharedInventory('Edits');
      const garage = await addLocation(shared, 'Garage');
      const attic = await addLocation(shared, 'Attic');
      const { item: original } = await addItem(shared, {
        name: 'Ladder',
        amount: 1,
        description: 'Aluminium',
        location_id: garage,
        tags: ['tall'],
      });
      const writes: Array<() => Promise<{ change: number }>> = [
        () =>
          patch(original.id, {
            name: 'Step ladder',
            description: '',
            amount: 3,
            min_amount: 2,
            location_id: attic,
            tags: ['short', 'metal'],
          }),
        () => patch(original.id, { location_id: null }, editor()),
        () => patch(original.id, { tags: [] }),
        () => adjust(original.id, 5, editor()),
        () => adjust(original.id, -1),
      ];
      for (const write of writes) {
        const before = await getItem(original.id);
        const { change } = await write();
        const changed = await getItem(original.id);
        expect(comparable(changed)).not.toEqual(comparable(before));
        const undone = await undo(change);
        const after = await getItem(original.id);
        expect(comparable(after)).toEqual(comparable(before));
        expect(after.version).toBe(changed.version + 1);
        expect(undone.item_ids).toEqual([original.id]);
        // Every field the change wrote, written back.
        const written = await history(original.id, '?limit=2');
        expect(written.changes[0]!.id).toBe(undone.id);
        expect(written.changes[1]!.id).toBe(change);
        expect(
          undone.changes.map(({ field, before: b, after: a }) => ({ field, before: a, after: b })),
        ).toEqual(
          expect.arrayContaining(
            written.changes[1]!.changes.map(({ field, before: b, after: a }) => ({
              field,
              before: b,
              after: a,
            })),
          ),
        );
        expect(undone.changes).toHaveLength(written.changes[1]!.changes.length);
      }
    });

    it('undoing a delete brings the item back; undoing a restore sends it back to the trash', async () => {
      const shared = await sharedInventory('Deletes');
      const { item } = await addItem(shared, { name: 'Vase', amount: 1, tags: ['fragile'] });
      const deleted = await remove(item.id);
      await expectError(await owner().request(`/api/items/${item.id}`), 404, 'not_found');
      const undone = await undo(deleted, editor());
      expect(comparable(await getItem(item.id))).toEqual(comparable(item));
      expect((await trash(shared)).total).toBe(0);

      const deletedAgain = await remove(item.id);
      const trashedAt = (await trash(shared)).items[0]!.deleted_at;
      const { change: restored } = await restore(item.id);
      await undo(restored);
      await expectError(await owner().request(`/api/items/${item.id}`), 404, 'not_found');
      const inTrash = await trash(shared);
      expect(inTrash.items.map((i) => i.id)).toEqual([item.id]);
      // Back in the trash since when it was deleted, not since the undo.
      expect(Date.parse(inTrash.items[0]!.deleted_at)).toBe(Date.parse(trashedAt));
      expect(deletedAgain).toBeGreaterThan(undone.id);
    });

    it('is refused (409 changed_since) after a later change, naming the item, who and when; nothing changed', async () => {
      const shared = await sharedInventory('Conflicts');
      const { item } = await addItem(shared, { name: 'Paint', amount: 4 });
      const { change: first } = await patch(item.id, { description: 'Blue' });
      const later = await withToken('editor', `/api/items/${item.id}/adjust`, {
        method: 'POST',
        json: { delta: -1 },
      });
      expect(later.status).toBe(200);
      const laterChange = (await history(item.id)).changes[0]!;
      expect(laterChange.id).toBe(changeIdOf(later));
      const before = await stateOf(shared);
      const error = await expectError(
        await owner().request(`/api/changes/${first}/undo`, { method: 'POST' }),
        409,
        'changed_since',
      );
      expect(error.message).toContain('“Paint”');
      expect(error.message).toContain(NAMES.editor);
      // The page's words, and its time: to the second, in UTC.
      expect(error.message).toContain(formatTimestamp(new Date(laterChange.at)));
      expect(await stateOf(shared)).toBe(before);
      // Newest first, it goes.
      await undo(laterChange.id);
      await undo(first);
      expect(comparable(await getItem(item.id))).toEqual(comparable(item));
      // A change undone once is not undone again: its undo is a later change.
      await expectError(
        await owner().request(`/api/changes/${first}/undo`, { method: 'POST' }),
        409,
        'changed_since',
      );
    });

    it('goes back step by step, newest first; a redo stands in the way again', async () => {
      const shared = await sharedInventory('Steps');
      const { item: v0 } = await addItem(shared, { name: 'Glue', amount: 1 });
      const { item: v1, change: c1 } = await patch(v0.id, { name: 'Wood glue' });
      const { change: c2 } = await adjust(v0.id, 2, editor());
      const { change: c3 } = await patch(v0.id, { tags: ['sticky'] });
      const refusal = async (change: number) =>
        (
          await expectError(
            await owner().request(`/api/changes/${change}/undo`, { method: 'POST' }),
            409,
            'changed_since',
          )
        ).message;
      // The refusal names the newest change standing: the one to undo next.
      expect(await refusal(c1)).toContain(`(change ${c3})`);
      const u3 = await undo(c3);
      expect(await refusal(c1)).toContain(`(change ${c2})`);
      const u2 = await undo(c2);
      // Redoing c2 puts it back in the way: the redo and the undo cancel out, and what stands
      // (the one to undo, with an Undo button, not a Redo) is c2 itself.
      const r2 = await undo(u2.id);
      expect(await refusal(c1)).toContain(`(change ${c2})`);
      await undo(r2.id);
      await undo(c1);
      expect(comparable(await getItem(v0.id))).toEqual(comparable(v0));
      // c3's undo cannot be undone now: the item changed since (c2's undo, c1's).
      expect(await refusal(u3.id)).toContain(NAMES.owner);
      expect(comparable(v1)).not.toEqual(comparable(v0));
    });

    it('undoing an undo redoes', async () => {
      const shared = await sharedInventory('Redo');
      const { item } = await addItem(shared, { name: 'Rope', amount: 10, tags: ['red'] });
      const { item: edited, change } = await patch(item.id, { name: 'Long rope', tags: ['blue'] });
      const undone = await undo(change);
      expect(comparable(await getItem(item.id))).toEqual(comparable(item));
      const redone = await undo(undone.id, editor());
      expect(redone.undoes).toBe(undone.id);
      expect(comparable(await getItem(item.id))).toEqual(comparable(edited));
      const again = await undo(redone.id);
      expect(again.undoes).toBe(redone.id);
      expect(comparable(await getItem(item.id))).toEqual(comparable(item));
      expect((await activity(shared)).changes.map((c) => [c.action, c.undoes])).toEqual([
        ['undo', redone.id],
        ['undo', undone.id],
        ['undo', change],
        ['edit', null],
        ['add', null],
      ]);
    });

    it('is refused (409 not_undoable) when a location it moved an item out of is gone; nothing changed', async () => {
      const shared = await sharedInventory('Moves');
      const first = await addLocation(shared, 'First');
      const second = await addLocation(shared, 'Second');
      const { item } = await addItem(shared, { name: 'Box', location_id: first });
      const { change } = await patch(item.id, { location_id: second });
      const deleted = await owner().request(`/api/locations/${first}`, { method: 'DELETE' });
      expect(deleted.status).toBe(204);
      const before = await stateOf(shared);
      const error = await expectError(
        await owner().request(`/api/changes/${change}/undo`, { method: 'POST' }),
        409,
        'not_undoable',
      );
      expect(error.message).toContain('location');
      expect(await stateOf(shared)).toBe(before);
    });

    it.runIf(backend === 'postgres')(
      'is refused (409 not_undoable) for a purge and for an item purged since',
      async () => {
        const shared = await sharedInventory('Purges');
        const { item } = await addItem(shared, { name: 'Crate', amount: 1 });
        const deleted = await remove(item.id);
        // What the hourly purge does to what is 30 days in the trash.
        const db: Kysely<Database> = own!.db;
        await db.deleteFrom('stored_items').where('id', '=', item.id).execute();
        const purge = await newest(shared);
        expect(purge).toMatchObject({ action: 'purge', via: 'system', actor: null });
        const before = await stateOf(shared);
        const refusedPurge = await expectError(
          await owner().request(`/api/changes/${purge.id}/undo`, { method: 'POST' }),
          409,
          'not_undoable',
        );
        expect(refusedPurge.message).toContain('purge');
        const refusedDelete = await expectError(
          await owner().request(`/api/changes/${deleted}/undo`, { method: 'POST' }),
          409,
          'not_undoable',
        );
        expect(refusedDelete.message).toContain('Crate');
        expect(await stateOf(shared)).toBe(before);
      },
    );
  });

  describe('the trash', () => {
    it('a trashed item answers 404 everywhere, is in no list or export, and comes back with its history', async () => {
      const shared = await sharedInventory('Bin');
      const { item } = await addItem(shared, { name: 'Trashed thing', amount: 3 });
      const { item: kept } = await addItem(shared, { name: 'Kept thing', amount: 1 });
      await adjust(item.id, 1);
      const historyBefore = await history(item.id);
      await remove(item.id, editor());

      await expectError(await owner().request(`/api/items/${item.id}`), 404, 'not_found');
      await expectError(await owner().request(`/api/items/${item.id}/history`), 404, 'not_found');
      await expectError(
        await owner().request(`/api/items/${item.id}`, { method: 'PATCH', json: { amount: 1 } }),
        404,
        'not_found',
      );
      await expectError(
        await owner().request(`/api/items/${item.id}/adjust`, {
          method: 'POST',
          json: { delta: 1 },
        }),
        404,
        'not_found',
      );
      await expectError(
        await owner().request(`/api/items/${item.id}`, { method: 'DELETE' }),
        404,
        'not_found',
      );
      const listed = await json<{ items: ApiItem[]; total: number }>(
        await owner().request(`/api/items?inventory=${shared}`),
      );
      expect(listed.items.map((i) => i.id)).toEqual([kept.id]);
      expect(listed.total).toBe(1);
      const everything = await json<{ items: ApiItem[] }>(
        await owner().request('/api/items?limit=100'),
      );
      expect(everything.items.map((i) => i.id)).not.toContain(item.id);
      const exported = (await (await owner().request('/json/')).json()) as Array<{ pk: number }>;
      expect(exported.map((o) => o.pk)).toContain(kept.id);
      expect(exported.map((o) => o.pk)).not.toContain(item.id);
      // One item's export: any id but one of the caller's items gives the empty list.
      expect(await (await owner().request(`/json/${item.id}/`)).json()).toEqual([]);
      expect(await (await owner().request(`/json/${kept.id}/`)).json()).toEqual([
        expect.objectContaining({ pk: kept.id }),
      ]);

      const bin = await trash(shared);
      expect(bin).toEqual({
        items: [
          {
            id: item.id,
            name: 'Trashed thing',
            amount: 4,
            deleted_at: expect.any(String),
            deleted_by: { id: ids.editor, username: NAMES.editor },
            purge_at: expect.any(String),
          },
        ],
        page: 1,
        limit: TRASH_PAGE_SIZE,
        total: 1,
      });
      const [entry] = bin.items;
      expect(Date.parse(entry!.purge_at) - Date.parse(entry!.deleted_at)).toBe(
        TRASH_DAYS * 86_400_000,
      );
      expect((await trash(shared, '?page=2')).items).toEqual([]);

      const { item: back, change } = await restore(item.id, editor());
      expect(back).toEqual({ ...(await getItem(item.id)) });
      expect(back.amount).toBe(4);
      expect((await trash(shared)).total).toBe(0);
      const historyAfter = await history(item.id);
      expect(historyAfter.changes.slice(2)).toEqual(historyBefore.changes);
      expect(historyAfter.changes.map((c) => c.action)).toEqual([
        'restore',
        'delete',
        'adjust',
        'add',
      ]);
      expect(historyAfter.changes[0]!.id).toBe(change);
      const exportedAgain = (await (await owner().request('/json/')).json()) as Array<{
        pk: number;
      }>;
      expect(exportedAgain.map((o) => o.pk)).toContain(item.id);
    });
  });

  describe('paging and filters', () => {
    it('pages the activity with before and next_before, newest first, and filters by member and item', async () => {
      const shared = await sharedInventory('Pages');
      const { item: a } = await addItem(shared, { name: 'A' });
      const { item: b } = await addItem(shared, { name: 'B' }, editor());
      await adjust(a.id, 1, editor());
      await adjust(b.id, 1);
      await patch(a.id, { name: 'A2' });
      const all = await activity(shared);
      expect(all.changes).toHaveLength(5);
      expect(all.next_before).toBe(null);

      const seen: ApiChange[] = [];
      let query = '?limit=2';
      const pages: number[] = [];
      for (;;) {
        const page = await activity(shared, query);
        pages.push(page.changes.length);
        seen.push(...page.changes);
        if (page.next_before === null) break;
        expect(page.next_before).toBe(page.changes.at(-1)!.id);
        query = `?limit=2&before=${page.next_before}`;
      }
      expect(pages).toEqual([2, 2, 1]);
      expect(seen).toEqual(all.changes);
      // Exactly a page's worth: the last full page says there is no more.
      const four = await activity(shared, `?limit=4&before=${all.changes[0]!.id}`);
      expect(four.changes).toEqual(all.changes.slice(1));
      expect(four.next_before).toBe(null);

      const byEditor = await activity(shared, `?member=${ids.editor}`);
      expect(byEditor.changes.map((c) => c.id)).toEqual(
        all.changes.filter((c) => c.actor?.id === ids.editor).map((c) => c.id),
      );
      expect(byEditor.changes).toHaveLength(2);
      const ofA = await activity(shared, `?item=${a.id}`);
      expect(ofA.changes.map((c) => c.action)).toEqual(['edit', 'adjust', 'add']);
      expect(ofA.changes.every((c) => c.item_ids.join() === String(a.id))).toBe(true);
      const both = await activity(shared, `?item=${a.id}&member=${ids.owner}&limit=1`);
      expect(both.changes.map((c) => c.action)).toEqual(['edit']);
      expect(both.next_before).toBe(both.changes[0]!.id);
      expect((await activity(shared, `?member=${ids.stranger}`)).changes).toEqual([]);

      // An item's history pages the same way.
      const first = await history(a.id, '?limit=2');
      expect(first.changes.map((c) => c.action)).toEqual(['edit', 'adjust']);
      const rest = await history(a.id, `?before=${first.next_before}`);
      expect(rest).toEqual({ changes: [ofA.changes[2]], next_before: null });
    });

    it('bad query values are 400 validation_error, naming the parameter', async () => {
      const shared = await sharedInventory('Queries');
      const { item } = await addItem(shared);
      const bad: Array<[string, string]> = [
        [`/api/inventories/${shared}/activity?before=0`, 'before'],
        [`/api/inventories/${shared}/activity?before=abc`, 'before'],
        [`/api/inventories/${shared}/activity?before=99999999999`, 'before'],
        [`/api/inventories/${shared}/activity?limit=0`, 'limit'],
        [`/api/inventories/${shared}/activity?limit=${MAX_CHANGES_PER_PAGE + 1}`, 'limit'],
        [`/api/inventories/${shared}/activity?limit=1.5`, 'limit'],
        [`/api/inventories/${shared}/activity?limit=`, 'limit'],
        [`/api/inventories/${shared}/activity?member=-1`, 'member'],
        [`/api/inventories/${shared}/activity?item=x`, 'item'],
        [`/api/items/${item.id}/history?limit=0`, 'limit'],
        [`/api/items/${item.id}/history?before=-5`, 'before'],
        [`/api/inventories/${shared}/trash?page=0`, 'page'],
        [`/api/inventories/${shared}/trash?page=abc`, 'page'],
      ];
      for (const [path, field] of bad) {
        const error = await expectError(await owner().request(path), 400, 'validation_error');
        expect(Object.keys(error.fields ?? {}), path).toContain(field);
      }
      // Good values, and parameters it does not know, are fine.
      await activity(shared, `?limit=${MAX_CHANGES_PER_PAGE}&before=${MISSING_ID}&utm=x`);
      await history(item.id, '?limit=1&item=zzz');
      await trash(shared, '?page=1000000');
    });
  });
});
