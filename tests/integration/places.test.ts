import { CompiledQuery, createQueryId, sql, type QueryId, type RootOperationNode } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ITEM_SORTS, type ItemSort } from '../../src/lib/contracts/items.ts';
import {
  LOCATION_MAX_DEPTH,
  MAX_LOCATIONS_PER_INVENTORY,
  MAX_TAGS_PER_INVENTORY,
  MAX_TAGS_PER_ITEM,
  tagListSchema,
} from '../../src/lib/contracts/places.ts';
import type { Caller } from '../../src/lib/server/inventories/access.ts';
import { createInventory, deleteInventory } from '../../src/lib/server/inventories/inventories.ts';
import {
  createItemForMember,
  findItemForMember,
  listItemsForMember,
  updateItemForMember,
  type Item,
  type NewItem,
} from '../../src/lib/server/items/items.ts';
import {
  createLocationForMember,
  deleteLocationForMember,
  findLocationWithRole,
  listLocationsForMember,
  listLocationsWithCountsForMember,
  updateLocationForMember,
} from '../../src/lib/server/items/locations.ts';
import {
  deleteTagForMember,
  findTagWithRole,
  listTagsForMember,
  mergeTagsForMember,
  renameTagForMember,
} from '../../src/lib/server/items/tags.ts';
import { BACKENDS, createTestDatabase, type TestDatabase } from '../helpers/database.ts';

/**
 * Locations, tags and minimum amounts in the repository, on every backend: the tree's rules
 * (no cycles, ten levels, siblings' names unique ignoring case, a limit per inventory),
 * deleting a location with what it holds, the list's filters with paging and every sort,
 * the tag limits and tag changes, low stock at its edges, and who may do what.
 */

const member = (userId: number): Caller => ({ userId, onlyInventoryId: null });
const names = (items: Pick<Item, 'name'>[]) => items.map((entry) => entry.name).sort();

/** The order each sort promises (ASCII names below), ties broken by id in its direction. */
function sorted(items: Item[], sort: ItemSort): number[] {
  const text = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  const key: Record<ItemSort, (a: Item, b: Item) => number> = {
    newest: (a, b) => b.id - a.id,
    oldest: (a, b) => a.id - b.id,
    name: (a, b) =>
      text(a.name.toLowerCase(), b.name.toLowerCase()) || text(a.name, b.name) || a.id - b.id,
    '-name': (a, b) =>
      text(b.name.toLowerCase(), a.name.toLowerCase()) || text(b.name, a.name) || b.id - a.id,
    amount: (a, b) => a.amount - b.amount || a.id - b.id,
    '-amount': (a, b) => b.amount - a.amount || b.id - a.id,
  };
  return [...items].sort(key[sort]).map((item) => item.id);
}

