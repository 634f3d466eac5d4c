import { readFileSync } from 'node:fs';
import path from 'node:path';
import { sql, type Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../../scripts/build-if-stale.ts';
import { deleteUser } from '../../src/lib/server/auth/users.ts';
import { openDatabase, type DatabaseHandle } from '../../src/lib/server/db/connect.ts';
import type { Database } from '../../src/lib/server/db/types.ts';
import { undoChangeForMember } from '../../src/lib/server/history/undo.ts';
import {
  emptyTrashForMember,
  listTrashForMember,
  purgeExpiredTrash,
  restoreItemForMember,
} from '../../src/lib/server/history/trash.ts';
import type { Caller } from '../../src/lib/server/inventories/access.ts';
import { createInventory, deleteInventory } from '../../src/lib/server/inventories/inventories.ts';
import { setMemberRole } from '../../src/lib/server/inventories/members.ts';
import {
  adjustItemAmountForMember,
  createItemForMember,
  deleteItemForMember,
  findItemForMember,
  updateItemForMember,
  type NewItem,
} from '../../src/lib/server/items/items.ts';
import {
  createLocationForMember,
  deleteLocationForMember,
  listLocationsWithCountsForMember,
} from '../../src/lib/server/items/locations.ts';
import {
  deleteTagForMember,
  listTagsForMember,
  mergeTagsForMember,
} from '../../src/lib/server/items/tags.ts';
import { importDjangoDump } from '../../src/lib/server/migration/import.ts';
import {
  BACKENDS,
  createTestDatabase,
  personalInventoryOf,
  type TestDatabase,
} from '../helpers/database.ts';
import { registerInDatabase, signIn, SiteClient, startSite, type Site } from '../helpers/site.ts';
import { postForm } from '../security/kit.ts';

/**
 * History, trash and undo on every backend: the database's own log (a write without the
 * application's context is recorded as the system's), the exact change rows each path that
 * changes items leaves, undo of each kind of change back to the exact previous state, the
 * trash and its purge; then the pages over HTTP: who may see and undo what, the notice's
 * Undo form without JavaScript, the Activity page's order, paging and filters.
 */

const member = (userId: number): Caller => ({ userId, onlyInventoryId: null });

type Db = Kysely<Database>;

interface Entry {
  item_id: number;
  field: string;
  before: unknown;
  after: unknown;
}

interface RecordedChange {
  id: number;
  inventory_id: number;
  actor_id: number | null;
  via: string;
  token_name: string | null;
  action: string;
  undoes_id: number | null;
  entries: Entry[];
}

const entryOrder = (a: Entry, b: Entry) =>
  a.item_id - b.item_id ||
  (a.field < b.field ? -1 : a.field > b.field ? 1 : 0) ||
  JSON.stringify(a.after ?? a.before).localeCompare(JSON.stringify(b.after ?? b.before));

/** The newest change id so far (0 when none). */
async function lastChangeId(db: Db): Promise<number> {
  const { rows } = await sql<{ id: number | null }>`select max(id) as id from changes`.execute(db);
  return rows[0]?.id ?? 0;
}

/** Every change after `after`, oldest first, with its field changes in a fixed order. */
async function changesAfter(db: Db, after: number): Promise<RecordedChange[]> {
  const { rows } = await sql<Omit<RecordedChange, 'entries'>>`
    select id, inventory_id, actor_id, via, token_name, action, undoes_id
    from changes where id > ${after} order by id`.execute(db);
  const { rows: entries } = await sql<Entry & { change_id: number }>`
    select change_id, item_id, field, before, after from item_changes
    where change_id > ${after}`.execute(db);
  return rows.map((row) => ({
    ...row,
    entries: entries
      .filter((entry) => entry.change_id === row.id)
      .map(({ item_id, field, before, after }) => ({ item_id, field, before, after }))
      .sort(entryOrder),
  }));
}

/** The one change made after `after`; fails unless there is exactly one. */
async function onlyChangeAfter(db: Db, after: number): Promise<RecordedChange> {
  const changes = await changesAfter(db, after);
  expect(changes, JSON.stringify(changes)).toHaveLength(1);
  return changes[0]!;
}

const entry = (item_id: number, field: string, before: unknown, after: unknown): Entry => ({
  item_id,
  field,
  before,
  after,
});
const sortEntries = (entries: Entry[]) => [...entries].sort(entryOrder);

/** An item's stored row (trash columns too) and its tag names: what an undo must restore. */
async function itemState(db: Db, id: number) {
  const { rows } = await sql<Record<string, unknown>>`
    select id, inventory_id, created_by, name, amount, description, location_id, min_amount,
      deleted_at::text as deleted_at, deleted_by
    from stored_items where id = ${id}`.execute(db);
  const { rows: tags } = await sql<{ name: string }>`
    select t.name from item_tags it join tags t on t.id = it.tag_id
    where it.item_id = ${id} order by t.name`.execute(db);
  return { row: rows[0], tags: tags.map((tag) => tag.name) };
}

async function countChanges(db: Db): Promise<{ changes: number; entries: number }> {
  const { rows } = await sql<{ changes: number; entries: number }>`
    select (select count(*)::int from changes) as changes,
      (select count(*)::int from item_changes) as entries`.execute(db);
  return rows[0]!;
}

/** The deleted_at the database holds for an item, as JSON writes it (the history's form). */
async function deletedAtJson(db: Db, id: number): Promise<unknown> {
  const { rows } = await sql<{ value: unknown }>`
    select to_jsonb(deleted_at) as value from stored_items where id = ${id}`.execute(db);
  return rows[0]?.value;
}

describe.each(BACKENDS)('history, trash and undo in the repository on %s', (backend) => {
  let database: TestDatabase;
  let db: Db;
  let users: Record<'owner' | 'editor' | 'viewer' | 'stranger', number>;
  let owner: Caller;
  let editor: Caller;
  let viewer: Caller;
  let stranger: Caller;
  let inventory: number;
  let garage: number;
  let shelf: number;

  beforeAll(async () => {
    database = await createTestDatabase(backend);
    db = database.db;
    const rows = await db
      .insertInto('users')
      .values(
        ['owner', 'editor', 'viewer', 'stranger'].map((username) => ({
          username,
          username_key: username,
          password_hash: 'not-a-real-hash',
        })),
      )
      .returning(['id', 'username'])
      .execute();
    users = Object.fromEntries(rows.map((row) => [row.username, row.id])) as typeof users;
    owner = member(users.owner);
    editor = member(users.editor);
    viewer = member(users.viewer);
    stranger = member(users.stranger);
    inventory = await createInventory(db, users.owner, 'Workshop');
    await setMemberRole(db, owner, inventory, 'editor', 'editor');
    await setMemberRole(db, owner, inventory, 'viewer', 'viewer');
    const place = async (name: string, parentId: number | null) => {
      const made = await createLocationForMember(db, owner, 'edit', inventory, { name, parentId });
      if (made.status !== 'created') throw new Error(made.status);
      return made.location.id;
    };
    garage = await place('Garage', null);
    shelf = await place('Shelf', garage);
  }, 120_000);

  afterAll(async () => {
    await database?.drop();
  });

  async function add(input: Partial<NewItem> & { name: string }, by: Caller = owner) {
    const made = await createItemForMember(db, by, 'edit', inventory, {
      amount: 1,
      description: '',
      ...input,
    });
    if (made.status !== 'created') throw new Error(made.status);
    return made;
  }

  describe('the database records every write', () => {
    it('records a direct update, insert and delete made without context as the system', async () => {
      const { item } = await add({ name: 'Direct', amount: 3, description: 'd' });
      let since = await lastChangeId(db);
      await sql`update items set name = 'Renamed', amount = 4 where id = ${item.id}`.execute(db);
      expect(await onlyChangeAfter(db, since)).toMatchObject({
        inventory_id: inventory,
        actor_id: null,
        via: 'system',
        token_name: null,
        action: 'edit',
        undoes_id: null,
        entries: sortEntries([
          entry(item.id, 'name', 'Direct', 'Renamed'),
          entry(item.id, 'amount', 3, 4),
        ]),
      });

      since = await lastChangeId(db);
      const { rows } = await sql<{ id: number }>`
        insert into stored_items (inventory_id, name, amount, description, location_id)
        values (${inventory}, 'Inserted', 7, 'raw', ${garage}) returning id`.execute(db);
      const inserted = rows[0]!.id;
      expect(await onlyChangeAfter(db, since)).toMatchObject({
        actor_id: null,
        via: 'system',
        action: 'add',
        entries: sortEntries([
          entry(inserted, 'name', null, 'Inserted'),
          entry(inserted, 'amount', null, 7),
          entry(inserted, 'description', null, 'raw'),
          entry(inserted, 'location_id', null, garage),
        ]),
      });

      since = await lastChangeId(db);
      await sql`delete from stored_items where id = ${inserted}`.execute(db);
      expect(await onlyChangeAfter(db, since)).toMatchObject({
        actor_id: null,
        via: 'system',
        action: 'purge',
        entries: sortEntries([
          entry(inserted, 'name', 'Inserted', null),
          entry(inserted, 'amount', 7, null),
          entry(inserted, 'description', 'raw', null),
          entry(inserted, 'location_id', garage, null),
        ]),
      });
    });

    it('records a tag linked or unlinked directly as the system', async () => {
      const { item } = await add({ name: 'Linked' });
      await add({ name: 'Has tag', tags: ['direct'] });
      const { id: tag } = await db
        .selectFrom('tags')
        .select('id')
        .where('name', '=', 'direct')
        .executeTakeFirstOrThrow();
      let since = await lastChangeId(db);
      await sql`insert into item_tags (item_id, tag_id) values (${item.id}, ${tag})`.execute(db);
      expect(await onlyChangeAfter(db, since)).toMatchObject({
        actor_id: null,
        via: 'system',
        action: 'tag',
        entries: [entry(item.id, 'tag', null, 'direct')],
      });
      since = await lastChangeId(db);
      await sql`delete from item_tags where item_id = ${item.id}`.execute(db);
      expect(await onlyChangeAfter(db, since)).toMatchObject({
        via: 'system',
        action: 'tag',
        entries: [entry(item.id, 'tag', 'direct', null)],
      });
    });

    it('a transaction is one change: two statements, one change row', async () => {
      const a = (await add({ name: 'Tx A' })).item.id;
      const b = (await add({ name: 'Tx B' })).item.id;
      const since = await lastChangeId(db);
      await db.transaction().execute(async (trx) => {
        await sql`update items set amount = 2 where id = ${a}`.execute(trx);
        await sql`update items set amount = 3 where id = ${b}`.execute(trx);
      });
      expect((await onlyChangeAfter(db, since)).entries).toEqual([
        entry(a, 'amount', 1, 2),
        entry(b, 'amount', 1, 3),
      ]);
    });

    it('an update that changes no tracked field records nothing', async () => {
      const { item } = await add({ name: 'Same' });
      const since = await lastChangeId(db);
      await sql`update items set name = name, updated_at = now() where id = ${item.id}`.execute(db);
      expect(await changesAfter(db, since)).toEqual([]);
    });

    it('items removed with their inventory leave no rows and no error', async () => {
      const gone = await createInventory(db, users.owner, 'Going');
      const made = await createItemForMember(db, owner, 'edit', gone, {
        name: 'With it',
        amount: 1,
        description: '',
        tags: ['doomed'],
      });
      expect(made.status).toBe('created');
      const itemId = made.status === 'created' ? made.item.id : 0;
      await deleteItemForMember(db, owner, 'edit', itemId);
      await createItemForMember(db, owner, 'edit', gone, {
        name: 'Live',
        amount: 1,
        description: '',
      });
      const since = await lastChangeId(db);
      expect(await deleteInventory(db, owner, gone)).toEqual({ status: 'deleted' });
      expect(await changesAfter(db, since)).toEqual([]);
      const { rows } = await sql<{ n: number }>`
        select count(*)::int as n from changes where inventory_id = ${gone}`.execute(db);
      expect(rows[0]!.n).toBe(0);
      const { rows: left } = await sql<{ n: number }>`
        select count(*)::int as n from stored_items where inventory_id = ${gone}`.execute(db);
      expect(left[0]!.n).toBe(0);
    });

    it('an account deleted (created_by set null) records nothing and does not fail', async () => {
      const { id: leaver } = await db
        .insertInto('users')
        .values({ username: 'leaver', username_key: 'leaver', password_hash: 'x' })
        .returning('id')
        .executeTakeFirstOrThrow();
      await setMemberRole(db, owner, inventory, 'leaver', 'editor');
      const made = await add({ name: 'Left behind' }, member(leaver));
      await deleteItemForMember(
        db,
        member(leaver),
        'edit',
        (await add({ name: 'Binned' })).item.id,
      );
      const before = await countChanges(db);
      const since = await lastChangeId(db);
      await deleteUser(db, leaver);
      expect(await changesAfter(db, since)).toEqual([]);
      expect(await countChanges(db)).toEqual(before);
      const state = await itemState(db, made.item.id);
      expect(state.row).toMatchObject({ name: 'Left behind', created_by: null });
      // Their change stays, by no one now.
      const { rows } = await sql<{ actor_id: number | null }>`
        select actor_id from changes where id = ${made.changeId}`.execute(db);
      expect(rows[0]!.actor_id).toBeNull();
    });
  });

  describe('each path leaves exactly its change rows', () => {
    it('create with tags and a location', async () => {
      const since = await lastChangeId(db);
      const made = await add(
        {
          name: 'Drill',
          amount: 2,
          description: 'cordless',
          locationId: shelf,
          tags: ['tools', 'red'],
          minAmount: 1,
        },
        editor,
      );
      const change = await onlyChangeAfter(db, since);
      expect(made.changeId).toBe(change.id);
      const id = made.item.id;
      expect(change).toEqual({
        id: change.id,
        inventory_id: inventory,
        actor_id: users.editor,
        via: 'page',
        token_name: null,
        action: 'add',
        undoes_id: null,
        entries: sortEntries([
          entry(id, 'name', null, 'Drill'),
          entry(id, 'amount', null, 2),
          entry(id, 'description', null, 'cordless'),
          entry(id, 'location_id', null, shelf),
          entry(id, 'min_amount', null, 1),
          entry(id, 'tag', null, 'red'),
          entry(id, 'tag', null, 'tools'),
        ]),
      });
    });

    it('a token caller is recorded as the API with the token name', async () => {
      const since = await lastChangeId(db);
      await createItemForMember(db, { ...owner, tokenName: 'scanner' }, 'edit', inventory, {
        name: 'Scanned',
        amount: 1,
        description: '',
      });
      expect(await onlyChangeAfter(db, since)).toMatchObject({ via: 'api', token_name: 'scanner' });
    });

    it('edit: fields as edit, location alone as move, tags alone as tag', async () => {
      const { item } = await add({ name: 'Saw', amount: 2, tags: ['tools'] });
      let since = await lastChangeId(db);
      const edited = await updateItemForMember(db, editor, 'edit', item.id, {
        name: 'Handsaw',
        description: 'sharp',
        minAmount: 3,
      });
      expect(edited.status).toBe('changed');
      expect(await onlyChangeAfter(db, since)).toMatchObject({
        actor_id: users.editor,
        via: 'page',
        action: 'edit',
        entries: sortEntries([
          entry(item.id, 'name', 'Saw', 'Handsaw'),
          entry(item.id, 'description', '', 'sharp'),
          entry(item.id, 'min_amount', null, 3),
        ]),
      });

      since = await lastChangeId(db);
      await updateItemForMember(db, editor, 'edit', item.id, { locationId: garage });
      expect(await onlyChangeAfter(db, since)).toMatchObject({
        action: 'move',
        entries: [entry(item.id, 'location_id', null, garage)],
      });

      since = await lastChangeId(db);
      await updateItemForMember(db, editor, 'edit', item.id, { tags: ['blades', 'tools'] });
      expect(await onlyChangeAfter(db, since)).toMatchObject({
        action: 'tag',
        entries: [entry(item.id, 'tag', null, 'blades')],
      });

      since = await lastChangeId(db);
      await updateItemForMember(db, editor, 'edit', item.id, { tags: [] });
      expect(await onlyChangeAfter(db, since)).toMatchObject({
        action: 'tag',
        entries: sortEntries([
          entry(item.id, 'tag', 'blades', null),
          entry(item.id, 'tag', 'tools', null),
        ]),
      });

      // Saving the same values records nothing, and says so.
      since = await lastChangeId(db);
      const same = await updateItemForMember(db, editor, 'edit', item.id, { name: 'Handsaw' });
      expect(same).toMatchObject({ status: 'changed', changeId: null });
      expect(await changesAfter(db, since)).toEqual([]);
    });

    it('±1 is an adjust of the amount', async () => {
      const { item } = await add({ name: 'Battery', amount: 5 });
      const since = await lastChangeId(db);
      await adjustItemAmountForMember(db, editor, 'edit', item.id, -1);
      await adjustItemAmountForMember(db, editor, 'edit', item.id, 1);
      const changes = await changesAfter(db, since);
      expect(
        changes.map(({ action, via, actor_id, entries }) => ({ action, via, actor_id, entries })),
      ).toEqual([
        {
          action: 'adjust',
          via: 'page',
          actor_id: users.editor,
          entries: [entry(item.id, 'amount', 5, 4)],
        },
        {
          action: 'adjust',
          via: 'page',
          actor_id: users.editor,
          entries: [entry(item.id, 'amount', 4, 5)],
        },
      ]);
    });

    it('delete moves to the trash, restore brings it back, both recorded', async () => {
      const { item } = await add({ name: 'Lamp', tags: ['light'] });
      let since = await lastChangeId(db);
      const deleted = await deleteItemForMember(db, editor, 'edit', item.id);
      const change = await onlyChangeAfter(db, since);
      expect(deleted).toEqual({ status: 'deleted', changeId: change.id });
      const deletedAt = await deletedAtJson(db, item.id);
      expect(typeof deletedAt).toBe('string');
      expect(change).toMatchObject({
        actor_id: users.editor,
        via: 'page',
        action: 'delete',
        entries: [entry(item.id, 'deleted_at', null, deletedAt)],
      });
      expect((await itemState(db, item.id)).row).toMatchObject({ deleted_by: users.editor });
      expect(await findItemForMember(db, owner, 'read', item.id)).toBeUndefined();
      // A second delete finds nothing to delete.
      since = await lastChangeId(db);
      expect((await deleteItemForMember(db, editor, 'edit', item.id)).status).toBe('not-found');
      expect(await changesAfter(db, since)).toEqual([]);

      since = await lastChangeId(db);
      const restored = await restoreItemForMember(db, owner, 'edit', item.id);
      const back = await onlyChangeAfter(db, since);
      expect(restored).toMatchObject({ status: 'restored', changeId: back.id });
      expect(back).toMatchObject({
        actor_id: users.owner,
        via: 'page',
        action: 'restore',
        entries: [entry(item.id, 'deleted_at', deletedAt, null)],
      });
      const state = await itemState(db, item.id);
      expect(state.row).toMatchObject({ deleted_at: null, deleted_by: null });
      expect(state.tags).toEqual(['light']);
    });

    it('empty trash: owners only, recorded as a purge', async () => {
      const own = await createInventory(db, users.owner, 'Bin');
      await setMemberRole(db, owner, own, 'editor', 'editor');
      const made = await createItemForMember(db, owner, 'edit', own, {
        name: 'Junk',
        amount: 2,
        description: 'x',
        tags: ['old'],
      });
      const id = made.status === 'created' ? made.item.id : 0;
      await createItemForMember(db, owner, 'edit', own, {
        name: 'Keep',
        amount: 1,
        description: '',
      });
      await deleteItemForMember(db, owner, 'edit', id);
      const deletedAt = await deletedAtJson(db, id);
      let since = await lastChangeId(db);
      expect(await emptyTrashForMember(db, editor, 'own', own)).toEqual({
        status: 'forbidden',
        role: 'editor',
      });
      expect(await emptyTrashForMember(db, stranger, 'own', own)).toEqual({ status: 'not-found' });
      expect(await changesAfter(db, since)).toEqual([]);
      expect((await itemState(db, id)).row).toBeDefined();

      since = await lastChangeId(db);
      expect(await emptyTrashForMember(db, owner, 'own', own)).toEqual({
        status: 'emptied',
        count: 1,
      });
      expect(await onlyChangeAfter(db, since)).toMatchObject({
        inventory_id: own,
        actor_id: users.owner,
        via: 'page',
        action: 'purge',
        entries: sortEntries([
          entry(id, 'name', 'Junk', null),
          entry(id, 'amount', 2, null),
          entry(id, 'description', 'x', null),
          entry(id, 'deleted_at', deletedAt, null),
        ]),
      });
      expect((await itemState(db, id)).row).toBeUndefined();
    });

    it('purgeExpiredTrash takes what is 30 days old, as the system; 29 days stays', async () => {
      const old = (await add({ name: 'Old', amount: 3 })).item.id;
      const recent = (await add({ name: 'Recent' })).item.id;
      await deleteItemForMember(db, owner, 'edit', old);
      await deleteItemForMember(db, owner, 'edit', recent);
      await db.transaction().execute(async (trx) => {
        await sql`select set_config('pacil.change', ${JSON.stringify({ actor: users.owner, via: 'page', token: null, action: 'edit' })}, true)`.execute(
          trx,
        );
        await sql`update stored_items set deleted_at = now() - interval '31 days' where id = ${old}`.execute(
          trx,
        );
        await sql`update stored_items set deleted_at = now() - interval '29 days' where id = ${recent}`.execute(
          trx,
        );
      });
      const oldAt = await deletedAtJson(db, old);
      const since = await lastChangeId(db);
      expect(await purgeExpiredTrash(db)).toBe(1);
      expect(await onlyChangeAfter(db, since)).toMatchObject({
        inventory_id: inventory,
        actor_id: null,
        via: 'system',
        action: 'purge',
        entries: sortEntries([
          entry(old, 'name', 'Old', null),
          entry(old, 'amount', 3, null),
          entry(old, 'description', '', null),
          entry(old, 'deleted_at', oldAt, null),
        ]),
      });
      expect((await itemState(db, old)).row).toBeUndefined();
      expect((await itemState(db, recent)).row).toMatchObject({ name: 'Recent' });
      // Expired items of two inventories: one change in each.
      const other = await createInventory(db, users.owner, 'Other');
      const there = await createItemForMember(db, owner, 'edit', other, {
        name: 'There',
        amount: 1,
        description: '',
      });
      const here = (await add({ name: 'Here' })).item.id;
      const thereId = there.status === 'created' ? there.item.id : 0;
      await sql`update stored_items set deleted_at = now() - interval '40 days'
        where id in (${here}, ${thereId})`.execute(db);
      const twice = await lastChangeId(db);
      expect(await purgeExpiredTrash(db)).toBe(2);
      const purges = await changesAfter(db, twice);
      expect(
        purges
          .map((c) => ({
            inventory: c.inventory_id,
            via: c.via,
            action: c.action,
            items: [...new Set(c.entries.map((e) => e.item_id))],
          }))
          .sort((a, b) => a.inventory - b.inventory),
      ).toEqual(
        [
          { inventory: inventory, via: 'system', action: 'purge', items: [here] },
          { inventory: other, via: 'system', action: 'purge', items: [thereId] },
        ].sort((a, b) => a.inventory - b.inventory),
      );
      // Nothing left to purge: no change.
      const after = await lastChangeId(db);
      expect(await purgeExpiredTrash(db)).toBe(0);
      expect(await changesAfter(db, after)).toEqual([]);
    });

    it('a location deleted with move_to moves its items, trashed ones too, as a move', async () => {
      const made = await createLocationForMember(db, owner, 'edit', inventory, {
        name: 'Box',
        parentId: null,
      });
      if (made.status !== 'created') throw new Error(made.status);
      const box = made.location.id;
      const a = (await add({ name: 'In box', locationId: box })).item.id;
      const b = (await add({ name: 'Binned in box', locationId: box })).item.id;
      await deleteItemForMember(db, owner, 'edit', b);
      const since = await lastChangeId(db);
      expect(await deleteLocationForMember(db, editor, 'edit', box, garage)).toMatchObject({
        status: 'deleted',
        movedItems: 1,
      });
      expect(await onlyChangeAfter(db, since)).toMatchObject({
        actor_id: users.editor,
        via: 'page',
        action: 'move',
        entries: [entry(a, 'location_id', box, garage), entry(b, 'location_id', box, garage)],
      });
      expect((await itemState(db, b)).row).toMatchObject({ location_id: garage });
    });

    it('tag merge and tag delete record each item’s tags by name', async () => {
      const a = (await add({ name: 'Tagged A', tags: ['colour', 'paint'] })).item.id;
      const b = (await add({ name: 'Tagged B', tags: ['color'] })).item.id;
      const tags = await listTagsForMember(db, owner, 'read', inventory);
      const id = (name: string) => tags.find((tag) => tag.name === name)!.id;
      let since = await lastChangeId(db);
      expect(await mergeTagsForMember(db, editor, 'edit', id('color'), id('colour'))).toEqual({
        status: 'merged',
        into: 'colour',
      });
      expect(await onlyChangeAfter(db, since)).toMatchObject({
        actor_id: users.editor,
        action: 'tag',
        entries: sortEntries([entry(b, 'tag', 'color', null), entry(b, 'tag', null, 'colour')]),
      });
      since = await lastChangeId(db);
      expect(await deleteTagForMember(db, editor, 'edit', id('colour'))).toEqual({
        status: 'deleted',
      });
      expect(await onlyChangeAfter(db, since)).toMatchObject({
        action: 'tag',
        entries: [entry(a, 'tag', 'colour', null), entry(b, 'tag', 'colour', null)],
      });
      expect((await itemState(db, a)).tags).toEqual(['paint']);
    });

    it('refused writes record nothing', async () => {
      const { item } = await add({ name: 'Guarded' });
      const since = await lastChangeId(db);
      expect((await updateItemForMember(db, viewer, 'edit', item.id, { name: 'x' })).status).toBe(
        'forbidden',
      );
      expect((await adjustItemAmountForMember(db, stranger, 'edit', item.id, 1)).status).toBe(
        'not-found',
      );
      expect((await deleteItemForMember(db, viewer, 'edit', item.id)).status).toBe('forbidden');
      expect((await adjustItemAmountForMember(db, owner, 'edit', item.id, -2)).status).toBe(
        'out-of-range',
      );
      expect(await changesAfter(db, since)).toEqual([]);
    });
  });

  describe('undo', () => {
    /** Undoes `change` as the owner and checks the item is exactly as `before`. */
    async function expectUndone(changeId: number, ids: number[], before: unknown[]) {
      const since = await lastChangeId(db);
      const outcome = await undoChangeForMember(db, owner, 'edit', changeId);
      expect(outcome).toMatchObject({ status: 'undone', inventoryId: inventory });
      const undo = await onlyChangeAfter(db, since);
      expect(undo).toMatchObject({
        actor_id: users.owner,
        via: 'undo',
        action: 'undo',
        undoes_id: changeId,
      });
      if (outcome.status === 'undone') expect(outcome.changeId).toBe(undo.id);
      expect(await Promise.all(ids.map((id) => itemState(db, id)))).toEqual(before);
      return undo;
    }

    it('of an add puts the item in the trash; undoing that brings it back', async () => {
      const made = await add({ name: 'Oops', tags: ['x1'], locationId: garage });
      const before = await itemState(db, made.item.id);
      const undo = await undoChangeForMember(db, owner, 'edit', made.changeId!);
      expect(undo.status).toBe('undone');
      const trashed = await itemState(db, made.item.id);
      expect(trashed.row).toMatchObject({ name: 'Oops', deleted_by: users.owner });
      expect(trashed.row!.deleted_at).not.toBeNull();
      expect(trashed.tags).toEqual(['x1']);
      expect(await findItemForMember(db, owner, 'read', made.item.id)).toBeUndefined();
      // The undo of the undo redoes: the item is back as it was.
      if (undo.status !== 'undone') return;
      await expectUndone(undo.changeId!, [made.item.id], [before]);
    });

    it('of an edit, an adjust and a move restores the exact previous state', async () => {
      const { item } = await add({
        name: 'Wrench',
        amount: 4,
        description: 'big',
        locationId: garage,
        minAmount: 2,
      });
      for (const change of [
        () =>
          updateItemForMember(db, editor, 'edit', item.id, {
            name: 'Spanner',
            description: '',
            minAmount: null,
            amount: 9,
          }),
        () => adjustItemAmountForMember(db, editor, 'edit', item.id, 1),
        () => updateItemForMember(db, editor, 'edit', item.id, { locationId: shelf }),
        () => updateItemForMember(db, editor, 'edit', item.id, { locationId: null }),
      ]) {
        const before = await itemState(db, item.id);
        const outcome = await change();
        if (!('changeId' in outcome)) throw new Error(outcome.status);
        await expectUndone(outcome.changeId!, [item.id], [before]);
      }
    });

    it('of a tag add and a tag removal', async () => {
      const { item } = await add({ name: 'Tape', tags: ['sticky'] });
      let before = await itemState(db, item.id);
      const added = await updateItemForMember(db, editor, 'edit', item.id, {
        tags: ['sticky', 'brandnew'],
      });
      if (added.status !== 'changed') throw new Error(added.status);
      await expectUndone(added.changeId!, [item.id], [before]);

      before = await itemState(db, item.id);
      const removed = await updateItemForMember(db, editor, 'edit', item.id, { tags: [] });
      if (removed.status !== 'changed') throw new Error(removed.status);
      await expectUndone(removed.changeId!, [item.id], [before]);
    });

    it('of a tag removal whose tag was deleted since makes the tag again', async () => {
      const { item } = await add({ name: 'Marker', tags: ['ephemeral'] });
      const before = await itemState(db, item.id);
      const tag = (await listTagsForMember(db, owner, 'read', inventory)).find(
        (t) => t.name === 'ephemeral',
      )!;
      const since = await lastChangeId(db);
      await deleteTagForMember(db, owner, 'edit', tag.id);
      const change = await onlyChangeAfter(db, since);
      await expectUndone(change.id, [item.id], [before]);
    });

    it('of a delete restores; of a restore puts it back in the trash exactly', async () => {
      const { item } = await add({ name: 'Vase', tags: ['fragile'] });
      let before = await itemState(db, item.id);
      const deleted = await deleteItemForMember(db, editor, 'edit', item.id);
      if (deleted.status !== 'deleted') throw new Error(deleted.status);
      await expectUndone(deleted.changeId!, [item.id], [before]);

      await deleteItemForMember(db, editor, 'edit', item.id);
      before = await itemState(db, item.id);
      const restored = await restoreItemForMember(db, owner, 'edit', item.id);
      if (restored.status !== 'restored') throw new Error(restored.status);
      // Back in the trash as it was: the same deleted_at (to the microsecond), by the same one.
      await expectUndone(restored.changeId!, [item.id], [before]);
    });

    it('of a location deletion’s move is refused: the location is gone', async () => {
      const made = await createLocationForMember(db, owner, 'edit', inventory, {
        name: 'Tmp',
        parentId: null,
      });
      if (made.status !== 'created') throw new Error(made.status);
      await add({ name: 'In tmp', locationId: made.location.id });
      const since = await lastChangeId(db);
      await deleteLocationForMember(db, owner, 'edit', made.location.id, null);
      const change = await onlyChangeAfter(db, since);
      const counts = await countChanges(db);
      expect(await undoChangeForMember(db, owner, 'edit', change.id)).toMatchObject({
        status: 'not-undoable',
      });
      expect(await countChanges(db)).toEqual(counts);
    });

    it('is refused after a later change, with nothing changed', async () => {
      const a = (await add({ name: 'First', tags: ['t1'] })).item.id;
      const b = (await add({ name: 'Second' })).item.id;
      // One change of two items, then a later change of one of them.
      const since = await lastChangeId(db);
      await db.transaction().execute(async (trx) => {
        await sql`select set_config('pacil.change', ${JSON.stringify({ actor: users.editor, via: 'page', token: null, action: 'edit' })}, true)`.execute(
          trx,
        );
        await sql`update items set amount = 10 where id = ${a}`.execute(trx);
        await sql`update items set amount = 20 where id = ${b}`.execute(trx);
      });
      const both = await onlyChangeAfter(db, since);
      expect(both).toMatchObject({ actor_id: users.editor, via: 'page', action: 'edit' });
      const later = await adjustItemAmountForMember(db, editor, 'edit', b, 1);
      if (later.status !== 'adjusted') throw new Error(later.status);
      const states = await Promise.all([itemState(db, a), itemState(db, b)]);
      const counts = await countChanges(db);
      const outcome = await undoChangeForMember(db, owner, 'edit', both.id);
      expect(outcome).toMatchObject({
        status: 'changed-since',
        itemName: 'Second',
        later: { id: later.changeId, actor: 'editor' },
      });
      expect(await Promise.all([itemState(db, a), itemState(db, b)])).toEqual(states);
      expect(await countChanges(db)).toEqual(counts);
    });

    it('newest first: once the later change is undone, the earlier one can be', async () => {
      const a = (await add({ name: 'Step one', amount: 1 })).item.id;
      const first = await adjustItemAmountForMember(db, editor, 'edit', a, 1);
      const before = await itemState(db, a);
      const second = await adjustItemAmountForMember(db, editor, 'edit', a, 1);
      if (first.status !== 'adjusted' || second.status !== 'adjusted')
        throw new Error('not adjusted');
      expect((await undoChangeForMember(db, owner, 'edit', first.changeId!)).status).toBe(
        'changed-since',
      );
      const undo = await undoChangeForMember(db, owner, 'edit', second.changeId!);
      if (undo.status !== 'undone') throw new Error(undo.status);
      expect(await itemState(db, a)).toEqual(before);
      // Redone: the second change stands again, so the first is refused again.
      const redo = await undoChangeForMember(db, owner, 'edit', undo.changeId!);
      if (redo.status !== 'undone') throw new Error(redo.status);
      expect((await itemState(db, a)).row).toMatchObject({ amount: 3 });
      const counts = await countChanges(db);
      // The redo and the undo cancel out: what stands is the second change, the one to undo.
      expect(await undoChangeForMember(db, owner, 'edit', first.changeId!)).toMatchObject({
        status: 'changed-since',
        later: { id: second.changeId },
      });
      expect(await countChanges(db)).toEqual(counts);
      // Undo the redo, and the first goes back too.
      expect((await undoChangeForMember(db, owner, 'edit', redo.changeId!)).status).toBe('undone');
      expect(await itemState(db, a)).toEqual(before);
      expect((await undoChangeForMember(db, owner, 'edit', first.changeId!)).status).toBe('undone');
      expect((await itemState(db, a)).row).toMatchObject({ amount: 1 });
    });

    it('names the change that stands, never an undo to redo: A, B, C, undo C → undo B first', async () => {
      const a = (await add({ name: 'Steps', amount: 1 })).item.id;
      const changeA = await adjustItemAmountForMember(db, editor, 'edit', a, 1);
      const changeB = await adjustItemAmountForMember(db, editor, 'edit', a, 1);
      const changeC = await adjustItemAmountForMember(db, editor, 'edit', a, 1);
      if ([changeA, changeB, changeC].some((c) => c.status !== 'adjusted')) {
        throw new Error('not adjusted');
      }
      const ids = [changeA, changeB, changeC].map((c) => (c as { changeId: number }).changeId);
      expect((await undoChangeForMember(db, owner, 'edit', ids[2]!)).status).toBe('undone');
      expect(await undoChangeForMember(db, owner, 'edit', ids[0]!)).toMatchObject({
        status: 'changed-since',
        later: { id: ids[1] },
      });
      expect((await undoChangeForMember(db, owner, 'edit', ids[1]!)).status).toBe('undone');
      expect((await undoChangeForMember(db, owner, 'edit', ids[0]!)).status).toBe('undone');
      expect((await itemState(db, a)).row).toMatchObject({ amount: 1 });
    });

    it('of a purge is not undoable, and nothing changes', async () => {
      const { item } = await add({ name: 'Purged' });
      await deleteItemForMember(db, owner, 'edit', item.id);
      const since = await lastChangeId(db);
      await emptyTrashForMember(db, owner, 'own', inventory);
      const purge = (await changesAfter(db, since)).at(-1)!;
      expect(purge.action).toBe('purge');
      const counts = await countChanges(db);
      expect(await undoChangeForMember(db, owner, 'edit', purge.id)).toMatchObject({
        status: 'not-undoable',
        inventoryId: inventory,
      });
      expect(await countChanges(db)).toEqual(counts);
    });

    it('answers viewers forbidden and strangers not found, writing nothing', async () => {
      const made = await add({ name: 'Protected' });
      const counts = await countChanges(db);
      expect(await undoChangeForMember(db, viewer, 'edit', made.changeId!)).toEqual({
        status: 'forbidden',
        role: 'viewer',
      });
      expect(await undoChangeForMember(db, stranger, 'edit', made.changeId!)).toEqual({
        status: 'not-found',
      });
      expect(await undoChangeForMember(db, owner, 'edit', 2_000_000_000)).toEqual({
        status: 'not-found',
      });
      expect(await countChanges(db)).toEqual(counts);
      expect((await itemState(db, made.item.id)).row).toMatchObject({ deleted_at: null });
    });

    it('two undos of one change at once: exactly one succeeds', async () => {
      const { item } = await add({ name: 'Raced', amount: 5 });
      const adjusted = await adjustItemAmountForMember(db, editor, 'edit', item.id, 1);
      if (adjusted.status !== 'adjusted') throw new Error(adjusted.status);
      const since = await lastChangeId(db);
      const outcomes = await Promise.all([
        undoChangeForMember(db, owner, 'edit', adjusted.changeId!),
        undoChangeForMember(db, editor, 'edit', adjusted.changeId!),
      ]);
      expect(outcomes.map((o) => o.status).sort()).toEqual(['changed-since', 'undone']);
      expect(await changesAfter(db, since)).toHaveLength(1);
      expect((await itemState(db, item.id)).row).toMatchObject({ amount: 5 });
    });
  });

  describe('the trash', () => {
    it('hides a trashed item from counts and lists it with who and when', async () => {
      const made = await createLocationForMember(db, owner, 'edit', inventory, {
        name: 'Counted',
        parentId: null,
      });
      if (made.status !== 'created') throw new Error(made.status);
      const place = made.location.id;
      const { item } = await add({ name: 'Counted item', locationId: place, tags: ['counted'] });
      const countIn = async () =>
        (await listLocationsWithCountsForMember(db, owner, 'read', inventory)).find(
          (l) => l.id === place,
        );
      const tagCount = async () =>
        (await listTagsForMember(db, owner, 'read', inventory)).find((t) => t.name === 'counted')
          ?.itemCount;
      expect(await tagCount()).toBe(1);
      const countedBefore = await countIn();
      await deleteItemForMember(db, editor, 'edit', item.id);
      expect(await tagCount()).toBe(0);
      expect(countedBefore).toMatchObject({ itemCount: 1, subtreeItemCount: 1 });
      expect(await countIn()).toMatchObject({ itemCount: 0, subtreeItemCount: 0, totalAmount: 0 });
      const trash = await listTrashForMember(db, viewer, 'read', inventory, { page: 1, limit: 50 });
      const listed = trash.items.find((t) => t.id === item.id);
      expect(listed).toMatchObject({
        name: 'Counted item',
        deletedBy: { id: users.editor, username: 'editor' },
      });
      expect(listed!.purgeAt.getTime() - listed!.deletedAt.getTime()).toBe(30 * 86_400_000);
      expect(
        (await listTrashForMember(db, stranger, 'read', inventory, { page: 1, limit: 50 })).items,
      ).toEqual([]);
      expect(await restoreItemForMember(db, viewer, 'edit', item.id)).toEqual({
        status: 'forbidden',
        role: 'viewer',
      });
      expect(await restoreItemForMember(db, stranger, 'edit', item.id)).toEqual({
        status: 'not-found',
      });
      expect((await restoreItemForMember(db, editor, 'edit', item.id)).status).toBe('restored');
      expect(await tagCount()).toBe(1);
      expect(await countIn()).toEqual(countedBefore);
    });
  });
});

describe.each(BACKENDS)('the Django import is recorded on %s', (backend) => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase(backend);
  }, 120_000);
  afterAll(async () => {
    await database?.drop();
  });

  it('records one change per inventory, via import, with every field', async () => {
    const text = readFileSync(
      path.join(ROOT, '..', 'shared', 'formats', 'django-dumpdata.json'),
      'utf8',
    );
    async function* source() {
      yield text;
    }
    const result = await importDjangoDump(database.db, source(), { fileName: 'dump.json' });
    expect(result.status).toBe('imported');
    const changes = await changesAfter(database.db, 0);
    const items = await sql<{
      id: number;
      inventory_id: number;
      name: string;
      amount: number;
      description: string;
    }>`
      select id, inventory_id, name, amount, description from stored_items order by id`.execute(
      database.db,
    );
    expect(items.rows.length).toBeGreaterThan(0);
    const inventories = [...new Set(items.rows.map((row) => row.inventory_id))].sort(
      (a, b) => a - b,
    );
    expect(changes.map((c) => c.inventory_id).sort((a, b) => a - b)).toEqual(inventories);
    for (const change of changes) {
      expect(change).toMatchObject({
        actor_id: null,
        via: 'import',
        action: 'import',
        token_name: null,
      });
      expect(change.entries).toEqual(
        sortEntries(
          items.rows
            .filter((row) => row.inventory_id === change.inventory_id)
            .flatMap((row) => [
              entry(row.id, 'name', null, row.name),
              entry(row.id, 'amount', null, row.amount),
              entry(row.id, 'description', null, row.description),
            ]),
        ),
      );
    }

    // Undoing the import of an inventory puts all of its items in the trash at once.
    const change = changes[0]!;
    const { rows: owners } = await sql<{ user_id: number }>`
      select user_id from memberships where inventory_id = ${change.inventory_id}
      and role = 'owner'`.execute(database.db);
    const undone = await undoChangeForMember(
      database.db,
      member(owners[0]!.user_id),
      'edit',
      change.id,
    );
    expect(undone).toMatchObject({ status: 'undone', inventoryId: change.inventory_id });
    const { rows: left } = await sql<{ live: number; trashed: number }>`
      select count(*) filter (where deleted_at is null)::int as live,
        count(*) filter (where deleted_at is not null)::int as trashed
      from stored_items where inventory_id = ${change.inventory_id}`.execute(database.db);
    expect(left[0]).toEqual({
      live: 0,
      trashed: items.rows.filter((row) => row.inventory_id === change.inventory_id).length,
    });
  });
});

