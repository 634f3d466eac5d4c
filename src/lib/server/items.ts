import { sql, type Kysely } from 'kysely';
import { AMOUNT_MAX, type ItemInput, type ItemPatch } from '../contracts/item-input.ts';
import {
  DEFAULT_PAGE_SIZE,
  DEFAULT_SORT,
  MAX_PAGE_SIZE,
  type ItemListQuery,
} from '../contracts/items.ts';
import type { Database, ItemRow } from './db/types.ts';
import { keysetBatches } from './db/keyset.ts';
import { sha256Hex } from './sha256.ts';

/**
 * The items of one owner. The owner's id is a parameter of every function and part of
 * every query's `where`, so no caller can reach another user's items; an id that belongs
 * to someone else behaves exactly like one that does not exist. Functions take the
 * database handle (or a transaction) as their first parameter.
 */
export interface Item {
  id: number;
  userId: number;
  name: string;
  amount: number;
  description: string;
  createdAt: Date;
}

type Db = Kysely<Database>;

const ITEM_COLUMNS = ['id', 'user_id', 'name', 'amount', 'description', 'created_at'] as const;

function toItem(row: Pick<ItemRow, (typeof ITEM_COLUMNS)[number]>): Item {
  return {
    id: row.id,
    userId: row.user_id,
    name: row.name,
    amount: row.amount,
    description: row.description,
    createdAt: row.created_at,
  };
}

export interface ItemPage {
  items: Item[];
  /** Items matching the search, on every page. */
  total: number;
  /** Sum of their amounts. */
  totalAmount: number;
  page: number;
  limit: number;
}

