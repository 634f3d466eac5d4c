import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createInventory,
  lastUsedInventoryId,
  rememberLastInventory,
} from '../../src/lib/server/inventories/inventories.ts';
import { loadInventoryView } from '../../src/lib/server/inventories/view.ts';
import {
  BACKENDS,
  createTestDatabase,
  personalInventoryOf,
  type TestDatabase,
} from '../helpers/database.ts';
import { registerInDatabase } from '../helpers/site.ts';

/**
 * The inventory a user used last, which `/` opens. The inventory page remembers it while it
 * looks the inventory up, so remembering checks membership itself: a stranger's id (which
 * the page answers 404) must leave it as it was.
 */
describe.each(BACKENDS)('the inventory used last on %s', (backend) => {
  let database: TestDatabase;
  let member: number;
  let stranger: number;
  let theirs: number;
  let workshop: number;

  beforeAll(async () => {
    database = await createTestDatabase(backend);
    member = await registerInDatabase(database.db, 'last_member');
    stranger = await registerInDatabase(database.db, 'last_stranger');
    theirs = await personalInventoryOf(database.db, stranger);
    workshop = await createInventory(database.db, member, 'Workshop');
  });

  afterAll(async () => {
    await database?.drop();
  });

  const lastOf = async (userId: number) =>
    (
      await database.db
        .selectFrom('users')
        .select('last_inventory_id')
        .where('id', '=', userId)
        .executeTakeFirstOrThrow()
    ).last_inventory_id;

  it('remembers an inventory of the user’s, and nothing for a stranger’s id', async () => {
    const caller = { userId: member, onlyInventoryId: null };
    const before = await lastOf(member);
    const view = await loadInventoryView(
      database.db,
      caller,
      theirs,
      new URL(`http://site.test/inventories/${theirs}/`),
    );
    expect(view.status).toBe('not-found');
    await rememberLastInventory(database.db, member, theirs);
    expect(await lastOf(member)).toBe(before);

    const opened = await loadInventoryView(
      database.db,
      caller,
      workshop,
      new URL(`http://site.test/inventories/${workshop}/`),
    );
    expect(opened.status).toBe('ok');
    expect(await lastOf(member)).toBe(workshop);
    expect(await lastUsedInventoryId(database.db, caller)).toBe(workshop);
  });
});
