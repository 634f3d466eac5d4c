import { sql, type Kysely, type RawBuilder } from 'kysely';
import { asChange, changeBy, changeMadeIn, inOneStatement } from '../history/record.ts';
import { AMOUNT_MAX, type ItemInput, type ItemPatch } from '../../contracts/item-input.ts';
import type { Role } from '../../contracts/inventories.ts';
import {
  DEFAULT_PAGE_SIZE,
  DEFAULT_SORT,
  MAX_PAGE_SIZE,
  type ItemListQuery,
  type ItemSort,
} from '../../contracts/items.ts';
import type { ItemPlaces } from '../../contracts/places.ts';
import type { ChangeAction, Database } from '../db/types.ts';
import { keysetBatches } from '../db/keyset.ts';
import {
  allows,
  checkAccess,
  inventoriesFor,
  type Caller,
  type Denied,
  type Need,
} from '../inventories/access.ts';
import { sha256Hex } from '../sha256.ts';
import { matchingItems, type ItemFilters } from './filters.ts';
import { ensureTags, itemTagNames, setItemTags, TOO_MANY_TAGS_MESSAGE } from './tags.ts';

/**
 * The items of the inventories a caller is a member of. Every function takes the caller and
 * the role it needs, and every query narrows itself to the inventories where the caller has
 * that role (see inventories/access.ts), so no caller can reach an item of an inventory they
 * are not in: such an id behaves exactly like one that does not exist. Functions take the
 * database handle (or a transaction) as their first parameter.
 */
export interface Item {
  id: number;
  inventoryId: number;
  name: string;
  amount: number;
  description: string;
  /** Who added it; null once that account is deleted. */
  createdBy: { id: number; username: string } | null;
  createdAt: Date;
  updatedAt: Date;
  /** 1 when added, one more with every change. */
  version: number;
  /** The location it is kept in, if any. */
  locationId: number | null;
  /** Below this amount it is low; null for no minimum. */
  minAmount: number | null;
  /** Whether its amount is below its minimum. */
  low: boolean;
  /** Its tags' names, in name order. */
  tags: string[];
}

type Db = Kysely<Database>;

const ITEM_COLUMNS = [
  // Qualified, so that they also serve a query that joins another table with such columns.
  'items.id',
  'items.inventory_id',
  'items.created_by',
  'items.name',
  'items.amount',
  'items.description',
  'items.created_at',
  'items.updated_at',
  'items.version',
  'items.location_id',
  'items.min_amount',
  itemTagNames.as('tags'),
  // A scalar subquery, not a join: it is read only for the rows that come out (a page's
  // 25, not every item it sorted), and it serves the statements that write an item too.
  sql<string | null>`(select username from users where users.id = items.created_by)`.as(
    'creator_username',
  ),
] as const;

interface ItemColumns {
  id: number;
  inventory_id: number;
  created_by: number | null;
  name: string;
  amount: number;
  description: string;
  created_at: Date;
  updated_at: Date;
  version: number;
  location_id: number | null;
  min_amount: number | null;
  tags: string[];
  creator_username: string | null;
}

function toItem(row: ItemColumns): Item {
  return {
    id: row.id,
    inventoryId: row.inventory_id,
    name: row.name,
    amount: row.amount,
    description: row.description,
    createdBy:
      row.created_by === null || row.creator_username === null
        ? null
        : { id: row.created_by, username: row.creator_username },
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    version: row.version,
    locationId: row.location_id,
    minAmount: row.min_amount,
    low: row.min_amount !== null && row.amount < row.min_amount,
    tags: row.tags,
  };
}

export interface ItemPage {
  items: Item[];
  /** Items matching the search, on every page. */
  total: number;
  /** Sum of their amounts. */
  totalAmount: number;
  /** How many of them are low. */
  lowCount: number;
  page: number;
  limit: number;
}

/** Which items a list covers: one inventory, or every one the caller can read. */
export interface ItemScope {
  inventoryId?: number;
  /** Only the items directly in this location (a location's own page). */
  directlyIn?: number;
}

/**
 * How a list is ordered: the keys, most significant first, all in one direction, ending
 * with the id so that no two items tie. The main page's pages and the CSV export's keyset
 * batches both read this, so they cannot list the same query in different orders.
 */
