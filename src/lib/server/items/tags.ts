import { sql, type Kysely, type Transaction } from 'kysely';
import type { Role } from '../../contracts/inventories.ts';
import { MAX_TAGS_PER_INVENTORY, nameKey } from '../../contracts/places.ts';
import { inTransaction, lockInventory } from '../db/transaction.ts';
import { asChange, changeBy } from '../history/record.ts';
import type { Database } from '../db/types.ts';
import {
  allows,
  inventoriesFor,
  type Caller,
  type Denied,
  type Need,
} from '../inventories/access.ts';

/**
 * Tags: per inventory, unique ignoring case, at most `MAX_TAGS_PER_ITEM` on an item (the
 * contract checks that) and `MAX_TAGS_PER_INVENTORY` in an inventory. A tag an item names
 * that the inventory does not have yet is made; a tag no item has any more stays, with a
 * count of 0, until someone deletes it on the tags page.
 */
type Db = Kysely<Database>;

export interface Tag {
  id: number;
  inventoryId: number;
  name: string;
  itemCount: number;
}

export async function listTagsForMember(
  db: Db,
  caller: Caller,
  need: Need,
  inventoryId: number,
): Promise<Tag[]> {
  const rows = await db
    .selectFrom('tags')
    .leftJoin('item_tags', 'item_tags.tag_id', 'tags.id')
    // Only the items not in the trash count.
    .leftJoin('items', 'items.id', 'item_tags.item_id')
    .select([
      'tags.id',
      'tags.inventory_id',
      'tags.name',
      sql<number>`count(items.id)::int`.as('item_count'),
    ])
    .where('tags.inventory_id', '=', inventoryId)
    .where('tags.inventory_id', 'in', inventoriesFor(db, caller, need))
    .groupBy('tags.id')
    .orderBy('tags.name_key')
    .execute();
  return rows.map((row) => ({
    id: row.id,
    inventoryId: row.inventory_id,
    name: row.name,
    itemCount: row.item_count,
  }));
}

export async function findTagWithRole(
  db: Db,
  caller: Caller,
  id: number,
): Promise<{ tag: Omit<Tag, 'itemCount'>; role: Role } | undefined> {
  const row = await db
    .selectFrom('tags')
    .innerJoin('memberships', (join) =>
      join
        .onRef('memberships.inventory_id', '=', 'tags.inventory_id')
        .on('memberships.user_id', '=', caller.userId),
    )
    .select(['tags.id', 'tags.inventory_id', 'tags.name', 'memberships.role'])
    .where('tags.id', '=', id)
    .where('tags.inventory_id', 'in', inventoriesFor(db, caller, 'read'))
    .executeTakeFirst();
  return (
    row && { tag: { id: row.id, inventoryId: row.inventory_id, name: row.name }, role: row.role }
  );
}

/**
 * Makes the tags of these names (already checked by the contract) that the inventory does
 * not have yet; refused when that would take it past `MAX_TAGS_PER_INVENTORY`. Runs in the
 * caller's transaction, before `setItemTags`.
 */
export async function ensureTags(
  trx: Kysely<Database>,
  inventoryId: number,
  names: readonly string[],
): Promise<{ status: 'ok' } | { status: 'too-many-tags' }> {
  if (names.length === 0) return { status: 'ok' };
  const existing = await trx
    .selectFrom('tags')
    .select('name_key')
    .where('inventory_id', '=', inventoryId)
    .where('name_key', 'in', names.map(nameKey))
    .execute();
  // The same name twice (in any case) is one tag, the first spelling kept.
  const known = new Set(existing.map((row) => row.name_key));
  const missing = names.filter((name) => {
    const key = nameKey(name);
    if (known.has(key)) return false;
    known.add(key);
    return true;
  });
  if (missing.length === 0) return { status: 'ok' };
  await lockInventory(trx, inventoryId);
  const { count } = await trx
    .selectFrom('tags')
    .select(sql<number>`count(*)::int`.as('count'))
    .where('inventory_id', '=', inventoryId)
    .executeTakeFirstOrThrow();
  if (count + missing.length > MAX_TAGS_PER_INVENTORY) return { status: 'too-many-tags' };
  await trx
    .insertInto('tags')
    .values(missing.map((name) => ({ inventory_id: inventoryId, name, name_key: nameKey(name) })))
    .onConflict((oc) => oc.columns(['inventory_id', 'name_key']).doNothing())
    .execute();
  return { status: 'ok' };
}

export const TOO_MANY_TAGS_MESSAGE = `An inventory has at most ${MAX_TAGS_PER_INVENTORY} tags: merge or delete some on the Tags page first.`;

