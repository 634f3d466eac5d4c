import fc from 'fast-check';
import { CompiledQuery, createQueryId, sql, type Kysely, type RootOperationNode } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AMOUNT_MAX, type ItemInput } from '../../src/lib/contracts/item-input.ts';
import {
  adjustItemAmountForMember,
  createItemForMember,
  type CreateItemOutcome,
  deleteItemForMember,
  type ExportedItem,
  findItemForMember,
  itemBatchesForMember,
  listItemsForMember,
  updateItemForMember,
  type Item,
} from '../../src/lib/server/items/items.ts';
import type { Caller } from '../../src/lib/server/inventories/access.ts';
import { createPersonalInventory } from '../../src/lib/server/inventories/inventories.ts';
import type { Database } from '../../src/lib/server/db/types.ts';
import { parseRowId } from '../../src/lib/server/ids.ts';
import { BACKENDS, createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { ITEM_SORTS, parseItemListParams, type ItemSort } from '../../src/lib/contracts/items.ts';

/**
 * The items repository on every backend: paging with totals, every sort (stable, ties
 * broken by id in the sort's direction), search (literal, case-insensitive, Unicode),
 * owner scoping of every function, the amount's limits, idempotent creation and the
 * keyset batches the exports read.
 */

const item = (name: string, amount = 1, description = ''): ItemInput => ({
  name,
  amount,
  description,
});

const ids = (items: Item[]) => items.map((entry) => entry.id);
const names = (items: Pick<Item, 'name'>[]) => items.map((entry) => entry.name);

/** Code point order, as PostgreSQL's C collation compares (ASCII-only inputs below). */
const compareText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** The order each sort promises: its key, then id, both in the sort's direction. */
function expectedOrder(items: Item[], sort: ItemSort): Item[] {
  const key: Record<ItemSort, (a: Item, b: Item) => number> = {
    newest: (a, b) => b.id - a.id,
    oldest: (a, b) => a.id - b.id,
    name: (a, b) =>
      compareText(a.name.toLowerCase(), b.name.toLowerCase()) ||
      compareText(a.name, b.name) ||
      a.id - b.id,
    '-name': (a, b) =>
      compareText(b.name.toLowerCase(), a.name.toLowerCase()) ||
      compareText(b.name, a.name) ||
      b.id - a.id,
    amount: (a, b) => a.amount - b.amount || a.id - b.id,
    '-amount': (a, b) => b.amount - a.amount || b.id - a.id,
  };
  return [...items].sort(key[sort]);
}

/** The item an outcome stored, or replayed; any other outcome fails the test. */
function storedItem(outcome: CreateItemOutcome): Item {
  if (!('item' in outcome)) throw new Error(`not stored: ${outcome.status}`);
  return outcome.item;
}

/** A user through their own session: every inventory of theirs, no token limit. */
const member = (userId: number): Caller => ({ userId, onlyInventoryId: null });

/** What the exports read of an item. */
const exported = (item: Item): ExportedItem => ({
  id: item.id,
  userId: item.createdBy?.id ?? null,
  name: item.name,
  amount: item.amount,
  description: item.description,
});

describe('parseRowId', () => {
  it.each([
    ['1', 1],
    ['007', 7],
    ['42', 42],
    ['2147483647', 2147483647],
    ['0002147483647', 2147483647],
  ])('accepts %j as %d', (raw, expected) => {
    expect(parseRowId(raw)).toBe(expected);
  });

  it.each([
    '0',
    '000',
    '-1',
    '+1',
    '1e3',
    '1.0',
    '0x1',
    ' 1',
    '1 ',
    '',
    '2147483648',
    '99999999999999999999',
    '9'.repeat(40),
    'abc',
    '1;drop table items',
    "1' or '1'='1",
    '１', // a fullwidth digit is not a digit
    '٣',
  ])('refuses %j', (raw) => {
    expect(parseRowId(raw)).toBeUndefined();
  });

  it('refuses undefined and numbers that are not ids', () => {
    expect(parseRowId(undefined)).toBeUndefined();
    for (const value of [0, -1, 1.5, NaN, Infinity, 2147483648]) {
      expect(parseRowId(value), String(value)).toBeUndefined();
    }
    expect(parseRowId(5)).toBe(5);
    expect(parseRowId(2147483647)).toBe(2147483647);
  });

  it('accepts exactly the digit strings from 1 to 2147483647', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 12 }), (raw) => {
        const parsed = parseRowId(raw);
        const valid = /^\d+$/.test(raw) && Number(raw) >= 1 && Number(raw) <= 2147483647;
        expect(parsed).toBe(valid ? Number(raw) : undefined);
      }),
    );
  });
});