type Person = 'owner' | 'editor' | 'viewer' | 'stranger';
const PEOPLE: readonly Person[] = ['owner', 'editor', 'viewer', 'stranger'];

interface Shown {
  id: number;
  head: string;
  who: string;
  lines: string[];
  undoAction: string | undefined;
}

/** The changes a page lists (ChangeList), in its order. */
function shownChanges(html: string): Shown[] {
  const list = /<ol class="changes"[^>]*>([\s\S]*?)<\/ol>/.exec(html)?.[1] ?? '';
  return list
    .split(/<li class="change" data-change-id="/)
    .slice(1)
    .map((block) => {
      const text = (part: string | undefined) =>
        (part ?? '')
          .replace(/<[^>]+>/g, ' ')
          .replace(/\s+/g, ' ')
          .replace(/ :/g, ':')
          .trim();
      return {
        id: Number(/^(\d+)/.exec(block)![1]),
        head: text(/<span class="change-what">([\s\S]*?)<\/span>\s*<span/.exec(block)?.[1]),
        who: text(
          /<span class="muted change-who">([\s\S]*?)<\/span>\s*(?:<form|<\/div>)/.exec(block)?.[1],
        ),
        lines: [
          ...(/<ul class="change-lines">([\s\S]*?)<\/ul>/.exec(block)?.[1] ?? '').matchAll(
            /<li[^>]*>([\s\S]*?)<\/li>/g,
          ),
        ].map((m) => text(m[1])),
        undoAction: /<form method="post" action="([^"]+)"/.exec(block)?.[1],
      };
    });
}