/** `%`, `_` and `\` typed by a user are literal characters, not patterns. */
function containsPattern(text: string): string {
  return `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

function matchingItems(db: Db, ownerId: number, search: string | undefined) {
  let query = db.selectFrom('items').where('user_id', '=', ownerId);
  const text = search?.trim();
  // PostgreSQL text cannot hold U+0000 (a query parameter with one is an error, not a
  // miss), and no stored item contains it, so such a search matches nothing.
  if (text?.includes('\0')) return query.where(sql<boolean>`false`);
  if (text) {
    const pattern = containsPattern(text);
    query = query.where((eb) =>
      eb.or([eb('name', 'ilike', pattern), eb('description', 'ilike', pattern)]),
    );
  }
  return query;
}

/** One page of an owner's items, sorted stably (ties broken by id), with totals. */
export async function listItemsForUser(
  db: Db,
  ownerId: number,
  query: Partial<ItemListQuery> = {},
): Promise<ItemPage> {
  const limit = Math.min(Math.max(Math.trunc(query.limit ?? DEFAULT_PAGE_SIZE), 1), MAX_PAGE_SIZE);
  const page = Math.max(Math.trunc(query.page ?? 1), 1);
  const sort = query.sort ?? DEFAULT_SORT;

  const totals = await matchingItems(db, ownerId, query.search)
    .select([
      sql<number>`count(*)::int`.as('total'),
      sql<string>`coalesce(sum(amount), 0)::text`.as('totalAmount'),
    ])
    .executeTakeFirstOrThrow();

  let rows = matchingItems(db, ownerId, query.search).select(ITEM_COLUMNS);
  switch (sort) {
    case 'newest':
      rows = rows.orderBy('id', 'desc');
      break;
    case 'oldest':
      rows = rows.orderBy('id', 'asc');
      break;
    case 'name':
    case '-name': {
      const direction = sort === 'name' ? 'asc' : 'desc';
      rows = rows
        .orderBy(sql`lower(name)`, direction)
        .orderBy('name', direction)
        .orderBy('id', direction);
      break;
    }
    case 'amount':
    case '-amount': {
      const direction = sort === 'amount' ? 'asc' : 'desc';
      rows = rows.orderBy('amount', direction).orderBy('id', direction);
      break;
    }
  }
  const items = await rows
    .limit(limit)
    .offset((page - 1) * limit)
    .execute();
  return {
    items: items.map(toItem),
    total: totals.total,
    totalAmount: Number(totals.totalAmount),
    page,
    limit,
  };
}

export async function findItemForUser(
  db: Db,
  ownerId: number,
  id: number,
): Promise<Item | undefined> {
  const row = await db
    .selectFrom('items')
    .select(ITEM_COLUMNS)
    .where('user_id', '=', ownerId)
    .where('id', '=', id)
    .executeTakeFirst();
  return row && toItem(row);
}

/**
 * A client's key for a create it may retry, with the route it came through: a key stands
 * for one request, so the same key on another route, or with another item, is not a retry.
 */
export interface IdempotentRequest {
  key: string;
  route: 'api' | 'form';
}

export type CreateItemOutcome =
  | { status: 'created' | 'replayed'; item: Item }
  /** The key was used before for a different request; nothing was stored. */
  | { status: 'key-reused' };

/** What a key is bound to: the route and the item, hashed. */
function requestFingerprint({ route }: IdempotentRequest, input: ItemInput): string {
  return sha256Hex(JSON.stringify([route, input.name, input.amount, input.description]));
}

/**
 * Stores a new item. With an idempotency key, a second call with the same key and the same
 * request returns the item the first one stored (`replayed`) instead of storing a copy; the
 * same key with a different request stores nothing (`key-reused`), as payment APIs answer.
 */
export async function createItemForUser(
  db: Db,
  ownerId: number,
  input: ItemInput,
  idempotency?: IdempotentRequest,
): Promise<CreateItemOutcome> {
  const fingerprint = idempotency && requestFingerprint(idempotency, input);
  const row = await db
    .insertInto('items')
    .values({
      user_id: ownerId,
      ...input,
      idempotency_key: idempotency?.key ?? null,
      idempotency_fingerprint: fingerprint ?? null,
    })
    .onConflict((oc) => oc.columns(['user_id', 'idempotency_key']).doNothing())
    .returning(ITEM_COLUMNS)
    .executeTakeFirst();
  if (row) return { status: 'created', item: toItem(row) };
  const existing = await db
    .selectFrom('items')
    .select([...ITEM_COLUMNS, 'idempotency_fingerprint'])
    .where('user_id', '=', ownerId)
    .where('idempotency_key', '=', idempotency?.key ?? null)
    .executeTakeFirst();
  // Gone between the two statements (deleted meanwhile): the key stands for nothing now.
  if (!existing) return { status: 'key-reused' };
  // A row stored before keys were bound to their request has no fingerprint to compare.
  const same =
    existing.idempotency_fingerprint === null || existing.idempotency_fingerprint === fingerprint;
  return same ? { status: 'replayed', item: toItem(existing) } : { status: 'key-reused' };
}

export async function updateItemForUser(
  db: Db,
  ownerId: number,
  id: number,
  patch: ItemPatch,
): Promise<Item | undefined> {
  const row = await db
    .updateTable('items')
    .set(patch)
    .where('user_id', '=', ownerId)
    .where('id', '=', id)
    .returning(ITEM_COLUMNS)
    .executeTakeFirst();
  return row && toItem(row);
}

export type AdjustOutcome =
  | { status: 'adjusted'; item: Item }
  | { status: 'not-found' }
  | { status: 'out-of-range'; item: Item };

/** Adds `delta` to an item's amount in one statement, refusing to leave 0..2147483647. */
export async function adjustItemAmountForUser(
  db: Db,
  ownerId: number,
  id: number,
  delta: number,
): Promise<AdjustOutcome> {
  const row = await db
    .updateTable('items')
    .set({ amount: sql<number>`(amount::bigint + ${delta})::int` })
    .where('user_id', '=', ownerId)
    .where('id', '=', id)
    .where(sql<boolean>`amount::bigint + ${delta} between 0 and ${AMOUNT_MAX}`)
    .returning(ITEM_COLUMNS)
    .executeTakeFirst();
  if (row) return { status: 'adjusted', item: toItem(row) };
  const item = await findItemForUser(db, ownerId, id);
  return item ? { status: 'out-of-range', item } : { status: 'not-found' };
}

export async function deleteItemForUser(db: Db, ownerId: number, id: number): Promise<boolean> {
  const result = await db
    .deleteFrom('items')
    .where('user_id', '=', ownerId)
    .where('id', '=', id)
    .executeTakeFirst();
  return result.numDeletedRows > 0n;
}

/**
 * Every item of an owner in id order, a batch at a time (keyset pagination on id), so an
 * export of any size holds one batch in memory. The exports carry no creation time, so it
 * is not selected: parsing a timestamp per row was a measurable share of a large export.
 */
export async function* itemBatchesForUser(
  db: Db,
  ownerId: number,
  batchSize = 1000,
): AsyncGenerator<Omit<Item, 'createdAt'>[]> {
  // Aliased to the domain's names so the rows are the items, without a second object each.
  yield* keysetBatches(
    db
      .selectFrom('items')
      .select(['id', 'user_id as userId', 'name', 'amount', 'description'])
      .where('user_id', '=', ownerId),
    batchSize,
  );
}