describe('parseItemListParams', () => {
  const parse = (query: string) => parseItemListParams(new URLSearchParams(query));

  it('defaults to the first page of 25 newest items with no search', () => {
    expect(parse('')).toEqual({
      search: '',
      tags: [],
      low: false,
      sort: 'newest',
      page: 1,
      limit: 25,
    });
  });

  it('reads every parameter', () => {
    expect(
      parse('q=bolt&location=7&tag=red&tag=Tools&low=true&sort=-amount&page=3&limit=50'),
    ).toEqual({
      search: 'bolt',
      location: 7,
      tags: ['red', 'Tools'],
      low: true,
      sort: '-amount',
      page: 3,
      limit: 50,
    });
    for (const sort of ITEM_SORTS) expect(parse(`sort=${sort}`).sort).toBe(sort);
  });

  it.each(['', 'NAME', 'name ', 'price', '-newest', 'amount;drop table items', '1e3'])(
    'falls back to newest for the sort %j',
    (sort) => {
      expect(parse(`sort=${encodeURIComponent(sort)}`).sort).toBe('newest');
    },
  );

  it.each([
    ['007', 7],
    ['2', 2],
    ['0', 1],
    ['-1', 1],
    ['1e3', 1],
    ['1.5', 1],
    ['abc', 1],
    ['', 1],
    ['2147483648', 1],
    ['1;drop table items', 1],
    // Pages go as far as the API's (MAX_PAGE): one rule for both.
    ['999999999', 999_999_999],
    ['1000000001', 1],
  ])('reads page=%j as %d', (raw, expected) => {
    expect(parse(`page=${encodeURIComponent(raw)}`).page).toBe(expected);
  });

  it.each([
    ['10', 10],
    ['007', 7],
    ['100', 100],
    ['101', 100],
    ['1000', 100],
    ['0', 25],
    ['-1', 25],
    ['1e3', 25],
    ['abc', 25],
    ['2147483648', 25],
    ['1;drop table items', 25],
  ])('reads limit=%j as %d', (raw, expected) => {
    expect(parse(`limit=${encodeURIComponent(raw)}`).limit).toBe(expected);
  });

  it('keeps the search as typed (percent signs and all), at most 200 characters', () => {
    expect(parse('q=%25_%5C').search).toBe('%_\\');
    expect(parse(`q=${'x'.repeat(300)}`).search).toHaveLength(200);
    expect(parse('q=%C3%A9t%C3%A9').search).toBe('été');
  });

  it('always gives a page and limit the repository can use', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), fc.string(), (page, limit, sort) => {
        const params = new URLSearchParams({ page, limit, sort });
        const parsed = parseItemListParams(params);
        expect(Number.isInteger(parsed.page) && parsed.page >= 1).toBe(true);
        expect(Number.isInteger(parsed.limit) && parsed.limit >= 1 && parsed.limit <= 100).toBe(
          true,
        );
        expect(ITEM_SORTS).toContain(parsed.sort);
      }),
    );
  });
});