describe.each(BACKENDS)('places, tags and minimum amounts on %s', (backend) => {
  let database: TestDatabase;
  let owner: Caller;
  let editor: Caller;
  let viewer: Caller;
  let stranger: Caller;

  beforeAll(async () => {
    database = await createTestDatabase(backend);
    const users = await database.db
      .insertInto('users')
      .values(
        ['owner', 'editor', 'viewer', 'stranger'].map((username) => ({
          username,
          username_key: username,
          password_hash: 'not-a-real-hash',
        })),
      )
      .returning('id')
      .execute();
    [owner, editor, viewer, stranger] = users.map((user) => member(user.id)) as [
      Caller,
      Caller,
      Caller,
      Caller,
    ];
  });
  afterAll(async () => {
    await database?.drop();
  });

  let inventories = 0;
  /** A new inventory: `owner` owns it, `editor` and `viewer` are members; `stranger` is not. */
  async function newInventory(): Promise<number> {
    const { db } = database;
    const id = await createInventory(db, owner.userId, `Inventory ${++inventories}`);
    await db
      .insertInto('memberships')
      .values([
        { inventory_id: id, user_id: editor.userId, role: 'editor' },
        { inventory_id: id, user_id: viewer.userId, role: 'viewer' },
      ])
      .execute();
    return id;
  }

  async function location(inventoryId: number, name: string, parentId: number | null = null) {
    const outcome = await createLocationForMember(database.db, owner, 'edit', inventoryId, {
      name,
      parentId,
    });
    if (outcome.status !== 'created') throw new Error(`${name}: ${outcome.status}`);
    return outcome.location.id;
  }

  /** Locations inside each other, `levels` deep: the ids from the top down. */
  async function chain(inventoryId: number, levels: number, prefix = 'Level') {
    const ids: number[] = [];
    for (let level = 1; level <= levels; level++) {
      ids.push(await location(inventoryId, `${prefix} ${level}`, ids.at(-1) ?? null));
    }
    return ids;
  }

  async function newItem(inventoryId: number, fields: Partial<NewItem> & { name: string }) {
    const outcome = await createItemForMember(database.db, owner, 'edit', inventoryId, {
      amount: 1,
      description: '',
      ...fields,
    });
    if (outcome.status !== 'created') throw new Error(`${fields.name}: ${outcome.status}`);
    return outcome.item;
  }

  /** Everything an inventory's places are: to compare before and after a refused change. */
  async function snapshot(inventoryId: number) {
    const { db } = database;
    const [locations, tags, items, itemTags] = await Promise.all([
      db
        .selectFrom('locations')
        .select(['id', 'parent_id', 'name'])
        .where('inventory_id', '=', inventoryId)
        .orderBy('id')
        .execute(),
      db
        .selectFrom('tags')
        .select(['id', 'name'])
        .where('inventory_id', '=', inventoryId)
        .orderBy('id')
        .execute(),
      db
        .selectFrom('items')
        .select(['id', 'name', 'location_id', 'min_amount', 'version'])
        .where('inventory_id', '=', inventoryId)
        .orderBy('id')
        .execute(),
      db
        .selectFrom('item_tags')
        .innerJoin('tags', 'tags.id', 'item_tags.tag_id')
        .select(['item_id', 'tag_id'])
        .where('tags.inventory_id', '=', inventoryId)
        .orderBy('item_id')
        .orderBy('tag_id')
        .execute(),
    ]);
    return { locations, tags, items, itemTags };
  }

  const pick = (item: Item) => ({
    id: item.id,
    name: item.name,
    location_id: item.locationId,
    min_amount: item.minAmount,
    version: item.version,
  });

  const pathsOf = async (inventoryId: number) =>
    (await listLocationsForMember(database.db, owner, 'read', inventoryId)).map((l) =>
      l.path.join('/'),
    );

  describe('the tree', () => {
    it('refuses a cycle: into itself, its child or its grandchild', async () => {
      const inventoryId = await newInventory();
      const [top, child, grandchild] = await chain(inventoryId, 3);
      const before = await snapshot(inventoryId);
      for (const parentId of [top!, child!, grandchild!]) {
        expect(
          await updateLocationForMember(database.db, owner, 'edit', top!, { parentId }),
        ).toEqual({ status: 'cycle' });
      }
      expect(
        await updateLocationForMember(database.db, owner, 'edit', child!, {
          parentId: grandchild!,
        }),
      ).toEqual({ status: 'cycle' });
      expect(await snapshot(inventoryId)).toEqual(before);
      // Moving down elsewhere is fine: the grandchild to the top, then the top into it.
      expect(
        (await updateLocationForMember(database.db, owner, 'edit', grandchild!, { parentId: null }))
          .status,
      ).toBe('changed');
      const moved = await updateLocationForMember(database.db, owner, 'edit', top!, {
        parentId: grandchild!,
      });
      expect(moved).toMatchObject({
        status: 'changed',
        location: { path: ['Level 3', 'Level 1'], depth: 2 },
      });
      expect(await pathsOf(inventoryId)).toEqual([
        'Level 3',
        'Level 3/Level 1',
        'Level 3/Level 1/Level 2',
      ]);
    });

    it(`allows exactly ${LOCATION_MAX_DEPTH} levels, also when a subtree moves`, async () => {
      const inventoryId = await newInventory();
      const deep = await chain(inventoryId, LOCATION_MAX_DEPTH);
      expect(
        await createLocationForMember(database.db, owner, 'edit', inventoryId, {
          name: 'One too deep',
          parentId: deep.at(-1)!,
        }),
      ).toEqual({ status: 'too-deep' });

      // A subtree two levels high fits under level 8 (8 + 2 = 10), not under level 9.
      const [box] = await chain(inventoryId, 2, 'Box');
      const before = await snapshot(inventoryId);
      expect(
        await updateLocationForMember(database.db, owner, 'edit', box!, {
          parentId: deep[LOCATION_MAX_DEPTH - 2]!,
        }),
      ).toEqual({ status: 'too-deep' });
      expect(await snapshot(inventoryId)).toEqual(before);
      const fits = await updateLocationForMember(database.db, owner, 'edit', box!, {
        parentId: deep[LOCATION_MAX_DEPTH - 3]!,
      });
      expect(fits).toMatchObject({
        status: 'changed',
        location: { depth: LOCATION_MAX_DEPTH - 1 },
      });
      const depths = (await listLocationsForMember(database.db, owner, 'read', inventoryId)).map(
        (l) => l.depth,
      );
      expect(Math.max(...depths)).toBe(LOCATION_MAX_DEPTH);
      // Now full: a new one under the moved box's child is one level too many.
      const boxChild = (await listLocationsForMember(database.db, owner, 'read', inventoryId)).find(
        (l) => l.name === 'Box 2',
      )!;
      expect(boxChild.depth).toBe(LOCATION_MAX_DEPTH);
      expect(
        await createLocationForMember(database.db, owner, 'edit', inventoryId, {
          name: 'Lid',
          parentId: boxChild.id,
        }),
      ).toEqual({ status: 'too-deep' });
    });

    it('keeps siblings’ names unique ignoring case, at the top too', async () => {
      const inventoryId = await newInventory();
      const garage = await location(inventoryId, 'Garage');
      const cellar = await location(inventoryId, 'Cellar');
      const shelf = await location(inventoryId, 'Shelf', garage);
      const create = (name: string, parentId: number | null) =>
        createLocationForMember(database.db, owner, 'edit', inventoryId, { name, parentId });
      expect(await create('GARAGE', null)).toEqual({ status: 'name-taken', name: 'Garage' });
      expect(await create('shelf', garage)).toEqual({ status: 'name-taken', name: 'Shelf' });
      // The same name under another parent, and at the top, is another location.
      expect((await create('shelf', cellar)).status).toBe('created');
      expect((await create('Shelf', null)).status).toBe('created');
      // Renaming to another case of its own name is no clash; to a sibling's name is one.
      expect(
        await updateLocationForMember(database.db, owner, 'edit', garage, { name: 'GARAGE' }),
      ).toMatchObject({ status: 'changed', location: { name: 'GARAGE' } });
      expect(
        await updateLocationForMember(database.db, owner, 'edit', cellar, { name: 'garage' }),
      ).toEqual({ status: 'name-taken', name: 'GARAGE' });
      // Moving next to a location of the same name is a clash too.
      expect(
        await updateLocationForMember(database.db, owner, 'edit', shelf, { parentId: cellar }),
      ).toEqual({ status: 'name-taken', name: 'shelf' });
      expect(
        await updateLocationForMember(database.db, owner, 'edit', shelf, { parentId: null }),
      ).toEqual({ status: 'name-taken', name: 'Shelf' });
      expect(await pathsOf(inventoryId)).toEqual([
        'Cellar',
        'Cellar/shelf',
        'GARAGE',
        'GARAGE/Shelf',
        'Shelf',
      ]);
    });

    it(`holds at most ${MAX_LOCATIONS_PER_INVENTORY} locations per inventory`, async () => {
      const inventoryId = await newInventory();
      await sql`insert into locations (inventory_id, name, name_key)
        select ${inventoryId}, 'Place ' || g, 'place ' || g
        from generate_series(1, ${MAX_LOCATIONS_PER_INVENTORY - 1}) as g`.execute(database.db);
      await location(inventoryId, 'The last one');
      expect(
        await createLocationForMember(database.db, owner, 'edit', inventoryId, {
          name: 'One more',
          parentId: null,
        }),
      ).toEqual({ status: 'too-many' });
      // Another inventory has its own limit.
      const other = await newInventory();
      await location(other, 'One more');
    });

    it('refuses a parent of another inventory', async () => {
      const inventoryId = await newInventory();
      const elsewhere = await location(await newInventory(), 'Elsewhere');
      const here = await location(inventoryId, 'Here');
      expect(
        await createLocationForMember(database.db, owner, 'edit', inventoryId, {
          name: 'Child',
          parentId: elsewhere,
        }),
      ).toEqual({ status: 'parent-not-found' });
      expect(
        await updateLocationForMember(database.db, owner, 'edit', here, { parentId: elsewhere }),
      ).toEqual({ status: 'parent-not-found' });
    });

    it('two moves at once that together would make a cycle: one is refused', async () => {
      for (let round = 0; round < 5; round++) {
        const inventoryId = await newInventory();
        const a = await location(inventoryId, 'A');
        const b = await location(inventoryId, 'B');
        // Each on its own connection of the pool (PostgreSQL); the embedded one takes turns.
        const outcomes = await Promise.all([
          updateLocationForMember(database.db, owner, 'edit', a, { parentId: b }),
          updateLocationForMember(database.db, editor, 'edit', b, { parentId: a }),
        ]);
        expect(outcomes.map((outcome) => outcome.status).sort()).toEqual(['changed', 'cycle']);
        const paths = await pathsOf(inventoryId);
        expect(paths.length).toBe(2);
        expect([
          ['A', 'A/B'],
          ['B', 'B/A'],
        ]).toContainEqual(paths);
      }
    });
  });

  describe('deleting a location', () => {
    /** Shelf holds Box (with Lid inside) and two items; Box holds a third item. */
    async function storeroom() {
      const inventoryId = await newInventory();
      const shelf = await location(inventoryId, 'Shelf');
      const box = await location(inventoryId, 'Box', shelf);
      const lid = await location(inventoryId, 'Lid', box);
      const other = await location(inventoryId, 'Other');
      const items = [
        await newItem(inventoryId, { name: 'Tape', locationId: box }),
        await newItem(inventoryId, { name: 'Glue', locationId: box }),
        await newItem(inventoryId, { name: 'Saw', locationId: lid }),
        await newItem(inventoryId, { name: 'Free' }),
      ];
      return { inventoryId, shelf, box, lid, other, items };
    }

    it('deletes an empty one; one that holds something only with a place for it', async () => {
      const { inventoryId, box, other } = await storeroom();
      const before = await snapshot(inventoryId);
      expect(await deleteLocationForMember(database.db, owner, 'edit', box, undefined)).toEqual({
        status: 'not-empty',
        items: 2,
        locations: 1,
      });
      expect(await snapshot(inventoryId)).toEqual(before);
      expect(await deleteLocationForMember(database.db, owner, 'edit', other, undefined)).toEqual({
        status: 'deleted',
        movedItems: 0,
        movedLocations: 0,
      });
    });

    it('moves its items and child locations into another location', async () => {
      const { inventoryId, shelf, box, lid, other, items } = await storeroom();
      expect(await deleteLocationForMember(database.db, editor, 'edit', box, other)).toEqual({
        status: 'deleted',
        movedItems: 2,
        movedLocations: 1,
      });
      expect(await pathsOf(inventoryId)).toEqual(['Other', 'Other/Lid', 'Shelf']);
      const after = await snapshot(inventoryId);
      expect(after.items).toEqual([
        { ...pick(items[0]!), location_id: other, version: 2 },
        { ...pick(items[1]!), location_id: other, version: 2 },
        pick(items[2]!),
        pick(items[3]!),
      ]);
      expect(after.locations.find((row) => row.id === lid)?.parent_id).toBe(other);
      const moved = await findItemForMember(database.db, owner, 'read', items[0]!.id);
      expect(moved?.version).toBe(2);
      expect(shelf).toBeGreaterThan(0);
    });

    it('refuses a target with a child of the same name, changing nothing', async () => {
      const { inventoryId, box, other } = await storeroom();
      await location(inventoryId, 'LID', other);
      const before = await snapshot(inventoryId);
      expect(await deleteLocationForMember(database.db, owner, 'edit', box, other)).toEqual({
        status: 'name-taken',
        name: 'LID',
      });
      expect(await snapshot(inventoryId)).toEqual(before);
    });

    it('with no target: items in no location, child locations at the top', async () => {
      const { inventoryId, box, items } = await storeroom();
      expect(await deleteLocationForMember(database.db, owner, 'edit', box, null)).toEqual({
        status: 'deleted',
        movedItems: 2,
        movedLocations: 1,
      });
      expect(await pathsOf(inventoryId)).toEqual(['Lid', 'Other', 'Shelf']);
      const after = await snapshot(inventoryId);
      expect(after.items.slice(0, 2)).toEqual([
        { ...pick(items[0]!), location_id: null, version: 2 },
        { ...pick(items[1]!), location_id: null, version: 2 },
      ]);
    });

    it('a child may have the name of the location being deleted', async () => {
      const inventoryId = await newInventory();
      const box = await location(inventoryId, 'Box');
      await location(inventoryId, 'box', box);
      const shelf = await location(inventoryId, 'Shelf');
      const inner = await location(inventoryId, 'Inner', shelf);
      await location(inventoryId, 'inner', inner);
      expect((await deleteLocationForMember(database.db, owner, 'edit', box, null)).status).toBe(
        'deleted',
      );
      expect((await deleteLocationForMember(database.db, owner, 'edit', inner, shelf)).status).toBe(
        'deleted',
      );
      expect(await pathsOf(inventoryId)).toEqual(['box', 'Shelf', 'Shelf/inner']);
    });

    it('refuses a target inside it, itself, or of another inventory', async () => {
      const { inventoryId, box, lid } = await storeroom();
      const elsewhere = await location(await newInventory(), 'Elsewhere');
      const before = await snapshot(inventoryId);
      expect(await deleteLocationForMember(database.db, owner, 'edit', box, lid)).toEqual({
        status: 'cycle',
      });
      expect(await deleteLocationForMember(database.db, owner, 'edit', box, box)).toEqual({
        status: 'cycle',
      });
      expect(await deleteLocationForMember(database.db, owner, 'edit', box, elsewhere)).toEqual({
        status: 'parent-not-found',
      });
      expect(await snapshot(inventoryId)).toEqual(before);
    });

    it('refuses a target whose depth the moved children would exceed', async () => {
      const inventoryId = await newInventory();
      const deep = await chain(inventoryId, LOCATION_MAX_DEPTH - 1);
      const [box] = await chain(inventoryId, 3, 'Box');
      const before = await snapshot(inventoryId);
      // Box's child is two levels high: under level 9 it would reach 11.
      expect(await deleteLocationForMember(database.db, owner, 'edit', box!, deep.at(-1)!)).toEqual(
        { status: 'too-deep' },
      );
      expect(await snapshot(inventoryId)).toEqual(before);
      expect(
        (await deleteLocationForMember(database.db, owner, 'edit', box!, deep.at(-2)!)).status,
      ).toBe('deleted');
    });
  });

  describe('the list’s filters', () => {
    let inventoryId: number;
    let garage: number;
    let shelf: number;
    let kitchen: number;
    let all: Item[];

    beforeAll(async () => {
      inventoryId = await newInventory();
      garage = await location(inventoryId, 'Garage');
      shelf = await location(inventoryId, 'Shelf', garage);
      const box = await location(inventoryId, 'Box', shelf);
      const deep = await location(inventoryId, 'Deep', box);
      kitchen = await location(inventoryId, 'Kitchen');
      const make = (name: string, fields: Partial<NewItem>) =>
        newItem(inventoryId, { name, ...fields });
      all = [
        await make('Hammer', { locationId: deep, tags: ['Red', 'tools'], amount: 1, minAmount: 2 }),
        await make('Saw', { locationId: shelf, tags: ['red'], amount: 5, minAmount: 5 }),
        await make('Pan', { locationId: kitchen, tags: ['Tools'], amount: 0, minAmount: 1 }),
        await make('Cup', { amount: 3 }),
        await make('Nail', { locationId: garage, tags: ['blue'], amount: 0, minAmount: 0 }),
        await make('100% wool', { amount: 7, description: 'warm' }),
        await make('a_b', { amount: 2 }),
        await make('ab', { amount: 2, tags: ['red'] }),
        await make('100 wool', { amount: 8 }),
        await make('drill', {
          locationId: garage,
          tags: ['tools', 'red'],
          amount: 4,
          minAmount: 9,
        }),
      ];
      // Another inventory with the same names is not in this one's lists.
      const other = await newInventory();
      const otherGarage = await location(other, 'Garage');
      await newItem(other, { name: 'Hammer', locationId: otherGarage, tags: ['red', 'tools'] });
    });

    const list = (query: Parameters<typeof listItemsForMember>[4]) =>
      listItemsForMember(database.db, owner, 'read', { inventoryId }, query);
    const matching = (wanted: string[]) => all.filter((item) => wanted.includes(item.name));

    /** A list's filters, its location named (the ids are made in beforeAll). */
    interface FilterCase {
      location?: 'garage' | 'shelf' | 'kitchen';
      tags?: string[];
      low?: boolean;
      search?: string;
    }

    it.each<[string, FilterCase, string[]]>([
      ['the garage subtree', { location: 'garage' }, ['Hammer', 'Saw', 'Nail', 'drill']],
      ['the shelf subtree', { location: 'shelf' }, ['Hammer', 'Saw']],
      ['the kitchen', { location: 'kitchen' }, ['Pan']],
      ['two tags, all must match', { tags: ['red', 'tools'] }, ['Hammer', 'drill']],
      ['tags in any case', { tags: ['RED', ' Tools '] }, ['Hammer', 'drill']],
      ['the same tag twice', { tags: ['tools', 'TOOLS'] }, ['Hammer', 'Pan', 'drill']],
      ['a tag no item has', { tags: ['red', 'green'] }, []],
      ['low stock', { low: true }, ['Hammer', 'Pan', 'drill']],
      ['text in a tag name', { search: 'TOOL' }, ['Hammer', 'Pan', 'drill']],
      ['text in a location name', { search: 'garag' }, ['Hammer', 'Saw', 'Nail', 'drill']],
      ['text in a sub-location name', { search: 'box' }, ['Hammer']],
      ['text in a description', { search: 'WARM' }, ['100% wool']],
      ['a literal %', { search: '0%' }, ['100% wool']],
      ['a literal _', { search: 'a_' }, ['a_b']],
      [
        'subtree, tag and low',
        { location: 'garage', tags: ['red'], low: true },
        ['Hammer', 'drill'],
      ],
      ['subtree and text', { location: 'garage', search: 'blue' }, ['Nail']],
      ['tags and text', { tags: ['red'], search: 'w' }, ['Saw']],
    ] satisfies [string, FilterCase, string[]][])(
      '%s',
      async (_, { location, ...query }, expected) => {
        const located = {
          ...query,
          ...(location ? { location: { garage, shelf, kitchen }[location] } : {}),
        };
        const wanted = matching([...expected]);
        for (const sort of ITEM_SORTS) {
          const seen: number[] = [];
          for (let page = 1; page <= Math.max(1, Math.ceil(wanted.length / 2)); page++) {
            const result = await list({ ...located, sort, page, limit: 2 });
            expect(result.total).toBe(wanted.length);
            expect(result.totalAmount).toBe(wanted.reduce((sum, item) => sum + item.amount, 0));
            expect(result.lowCount).toBe(wanted.filter((item) => item.low).length);
            seen.push(...result.items.map((item) => item.id));
          }
          expect(seen, sort).toEqual(sorted(wanted, sort));
        }
      },
    );

    it('counts the low items of the whole list, not of the page', async () => {
      const result = await list({ limit: 1 });
      expect(result.total).toBe(all.length);
      expect(result.lowCount).toBe(3);
      expect((await list({ location: kitchen, limit: 1 })).lowCount).toBe(1);
    });

    it('a location of another inventory, or none at all, matches nothing', async () => {
      const other = await newInventory();
      const foreign = await location(other, 'Foreign');
      await newItem(other, { name: 'Thing', locationId: foreign });
      expect((await list({ location: foreign })).total).toBe(0);
      expect((await list({ location: 2_000_000_000 })).total).toBe(0);
    });

    it('each item carries its tags in name order, its location and whether it is low', async () => {
      const hammer = (await list({ search: 'hammer' })).items[0]!;
      expect(hammer).toMatchObject({ tags: ['Red', 'tools'], minAmount: 2, low: true });
      expect(names((await list({ tags: ['blue'] })).items)).toEqual(['Nail']);
    });
  });

  describe('tags', () => {
    const tagNames = (count: number, prefix = 'tag') =>
      Array.from({ length: count }, (_, i) => `${prefix} ${i + 1}`);

    it(`an item has at most ${MAX_TAGS_PER_ITEM} tags; the same name in another case counts once`, async () => {
      expect(tagListSchema.safeParse(tagNames(MAX_TAGS_PER_ITEM)).success).toBe(true);
      const tooMany = tagListSchema.safeParse(tagNames(MAX_TAGS_PER_ITEM + 1));
      expect(tooMany.success).toBe(false);
      expect(tooMany.error?.issues[0]?.message).toBe(
        `An item has at most ${MAX_TAGS_PER_ITEM} tags.`,
      );
      const twice = tagListSchema.parse([
        ...tagNames(MAX_TAGS_PER_ITEM),
        'TAG 1',
        'Tag 2',
        ' tag 3 ',
      ]);
      expect(twice).toEqual(tagNames(MAX_TAGS_PER_ITEM));

      const inventoryId = await newInventory();
      const item = await newItem(inventoryId, { name: 'Busy', tags: twice });
      expect(item.tags).toHaveLength(MAX_TAGS_PER_ITEM);
      expect((await listTagsForMember(database.db, owner, 'read', inventoryId)).length).toBe(
        MAX_TAGS_PER_ITEM,
      );
      // A second item with another spelling reuses the tag, keeping its first spelling.
      const other = await newItem(inventoryId, { name: 'Other', tags: ['TAG 1'] });
      expect(other.tags).toEqual(['tag 1']);
    });

    it(`an inventory has at most ${MAX_TAGS_PER_INVENTORY} tags: nothing stored past it`, async () => {
      const inventoryId = await newInventory();
      await sql`insert into tags (inventory_id, name, name_key)
        select ${inventoryId}, 'Old ' || g, 'old ' || g
        from generate_series(1, ${MAX_TAGS_PER_INVENTORY - 2}) as g`.execute(database.db);
      const kept = await newItem(inventoryId, { name: 'Kept', tags: ['old 1'] });
      const before = await snapshot(inventoryId);
      const refused = await createItemForMember(database.db, owner, 'edit', inventoryId, {
        name: 'Refused',
        amount: 1,
        description: '',
        tags: ['Old 2', 'new 1', 'new 2', 'new 3'],
      });
      expect(refused).toMatchObject({ status: 'place-refused', field: 'tags' });
      expect(await snapshot(inventoryId)).toEqual(before);
      expect(
        await updateItemForMember(database.db, owner, 'edit', kept.id, {
          name: 'Renamed',
          tags: ['new 1', 'new 2', 'new 3'],
        }),
      ).toMatchObject({ status: 'place-refused', field: 'tags' });
      expect(await snapshot(inventoryId)).toEqual(before);
      // Exactly up to the limit is fine.
      const full = await newItem(inventoryId, { name: 'Full', tags: ['new 1', 'NEW 1', 'new 2'] });
      expect(full.tags).toEqual(['new 1', 'new 2']);
      expect(
        await database.db
          .selectFrom('tags')
          .select(sql<number>`count(*)::int`.as('count'))
          .where('inventory_id', '=', inventoryId)
          .executeTakeFirstOrThrow(),
      ).toEqual({ count: MAX_TAGS_PER_INVENTORY });
    });

    it('a change that conflicts makes no tag', async () => {
      const inventoryId = await newInventory();
      const item = await newItem(inventoryId, { name: 'Item', tags: ['kept'] });
      await updateItemForMember(database.db, owner, 'edit', item.id, { amount: 2 });
      const before = await snapshot(inventoryId);
      const outcome = await updateItemForMember(
        database.db,
        owner,
        'edit',
        item.id,
        { tags: ['kept', 'fresh'] },
        item.version,
      );
      expect(outcome.status).toBe('conflict');
      expect(await snapshot(inventoryId)).toEqual(before);
    });

    it('rename, rename to a taken name, merge and delete', async () => {
      const inventoryId = await newInventory();
      const both = await newItem(inventoryId, { name: 'Both', tags: ['red', 'tools'] });
      const red = await newItem(inventoryId, { name: 'Red only', tags: ['red'] });
      const plain = await newItem(inventoryId, { name: 'Plain' });
      const tagsByName = async () =>
        Object.fromEntries(
          (await listTagsForMember(database.db, owner, 'read', inventoryId)).map((tag) => [
            tag.name,
            tag,
          ]),
        );
      const { red: redTag, tools: toolsTag } = await tagsByName();

      expect(await renameTagForMember(database.db, owner, 'edit', redTag!.id, 'Crimson')).toEqual({
        status: 'renamed',
      });
      let found = await findItemForMember(database.db, owner, 'read', both.id);
      expect(found).toMatchObject({ tags: ['Crimson', 'tools'], version: 2 });
      expect(await renameTagForMember(database.db, owner, 'edit', redTag!.id, 'crimson')).toEqual({
        status: 'renamed',
      });
      const before = await snapshot(inventoryId);
      expect(await renameTagForMember(database.db, owner, 'edit', redTag!.id, 'TOOLS')).toEqual({
        status: 'name-taken',
        otherId: toolsTag!.id,
        otherName: 'tools',
      });
      expect(await snapshot(inventoryId)).toEqual(before);

      expect(await mergeTagsForMember(database.db, owner, 'edit', redTag!.id, redTag!.id)).toEqual({
        status: 'not-mergeable',
      });
      const foreign = await newItem(await newInventory(), { name: 'Foreign', tags: ['tools'] });
      const foreignTag = (
        await listTagsForMember(database.db, owner, 'read', foreign.inventoryId)
      )[0]!;
      expect(
        await mergeTagsForMember(database.db, owner, 'edit', redTag!.id, foreignTag.id),
      ).toEqual({ status: 'not-mergeable' });
      expect(await snapshot(inventoryId)).toEqual(before);

      expect(
        await mergeTagsForMember(database.db, owner, 'edit', redTag!.id, toolsTag!.id),
      ).toEqual({ status: 'merged', into: 'tools' });
      found = await findItemForMember(database.db, owner, 'read', both.id);
      expect(found?.tags).toEqual(['tools']);
      expect((await findItemForMember(database.db, owner, 'read', red.id))?.tags).toEqual([
        'tools',
      ]);
      expect(Object.values(await tagsByName()).map((tag) => [tag.name, tag.itemCount])).toEqual([
        ['tools', 2],
      ]);

      expect(await deleteTagForMember(database.db, owner, 'edit', toolsTag!.id)).toEqual({
        status: 'deleted',
      });
      found = await findItemForMember(database.db, owner, 'read', both.id);
      expect(found).toMatchObject({ name: 'Both', tags: [], amount: 1 });
      expect(await tagsByName()).toEqual({});
      expect((await findItemForMember(database.db, owner, 'read', plain.id))?.version).toBe(1);
    });
  });

  it('min_amount: 0 is never low, equal is not low, one below is, none is not', async () => {
    const inventoryId = await newInventory();
    const cases = [
      { name: 'zero min', amount: 0, minAmount: 0, low: false },
      { name: 'equal', amount: 3, minAmount: 3, low: false },
      { name: 'one below', amount: 2, minAmount: 3, low: true },
      { name: 'no min', amount: 0, minAmount: null, low: false },
    ];
    for (const { low, ...fields } of cases) {
      expect((await newItem(inventoryId, fields)).low, fields.name).toBe(low);
    }
    const page = await listItemsForMember(
      database.db,
      owner,
      'read',
      { inventoryId },
      {
        low: true,
      },
    );
    expect(names(page.items)).toEqual(['one below']);
    expect(page.lowCount).toBe(1);
    const equal = (
      await listItemsForMember(database.db, owner, 'read', { inventoryId }, {})
    ).items.find((item) => item.name === 'equal')!;
    const changed = await updateItemForMember(database.db, owner, 'edit', equal.id, {
      amount: 2,
    });
    expect(changed).toMatchObject({ status: 'changed', item: { low: true } });
    const cleared = await updateItemForMember(database.db, owner, 'edit', equal.id, {
      minAmount: null,
    });
    expect(cleared).toMatchObject({ status: 'changed', item: { low: false, minAmount: null } });
  });

  describe('who may do what', () => {
    it('a stranger’s ids are not found; a viewer may read and change nothing', async () => {
      const inventoryId = await newInventory();
      const shelf = await location(inventoryId, 'Shelf');
      const box = await location(inventoryId, 'Box', shelf);
      const item = await newItem(inventoryId, { name: 'Item', locationId: box, tags: ['red'] });
      const [tag] = await listTagsForMember(database.db, owner, 'read', inventoryId);
      const before = await snapshot(inventoryId);

      const { db } = database;
      expect(await findLocationWithRole(db, stranger, box)).toBeUndefined();
      expect(await findTagWithRole(db, stranger, tag!.id)).toBeUndefined();
      expect(await listLocationsForMember(db, stranger, 'read', inventoryId)).toEqual([]);
      expect(await listLocationsWithCountsForMember(db, stranger, 'read', inventoryId)).toEqual([]);
      expect(await listTagsForMember(db, stranger, 'read', inventoryId)).toEqual([]);

      const changes = (caller: Caller) => [
        createLocationForMember(db, caller, 'edit', inventoryId, { name: 'New', parentId: null }),
        updateLocationForMember(db, caller, 'edit', box, { name: 'Renamed' }),
        updateLocationForMember(db, caller, 'edit', box, { parentId: null }),
        deleteLocationForMember(db, caller, 'edit', box, null),
        deleteLocationForMember(db, caller, 'edit', shelf, undefined),
        renameTagForMember(db, caller, 'edit', tag!.id, 'blue'),
        mergeTagsForMember(db, caller, 'edit', tag!.id, tag!.id),
        deleteTagForMember(db, caller, 'edit', tag!.id),
        updateItemForMember(db, caller, 'edit', item.id, { locationId: shelf, tags: ['new'] }),
        updateItemForMember(db, caller, 'edit', item.id, { minAmount: 5 }),
        createItemForMember(db, caller, 'edit', inventoryId, {
          name: 'New',
          amount: 1,
          description: '',
          locationId: shelf,
          tags: ['new'],
        }),
      ];
      for (const outcome of await Promise.all(changes(stranger))) {
        expect(outcome).toEqual({ status: 'not-found' });
      }
      for (const outcome of await Promise.all(changes(viewer))) {
        expect(outcome).toEqual({ status: 'forbidden', role: 'viewer' });
      }
      expect(await snapshot(inventoryId)).toEqual(before);

      expect((await findLocationWithRole(db, viewer, box))?.location.path).toEqual([
        'Shelf',
        'Box',
      ]);
      expect(
        (await listLocationsWithCountsForMember(db, viewer, 'read', inventoryId)).map((l) => [
          l.name,
          l.itemCount,
          l.subtreeItemCount,
        ]),
      ).toEqual([
        ['Shelf', 0, 1],
        ['Box', 1, 1],
      ]);
      // An editor may.
      expect(
        (await updateLocationForMember(db, editor, 'edit', box, { name: 'Crate' })).status,
      ).toBe('changed');
    });

    it('an item cannot be put in another inventory’s location', async () => {
      const inventoryId = await newInventory();
      const foreign = await location(await newInventory(), 'Foreign');
      const item = await newItem(inventoryId, { name: 'Item', amount: 4 });
      const before = await snapshot(inventoryId);
      for (const locationId of [foreign, 2_000_000_000]) {
        expect(
          await createItemForMember(database.db, owner, 'edit', inventoryId, {
            name: 'New',
            amount: 1,
            description: '',
            locationId,
            tags: ['made'],
          }),
        ).toMatchObject({ status: 'place-refused', field: 'location_id' });
        expect(
          await updateItemForMember(database.db, owner, 'edit', item.id, {
            amount: 9,
            locationId,
          }),
        ).toMatchObject({ status: 'place-refused', field: 'location_id' });
      }
      expect(await snapshot(inventoryId)).toEqual(before);
    });

    it('deleting an inventory deletes its locations and tags', async () => {
      const inventoryId = await newInventory();
      const [, , bottom] = await chain(inventoryId, 3);
      await newItem(inventoryId, { name: 'Item', locationId: bottom!, tags: ['red', 'blue'] });
      const kept = await newInventory();
      await newItem(kept, {
        name: 'Kept',
        locationId: await location(kept, 'Kept'),
        tags: ['red'],
      });
      const keptBefore = await snapshot(kept);
      expect(await deleteInventory(database.db, owner, inventoryId)).toEqual({ status: 'deleted' });
      expect(await snapshot(inventoryId)).toEqual({
        locations: [],
        tags: [],
        items: [],
        itemTags: [],
      });
      expect(await snapshot(kept)).toEqual(keptBefore);
    });
  });
});