async function seedSite(db: Db) {
  const users = {} as Record<Person, number>;
  for (const person of PEOPLE) users[person] = await registerInDatabase(db, `${person}_hi`);
  const owner = member(users.owner);
  const editor = member(users.editor);
  const shared = await createInventory(db, users.owner, 'Workshop');
  for (const role of ['editor', 'viewer'] as const) {
    await setMemberRole(db, owner, shared, `${role}_hi`, role);
  }
  const made = await createLocationForMember(db, owner, 'edit', shared, {
    name: 'Attic',
    parentId: null,
  });
  if (made.status !== 'created') throw new Error(made.status);
  const attic = made.location.id;
  const add = async (
    name: string,
    extra: Partial<NewItem> = {},
    inventory = shared,
    by = owner,
  ) => {
    const outcome = await createItemForMember(db, by, 'edit', inventory, {
      name,
      amount: 1,
      description: '',
      ...extra,
    });
    if (outcome.status !== 'created') throw new Error(outcome.status);
    return outcome;
  };
  const lamp = (await add('Lamp', { locationId: attic, tags: ['lit'] })).item.id;
  const vase = (await add('Vase', { tags: ['fragile'] })).item.id;
  const hammer = await add('Hammer');
  const counter = (await add('Counter', { amount: 0 })).item.id;
  for (let step = 0; step < 120; step += 1) {
    const adjusted = await adjustItemAmountForMember(db, editor, 'edit', counter, 1);
    if (adjusted.status !== 'adjusted') throw new Error(adjusted.status);
  }
  const secret = await add(
    'Secret',
    {},
    await personalInventoryOf(db, users.stranger),
    member(users.stranger),
  );
  return {
    users,
    shared,
    attic,
    items: { lamp, vase, hammer: hammer.item.id, counter },
    hammerAdd: hammer.changeId!,
    strangerChange: secret.changeId!,
  };
}

