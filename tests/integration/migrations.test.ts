import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/lib/server/db/connect.ts';
import { migrateToLatest } from '../../src/lib/server/db/migrate.ts';
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
          select reltuples from pg_class where relname = 'items'`.execute(reopened.db);
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