/**
 * Each filter reads an index, not every item of the inventory: the plans of the very
 * statements `listItemsForMember` sends (bench/RESULTS.md has them with their timings).
 */
describe.each(BACKENDS)('the filters’ plans on %s', (backend) => {
  let database: TestDatabase;
  let caller: Caller;
  let inventoryId: number;
  let room: number;

  beforeAll(async () => {
    database = await createTestDatabase(backend);
    const { db } = database;
    const { id: userId } = await db
      .insertInto('users')
      .values({ username: 'planner', username_key: 'planner', password_hash: 'not-a-real-hash' })
      .returning('id')
      .executeTakeFirstOrThrow();
    caller = member(userId);
    inventoryId = await createInventory(db, userId, 'Big');
    await sql`insert into locations (inventory_id, name, name_key)
      select ${inventoryId}, 'Room ' || g, 'room ' || g from generate_series(1, 10) as g`.execute(
      db,
    );
    await sql`insert into locations (inventory_id, parent_id, name, name_key)
      select ${inventoryId}, room.id, 'Shelf ' || g, 'shelf ' || g
      from locations room, generate_series(1, 9) as g where room.inventory_id = ${inventoryId}`.execute(
      db,
    );
    await sql`insert into tags (inventory_id, name, name_key)
      select ${inventoryId}, 'Tag ' || g, 'tag ' || g from generate_series(1, 30) as g`.execute(db);
    await sql`
      with places as (select array_agg(id order by id) as ids from locations)
      insert into items (inventory_id, created_by, name, amount, location_id, min_amount)
      select ${inventoryId}, ${userId}, 'Item ' || g, g % 100, places.ids[1 + g % 100],
        case when g % 20 = 0 then 100 end
      from places, generate_series(1, 5000) as g`.execute(db);
    await sql`
      with tagged as (select array_agg(id order by id) as ids from tags)
      insert into item_tags (item_id, tag_id)
      select items.id, tagged.ids[1 + (items.id * (k * 2 + 1) + k * 7) % 30]
      from tagged, items, generate_series(1, 3) as k where items.id % 4 >= k
      on conflict do nothing`.execute(db);
    await sql`analyze locations, tags, item_tags, stored_items, memberships`.execute(db);
    ({ id: room } = await db
      .selectFrom('locations')
      .select('id')
      .where('parent_id', 'is', null)
      .orderBy('id')
      .executeTakeFirstOrThrow());
  });
  afterAll(async () => {
    await database?.drop();
  });

  /** EXPLAIN of each statement the list runs that reads the items. */
  async function plansOf(query: Parameters<typeof listItemsForMember>[4]): Promise<string[]> {
    const { db } = database;
    // Subqueries pass through transformQuery too; only what reaches the database has a result.
    const transformed = new Map<QueryId, RootOperationNode>();
    const statements: RootOperationNode[] = [];
    await listItemsForMember(
      db.withPlugin({
        transformQuery: ({ node, queryId }) => {
          transformed.set(queryId, node);
          return node;
        },
        transformResult: async ({ result, queryId }) => {
          statements.push(transformed.get(queryId)!);
          return result;
        },
      }),
      caller,
      'read',
      { inventoryId },
      query,
    );
    const plans = [];
    for (const node of statements) {
      const compiled = db.getExecutor().compileQuery(node, createQueryId());
      if (!compiled.sql.includes('from "items"')) continue;
      const plan = await db.executeQuery<{ 'QUERY PLAN': string }>(
        CompiledQuery.raw(`explain ${compiled.sql}`, [...compiled.parameters]),
      );
      plans.push(plan.rows.map((row) => row['QUERY PLAN']).join('\n'));
    }
    return plans;
  }

  it.each([
    ['a location’s subtree', () => ({ location: room }), /items_location_id_id_idx/],
    ['two tags', () => ({ tags: ['Tag 3', 'tag 7'] }), /item_tags_tag_id_item_id_idx/],
    ['low stock', () => ({ low: true }), /items_low_idx/],
  ] as const)('%s: the count reads an index', async (_, query, index) => {
    const plans = await plansOf(query());
    expect(plans).toHaveLength(2);
    const [count] = plans;
    expect(count).toMatch(index);
    expect(count).not.toMatch(/Seq Scan on stored_items/);
  });
});
