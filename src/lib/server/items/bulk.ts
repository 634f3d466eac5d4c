import { sql, type Kysely, type Transaction } from 'kysely';
import { MAX_BULK_ITEMS, type BulkAction, type BulkSelection } from '../../contracts/bulk.ts';
import { MAX_TAGS_PER_ITEM, nameKey } from '../../contracts/places.ts';
import type { Database } from '../db/types.ts';
import { asChange, changeBy, changeMadeIn, type ChangeContext } from '../history/record.ts';
import {
  checkAccess,
  inventoriesFor,
  type Caller,
  type Denied,
  type Need,
} from '../inventories/access.ts';
import { matchingItems } from './filters.ts';
import { changeStamp, filtersOf, isLocationOf } from './items.ts';
import { ensureTags, TOO_MANY_TAGS_MESSAGE } from './tags.ts';

/**
 * Bulk changes: one action on many items of one inventory, all or nothing, in one
 * transaction that is one change (`via` and `action` `bulk`), so one undo reverts it all.
 * Every check comes before the first write: a refusal leaves nothing behind, not even a
 * tag made for it. Each statement writes all the items at once (`= any(ids)`), and only
 * the items the action changes, so an item already so keeps its version and its history.
 */
type Db = Kysely<Database>;

export type BulkOutcome =
  | {
      status: 'changed';
      /** Null when no item needed changing. */
      changeId: number | null;
      inventoryId: number;
      /** How many items it changed. */
      count: number;
    }
  /** More items than one change takes (a filter matching too many); nothing changed. */
  | { status: 'too-many'; count: number }
  /** The action cannot be done as asked (the field says why); nothing changed. */
  | { status: 'refused'; field: 'ids' | 'location_id' | 'tag'; message: string }
  | Denied;

const SEVERAL_INVENTORIES_MESSAGE =
  'All the items of one bulk change must be in one inventory: change each inventory on its own.';

/** The change's context: the caller's, through `bulk`, with the token's name if any. */
const bulkChange = (caller: Caller): ChangeContext => ({
  ...changeBy(caller, 'bulk'),
  via: 'bulk',
});

const anyOf = (ids: readonly number[]) => sql<number>`any(${sql.val(ids)}::int[])`;

export async function bulkChangeForMember(
  db: Db,
  caller: Caller,
  need: Need,
  selection: BulkSelection,
  action: BulkAction,
): Promise<BulkOutcome> {
  return asChange(db, bulkChange(caller), async (trx) => {
    const resolved = await resolveSelection(trx, caller, need, selection);
    if (resolved.status !== 'allowed') return resolved;
    const { inventoryId, ids } = resolved;
    const refused = await refusal(trx, inventoryId, ids, action);
    if (refused) return refused;
    const count = ids.length === 0 ? 0 : await apply(trx, caller, inventoryId, ids, action);
    return {
      status: 'changed',
      changeId: count === 0 ? null : await changeMadeIn(trx, inventoryId),
      inventoryId,
      count,
    };
  });
}

/**
 * The items to change, locked in id order (as every multi-item write here takes them), and
 * their one inventory, where the caller must have `need`. A listed id that is not an item
 * the caller can see (a stranger's, one in the trash, one that never was) makes it all
 * not found, exactly as one such id alone would be.
 */
async function resolveSelection(
  trx: Transaction<Database>,
  caller: Caller,
  need: Need,
  selection: BulkSelection,
): Promise<
  | { status: 'allowed'; inventoryId: number; ids: number[] }
  | Extract<BulkOutcome, { status: 'too-many' | 'refused' }>
  | Denied
> {
  if ('query' in selection) {
    const { inventoryId, query } = selection;
    const access = await checkAccess(trx, caller, need, inventoryId);
    if (access.status !== 'allowed') return access;
    const scope = { inventoryId };
    const rows = await matchingItems(trx, caller, need, scope, filtersOf(query))
      .select('items.id')
      .orderBy('items.id')
      .limit(MAX_BULK_ITEMS + 1)
      .forUpdate()
      .execute();
    if (rows.length > MAX_BULK_ITEMS) {
      const { count } = await matchingItems(trx, caller, need, scope, filtersOf(query))
        .select(sql<number>`count(*)::int`.as('count'))
        .executeTakeFirstOrThrow();
      return { status: 'too-many', count };
    }
    return { status: 'allowed', inventoryId, ids: rows.map((row) => row.id) };
  }
  const ids = [...new Set(selection.ids)].sort((a, b) => a - b);
  let query = trx
    .selectFrom('stored_items')
    .select(['id', 'inventory_id'])
    .where('id', '=', anyOf(ids))
    .where('deleted_at', 'is', null)
    .where('inventory_id', 'in', inventoriesFor(trx, caller, 'read'));
  if (selection.inventoryId !== undefined) {
    query = query.where('inventory_id', '=', selection.inventoryId);
  }
  const rows = await query.orderBy('id').forUpdate().execute();
  if (rows.length < ids.length || rows.length === 0) return { status: 'not-found' };
  const inventories = new Set(rows.map((row) => row.inventory_id));
  if (inventories.size > 1) {
    return { status: 'refused', field: 'ids', message: SEVERAL_INVENTORIES_MESSAGE };
  }
  const inventoryId = rows[0]!.inventory_id;
  const access = await checkAccess(trx, caller, need, inventoryId);
  if (access.status !== 'allowed') return access;
  return { status: 'allowed', inventoryId, ids };
}