describe.each(BACKENDS)('items on %s', (backend) => {
  let database: TestDatabase;
  let userCounter = 0;

  beforeAll(async () => {
    database = await createTestDatabase(backend);
  });
  afterAll(async () => {
    await database.drop();
  });

  /** Each user's personal inventory, where their items go. */
  const personal = new Map<number, number>();

  /**
   * A user of its own for each test, straight in the table (no password hashing needed),
   * with the personal inventory registration gives everyone.
   */
  async function newUser(): Promise<number> {
    userCounter += 1;
    const username = `items_user_${userCounter}`;
    return database.db.transaction().execute(async (trx) => {
      const row = await trx
        .insertInto('users')
        .values({ username, username_key: username, password_hash: 'not-a-real-hash' })
        .returning('id')
        .executeTakeFirstOrThrow();
      personal.set(row.id, await createPersonalInventory(trx, row.id));
      return row.id;
    });
  }

  const addTo = (userId: number) => personal.get(userId)!;

  async function addItems(ownerId: number, inputs: ItemInput[]): Promise<Item[]> {
    const created: Item[] = [];
    for (const input of inputs) {
      created.push(
        storedItem(
          await createItemForMember(database.db, member(ownerId), 'edit', addTo(ownerId), input),
        ),
      );
    }
    return created;
  }

  async function rowsOf(ownerId: number) {
    return database.db
      .selectFrom('items')
      .selectAll()
      .where('created_by', '=', ownerId)
      .orderBy('id')
      .execute();
  }

  /** Every page of a listing, one after another. */
  async function allPages(ownerId: number, sort: ItemSort, limit: number, search?: string) {
    const pages: Item[][] = [];
    for (let page = 1; ; page += 1) {
      const listing = await listItemsForMember(
        database.db,
        member(ownerId),
        'read',
        {},
        { sort, limit, page, search },
      );
      if (listing.items.length === 0) return pages;
      pages.push(listing.items);
      expect(listing.items.length).toBeLessThanOrEqual(limit);
    }
  }

  describe('paging', () => {
    it('splits the items into pages and totals every page', async () => {
      const owner = await newUser();
      const amounts = [5, 0, 12, 7, 1, 3, 100];
      const created = await addItems(
        owner,
        amounts.map((amount, index) => item(`Item ${index}`, amount)),
      );
      const total = amounts.reduce((sum, amount) => sum + amount, 0);

      const seen: number[] = [];
      for (const [page, size] of [
        [1, 3],
        [2, 3],
        [3, 1],
      ] as const) {
        const listing = await listItemsForMember(
          database.db,
          member(owner),
          'read',
          {},
          {
            sort: 'oldest',
            page,
            limit: 3,
          },
        );
        expect(listing).toMatchObject({ total: 7, totalAmount: total, page, limit: 3 });
        expect(listing.items).toHaveLength(size);
        seen.push(...ids(listing.items));
      }
      expect(seen).toEqual(ids(created));
    });

    it('answers a page past the end with no items but the right totals', async () => {
      const owner = await newUser();
      await addItems(owner, [item('a', 2), item('b', 3)]);
      const listing = await listItemsForMember(
        database.db,
        member(owner),
        'read',
        {},
        { page: 5, limit: 10 },
      );
      expect(listing).toEqual({
        items: [],
        total: 2,
        totalAmount: 5,
        lowCount: 0,
        page: 5,
        limit: 10,
      });
    });

    it('defaults to the first page of 25, and keeps page and limit in range', async () => {
      const owner = await newUser();
      await addItems(
        owner,
        Array.from({ length: 30 }, (_, index) => item(`n${index}`, index)),
      );
      const first = await listItemsForMember(database.db, member(owner), 'read', {});
      expect(first.items).toHaveLength(25);
      expect(first).toMatchObject({ total: 30, totalAmount: 435, page: 1, limit: 25 });

      const tooSmall = await listItemsForMember(
        database.db,
        member(owner),
        'read',
        {},
        { page: 0, limit: 0 },
      );
      expect(tooSmall).toMatchObject({ page: 1, limit: 1 });
      expect(tooSmall.items).toHaveLength(1);

      const tooLarge = await listItemsForMember(
        database.db,
        member(owner),
        'read',
        {},
        { limit: 1000 },
      );
      expect(tooLarge.limit).toBe(100);
      expect(tooLarge.items).toHaveLength(30);
    });

    it('totals amounts beyond the integer range exactly', async () => {
      const owner = await newUser();
      await addItems(owner, [item('max 1', AMOUNT_MAX), item('max 2', AMOUNT_MAX), item('one', 1)]);
      const listing = await listItemsForMember(
        database.db,
        member(owner),
        'read',
        {},
        { limit: 1 },
      );
      expect(listing.total).toBe(3);
      expect(listing.totalAmount).toBe(2 * AMOUNT_MAX + 1);
    });

    it('gives zero totals to a user with no items', async () => {
      const owner = await newUser();
      expect(await listItemsForMember(database.db, member(owner), 'read', {})).toEqual({
        items: [],
        total: 0,
        totalAmount: 0,
        lowCount: 0,
        page: 1,
        limit: 25,
      });
    });
  });

  describe('sorting', () => {
    it('orders by id for newest and oldest', async () => {
      const owner = await newUser();
      const created = await addItems(owner, [item('b', 2), item('a', 1), item('c', 3)]);
      const newest = await listItemsForMember(
        database.db,
        member(owner),
        'read',
        {},
        { sort: 'newest' },
      );
      expect(ids(newest.items)).toEqual(ids(created).reverse());
      const oldest = await listItemsForMember(
        database.db,
        member(owner),
        'read',
        {},
        { sort: 'oldest' },
      );
      expect(ids(oldest.items)).toEqual(ids(created));
      const byDefault = await listItemsForMember(database.db, member(owner), 'read', {}, {});
      expect(ids(byDefault.items)).toEqual(ids(newest.items));
    });

    it('sorts names ignoring case, both ways', async () => {
      const owner = await newUser();
      await addItems(owner, [item('cherry'), item('Banana'), item('apple'), item('Date')]);
      const ascending = await listItemsForMember(
        database.db,
        member(owner),
        'read',
        {},
        { sort: 'name' },
      );
      expect(names(ascending.items)).toEqual(['apple', 'Banana', 'cherry', 'Date']);
      const descending = await listItemsForMember(
        database.db,
        member(owner),
        'read',
        {},
        { sort: '-name' },
      );
      expect(names(descending.items)).toEqual(['Date', 'cherry', 'Banana', 'apple']);
    });

    it('sorts amounts numerically, both ways', async () => {
      const owner = await newUser();
      await addItems(owner, [
        item('ten', 10),
        item('two', 2),
        item('big', AMOUNT_MAX),
        item('zero', 0),
      ]);
      const ascending = await listItemsForMember(
        database.db,
        member(owner),
        'read',
        {},
        { sort: 'amount' },
      );
      expect(names(ascending.items)).toEqual(['zero', 'two', 'ten', 'big']);
      const descending = await listItemsForMember(
        database.db,
        member(owner),
        'read',
        {},
        { sort: '-amount' },
      );
      expect(names(descending.items)).toEqual(['big', 'ten', 'two', 'zero']);
    });

    it('breaks ties by id in the direction of the sort', async () => {
      const owner = await newUser();
      const created = await addItems(
        owner,
        Array.from({ length: 5 }, () => item('same', 7)),
      );
      const ascending = ids(created);
      const descending = [...ascending].reverse();
      const expected: Record<ItemSort, number[]> = {
        newest: descending,
        oldest: ascending,
        name: ascending,
        '-name': descending,
        amount: ascending,
        '-amount': descending,
      };
      for (const sort of ITEM_SORTS) {
        const listing = await listItemsForMember(database.db, member(owner), 'read', {}, { sort });
        expect(ids(listing.items), sort).toEqual(expected[sort]);
      }
    });

    it('neither repeats nor skips an item when a page boundary falls inside a tie', async () => {
      const owner = await newUser();
      const created = await addItems(owner, [
        item('alpha', 1),
        item('tie', 5),
        item('tie', 5),
        item('tie', 5),
        item('tie', 5),
        item('tie', 5),
        item('omega', 9),
      ]);
      for (const sort of ITEM_SORTS) {
        for (const limit of [1, 2, 3, 4]) {
          const pages = await allPages(owner, sort, limit);
          const seen = pages.flat();
          expect(ids(seen), `${sort} by ${limit}`).toEqual(ids(expectedOrder(created, sort)));
          expect(new Set(ids(seen)).size).toBe(created.length);
        }
      }
    });

    it('pages through any set of items in the promised order', async () => {
      // Lower-case ASCII names and small amounts: many ties, and an order every collation
      // agrees on.
      const inputs = fc.array(
        fc.record({
          name: fc.stringMatching(/^[abc]{1,2}$/),
          amount: fc.integer({ min: 0, max: 3 }),
        }),
        { maxLength: 12 },
      );
      await fc.assert(
        fc.asyncProperty(
          inputs,
          fc.constantFrom(...ITEM_SORTS),
          fc.integer({ min: 1, max: 5 }),
          async (rows, sort, limit) => {
            const owner = await newUser();
            const created = await addItems(
              owner,
              rows.map((row) => item(row.name, row.amount)),
            );
            const seen = (await allPages(owner, sort, limit)).flat();
            expect(ids(seen)).toEqual(ids(expectedOrder(created, sort)));
          },
        ),
        { numRuns: 25 },
      );
    });
  });

  describe('search', () => {
    it('matches the name or the description, ignoring case', async () => {
      const owner = await newUser();
      await addItems(owner, [
        item('Blue Widget', 1, 'small'),
        item('Gadget', 2, 'goes with a WIDGET'),
        item('Sprocket', 4, 'nothing to see'),
      ]);
      const found = await listItemsForMember(
        database.db,
        member(owner),
        'read',
        {},
        { search: 'widget', sort: 'name' },
      );
      expect(names(found.items)).toEqual(['Blue Widget', 'Gadget']);
      expect(found).toMatchObject({ total: 2, totalAmount: 3 });

      const upper = await listItemsForMember(
        database.db,
        member(owner),
        'read',
        {},
        { search: 'WIDG', sort: 'name' },
      );
      expect(names(upper.items)).toEqual(['Blue Widget', 'Gadget']);

      const none = await listItemsForMember(
        database.db,
        member(owner),
        'read',
        {},
        { search: 'nope' },
      );
      expect(none).toMatchObject({ items: [], total: 0, totalAmount: 0 });
    });

    it('ignores surrounding spaces, and an empty search lists everything', async () => {
      const owner = await newUser();
      await addItems(owner, [item('Bolt'), item('Nut')]);
      const padded = await listItemsForMember(
        database.db,
        member(owner),
        'read',
        {},
        { search: '  bolt  ' },
      );
      expect(names(padded.items)).toEqual(['Bolt']);
      for (const search of ['', '   ', undefined]) {
        const all = await listItemsForMember(database.db, member(owner), 'read', {}, { search });
        expect(all.total, JSON.stringify(search)).toBe(2);
      }
    });

    it.each([
      ['%', '100% cotton', ['100 cotton', 'cotton']],
      ['0%', '100% cotton', ['100 cotton', '1000']],
      ['_', 'snake_case', ['snakeXcase', 'snake case']],
      ['e_c', 'snake_case', ['snakeXcase']],
      ['\\', 'back\\slash', ['backslash', 'back/slash']],
      ['\\%', 'odd \\% thing', ['odd % thing', 'odd \\ thing']],
    ])('treats %j literally', async (search, match, others) => {
      const owner = await newUser();
      await addItems(owner, [item(match), ...others.map((name) => item(name))]);
      const found = await listItemsForMember(database.db, member(owner), 'read', {}, { search });
      expect(names(found.items)).toEqual([match]);

      // The same characters in a description.
      const other = await newUser();
      await addItems(other, [
        item('one', 1, match),
        ...others.map((description) => item('other', 1, description)),
      ]);
      const inDescription = await listItemsForMember(
        database.db,
        member(other),
        'read',
        {},
        { search },
      );
      expect(inDescription.items.map((entry) => entry.description)).toEqual([match]);
    });

    it('matches Unicode text, ignoring its case', async () => {
      const owner = await newUser();
      await addItems(owner, [
        item('Émile’s Über-Kit', 1),
        item('Plain', 2, '漢字 and ÇA'),
        item('Emoji 🧰 box', 3),
        item('other', 4),
      ]);
      const search = async (text: string) =>
        names(
          (
            await listItemsForMember(
              database.db,
              member(owner),
              'read',
              {},
              { search: text, sort: 'oldest' },
            )
          ).items,
        );
      expect(await search('émile')).toEqual(['Émile’s Über-Kit']);
      expect(await search('ÜBER')).toEqual(['Émile’s Über-Kit']);
      expect(await search('漢字')).toEqual(['Plain']);
      expect(await search('ça')).toEqual(['Plain']);
      expect(await search('🧰')).toEqual(['Emoji 🧰 box']);
    });

    it('pages and totals only the matches', async () => {
      const owner = await newUser();
      await addItems(owner, [
        item('match a', 1),
        item('skip', 100),
        item('match b', 2),
        item('match c', 4),
      ]);
      const second = await listItemsForMember(
        database.db,
        member(owner),
        'read',
        {},
        {
          search: 'match',
          sort: 'name',
          page: 2,
          limit: 2,
        },
      );
      expect(names(second.items)).toEqual(['match c']);
      expect(second).toMatchObject({ total: 3, totalAmount: 7 });
    });
  });

  describe('owner scoping', () => {
    async function twoOwners() {
      const owner = await newUser();
      const stranger = await newUser();
      const [mine] = await addItems(owner, [item('Mine', 5, 'private')]);
      await addItems(stranger, [item('Theirs', 1)]);
      return { owner, stranger, mine: mine! };
    }

    async function expectUnchanged(owner: number, expected: Item) {
      expect(await findItemForMember(database.db, member(owner), 'read', expected.id)).toEqual(
        expected,
      );
    }

    it('finds only the owner’s item', async () => {
      const { owner, stranger, mine } = await twoOwners();
      expect(await findItemForMember(database.db, member(owner), 'read', mine.id)).toEqual(mine);
      expect(
        await findItemForMember(database.db, member(stranger), 'read', mine.id),
      ).toBeUndefined();
      expect(
        await findItemForMember(database.db, member(owner), 'read', 2147483647),
      ).toBeUndefined();
    });

    it('lets nobody else update it', async () => {
      const { owner, stranger, mine } = await twoOwners();
      expect(
        await updateItemForMember(database.db, member(stranger), 'edit', mine.id, {
          name: 'Stolen',
          amount: 0,
        }),
      ).toEqual({ status: 'not-found' });
      await expectUnchanged(owner, mine);

      const updated = await updateItemForMember(database.db, member(owner), 'edit', mine.id, {
        amount: 6,
      });
      expect(updated).toEqual({
        status: 'changed',
        item: { ...mine, amount: 6, version: 2, updatedAt: expect.any(Date) },
        changeId: expect.any(Number),
      });
    });

    it('lets nobody else adjust it', async () => {
      const { owner, stranger, mine } = await twoOwners();
      for (const delta of [1, -1, -5]) {
        expect(
          await adjustItemAmountForMember(database.db, member(stranger), 'edit', mine.id, delta),
        ).toEqual({
          status: 'not-found',
        });
      }
      await expectUnchanged(owner, mine);
      expect(
        await adjustItemAmountForMember(database.db, member(stranger), 'edit', 2147483647, 1),
      ).toEqual({
        status: 'not-found',
      });
    });

    it('lets nobody else delete it', async () => {
      const { owner, stranger, mine } = await twoOwners();
      const remove = (userId: number) =>
        deleteItemForMember(database.db, member(userId), 'edit', mine.id);
      expect(await remove(stranger)).toEqual({ status: 'not-found' });
      await expectUnchanged(owner, mine);
      expect(await remove(owner)).toEqual({ status: 'deleted', changeId: expect.any(Number) });
      expect(await findItemForMember(database.db, member(owner), 'read', mine.id)).toBeUndefined();
      expect(await remove(owner)).toEqual({ status: 'not-found' });
    });

    it('never lists or exports another user’s items, searched or not', async () => {
      const { owner, stranger, mine } = await twoOwners();
      for (const search of [undefined, 'Mine', 'private', 'i']) {
        const listing = await listItemsForMember(
          database.db,
          member(stranger),
          'read',
          {},
          { search, limit: 100 },
        );
        expect(ids(listing.items), String(search)).not.toContain(mine.id);
        expect(listing.items.every((entry) => entry.createdBy?.id === stranger)).toBe(true);
      }
      const strangerListing = await listItemsForMember(database.db, member(stranger), 'read', {});
      expect(strangerListing).toMatchObject({ total: 1, totalAmount: 1 });

      const batches: ExportedItem[] = [];
      for await (const batch of itemBatchesForMember(database.db, member(stranger), 'read', {}))
        batches.push(...batch);
      expect(names(batches)).toEqual(['Theirs']);

      const ownerListing = await listItemsForMember(database.db, member(owner), 'read', {});
      expect(ownerListing.items).toEqual([mine]);
    });
  });

  describe('adjusting amounts', () => {
    it('adds and takes one', async () => {
      const owner = await newUser();
      const [created] = await addItems(owner, [item('Counted', 1)]);
      const up = await adjustItemAmountForMember(
        database.db,
        member(owner),
        'edit',
        created!.id,
        1,
      );
      // Every change counts one version and stamps its time.
      const changed = { updatedAt: expect.any(Date) };
      expect(up).toEqual({
        status: 'adjusted',
        item: { ...created, ...changed, amount: 2, version: 2 },
        changeId: expect.any(Number),
      });
      const down = await adjustItemAmountForMember(
        database.db,
        member(owner),
        'edit',
        created!.id,
        -2,
      );
      expect(down).toEqual({
        status: 'adjusted',
        item: { ...created, ...changed, amount: 0, version: 3 },
        changeId: expect.any(Number),
      });
    });

    it('refuses to go below 0 and changes nothing', async () => {
      const owner = await newUser();
      const [empty, some] = await addItems(owner, [item('Empty', 0), item('Some', 3)]);
      expect(
        await adjustItemAmountForMember(database.db, member(owner), 'edit', empty!.id, -1),
      ).toEqual({
        status: 'out-of-range',
        item: empty,
      });
      expect(
        await adjustItemAmountForMember(database.db, member(owner), 'edit', some!.id, -4),
      ).toEqual({
        status: 'out-of-range',
        item: some,
      });
      expect(
        await adjustItemAmountForMember(database.db, member(owner), 'edit', some!.id, -AMOUNT_MAX),
      ).toEqual({
        status: 'out-of-range',
        item: some,
      });
      expect(await rowsOf(owner)).toMatchObject([{ amount: 0 }, { amount: 3 }]);
    });

    it('reaches 2147483647 and refuses to pass it', async () => {
      const owner = await newUser();
      const [almost] = await addItems(owner, [item('Almost', AMOUNT_MAX - 1)]);
      const full = await adjustItemAmountForMember(
        database.db,
        member(owner),
        'edit',
        almost!.id,
        1,
      );
      const atMost = { ...almost!, amount: AMOUNT_MAX, version: 2, updatedAt: expect.any(Date) };
      expect(full).toEqual({ status: 'adjusted', item: atMost, changeId: expect.any(Number) });
      for (const delta of [1, AMOUNT_MAX]) {
        expect(
          await adjustItemAmountForMember(database.db, member(owner), 'edit', almost!.id, delta),
        ).toEqual({
          status: 'out-of-range',
          item: atMost,
        });
      }
      expect(await rowsOf(owner)).toMatchObject([{ amount: AMOUNT_MAX }]);
    });

    it('answers not-found for a missing item', async () => {
      const owner = await newUser();
      expect(
        await adjustItemAmountForMember(database.db, member(owner), 'edit', 2147483647, 1),
      ).toEqual({
        status: 'not-found',
      });
    });

    it('loses no change when many adjust at once', async () => {
      const owner = await newUser();
      const [counted] = await addItems(owner, [item('Counted', 10)]);
      await Promise.all(
        Array.from({ length: 20 }, (_, index) =>
          adjustItemAmountForMember(
            database.db,
            member(owner),
            'edit',
            counted!.id,
            index % 2 === 0 ? 1 : 2,
          ),
        ),
      );
      expect(
        (await findItemForMember(database.db, member(owner), 'read', counted!.id))?.amount,
      ).toBe(10 + 30);
    });
  });

  describe('creating', () => {
    it('stores the item for its owner', async () => {
      const owner = await newUser();
      const outcome = await createItemForMember(
        database.db,
        member(owner),
        'edit',
        addTo(owner),
        item('Lamp', 2, 'Desk\nlamp'),
      );
      expect(outcome.status).toBe('created');
      const created = storedItem(outcome);
      expect(created).toMatchObject({
        inventoryId: addTo(owner),
        createdBy: { id: owner, username: expect.any(String) },
        version: 1,
        name: 'Lamp',
        amount: 2,
        description: 'Desk\nlamp',
      });
      expect(created.createdAt).toBeInstanceOf(Date);
      expect(await findItemForMember(database.db, member(owner), 'read', created.id)).toEqual(
        created,
      );
    });

    it('stores an item once per idempotency key', async () => {
      const owner = await newUser();
      const key = { key: 'key-1', route: 'api' } as const;
      const first = await createItemForMember(
        database.db,
        member(owner),
        'edit',
        addTo(owner),
        item('Once', 1),
        key,
      );
      const again = await createItemForMember(
        database.db,
        member(owner),
        'edit',
        addTo(owner),
        item('Once', 1),
        key,
      );
      expect(first.status).toBe('created');
      expect(again).toEqual({ status: 'replayed', item: storedItem(first) });
      expect(await rowsOf(owner)).toHaveLength(1);
    });

    it('refuses a key sent again with another item, or through another route', async () => {
      const owner = await newUser();
      const key = { key: 'key-2', route: 'api' } as const;
      const first = storedItem(
        await createItemForMember(
          database.db,
          member(owner),
          'edit',
          addTo(owner),
          item('Once', 1),
          key,
        ),
      );
      for (const [input, request] of [
        [item('Other', 9), key],
        [item('Once', 2), key],
        [item('Once', 1, 'more'), key],
        [item('Once', 1), { key: 'key-2', route: 'form' }],
      ] as const) {
        expect(
          await createItemForMember(
            database.db,
            member(owner),
            'edit',
            addTo(owner),
            input,
            request,
          ),
        ).toEqual({
          status: 'key-reused',
        });
      }
      expect(await rowsOf(owner)).toMatchObject([{ id: first.id, name: 'Once', amount: 1 }]);
    });

    it('stores an item once when the same key arrives twice at the same time', async () => {
      const owner = await newUser();
      const outcomes = await Promise.all(
        Array.from({ length: 4 }, () =>
          createItemForMember(database.db, member(owner), 'edit', addTo(owner), item('Raced', 1), {
            key: 'race',
            route: 'api',
          }),
        ),
      );
      expect(new Set(outcomes.map((outcome) => storedItem(outcome).id)).size).toBe(1);
      expect(outcomes.filter((outcome) => outcome.status === 'created')).toHaveLength(1);
      expect(await rowsOf(owner)).toHaveLength(1);
    });

    it('keeps keys apart per user', async () => {
      const alice = await newUser();
      const bob = await newUser();
      const shared = { key: 'shared-key', route: 'api' } as const;
      const forAlice = await createItemForMember(
        database.db,
        member(alice),
        'edit',
        addTo(alice),
        item('A', 1),
        shared,
      );
      const forBob = await createItemForMember(
        database.db,
        member(bob),
        'edit',
        addTo(bob),
        item('B', 2),
        shared,
      );
      expect(forBob.status).toBe('created');
      expect(storedItem(forBob).id).not.toBe(storedItem(forAlice).id);
      expect(storedItem(forBob)).toMatchObject({ createdBy: { id: bob }, name: 'B', amount: 2 });
      expect(await rowsOf(alice)).toMatchObject([{ name: 'A' }]);
      expect(await rowsOf(bob)).toMatchObject([{ name: 'B' }]);
    });

    it('stores a copy each time without a key', async () => {
      const owner = await newUser();
      await createItemForMember(database.db, member(owner), 'edit', addTo(owner), item('Twice', 1));
      await createItemForMember(database.db, member(owner), 'edit', addTo(owner), item('Twice', 1));
      expect(await rowsOf(owner)).toHaveLength(2);
    });
  });

  describe('batches', () => {
    it.each([
      [7, 3],
      [6, 3],
      [3, 1000],
      [1, 1],
    ])('cover %d items in batches of %d exactly once, in id order', async (count, size) => {
      const owner = await newUser();
      const stranger = await newUser();
      const created: Item[] = [];
      for (let index = 0; index < count; index += 1) {
        // Interleave another user's items so the keyset has gaps to step over.
        created.push(...(await addItems(owner, [item(`mine ${index}`, index)])));
        await addItems(stranger, [item(`theirs ${index}`)]);
      }
      const batches: ExportedItem[][] = [];
      for await (const batch of itemBatchesForMember(database.db, member(owner), 'read', {}, size))
        batches.push(batch);

      // The exports carry no times, so the batches hold only what they write.
      expect(batches.flat()).toEqual(created.map(exported));
      expect(batches.every((batch) => batch.length > 0 && batch.length <= size)).toBe(true);
      expect(batches.slice(0, -1).every((batch) => batch.length === size)).toBe(true);
      expect(batches).toHaveLength(Math.ceil(count / size));
    });

    it('yields nothing for a user without items', async () => {
      const owner = await newUser();
      const batches: unknown[][] = [];
      for await (const batch of itemBatchesForMember(database.db, member(owner), 'read', {}, 2))
        batches.push(batch);
      expect(batches).toEqual([]);
    });
  });
});