const LIST_ORDER: Readonly<
  Record<ItemSort, { keys: readonly SortKey[]; direction: 'asc' | 'desc' }>
> = {
  newest: { keys: ['id'], direction: 'desc' },
  oldest: { keys: ['id'], direction: 'asc' },
  name: { keys: ['name_key', 'name', 'id'], direction: 'asc' },
  '-name': { keys: ['name_key', 'name', 'id'], direction: 'desc' },
  amount: { keys: ['amount', 'id'], direction: 'asc' },
  '-amount': { keys: ['amount', 'id'], direction: 'desc' },
};
type SortKey = 'name_key' | 'name' | 'amount' | 'id';
// lower(name) is what the sort index holds (items_inventory_id_lower_name_name_id_idx).
const SORT_KEY_SQL: Readonly<Record<SortKey, RawBuilder<unknown>>> = {
  name_key: sql`lower(items.name)`,
  name: sql`items.name`,
  amount: sql`items.amount`,
  id: sql`items.id`,
};

export const filtersOf = (query: Partial<ItemListQuery>): ItemFilters => ({
  search: query.search,
  location: query.location,
  tags: query.tags ?? [],
  low: query.low ?? false,
});

/** One page of the items the caller may read, sorted stably (ties broken by id), with totals. */
export async function listItemsForMember(
  db: Db,
  caller: Caller,
  need: Need,
  scope: ItemScope,
  query: Partial<ItemListQuery> = {},
): Promise<ItemPage> {
  const limit = Math.min(Math.max(Math.trunc(query.limit ?? DEFAULT_PAGE_SIZE), 1), MAX_PAGE_SIZE);
  const page = Math.max(Math.trunc(query.page ?? 1), 1);
  const sort = query.sort ?? DEFAULT_SORT;
  const filters = filtersOf(query);

  const totals = await matchingItems(db, caller, need, scope, filters)
    .select([
      sql<number>`count(*)::int`.as('total'),
      sql<string>`coalesce(sum(amount), 0)::text`.as('totalAmount'),
      sql<number>`(count(*) filter (where amount < min_amount))::int`.as('lowCount'),
    ])
    .executeTakeFirstOrThrow();
  let rows = matchingItems(db, caller, need, scope, filters).select(ITEM_COLUMNS);
  const { keys, direction } = LIST_ORDER[sort];
  for (const key of keys) rows = rows.orderBy(SORT_KEY_SQL[key], direction);
  const items = await rows
    .limit(limit)
    .offset((page - 1) * limit)
    .execute();
  return {
    items: items.map(toItem),
    total: totals.total,
    totalAmount: Number(totals.totalAmount),
    lowCount: totals.lowCount,
    page,
    limit,
  };
}

/** An item the caller may act on with `need`. */
export async function findItemForMember(
  db: Db,
  caller: Caller,
  need: Need,
  id: number,
): Promise<Item | undefined> {
  const row = await db
    .selectFrom('items')
    .select(ITEM_COLUMNS)
    .where('items.inventory_id', 'in', inventoriesFor(db, caller, need))
    .where('items.id', '=', id)
    .executeTakeFirst();
  return row && toItem(row);
}

/**
 * An item the caller can read, and their role where it is: what a page needs to tell a
 * viewer "you may not" (403) from a stranger "there is no such item" (404).
 */
export async function findItemWithRole(
  db: Db,
  caller: Caller,
  id: number,
): Promise<{ item: Item; role: Role } | undefined> {
  const row = await db
    .selectFrom('items')
    .select(ITEM_COLUMNS)
    .innerJoin('memberships', (join) =>
      join
        .onRef('memberships.inventory_id', '=', 'items.inventory_id')
        .on('memberships.user_id', '=', caller.userId),
    )
    .select('memberships.role')
    .where('items.id', '=', id)
    .where('items.inventory_id', 'in', inventoriesFor(db, caller, 'read'))
    .executeTakeFirst();
  return row && { item: toItem(row), role: row.role };
}