describe.each(BACKENDS)('history, trash and undo through the pages on %s', (backend) => {
  let site: Site;
  let seeded: Awaited<ReturnType<typeof seedSite>>;
  /** The server's database, on PostgreSQL: the exact rows a page wrote. */
  let direct: DatabaseHandle | undefined;
  const clients = {} as Record<Person, SiteClient>;

  beforeAll(async () => {
    site = await startSite(backend, async (db) => {
      seeded = await seedSite(db);
    });
    for (const person of PEOPLE) clients[person] = await signIn(site.url, `${person}_hi`);
    if (site.databaseUrl) direct = openDatabase({ databaseUrl: site.databaseUrl, poolSize: 2 });
  }, 180_000);

  afterAll(async () => {
    await direct?.close();
    await site?.close();
  });

  const activity = (query = '') => `/inventories/${seeded.shared}/activity${query}`;
  const trashPage = () => `/inventories/${seeded.shared}/trash`;
  const mainPage = () => `/inventories/${seeded.shared}/`;

  async function html(person: Person, pathname: string): Promise<string> {
    const response = await clients[person].request(pathname);
    expect(response.status, pathname).toBe(200);
    return response.text();
  }

  /** The changes of the Activity page and all its older pages, following "Older changes". */
  async function allActivity(query: string) {
    const pages: Shown[][] = [];
    let next: string | undefined = activity(query);
    while (next !== undefined) {
      const page = await html('owner', next);
      pages.push(shownChanges(page));
      const older = /<a href="([^"]+)" rel="next">/.exec(page)?.[1];
      next = older?.replaceAll('&amp;', '&');
      expect(pages.length).toBeLessThan(50);
    }
    return pages;
  }

  /** What everyone can see of the inventory: its activity's newest page and the owner's export. */
  async function snapshot() {
    return {
      activity: shownChanges(await html('owner', activity())).map((change) => change.id),
      json: await (await clients.owner.request('/json/')).text(),
      trash: (await html('owner', trashPage())).replace(
        /<input type="hidden" name="csrf[^>]*>/g,
        '',
      ),
    };
  }

  it('Activity: 100+ changes, newest first, paged with before, filtered by item and member', async () => {
    const pages = await allActivity(`?item=${seeded.items.counter}`);
    const ids = pages.flat().map((change) => change.id);
    expect(ids).toHaveLength(121);
    expect(pages.map((page) => page.length)).toEqual([25, 25, 25, 25, 21]);
    expect(ids).toEqual([...ids].sort((a, b) => b - a));
    expect(new Set(ids).size).toBe(ids.length);
    const shown = pages.flat();
    expect(shown.at(-1)).toMatchObject({ head: 'Added', lines: ['Counter: added with amount 0'] });
    expect(shown[0]).toMatchObject({
      head: 'Changed the amount',
      lines: ['Counter: amount 119 → 120'],
    });
    expect(shown[0]!.who).toMatch(/^by editor_hi on the site,/);

    // `before` pages below the id it names.
    const second = shownChanges(
      await html('owner', activity(`?item=${seeded.items.counter}&before=${ids[24]}`)),
    );
    expect(second.map((change) => change.id)).toEqual(ids.slice(25, 50));

    const all = (await allActivity('')).flat();
    expect(all).toHaveLength(124);
    expect(all.map((c) => c.id)).toEqual(all.map((c) => c.id).sort((a, b) => b - a));

    const byEditor = (await allActivity(`?member=${seeded.users.editor}`)).flat();
    expect(byEditor).toHaveLength(120);
    expect(byEditor.every((change) => change.who.startsWith('by editor_hi '))).toBe(true);
    const byOwner = (await allActivity(`?member=${seeded.users.owner}`)).flat();
    expect(byOwner.map((change) => change.head)).toEqual(['Added', 'Added', 'Added', 'Added']);
    // A filter that makes no sense is no filter; a big limit is capped, not an error.
    expect(
      shownChanges(await html('owner', activity('?member=abc&before=-1&limit=100000'))),
    ).toHaveLength(25);
  });

  it('the add, edit and ±1 pages leave their changes, shown in the item’s history', async () => {
    const since = direct ? await lastChangeId(direct.db) : 0;
    const created = await postForm(clients.editor, `/create-item/?inventory=${seeded.shared}`, {
      name: 'Chisel',
      amount: '2',
      description: 'wood',
      location: String(seeded.attic),
      tags: 'tools, sharp',
      min_amount: '',
    });
    expect(created.status, await created.clone().text()).toBe(303);
    const listed = await html('editor', mainPage());
    const id = Number(/href="\/items\/(\d+)\/"[^>]*>Chisel</.exec(listed)?.[1]);
    expect(id).toBeGreaterThan(0);
    const edited = await postForm(clients.editor, `/items/${id}/edit`, {
      name: 'Chisel 2',
      amount: '2',
      description: 'wood',
      location: String(seeded.attic),
      tags: 'tools',
      min_amount: '',
    });
    expect(edited.status, await edited.clone().text()).toBe(303);
    const adjusted = await postForm(clients.editor, `/items/${id}/adjust`, { delta: '1' });
    expect(adjusted.status).toBe(303);
    const history = shownChanges(await html('viewer', `/items/${id}/`));
    expect(history.map(({ head, lines }) => ({ head, lines }))).toEqual([
      { head: 'Changed the amount', lines: ['amount 2 → 3'] },
      { head: 'Edited', lines: ['renamed from “Chisel” to “Chisel 2”; untagged “sharp”'] },
      { head: 'Added', lines: ['added with amount 2'] },
    ]);
    expect(history.every((change) => change.who.startsWith('by editor_hi on the site,'))).toBe(
      true,
    );
    // A viewer sees no Undo button.
    expect(history.every((change) => change.undoAction === undefined)).toBe(true);
    expect(shownChanges(await html('editor', `/items/${id}/`))[0]!.undoAction).toBe(
      `/changes/${history[0]!.id}/undo`,
    );
    if (direct) {
      const changes = await changesAfter(direct.db, since);
      expect(
        changes.map(({ actor_id, via, action, entries }) => ({ actor_id, via, action, entries })),
      ).toEqual([
        {
          actor_id: seeded.users.editor,
          via: 'page',
          action: 'add',
          entries: sortEntries([
            entry(id, 'name', null, 'Chisel'),
            entry(id, 'amount', null, 2),
            entry(id, 'description', null, 'wood'),
            entry(id, 'location_id', null, seeded.attic),
            entry(id, 'tag', null, 'sharp'),
            entry(id, 'tag', null, 'tools'),
          ]),
        },
        {
          actor_id: seeded.users.editor,
          via: 'page',
          action: 'edit',
          entries: sortEntries([
            entry(id, 'name', 'Chisel', 'Chisel 2'),
            entry(id, 'tag', 'sharp', null),
          ]),
        },
        {
          actor_id: seeded.users.editor,
          via: 'page',
          action: 'adjust',
          entries: [entry(id, 'amount', 2, 3)],
        },
      ]);
    }
  });

  it('a trashed item is gone everywhere but the Trash, and restore brings it back with its history', async () => {
    const lamp = seeded.items.lamp;
    const tagCount = async () =>
      /<span>lit<\/span>[\s\S]*?(\d+) items?</.exec(
        await html('owner', `/inventories/${seeded.shared}/tags`),
      )?.[1];
    const inAttic = async () =>
      (await html('owner', `/locations/${seeded.attic}/`)).includes(`href="/items/${lamp}/"`);
    const exported = async (kind: 'json' | 'xml') =>
      (await (await clients.owner.request(`/${kind}/`)).text()).includes('Lamp');
    expect(await html('owner', mainPage())).toContain('>Lamp<');
    expect(await tagCount()).toBe('1');
    expect(await inAttic()).toBe(true);
    expect(await exported('json')).toBe(true);
    expect(await exported('xml')).toBe(true);
    for (const kind of ['json', 'xml'] as const) {
      expect(await (await clients.owner.request(`/${kind}/${lamp}/`)).text(), kind).toContain(
        'Lamp',
      );
    }
    const historyBefore = shownChanges(await html('owner', `/items/${lamp}/`));

    const deleted = await postForm(clients.editor, `/items/${lamp}/delete`, {});
    expect(deleted.status).toBe(303);
    for (const pathname of [`/items/${lamp}/`, `/items/${lamp}/edit`, `/items/${lamp}/delete`]) {
      expect((await clients.owner.request(pathname)).status, pathname).toBe(404);
    }
    // One item's export of a trashed item is the empty list, as for any id not the caller's.
    for (const kind of ['json', 'xml'] as const) {
      const one = await clients.owner.request(`/${kind}/${lamp}/`);
      expect(await one.text(), kind).not.toContain('Lamp');
    }
    expect(await html('owner', mainPage())).not.toContain('>Lamp<');
    expect(await tagCount()).toBe('0');
    expect(await inAttic()).toBe(false);
    expect(await exported('json')).toBe(false);
    expect(await exported('xml')).toBe(false);
    // An edit or ±1 of a trashed item finds nothing.
    expect((await postForm(clients.owner, `/items/${lamp}/adjust`, { delta: '1' })).status).toBe(
      404,
    );

    const trash = await html('viewer', trashPage());
    const row =
      new RegExp(`<li class="trash-item" data-item-id="${lamp}">([\\s\\S]*?)</li>`).exec(
        trash,
      )?.[1] ?? '';
    expect(row).toContain('<strong>Lamp</strong>');
    expect(row).toMatch(
      /deleted by\s*<span>editor_hi<\/span>,\s*<time datetime="\d{4}-\d\d-\d\dT[^"]+">/,
    );
    // A viewer has no restore button, an editor has one, and only the owner may empty it.
    expect(row).not.toContain('Restore');
    expect(trash).not.toContain('name="action" value="empty"');
    const editorTrash = await html('editor', trashPage());
    expect(editorTrash).toContain(`name="item" value="${lamp}"`);
    expect(editorTrash).not.toContain('name="action" value="empty"');
    expect(await html('owner', trashPage())).toContain('name="action" value="empty"');

    const restored = await postForm(clients.editor, trashPage(), {
      action: 'restore',
      item: String(lamp),
    });
    expect(restored.status).toBe(303);
    expect(await html('owner', mainPage())).toContain('>Lamp<');
    expect(await tagCount()).toBe('1');
    expect(await inAttic()).toBe(true);
    expect(await exported('json')).toBe(true);
    const history = shownChanges(await html('owner', `/items/${lamp}/`));
    expect(history.slice(2)).toEqual(
      historyBefore.map((change) => ({ ...change, undoAction: expect.any(String) })),
    );
    expect(history.slice(0, 2).map(({ head, lines }) => ({ head, lines }))).toEqual([
      { head: 'Restored', lines: ['restored from the trash'] },
      { head: 'Moved to the trash', lines: ['moved to the trash'] },
    ]);
    expect(history[1]!.who).toMatch(/^by editor_hi on the site/);
    expect(await html('owner', trashPage())).toContain('The trash is empty.');
  });

  it('viewers read history but cannot undo, restore or empty; editors cannot empty', async () => {
    const { vase, hammer } = seeded.items;
    await postForm(clients.owner, `/items/${hammer}/delete`, {});
    expect(shownChanges(await html('viewer', activity())).length).toBeGreaterThan(0);
    expect(shownChanges(await html('viewer', `/items/${vase}/`)).length).toBe(1);
    expect(await html('viewer', trashPage())).toContain('Hammer');
    // Undo buttons for those who may undo only.
    const undoButtons = async (person: Person) =>
      shownChanges(await html(person, activity())).filter((c) => c.undoAction !== undefined).length;
    expect(await undoButtons('viewer')).toBe(0);
    expect(await undoButtons('editor')).toBeGreaterThan(0);
    const before = await snapshot();
    const refused: [Person, string, Record<string, string>][] = [
      ['viewer', `/changes/${seeded.hammerAdd}/undo`, { return_to: '/' }],
      ['viewer', trashPage(), { action: 'restore', item: String(hammer) }],
      ['viewer', trashPage(), { action: 'empty' }],
      ['editor', trashPage(), { action: 'empty' }],
    ];
    for (const [person, pathname, fields] of refused) {
      const response = await postForm(clients[person], pathname, fields);
      expect(response.status, `${person} ${pathname} ${fields.action ?? ''}`).toBe(403);
    }
    expect(await snapshot()).toEqual(before);
  });

  it('a non-member gets 404 for the inventory’s activity and trash and for its change ids', async () => {
    const before = await snapshot();
    for (const pathname of [activity(), trashPage(), `/items/${seeded.items.vase}/`]) {
      expect((await clients.stranger.request(pathname)).status, pathname).toBe(404);
    }
    const undo = await postForm(clients.stranger, `/changes/${seeded.hammerAdd}/undo`, {
      return_to: '/',
    });
    expect(undo.status).toBe(404);
    const restore = await postForm(clients.stranger, trashPage(), {
      action: 'restore',
      item: String(seeded.items.hammer),
    });
    expect(restore.status).toBe(404);
    const empty = await postForm(clients.stranger, trashPage(), { action: 'empty' });
    expect(empty.status).toBe(404);
    // The stranger's own change is no one else's to see or undo.
    const foreign = await postForm(clients.owner, `/changes/${seeded.strangerChange}/undo`, {
      return_to: '/',
    });
    expect(foreign.status).toBe(404);
    expect(
      (await postForm(clients.owner, `/changes/999999999/undo`, { return_to: '/' })).status,
    ).toBe(404);
    expect((await postForm(clients.owner, `/changes/abc/undo`, { return_to: '/' })).status).toBe(
      404,
    );
    expect(await snapshot()).toEqual(before);
    expect((await clients.stranger.request('/json/')).status).toBe(200);
    expect(await (await clients.stranger.request('/json/')).text()).toContain('Secret');
  });

  it('the notice after a delete offers Undo, a form that brings the item back without JavaScript', async () => {
    const { vase } = seeded.items;
    const deleted = await postForm(
      clients.editor,
      `/items/${vase}/delete?return_to=${encodeURIComponent(mainPage())}`,
      {},
    );
    expect(deleted.status).toBe(303);
    expect(deleted.headers.get('location')).toBe(mainPage());
    const notice = deleted.headers
      .getSetCookie()
      .map((cookie) => cookie.split(';', 1)[0]!)
      .find((cookie) => cookie.startsWith('notice='));
    expect(notice).toBeDefined();
    const shown = await clients.editor.request(mainPage(), {
      headers: { Cookie: `${clients.editor.cookie}; ${notice}` },
    });
    expect(shown.status).toBe(200);
    const page = await shown.text();
    expect(page).not.toContain('>Vase<');
    const form = /<div class="notice"[^>]*>([\s\S]*?)<\/div>/.exec(page)?.[1] ?? '';
    expect(form).toMatch(/Vase/);
    const action = /<form\s+method="post"\s+action="(\/changes\/\d+\/undo)"/.exec(form)?.[1];
    expect(action, form).toBeDefined();
    expect(form).not.toMatch(/\shidden[\s>]/);
    const returnTo = /name="return_to" value="([^"]*)"/.exec(form)?.[1];
    expect(returnTo).toBe(mainPage());
    // A viewer may not use it.
    expect((await postForm(clients.viewer, action!, { return_to: returnTo! })).status).toBe(403);
    expect((await clients.owner.request(`/items/${vase}/`)).status).toBe(404);

    const undone = await postForm(clients.editor, action!, { return_to: returnTo! });
    expect(undone.status).toBe(303);
    expect(undone.headers.get('location')).toBe(mainPage());
    const item = await html('owner', `/items/${vase}/`);
    expect(item).toContain('Vase');
    const history = shownChanges(item);
    expect(history.map((change) => change.head)).toEqual([
      'Undid a change',
      'Moved to the trash',
      'Added',
    ]);
    expect(history[0]!.who).toMatch(/^by editor_hi with Undo,/);
    expect(await html('owner', mainPage())).toContain('>Vase<');
    // The same Undo again: the item changed since (by the undo itself), so 409 and nothing done.
    const before = await snapshot();
    const again = await postForm(clients.editor, action!, { return_to: returnTo! });
    expect(again.status).toBe(409);
    expect(await again.text()).toContain('Nothing was changed.');
    expect(await snapshot()).toEqual(before);
  });
});
