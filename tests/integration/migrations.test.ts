import { mkdtempSync, promises as fs, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql, type Kysely } from 'kysely';
import { FileMigrationProvider, Migrator } from 'kysely/migration';
import { afterEach, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/lib/server/db/connect.ts';
import { migrateToLatest } from '../../src/lib/server/db/migrate.ts';
import { itemBatchesForMember } from '../../src/lib/server/items/items.ts';
import { BACKENDS, createTestDatabase, type TestDatabase } from '../helpers/database.ts';

describe.each(BACKENDS)('migrations on %s', (backend) => {
  let database: TestDatabase | undefined;
  afterEach(async () => {
    await database?.drop();
    database = undefined;
  });

  it('create the schema from empty, and a re-run applies nothing', async () => {
    database = await createTestDatabase(backend, { migrated: false });
    const first = await migrateToLatest(database.db);
    expect(first.length).toBeGreaterThan(0);
    expect(first.every((result) => result.status === 'Success')).toBe(true);

    const tables = await sql<{ table_name: string }>`
      select table_name from information_schema.tables
      where table_schema = 'public' order by table_name`.execute(database.db);
    expect(tables.rows.map((row) => row.table_name)).toEqual(
      expect.arrayContaining(['items', 'sessions', 'users']),
    );

    expect(await migrateToLatest(database.db)).toEqual([]);
  });

  it('enforce the schema rules: amount range, name length, case-insensitive usernames, cascade', async () => {
    database = await createTestDatabase(backend);
    const { db } = database;
    const { id: userId } = await db
      .insertInto('users')
      .values({ username: 'Alice', username_key: 'alice', password_hash: 'x' })
      .returning('id')
      .executeTakeFirstOrThrow();
    const { id: inventoryId } = await db
      .insertInto('inventories')
      .values({ name: 'Shared' })
      .returning('id')
      .executeTakeFirstOrThrow();
    const owned = { inventory_id: inventoryId, created_by: userId };

    await expect(
      db
        .insertInto('users')
        .values({ username: 'alice', username_key: 'alice', password_hash: 'y' })
        .execute(),
    ).rejects.toMatchObject({ code: '23505' });

    // Below 0 the check constraint refuses it; above the integer range, the column's type.
    for (const [amount, code] of [
      [-1, '23514'],
      [2147483648, '22003'],
    ] as const) {
      await expect(
        db
          .insertInto('items')
          .values({ ...owned, name: 'n', amount })
          .execute(),
      ).rejects.toMatchObject({ code });
    }
    await expect(
      db
        .insertInto('items')
        .values({ ...owned, name: '', amount: 1 })
        .execute(),
    ).rejects.toMatchObject({ code: '23514' });
    await db
      .insertInto('items')
      .values({ ...owned, name: 'x'.repeat(255), amount: 2147483647 })
      .execute();

    // An item outlives the account that added it (others may keep the inventory)...
    await db.deleteFrom('users').where('id', '=', userId).execute();
    expect(await db.selectFrom('items').select(['name', 'created_by']).execute()).toEqual([
      { name: 'x'.repeat(255), created_by: null },
    ]);
    // ...and goes with its inventory.
    await db.deleteFrom('inventories').where('id', '=', inventoryId).execute();
    expect(await db.selectFrom('items').select('id').execute()).toEqual([]);
  });
});

describe.each(BACKENDS)('the shared-inventories migration on %s', (backend) => {
  let database: TestDatabase | undefined;
  afterEach(async () => {
    await database?.drop();
    database = undefined;
  });

  const MIGRATIONS = fileURLToPath(new URL('../../db/migrations', import.meta.url));
  const PREVIOUS = '20261201220000_items_name_sort_index';

  it('gives every user a personal inventory holding their items, and exports stay the same', async () => {
    database = await createTestDatabase(backend, { migrated: false });
    // Migrations are written against `Kysely<any>`: this database is at an older schema.
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const old = database.db as unknown as Kysely<any>;
    const migrator = new Migrator({
      db: old,
      provider: new FileMigrationProvider({ fs, path, migrationFolder: MIGRATIONS }),
    });
    expect((await migrator.migrateTo(PREVIOUS)).error).toBeUndefined();

    const users = await old
      .insertInto('users')
      .values(
        ['alice', 'bob', 'empty'].map((username) => ({
          username,
          username_key: username,
          password_hash: 'x',
        })),
      )
      .returning(['id', 'username'])
      .execute();
    const [alice, bob, empty] = users.map((user) => user.id as number) as [number, number, number];
    await old
      .insertInto('items')
      .values([
        { user_id: alice, name: 'Lamp', amount: 2, description: 'Desk' },
        { user_id: bob, name: 'Bolt', amount: 100, description: '' },
        { user_id: alice, name: 'Rope', amount: 0, description: '10 m' },
      ])
      .execute();
    const before = await old
      .selectFrom('items')
      .select(['id', 'user_id', 'name', 'amount', 'description', 'created_at'])
      .orderBy('id')
      .execute();

    const results = await migrateToLatest(database.db);
    expect(results.map((result) => [result.migrationName, result.status])).toContainEqual([
      '20261202000000_shared_inventories',
      'Success',
    ]);

    const { db } = database;
    const inventories = await db
      .selectFrom('inventories')
      .select(['id', 'name', 'personal_of'])
      .orderBy('personal_of')
      .execute();
    expect(inventories.map(({ name, personal_of }) => [name, personal_of])).toEqual([
      ['My items', alice],
      ['My items', bob],
      ['My items', empty],
    ]);
    const personal = new Map(inventories.map((row) => [row.personal_of, row.id]));
    expect(
      await db
        .selectFrom('memberships')
        .select(['inventory_id', 'user_id', 'role'])
        .orderBy('user_id')
        .execute(),
    ).toEqual(
      [alice, bob, empty].map((id) => ({
        inventory_id: personal.get(id),
        user_id: id,
        role: 'owner',
      })),
    );
    const lastUsed = await db.selectFrom('users').select(['id', 'last_inventory_id']).execute();
    for (const row of lastUsed) expect(row.last_inventory_id).toBe(personal.get(row.id));

    const after = await db
      .selectFrom('items')
      .select([
        'id',
        'inventory_id',
        'created_by',
        'updated_by',
        'name',
        'amount',
        'description',
        'created_at',
        'updated_at',
        'version',
      ])
      .orderBy('id')
      .execute();
    expect(after).toEqual(
      before.map((row) => ({
        id: row.id,
        inventory_id: personal.get(row.user_id),
        created_by: row.user_id,
        updated_by: row.user_id,
        name: row.name,
        amount: row.amount,
        description: row.description,
        created_at: row.created_at,
        updated_at: row.created_at,
        version: 1,
      })),
    );
    // Each user's export covers exactly the items they had.
    for (const userId of [alice, bob, empty]) {
      const batches = [];
      const caller = { userId, onlyInventoryId: null };
      for await (const batch of itemBatchesForMember(db, caller, 'read', {}))
        batches.push(...batch);
      expect(batches.map((item) => item.id)).toEqual(
        before.filter((row) => row.user_id === userId).map((row) => row.id),
      );
    }

    // And back: the previous schema, with the items where they were.
    expect((await migrator.migrateTo(PREVIOUS)).error).toBeUndefined();
    expect(
      await old
        .selectFrom('items')
        .select(['id', 'user_id', 'name', 'amount', 'description', 'created_at'])
        .orderBy('id')
        .execute(),
    ).toEqual(before);
  });
});

describe.runIf(BACKENDS.includes('postgres'))('migrations on postgres, concurrently', () => {
  it('two processes migrating the same empty database at once both succeed, once', async () => {
    const database = await createTestDatabase('postgres', { migrated: false });
    const second = openDatabase({ databaseUrl: database.url, poolSize: 2 });
    try {
      const [a, b] = await Promise.all([migrateToLatest(database.db), migrateToLatest(second.db)]);
      const applied = [...a, ...b].filter((result) => result.status === 'Success');
      const names = new Set(applied.map((result) => result.migrationName));
      expect(applied.length).toBe(names.size);
      expect(await migrateToLatest(database.db)).toEqual([]);
    } finally {
      await second.close();
      await database.drop();
    }
  });
});

describe('the embedded database', () => {
  it('has planner statistics once opened: it runs no autovacuum of its own', async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'pacil-stats-'));
    try {
      const seeding = openDatabase({ dataDir });
      await migrateToLatest(seeding.db);
      const { id } = await seeding.db
        .insertInto('users')
        .values({ username: 'many', username_key: 'many', password_hash: 'x' })
        .returning('id')
        .executeTakeFirstOrThrow();
      const { id: inventoryId } = await seeding.db
        .insertInto('inventories')
        .values({ name: 'Many' })
        .returning('id')
        .executeTakeFirstOrThrow();
      await sql`insert into items (inventory_id, created_by, name, amount)
        select ${inventoryId}, ${id}, 'Item ' || g, g from generate_series(1, 5000) as g`.execute(
        seeding.db,
      );
      await seeding.close();

      const reopened = openDatabase({ dataDir });
      try {
        const items = await sql<{ reltuples: number }>`
          select reltuples from pg_class where relname = 'stored_items'`.execute(reopened.db);
        expect(items.rows[0]?.reltuples).toBe(5000);
        // With them, one inventory's keyset batch walks the (inventory_id, id) index instead
        // of fetching and sorting all of its items for every batch.
        const plan = await sql<{ 'QUERY PLAN': string }>`explain
          select id from items where inventory_id = ${inventoryId} and id > 0 order by id
          limit 1000`.execute(reopened.db);
        expect(plan.rows.map((row) => row['QUERY PLAN']).join('\n')).not.toMatch(/Sort/);
      } finally {
        await reopened.close();
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe.each(BACKENDS)('the places-and-tags migration on %s', (backend) => {
  let database: TestDatabase | undefined;
  afterEach(async () => {
    await database?.drop();
    database = undefined;
  });

  const MIGRATIONS = fileURLToPath(new URL('../../db/migrations', import.meta.url));
  const PREVIOUS = '20261202000000_shared_inventories';
  const PLACES = '20261203000000_places_and_tags';

  it('adds locations, tags and minimums without touching the items, enforces them, and goes back', async () => {
    database = await createTestDatabase(backend, { migrated: false });
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const old = database.db as unknown as Kysely<any>;
    const migrator = new Migrator({
      db: old,
      provider: new FileMigrationProvider({ fs, path, migrationFolder: MIGRATIONS }),
    });
    expect((await migrator.migrateTo(PREVIOUS)).error).toBeUndefined();
    const { id: userId } = await old
      .insertInto('users')
      .values({ username: 'alice', username_key: 'alice', password_hash: 'x' })
      .returning('id')
      .executeTakeFirstOrThrow();
    const { id: inventoryId } = await old
      .insertInto('inventories')
      .values({ name: 'Shared' })
      .returning('id')
      .executeTakeFirstOrThrow();
    await old
      .insertInto('items')
      .values([
        { inventory_id: inventoryId, created_by: userId, name: 'Lamp', amount: 2 },
        { inventory_id: inventoryId, created_by: userId, name: 'Rope', amount: 0 },
      ])
      .execute();
    const itemsNow = () => old.selectFrom('items').selectAll().orderBy('id').execute();
    const before = await itemsNow();

    const results = await migrateToLatest(database.db);
    expect(results.map((result) => [result.migrationName, result.status])).toContainEqual([
      PLACES,
      'Success',
    ]);
    const { db } = database;
    expect(await itemsNow()).toEqual(
      before.map((row) => ({ ...row, location_id: null, min_amount: null })),
    );

    const place = (name: string, parent_id: number | null = null) =>
      db
        .insertInto('locations')
        .values({ inventory_id: inventoryId, parent_id, name, name_key: name.toLowerCase() })
        .returning('id')
        .executeTakeFirstOrThrow();
    const { id: garage } = await place('Garage');
    const { id: shelf } = await place('Shelf', garage);
    await place('Shelf');
    // Siblings' keys are unique, at the top as well as inside a location.
    await expect(place('GARAGE')).rejects.toMatchObject({ code: '23505' });
    await expect(place('shelf', garage)).rejects.toMatchObject({ code: '23505' });
    await expect(place('')).rejects.toMatchObject({ code: '23514' });
    await expect(
      db.updateTable('items').set({ min_amount: -1 }).where('name', '=', 'Lamp').execute(),
    ).rejects.toMatchObject({ code: '23514' });
    // A location with another inside it is not deleted by accident: the parent has no cascade.
    await expect(
      db.deleteFrom('locations').where('id', '=', garage).execute(),
    ).rejects.toMatchObject({ code: '23503' });

    const { id: tagId } = await db
      .insertInto('tags')
      .values({ inventory_id: inventoryId, name: 'Red', name_key: 'red' })
      .returning('id')
      .executeTakeFirstOrThrow();
    await expect(
      db
        .insertInto('tags')
        .values({ inventory_id: inventoryId, name: 'RED', name_key: 'red' })
        .execute(),
    ).rejects.toMatchObject({ code: '23505' });
    const [lamp] = before as { id: number }[];
    await db.insertInto('item_tags').values({ item_id: lamp!.id, tag_id: tagId }).execute();
    await expect(
      db.insertInto('item_tags').values({ item_id: lamp!.id, tag_id: tagId }).execute(),
    ).rejects.toMatchObject({ code: '23505' });
    await db
      .updateTable('items')
      .set({ location_id: shelf, min_amount: 3 })
      .where('id', '=', lamp!.id)
      .execute();

    // And back: the previous schema, with the items as they were.
    expect((await migrator.migrateTo(PREVIOUS)).error).toBeUndefined();
    expect(await itemsNow()).toEqual(before);
    const tables = await sql<{ table_name: string }>`
      select table_name from information_schema.tables where table_schema = 'public'`.execute(db);
    for (const table of ['locations', 'tags', 'item_tags']) {
      expect(tables.rows.map((row) => row.table_name)).not.toContain(table);
    }
    // Forward again: the way back left nothing in the way.
    expect((await migrator.migrateTo(PLACES)).error).toBeUndefined();
    const { id: again } = await place('Garage');
    await place('Shelf', again);
    // Deleting the inventory takes its locations, a parent and its child in one statement.
    await old.deleteFrom('inventories').where('id', '=', inventoryId).execute();
    expect(await db.selectFrom('locations').selectAll().execute()).toEqual([]);
  });

  const HISTORY = '20261204000000_history_and_trash';

  it('keeps every item through the trash and history migration, records from then on, and goes back', async () => {
    database = await createTestDatabase(backend, { migrated: false });
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const old = database.db as unknown as Kysely<any>;
    const migrator = new Migrator({
      db: old,
      provider: new FileMigrationProvider({ fs, path, migrationFolder: MIGRATIONS }),
    });
    expect((await migrator.migrateTo(PLACES)).error).toBeUndefined();
    const { id: userId } = await old
      .insertInto('users')
      .values({ username: 'alice', username_key: 'alice', password_hash: 'x' })
      .returning('id')
      .executeTakeFirstOrThrow();
    const { id: inventoryId } = await old
      .insertInto('inventories')
      .values({ name: 'Shared' })
      .returning('id')
      .executeTakeFirstOrThrow();
    await old
      .insertInto('items')
      .values(
        ['Lamp', 'Rope', 'Tent'].map((name, n) => ({
          inventory_id: inventoryId,
          created_by: userId,
          name,
          amount: n,
        })),
      )
      .execute();
    const itemsNow = () => old.selectFrom('items').selectAll().orderBy('id').execute();
    const before = await itemsNow();

    expect((await migrator.migrateTo(HISTORY)).error).toBeUndefined();
    // The same rows through the view, and no history made up for them.
    expect(await itemsNow()).toEqual(before);
    expect(await old.selectFrom('changes').selectAll().execute()).toEqual([]);
    const [lamp, rope] = before as { id: number }[];
    await old.updateTable('items').set({ amount: 9 }).where('id', '=', lamp!.id).execute();
    expect(
      await old
        .selectFrom('item_changes')
        .select(['item_id', 'field', 'before', 'after'])
        .execute(),
    ).toEqual([{ item_id: lamp!.id, field: 'amount', before: 0, after: 9 }]);
    await old
      .updateTable('stored_items')
      .set({ deleted_at: sql`now()` })
      .where('id', '=', rope!.id)
      .execute();
    expect((await itemsNow()).map((row) => row.id)).not.toContain(rope!.id);

    // Back: what was in the trash is gone, the rest as it is, and items is a table again.
    expect((await migrator.migrateTo(PLACES)).error).toBeUndefined();
    expect(await itemsNow()).toEqual(
      before
        .filter((row) => row.id !== rope!.id)
        .map((row) => (row.id === lamp!.id ? { ...row, amount: 9 } : row)),
    );
    const tables = await sql<{ table_name: string; table_type: string }>`
      select table_name, table_type from information_schema.tables
      where table_schema = 'public'`.execute(old);
    const types = new Map(tables.rows.map((row) => [row.table_name, row.table_type]));
    expect(types.get('items')).toBe('BASE TABLE');
    for (const gone of ['stored_items', 'changes', 'item_changes'])
      expect(types.has(gone)).toBe(false);
    // And forward again: the way back left nothing in the way.
    expect((await migrator.migrateTo(HISTORY)).error).toBeUndefined();
  });
});