/** Why a write that matched no row did nothing, and the item as it is now, when there is one. */
async function explainMiss(
  db: Db,
  caller: Caller,
  need: Need,
  id: number,
): Promise<Denied | { status: 'allowed'; item: Item }> {
  const found = await findItemWithRole(db, caller, id);
  if (!found) return { status: 'not-found' };
  if (!allows(found.role, need)) return { status: 'forbidden', role: found.role };
  return { status: 'allowed', item: found.item };
}

/**
 * A client's key for a create it may retry, with the route it came through: a key stands
 * for one request, so the same key on another route, or with another item, is not a retry.
 */
export interface IdempotentRequest {
  key: string;
  route: 'api' | 'form';
}

/** A change made: the item as it is now, and the change to undo it by (null when none was recorded). */
interface Changed<S extends string> {
  status: S;
  item: Item;
  changeId: number | null;
}

export type CreateItemOutcome =
  | Changed<'created'>
  /** The key was used before for the same request: the item it stored, nothing new. */
  | { status: 'replayed'; item: Item }
  /** The key was used before for a different request; nothing was stored. */
  | { status: 'key-reused' }
  | PlaceRefusal
  | Denied;

/** A new item: its fields, and where it is kept, its tags and its minimum (all optional). */
export type NewItem = ItemInput & ItemPlaces;

/** A location or tags the item cannot have; nothing was written. */
export interface PlaceRefusal {
  status: 'place-refused';
  field: 'location_id' | 'tags';
  message: string;
}

const LOCATION_REFUSED: PlaceRefusal = {
  status: 'place-refused',
  field: 'location_id',
  message: "Choose one of this inventory's locations.",
};
const TAGS_REFUSED: PlaceRefusal = {
  status: 'place-refused',
  field: 'tags',
  message: TOO_MANY_TAGS_MESSAGE,
};

export async function isLocationOf(
  db: Db,
  locationId: number,
  inventoryId: number,
): Promise<boolean> {
  const row = await db
    .selectFrom('locations')
    .select('id')
    .where('id', '=', locationId)
    .where('inventory_id', '=', inventoryId)
    .executeTakeFirst();
  return row !== undefined;
}

/**
 * Checks (and for tags, makes) what an item's location and tags refer to, in `trx`, before
 * the item is written; undefined when all is well.
 */
async function preparePlaces(
  trx: Db,
  inventoryId: number,
  places: ItemPlaces,
): Promise<PlaceRefusal | undefined> {
  if (places.locationId != null && !(await isLocationOf(trx, places.locationId, inventoryId))) {
    return LOCATION_REFUSED;
  }
  if (places.tags && places.tags.length > 0) {
    const made = await ensureTags(trx, inventoryId, places.tags);
    if (made.status !== 'ok') return TAGS_REFUSED;
  }
  return undefined;
}

/** Whether writing these places needs more than the item's own row. */
const touchesOtherTables = (places: ItemPlaces) =>
  places.locationId != null || places.tags !== undefined;

/** What a key is bound to: the route, the inventory and the item, hashed. */
function requestFingerprint(
  { route }: IdempotentRequest,
  inventoryId: number,
  { name, amount, description, ...places }: NewItem,
): string {
  // The same item sent to another inventory is another request. (A key stored before
  // inventories existed was bound without one: its retry now counts as a different request.)
  // Places are bound only when given, so an item without them keeps the fingerprint it had.
  const placed = Object.keys(places).length > 0 ? [places] : [];
  return sha256Hex(JSON.stringify([route, name, amount, description, inventoryId, ...placed]));
}

/**
 * Stores a new item in an inventory. With an idempotency key, a second call with the same
 * key and the same request returns the item the first one stored (`replayed`) instead of
 * storing a copy; the same key with a different request stores nothing (`key-reused`), as
 * payment APIs answer.
 */