/** Why the action cannot be done on these items, found before anything is written. */
async function refusal(
  trx: Transaction<Database>,
  inventoryId: number,
  ids: readonly number[],
  action: BulkAction,
): Promise<Extract<BulkOutcome, { status: 'refused' }> | undefined> {
  if (action.action === 'move' && action.locationId !== null) {
    if (!(await isLocationOf(trx, action.locationId, inventoryId))) {
      return {
        status: 'refused',
        field: 'location_id',
        message: "Choose one of this inventory's locations.",
      };
    }
  }
  if (action.action === 'tag' && ids.length > 0) {
    // An item with as many tags as an item may have, not this one among them.
    const full = await trx
      .selectFrom('items')
      .select('items.name')
      .where('items.id', '=', anyOf(ids))
      .where(
        (eb) =>
          eb
            .selectFrom('item_tags')
            .select(sql<number>`count(*)::int`.as('n'))
            .whereRef('item_tags.item_id', '=', 'items.id'),
        '>=',
        MAX_TAGS_PER_ITEM,
      )
      .where(({ not, exists }) => not(exists(taggedWith(trx, inventoryId, action.tag))))
      .orderBy('items.id')
      .limit(1)
      .executeTakeFirst();
    if (full) {
      return {
        status: 'refused',
        field: 'tag',
        message: `“${full.name}” has ${MAX_TAGS_PER_ITEM} tags already, the most an item may have: take one off first.`,
      };
    }
    // The last check, as it makes the tag when the inventory lacks it (and writes nothing
    // when it refuses).
    if ((await ensureTags(trx, inventoryId, [action.tag])).status !== 'ok') {
      return { status: 'refused', field: 'tag', message: TOO_MANY_TAGS_MESSAGE };
    }
  }
  return undefined;
}

/** `items.id`'s link to the tag of this name, as a subquery (`items` in scope). */
function taggedWith(trx: Transaction<Database>, inventoryId: number, tag: string) {
  return trx
    .selectFrom('item_tags')
    .innerJoin('tags', 'tags.id', 'item_tags.tag_id')
    .select('item_tags.item_id')
    .where(sql<boolean>`item_tags.item_id = items.id`)
    .where('tags.inventory_id', '=', inventoryId)
    .where('tags.name_key', '=', nameKey(tag));
}

/** Does the action; answers how many items it changed. */
async function apply(
  trx: Transaction<Database>,
  caller: Caller,
  inventoryId: number,
  ids: readonly number[],
  action: BulkAction,
): Promise<number> {
  switch (action.action) {
    case 'move': {
      const rows = await trx
        .updateTable('items')
        .set({ location_id: action.locationId, ...changeStamp(caller) })
        .where('id', '=', anyOf(ids))
        .where(sql<boolean>`location_id is distinct from ${action.locationId}::int`)
        .returning('id')
        .execute();
      return rows.length;
    }
    case 'set_min': {
      const rows = await trx
        .updateTable('items')
        .set({ min_amount: action.minAmount, ...changeStamp(caller) })
        .where('id', '=', anyOf(ids))
        .where(sql<boolean>`min_amount is distinct from ${action.minAmount}::int`)
        .returning('id')
        .execute();
      return rows.length;
    }
    case 'delete': {
      const rows = await trx
        .updateTable('stored_items')
        .set({ deleted_at: sql<Date>`now()`, deleted_by: caller.userId, ...changeStamp(caller) })
        .where('id', '=', anyOf(ids))
        .where('deleted_at', 'is', null)
        .returning('id')
        .execute();
      return rows.length;
    }
    case 'tag': {
      // The tag exists: `refusal` made it.
      const touched = await trx
        .updateTable('items')
        .set(changeStamp(caller))
        .where('id', '=', anyOf(ids))
        .where(({ not, exists }) => not(exists(taggedWith(trx, inventoryId, action.tag))))
        .returning('id')
        .execute();
      if (touched.length === 0) return 0;
      await trx
        .insertInto('item_tags')
        .columns(['item_id', 'tag_id'])
        .expression(
          trx
            .selectFrom('tags')
            .select([
              sql<number>`unnest(${sql.val(touched.map((row) => row.id))}::int[])`.as('item_id'),
              'id as tag_id',
            ])
            .where('inventory_id', '=', inventoryId)
            .where('name_key', '=', nameKey(action.tag)),
        )
        .onConflict((oc) => oc.doNothing())
        .execute();
      return touched.length;
    }
    case 'untag': {
      const removed = await trx
        .deleteFrom('item_tags')
        .where('item_id', '=', anyOf(ids))
        .where('tag_id', 'in', (eb) =>
          eb
            .selectFrom('tags')
            .select('id')
            .where('inventory_id', '=', inventoryId)
            .where('name_key', '=', nameKey(action.tag)),
        )
        .returning('item_id')
        .execute();
      if (removed.length === 0) return 0;
      await trx
        .updateTable('items')
        .set(changeStamp(caller))
        .where('id', '=', anyOf(removed.map((row) => row.item_id)))
        .execute();
      return removed.length;
    }
  }
}
