import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createInventory } from '../../src/lib/server/inventories/inventories.ts';
import { listItemChoicesForMember } from '../../src/lib/server/items/choices.ts';
import { createLocationForMember } from '../../src/lib/server/items/locations.ts';
import { ensureTags } from '../../src/lib/server/items/tags.ts';
import { BACKENDS, createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { registerInDatabase } from '../helpers/site.ts';

/**
 * What the item forms and the list's filters offer: an inventory's locations in tree order
 * and its tag names by name, read in one statement, and only by someone who may read it.
 */
describe.each(BACKENDS)('an inventory’s item choices on %s', (backend) => {
  let database: TestDatabase;
  let owner: number;
  let stranger: number;
  let workshop: number;
  let empty: number;

  beforeAll(async () => {
    database = await createTestDatabase(backend);
    const { db } = database;
    owner = await registerInDatabase(db, 'choices_owner');
    stranger = await registerInDatabase(db, 'choices_stranger');
    workshop = await createInventory(db, owner, 'Workshop');
    empty = await createInventory(db, owner, 'Empty');
    const caller = { userId: owner, onlyInventoryId: null };
    const place = async (name: string, parentId: number | null) => {
      const made = await createLocationForMember(db, caller, 'edit', workshop, { name, parentId });
      if (made.status !== 'created') throw new Error(`could not make ${name}: ${made.status}`);
      return made.location.id;
    };
    const shed = await place('Shed', null);
    await place('Attic', null);
    await place('Shelf 2', shed);
    await place('Bench', shed);
    await ensureTags(db, workshop, ['zinc', 'Brass', 'alu 📦']);
  });

  afterAll(async () => {
    await database?.drop();
  });

  it('lists the locations in tree order and the tags by name', async () => {
    const choices = await listItemChoicesForMember(
      database.db,
      { userId: owner, onlyInventoryId: null },
      'read',
      workshop,
    );
    expect(choices.locations.map((location) => location.path.join(' / '))).toEqual([
      'Attic',
      'Shed',
      'Shed / Bench',
      'Shed / Shelf 2',
    ]);
    expect(choices.locations.every((location) => location.inventoryId === workshop)).toBe(true);
    expect(choices.tagNames).toEqual(['alu 📦', 'Brass', 'zinc']);
  });

  it('gives empty lists for an inventory with neither', async () => {
    await expect(
      listItemChoicesForMember(
        database.db,
        { userId: owner, onlyInventoryId: null },
        'read',
        empty,
      ),
    ).resolves.toEqual({ locations: [], tagNames: [] });
  });

  it('gives a stranger, or a token for another inventory, nothing', async () => {
    for (const caller of [
      { userId: stranger, onlyInventoryId: null },
      { userId: owner, onlyInventoryId: empty },
    ]) {
      await expect(
        listItemChoicesForMember(database.db, caller, 'read', workshop),
      ).resolves.toEqual({ locations: [], tagNames: [] });
    }
  });
});