export async function createItemForMember(
  db: Db,
  caller: Caller,
  need: Need,
  inventoryId: number,
  input: NewItem,
  idempotency?: IdempotentRequest,
): Promise<CreateItemOutcome> {
  const { locationId, tags, minAmount, ...fields } = input;
  const fingerprint = idempotency && requestFingerprint(idempotency, inventoryId, input);
  /** What an earlier request with this key stored: replayed, or the key reused; or nothing. */
  const storedWithKey = async (db: Db): Promise<CreateItemOutcome | undefined> => {
    const existing = await db
      .selectFrom('items')
      .select([...ITEM_COLUMNS, 'idempotency_fingerprint'])
      .where('created_by', '=', caller.userId)
      .where('idempotency_key', '=', idempotency?.key ?? null)
      .where('inventory_id', 'in', inventoriesFor(db, caller, 'read'))
      .executeTakeFirst();
    if (!existing) return undefined;
    // A row stored before keys were bound to their request has no fingerprint to compare.
    const same =
      existing.idempotency_fingerprint === null || existing.idempotency_fingerprint === fingerprint;
    return same ? { status: 'replayed', item: toItem(existing) } : { status: 'key-reused' };
  };
  const store = async (db: Db): Promise<CreateItemOutcome> => {
    const access = await checkAccess(db, caller, need, inventoryId);
    if (access.status !== 'allowed') return access;
    // New tags are made before the item: a key used before must answer first, so that a
    // retry or a reused key leaves no tag behind. (Without tags the insert itself tells.)
    const earlier = idempotency && tags?.length ? await storedWithKey(db) : undefined;
    if (earlier) return earlier;
    const refused = await preparePlaces(db, inventoryId, { locationId, tags });
    if (refused) return refused;
    const statement = inOneStatement(db, added);
    const inserted = await statement.db
      .insertInto('items')
      .values({
        inventory_id: inventoryId,
        created_by: caller.userId,
        updated_by: caller.userId,
        ...fields,
        location_id: locationId ?? null,
        min_amount: minAmount ?? null,
        idempotency_key: idempotency?.key ?? null,
        idempotency_fingerprint: fingerprint ?? null,
      })
      .onConflict((oc) => oc.columns(['created_by', 'idempotency_key']).doNothing())
      .returning([...ITEM_COLUMNS, statement.changeId.as('change_id')])
      .executeTakeFirst();
    if (inserted) {
      const { change_id: changeId, ...row } = inserted;
      if (tags !== undefined && tags.length > 0) await setItemTags(db, inventoryId, row.id, tags);
      const item =
        tags === undefined || tags.length === 0
          ? toItem(row)
          : (await findItemForMember(db, caller, 'read', row.id))!;
      return { status: 'created', item, changeId };
    }
    // Gone between the two statements (deleted meanwhile): the key stands for nothing now.
    return (await storedWithKey(db)) ?? { status: 'key-reused' };
  };
  const added = changeBy(caller, 'add');
  // The common case, an item with neither, stays one statement after the role check.
  return touchesOtherTables({ locationId, tags }) ? asChange(db, added, store) : store(db);
}

export type ChangeItemOutcome =
  | Changed<'changed'>
  /** Someone saved the item since the version the change was made against. */
  | { status: 'conflict'; current: Item }
  | PlaceRefusal
  | Denied;

/** What every change writes besides its own fields. */
export const changeStamp = (caller: Caller) => ({
  updated_at: sql<Date>`now()`,
  updated_by: caller.userId,
  version: sql<number>`version + 1`,
});

/** What a patch is, for the history: a move or a retag alone, or an edit. */
function patchAction(patch: Partial<ItemPatch> & ItemPlaces): ChangeAction {
  const given = Object.entries(patch).flatMap(([key, value]) => (value === undefined ? [] : [key]));
  if (given.length === 1 && given[0] === 'locationId') return 'move';
  if (given.length === 1 && given[0] === 'tags') return 'tag';
  return 'edit';
}

/**
 * Changes some fields of an item. With `ifVersion`, only when the item is still at that
 * version: otherwise nothing is written and the item as it is now comes back.
 */