/**
 * The main page's name sort reads an index in its order (user_id, lower(name), name, id), so
 * a page costs its own rows, not a sort of all the owner's items. The plans are those of the
 * very statements `listItemsForMember` sends, captured on their way to the database.
 */
describe.each(BACKENDS)('the name sort on %s', (backend) => {
  const ITEMS = 5_000;
  let database: TestDatabase;
  let owner: number;
  let inventoryId: number;

  beforeAll(async () => {
    database = await createTestDatabase(backend);
    const { db } = database;
    const owners: { userId: number; inventoryId: number }[] = [];
    for (const name of ['sort_owner', 'sort_neighbour_1', 'sort_neighbour_2']) {
      const row = await db
        .insertInto('users')
        .values({ username: name, username_key: name, password_hash: 'not-a-real-hash' })
        .returning('id')
        .executeTakeFirstOrThrow();
      const personal = await db
        .transaction()
        .execute((trx) => createPersonalInventory(trx, row.id));
      owners.push({ userId: row.id, inventoryId: personal });
    }
    ({ userId: owner, inventoryId } = owners[0]!);
    for (const neighbour of owners) {
      await sql`insert into items (inventory_id, created_by, name, amount)
        select ${neighbour.inventoryId}, ${neighbour.userId},
          case when g % 2 = 0 then 'Item ' else 'item ' end || md5(g::text), g
        from generate_series(1, ${ITEMS}) as g`.execute(db);
    }
    // The embedded database runs no autovacuum: without statistics it guesses.
    await sql`analyze items`.execute(db);
  });
  afterAll(async () => {
    await database?.drop();
  });

  /** EXPLAIN of every statement `run` sends through the handle it is given. */
  async function plansOf(run: (db: Kysely<Database>) => Promise<unknown>): Promise<string[]> {
    const { db } = database;
    const statements: RootOperationNode[] = [];
    await run(
      db.withPlugin({
        transformQuery: ({ node }) => {
          statements.push(node);
          return node;
        },
        transformResult: async ({ result }) => result,
      }),
    );
    return Promise.all(
      statements.map(async (node) => {
        const compiled = db.getExecutor().compileQuery(node, createQueryId());
        const plan = await db.executeQuery<{ 'QUERY PLAN': string }>(
          CompiledQuery.raw(`explain ${compiled.sql}`, [...compiled.parameters]),
        );
        return plan.rows.map((row) => row['QUERY PLAN']).join('\n');
      }),
    );
  }

  it.each([
    ['name', 1],
    ['-name', 1],
    ['name', 40],
  ] as const)('sort %s, page %d, walks the name index and sorts nothing', async (sort, page) => {
    const plans = await plansOf((db) =>
      listItemsForMember(db, member(owner), 'read', { inventoryId }, { sort, page, limit: 25 }),
    );
    const listing = plans.find((plan) => plan.startsWith('Limit')) ?? plans.join('\n\n');
    expect(listing).toMatch(
      /Index Scan (Backward )?using items_inventory_id_lower_name_name_id_idx/,
    );
    // Each row's tags are gathered (and ordered) by a subplan of a handful of rows; the
    // items themselves come in index order.
    const [itemsPlan] = listing.split(/\n\s*SubPlan/);
    expect(itemsPlan).not.toMatch(/Sort/);
  });
});
