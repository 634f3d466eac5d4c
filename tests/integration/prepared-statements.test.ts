import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MAX_PREPARED_STATEMENTS } from '../../src/lib/server/db/prepared-statements.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';

/**
 * On PostgreSQL the site's statements become prepared statements from their second use
 * (src/lib/server/db/prepared-statements.ts). A pool of one connection, so that what
 * `pg_prepared_statements` shows is the connection the statements ran on.
 */
describe.skipIf(!process.env.TEST_DATABASE_URL)('prepared statements on PostgreSQL', () => {
  let database: TestDatabase;

  beforeEach(async () => {
    database = await createTestDatabase('postgres', { migrated: false, poolSize: 1 });
  });

  afterEach(async () => {
    await database?.drop();
  });

  const preparedTexts = async () => {
    const { rows } = await sql<{
      statement: string;
    }>`select statement from pg_prepared_statements where not from_sql`.execute(database.db);
    return rows.map((row) => row.statement);
  };
  const backendPid = async () =>
    (await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(database.db)).rows[0]!.pid;

  it('prepares a statement at its second use, and runs it with each use’s values', async () => {
    const double = (n: number) => sql<{ doubled: number }>`select ${n}::int * 2 as doubled`;
    const text = double(0).compile(database.db).sql;

    expect((await double(1).execute(database.db)).rows).toEqual([{ doubled: 2 }]);
    expect(await preparedTexts()).not.toContain(text);
    expect((await double(2).execute(database.db)).rows).toEqual([{ doubled: 4 }]);
    expect(await preparedTexts()).toContain(text);
    expect((await double(21).execute(database.db)).rows).toEqual([{ doubled: 42 }]);
    expect((await preparedTexts()).filter((prepared) => prepared === text)).toHaveLength(1);
  });

  it(`names at most ${MAX_PREPARED_STATEMENTS} texts; the rest still run, unnamed`, async () => {
    for (let n = 0; n < MAX_PREPARED_STATEMENTS + 20; n += 1) {
      const distinct = sql<{ n: number }>`select ${n}::int as n, ${sql.lit(n)} as text_no`;
      for (let use = 0; use < 2; use += 1) {
        expect((await distinct.execute(database.db)).rows).toEqual([{ n, text_no: n }]);
      }
    }
    expect((await preparedTexts()).length).toBe(MAX_PREPARED_STATEMENTS);
  });

  describe('a statement gone stale under a migration', () => {
    const read = () => sql<{ reading: unknown }>`select reading from gauges`.execute(database.db);
    let before: number;

    beforeEach(async () => {
      await sql`create table gauges (reading int)`.execute(database.db);
      await sql`insert into gauges values (7)`.execute(database.db);
      await read();
      expect((await read()).rows).toEqual([{ reading: 7 }]);
      before = await backendPid();
      // As a migration would, run by this process or a newer version's while this one serves.
      await sql`alter table gauges alter column reading type text`.execute(database.db);
    });

    it('runs again at once outside a transaction, and its connection is replaced', async () => {
      expect((await read()).rows).toEqual([{ reading: '7' }]);
      expect(await backendPid()).not.toBe(before);
      expect((await read()).rows).toEqual([{ reading: '7' }]);
    });

    it('fails its transaction, and the connection is replaced for the next', async () => {
      await expect(
        database.db.transaction().execute(async (trx) => {
          await sql`select 1`.execute(trx);
          return sql`select reading from gauges`.execute(trx);
        }),
      ).rejects.toMatchObject({ code: '0A000' });
      expect((await read()).rows).toEqual([{ reading: '7' }]);
      expect(await backendPid()).not.toBe(before);
    });
  });
});