export async function updateItemForMember(
  db: Db,
  caller: Caller,
  need: Need,
  id: number,
  patch: Partial<ItemPatch> & ItemPlaces,
  ifVersion?: number,
): Promise<ChangeItemOutcome> {
  const { locationId, tags, minAmount, ...fields } = patch;
  const change = async (db: Db, inventoryId?: number): Promise<ChangeItemOutcome> => {
    let update = db
      .updateTable('items')
      .set({
        ...fields,
        ...(locationId === undefined ? {} : { location_id: locationId }),
        ...(minAmount === undefined ? {} : { min_amount: minAmount }),
        ...changeStamp(caller),
      })
      .where('inventory_id', 'in', inventoriesFor(db, caller, need))
      .where('id', '=', id);
    if (ifVersion !== undefined) update = update.where('version', '=', ifVersion);
    const row = await update.returning(ITEM_COLUMNS).executeTakeFirst();
    if (row) {
      const retag = tags !== undefined && inventoryId !== undefined;
      if (retag) await setItemTags(db, inventoryId, id, tags);
      const item = retag ? (await findItemForMember(db, caller, 'read', id))! : toItem(row);
      return { status: 'changed', item, changeId: await changeMadeIn(db, row.inventory_id) };
    }
    const miss = await explainMiss(db, caller, need, id);
    return miss.status === 'allowed' ? { status: 'conflict', current: miss.item } : miss;
  };
  return asChange(db, changeBy(caller, patchAction(patch)), async (trx) => {
    if (!touchesOtherTables({ locationId, tags })) return change(trx);
    const miss = await explainMiss(trx, caller, need, id);
    if (miss.status !== 'allowed') return miss;
    const { inventoryId } = miss.item;
    // Checked before any tag is made, so that a stale change leaves no new tag behind.
    if (ifVersion !== undefined && miss.item.version !== ifVersion) {
      return { status: 'conflict', current: miss.item };
    }
    return (
      (await preparePlaces(trx, inventoryId, { locationId, tags })) ?? change(trx, inventoryId)
    );
  });
}

export type AdjustOutcome = Changed<'adjusted'> | { status: 'out-of-range'; item: Item } | Denied;

/** Adds `delta` to an item's amount in one statement, refusing to leave 0..2147483647. */
export async function adjustItemAmountForMember(
  db: Db,
  caller: Caller,
  need: Need,
  id: number,
  delta: number,
): Promise<AdjustOutcome> {
  const statement = inOneStatement(db, changeBy(caller, 'adjust'));
  const adjusted = await statement.db
    .updateTable('items')
    .set({ amount: sql<number>`(amount::bigint + ${delta})::int`, ...changeStamp(caller) })
    .where('inventory_id', 'in', inventoriesFor(db, caller, need))
    .where('id', '=', id)
    .where(sql<boolean>`amount::bigint + ${delta} between 0 and ${AMOUNT_MAX}`)
    .returning([...ITEM_COLUMNS, statement.changeId.as('change_id')])
    .executeTakeFirst();
  if (adjusted) {
    const { change_id: changeId, ...row } = adjusted;
    return { status: 'adjusted', item: toItem(row), changeId };
  }
  const miss = await explainMiss(db, caller, need, id);
  return miss.status === 'allowed' ? { status: 'out-of-range', item: miss.item } : miss;
}

export type DeleteItemOutcome =
  { status: 'deleted'; changeId: number | null } | { status: 'conflict'; current: Item } | Denied;

/**
 * Moves an item to the trash (history/trash.ts lists, restores and purges it); with
 * `ifVersion`, only when it is still at that version.
 */
export async function deleteItemForMember(
  db: Db,
  caller: Caller,
  need: Need,
  id: number,
  ifVersion?: number,
): Promise<DeleteItemOutcome> {
  const statement = inOneStatement(db, changeBy(caller, 'delete'));
  let query = statement.db
    .updateTable('stored_items')
    .set({ deleted_at: sql<Date>`now()`, deleted_by: caller.userId, ...changeStamp(caller) })
    .where('inventory_id', 'in', inventoriesFor(db, caller, need))
    .where('id', '=', id)
    .where('deleted_at', 'is', null);
  if (ifVersion !== undefined) query = query.where('version', '=', ifVersion);
  const row = await query.returning(statement.changeId.as('change_id')).executeTakeFirst();
  if (row) return { status: 'deleted', changeId: row.change_id };
  const miss = await explainMiss(db, caller, need, id);
  return miss.status === 'allowed' ? { status: 'conflict', current: miss.item } : miss;
}