/** Gives an item exactly the tags of these names, which `ensureTags` made sure exist. */
export async function setItemTags(
  trx: Kysely<Database>,
  inventoryId: number,
  itemId: number,
  names: readonly string[],
): Promise<void> {
  const keys = names.map(nameKey);
  const wanted = () =>
    trx.selectFrom('tags').where('inventory_id', '=', inventoryId).where('name_key', 'in', keys);
  let removal = trx.deleteFrom('item_tags').where('item_id', '=', itemId);
  if (keys.length > 0) removal = removal.where('tag_id', 'not in', wanted().select('id'));
  await removal.execute();
  if (keys.length > 0) {
    await trx
      .insertInto('item_tags')
      .columns(['item_id', 'tag_id'])
      .expression(wanted().select([sql<number>`${itemId}::int`.as('item_id'), 'id as tag_id']))
      .onConflict((oc) => oc.doNothing())
      .execute();
  }
}

export type RenameTagOutcome =
  | { status: 'renamed' }
  /** Another tag has that name: merge the two instead. */
  | { status: 'name-taken'; otherId: number; otherName: string }
  | Denied;

/** A tag's items change with it: their version moves on, so If-Match sees the change. */
async function touchItemsTagged(trx: Transaction<Database>, caller: Caller, tagId: number) {
  await trx
    .updateTable('items')
    .set({
      updated_at: sql<Date>`now()`,
      updated_by: caller.userId,
      version: sql<number>`version + 1`,
    })
    .where('id', 'in', trx.selectFrom('item_tags').select('item_id').where('tag_id', '=', tagId))
    .execute();
}

/**
 * Deletes a tag, taking it off its items first: each removal is then in the history (one
 * that went with the tag's row could no longer say which tag it was).
 */
async function untagAll(trx: Transaction<Database>, tagId: number) {
  await trx.deleteFrom('item_tags').where('tag_id', '=', tagId).execute();
  await trx.deleteFrom('tags').where('id', '=', tagId).execute();
}

async function lockedTag(trx: Transaction<Database>, caller: Caller, need: Need, id: number) {
  const found = await findTagWithRole(trx, caller, id);
  if (!found) return { status: 'not-found' } as const;
  if (!allows(found.role, need)) return { status: 'forbidden', role: found.role } as const;
  await lockInventory(trx, found.tag.inventoryId);
  return { status: 'allowed', tag: found.tag } as const;
}

export async function renameTagForMember(
  db: Db,
  caller: Caller,
  need: Need,
  id: number,
  name: string,
): Promise<RenameTagOutcome> {
  return inTransaction(db, async (trx) => {
    const locked = await lockedTag(trx, caller, need, id);
    if (locked.status !== 'allowed') return locked;
    const other = await trx
      .selectFrom('tags')
      .select(['id', 'name'])
      .where('inventory_id', '=', locked.tag.inventoryId)
      .where('name_key', '=', nameKey(name))
      .where('id', '!=', id)
      .executeTakeFirst();
    if (other) return { status: 'name-taken', otherId: other.id, otherName: other.name };
    await trx
      .updateTable('tags')
      .set({ name, name_key: nameKey(name) })
      .where('id', '=', id)
      .execute();
    await touchItemsTagged(trx, caller, id);
    return { status: 'renamed' };
  });
}

export type MergeTagsOutcome =
  | { status: 'merged'; into: string }
  /** Both are one tag, or they are in different inventories. */
  | { status: 'not-mergeable' }
  | Denied;

/** Moves every item of tag `id` to tag `intoId` (of the same inventory) and deletes `id`. */
export async function mergeTagsForMember(
  db: Db,
  caller: Caller,
  need: Need,
  id: number,
  intoId: number,
): Promise<MergeTagsOutcome> {
  return asChange(db, changeBy(caller, 'tag'), async (trx) => {
    const locked = await lockedTag(trx, caller, need, id);
    if (locked.status !== 'allowed') return locked;
    const into = await trx
      .selectFrom('tags')
      .select(['id', 'name'])
      .where('id', '=', intoId)
      .where('inventory_id', '=', locked.tag.inventoryId)
      .executeTakeFirst();
    if (!into || into.id === id) return { status: 'not-mergeable' };
    await touchItemsTagged(trx, caller, id);
    await trx
      .insertInto('item_tags')
      .columns(['item_id', 'tag_id'])
      .expression(
        trx
          .selectFrom('item_tags')
          .select(['item_id', sql<number>`${into.id}::int`.as('tag_id')])
          .where('tag_id', '=', id),
      )
      .onConflict((oc) => oc.doNothing())
      .execute();
    await untagAll(trx, id);
    return { status: 'merged', into: into.name };
  });
}

/** Deletes a tag; its items keep everything else. */
export async function deleteTagForMember(
  db: Db,
  caller: Caller,
  need: Need,
  id: number,
): Promise<{ status: 'deleted' } | Denied> {
  return asChange(db, changeBy(caller, 'tag'), async (trx) => {
    const locked = await lockedTag(trx, caller, need, id);
    if (locked.status !== 'allowed') return locked;
    await touchItemsTagged(trx, caller, id);
    await untagAll(trx, id);
    return { status: 'deleted' };
  });
}

/** An item's tag names in name order, as a column of an item query (`items` in scope). */
export const itemTagNames = sql<string[]>`coalesce((
  select array_agg(t.name order by t.name_key)
  from item_tags it join tags t on t.id = it.tag_id
  where it.item_id = items.id), '{}')`;