/** An item as the exports write it: who added it, and the three fields. */
export interface ExportedItem {
  id: number;
  userId: number | null;
  name: string;
  amount: number;
  description: string;
}

/**
 * Every item the caller may act on with `need` (in one inventory, or all of theirs) in id
 * order, a batch at a time (keyset pagination on id), so an export of any size holds one
 * batch in memory. The exports carry no times, so none is selected: parsing a timestamp per
 * row was a measurable share of a large export.
 */
export async function* itemBatchesForMember(
  db: Db,
  caller: Caller,
  need: Need,
  scope: ItemScope,
  batchSize = 1000,
): AsyncGenerator<ExportedItem[]> {
  let query = db
    .selectFrom('items')
    // Aliased to the domain's names so the rows are the items, without a second object each.
    .select(['id', 'created_by as userId', 'name', 'amount', 'description'])
    .where('inventory_id', 'in', inventoriesFor(db, caller, need));
  if (scope.inventoryId !== undefined) query = query.where('inventory_id', '=', scope.inventoryId);
  yield* keysetBatches(query, batchSize);
}

/** An item as the CSV export writes it: the list's columns, with its location's id. */
export interface ListedItem {
  id: number;
  name: string;
  amount: number;
  description: string;
  locationId: number | null;
  minAmount: number | null;
  /** Its tags' names, in name order. */
  tags: string[];
}

/**
 * The tags of a batch of items, in name order, in one query: a subquery per row (as the
 * page's list has) took most of a 100,000-item export's database time.
 */
async function tagsOfItems(db: Db, ids: readonly number[]): Promise<Map<number, string[]>> {
  const tags = new Map<number, string[]>();
  if (ids.length === 0) return tags;
  const rows = await db
    .selectFrom('item_tags')
    .innerJoin('tags', 'tags.id', 'item_tags.tag_id')
    .select(['item_tags.item_id', 'tags.name'])
    .where('item_tags.item_id', '=', sql<number>`any(${sql.val(ids)}::int[])`)
    .orderBy('item_tags.item_id')
    .orderBy('tags.name_key')
    .execute();
  for (const row of rows) {
    const list = tags.get(row.item_id);
    if (list) list.push(row.name);
    else tags.set(row.item_id, [row.name]);
  }
  return tags;
}

/**
 * Every item a list query matches (all pages of it: `page` and `limit` are not read), in
 * the list's order, a batch at a time. Batches follow by keyset on the sort's keys (a row
 * comparison with the last row's keys, which the sort's index answers as a range), never
 * by OFFSET, so each batch costs the same however deep into the list it starts.
 */
export async function* listedItemBatchesForMember(
  db: Db,
  caller: Caller,
  need: Need,
  scope: ItemScope,
  query: Partial<ItemListQuery>,
  batchSize = 1000,
): AsyncGenerator<ListedItem[]> {
  const { keys, direction } = LIST_ORDER[query.sort ?? DEFAULT_SORT];
  let base = matchingItems(db, caller, need, scope, filtersOf(query)).select([
    'items.id',
    'items.name',
    'items.amount',
    'items.description',
    'items.location_id as locationId',
    'items.min_amount as minAmount',
    sql<string>`lower(items.name)`.as('name_key'),
  ]);
  for (const key of keys) base = base.orderBy(SORT_KEY_SQL[key], direction);
  const columns = sql.join(keys.map((key) => SORT_KEY_SQL[key]));
  const comparison = sql.raw(direction === 'asc' ? '>' : '<');
  let after: readonly unknown[] | undefined;
  for (;;) {
    const page =
      after === undefined
        ? base
        : base.where(sql<boolean>`(${columns}) ${comparison} (${sql.join(after)})`);
    const rows = await page.limit(batchSize).execute();
    if (rows.length === 0) return;
    const tags = await tagsOfItems(
      db,
      rows.map((row) => row.id),
    );
    yield rows.map(({ name_key: _key, ...item }) => ({ ...item, tags: tags.get(item.id) ?? [] }));
    if (rows.length < batchSize) return;
    const last = rows.at(-1)!;
    after = keys.map((key) => last[key]);
  }
}
