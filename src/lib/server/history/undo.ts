import { sql, type Kysely, type Transaction, type Updateable } from 'kysely';
import { nameKey } from '../../contracts/places.ts';
import { formatTimestamp } from '../../format.ts';
import type { Database, StoredItemsTable } from '../db/types.ts';
import { allows, type Caller, type Denied, type Need } from '../inventories/access.ts';
import { ensureTags, TOO_MANY_TAGS_MESSAGE } from '../items/tags.ts';
import { findChangeWithRole, type FieldChange } from './changes.ts';
import { asChange, changeBy, changeMadeIn } from './record.ts';

type Db = Kysely<Database>;

export type UndoOutcome =
  | {
      status: 'undone';
      /** The undo's own change: undoing it redoes. */
      changeId: number | null;
      inventoryId: number;
      /** The names of the items it put back, in id order. */
      itemNames: string[];
    }
  /** An item changed again after this change: undo that one first. Nothing was written. */
  | {
      status: 'changed-since';
      inventoryId: number;
      itemName: string;
      later: { id: number; at: Date; actor: string | null };
    }
  /** This change cannot be reverted (a purge, a purged item, a deleted location). */
  | { status: 'not-undoable'; inventoryId: number; message: string }
  | Denied;

/** The item fields an undo writes back, as their columns. */
const SCALAR_FIELDS = [
  'name',
  'amount',
  'description',
  'location_id',
  'min_amount',
  'deleted_at',
] as const;
type ScalarField = (typeof SCALAR_FIELDS)[number];
const isScalarField = (field: string): field is ScalarField =>
  (SCALAR_FIELDS as readonly string[]).includes(field);

function notUndoable(inventoryId: number, message: string): UndoOutcome {
  return { status: 'not-undoable', inventoryId, message };
}

/**
 * Reverts a change, all of it or nothing, as a new change (via `undo`) that can itself be
 * undone. Refused, with nothing written, when any of its items changed again since: undo
 * goes back one step at a time, newest first, so it never overwrites someone's later work.
 * An item the change added goes to the trash.
 */
export async function undoChangeForMember(
  db: Db,
  caller: Caller,
  need: Need,
  id: number,
): Promise<UndoOutcome> {
  const context = { ...changeBy(caller, 'undo'), via: 'undo' as const, undoes: id };
  return asChange(db, context, async (trx) => {
    const found = await findChangeWithRole(trx, caller, id);
    if (!found) return { status: 'not-found' };
    if (!allows(found.role, need)) return { status: 'forbidden', role: found.role };
    const { change } = found;
    if (change.action === 'purge') {
      return notUndoable(
        change.inventoryId,
        'A purge cannot be undone: those items are gone for good.',
      );
    }
    const byItem = Map.groupBy(change.fieldChanges, (entry) => entry.itemId);
    if (byItem.size === 0)
      return notUndoable(
        change.inventoryId,
        'This change changed no item: there is nothing to undo.',
      );
    const itemIds = [...byItem.keys()].sort((a, b) => a - b);

    // Locked in id order (as every multi-item write here takes them), so nothing changes
    // them between the check below and the writes.
    const items = await trx
      .selectFrom('stored_items')
      .select(['id', 'name'])
      .where('id', 'in', itemIds)
      .orderBy('id')
      .forUpdate()
      .execute();
    if (items.length < itemIds.length) {
      const gone = itemIds.find((itemId) => !items.some((item) => item.id === itemId))!;
      // Its last name, from its history: the change may not name it (a delete does not).
      const named = await trx
        .selectFrom('item_changes')
        .select(sql<unknown>`coalesce(after, before)`.as('name'))
        .where('item_id', '=', gone)
        .where('field', '=', 'name')
        .orderBy('change_id', 'desc')
        .limit(1)
        .executeTakeFirst();
      const name = named?.name;
      return notUndoable(
        change.inventoryId,
        `“${typeof name === 'string' ? name : `Item ${gone}`}” has been purged from the trash: it cannot come back.`,
      );
    }
    const later = await laterChange(trx, itemIds, id);
    if (later) {
      return {
        status: 'changed-since',
        inventoryId: change.inventoryId,
        itemName: items.find((item) => item.id === later.item_id)!.name,
        later: { id: later.id, at: later.at, actor: later.username },
      };
    }

    const locations = [
      ...new Set(
        change.fieldChanges.flatMap((entry) =>
          entry.field === 'location_id' && typeof entry.before === 'number' ? [entry.before] : [],
        ),
      ),
    ];
    if (locations.length > 0) {
      const existing = await trx
        .selectFrom('locations')
        .select('id')
        .where('id', 'in', locations)
        .where('inventory_id', '=', change.inventoryId)
        .execute();
      if (existing.length < locations.length) {
        return notUndoable(
          change.inventoryId,
          'A location this change moved items out of has been deleted since.',
        );
      }
    }
    const retagged = change.fieldChanges.flatMap((entry) =>
      entry.field === 'tag' && typeof entry.before === 'string' ? [entry.before] : [],
    );
    if ((await ensureTags(trx, change.inventoryId, retagged)).status !== 'ok') {
      return notUndoable(change.inventoryId, TOO_MANY_TAGS_MESSAGE);
    }

    for (const [itemId, entries] of byItem) {
      await revertItem(trx, caller, change.inventoryId, itemId, entries);
    }
    return {
      status: 'undone',
      changeId: await changeMadeIn(trx, change.inventoryId),
      inventoryId: change.inventoryId,
      itemNames: items.map((item) => item.name),
    };
  });
}

/**
 * The newest change of these items after change `id` that still stands: one that was undone
 * since (with its undo) does not count, so undoing newest first gets back to `id`. Walked
 * newest first: an undo of a change after `id` cancels that change; the first change that
 * is neither cancelled nor cancelling stands, and is the one to undo first.
 */
async function laterChange(trx: Transaction<Database>, itemIds: number[], id: number) {
  const rows = await trx
    .selectFrom('item_changes')
    .innerJoin('changes', 'changes.id', 'item_changes.change_id')
    .leftJoin('users', 'users.id', 'changes.actor_id')
    .select([
      'changes.id',
      'changes.at',
      'changes.action',
      'changes.undoes_id',
      'users.username',
      (eb) => eb.fn.min('item_changes.item_id').as('item_id'),
    ])
    .where('item_changes.item_id', 'in', itemIds)
    .where('item_changes.change_id', '>', id)
    .groupBy(['changes.id', 'users.username'])
    .orderBy('changes.id', 'desc')
    .execute();
  const cancelled = new Set<number>();
  for (const row of rows) {
    if (cancelled.has(row.id)) continue;
    // An undo of a later change: the two together changed nothing (a redo cancels the undo).
    if (row.action === 'undo' && row.undoes_id !== null && row.undoes_id > id) {
      cancelled.add(row.undoes_id);
      continue;
    }
    // The newest change that stands: undoing it is allowed, and is the step to take first.
    return row;
  }
  return undefined;
}

/** Writes one item's fields back to their values before `entries`, and its tags. */
async function revertItem(
  trx: Transaction<Database>,
  caller: Caller,
  inventoryId: number,
  itemId: number,
  entries: readonly FieldChange[],
) {
  // The values the history holds, written back as they were stored.
  const values: Partial<Record<ScalarField, unknown>> = {};
  // An item this change added has no "before": undoing the add puts it in the trash.
  const added = entries.some((entry) => entry.field === 'name' && entry.before === null);
  if (added) {
    values.deleted_at = new Date();
  } else {
    for (const entry of entries) {
      if (!isScalarField(entry.field)) continue;
      // A time goes back as the text the history holds: a Date would drop its microseconds.
      values[entry.field] =
        entry.field === 'deleted_at' && typeof entry.before === 'string'
          ? sql<Date>`${entry.before}::timestamptz`
          : (entry.before ?? null);
    }
  }
  const trashing = values.deleted_at !== undefined && values.deleted_at !== null;
  // Back in the trash as it was (a restore undone): deleted by whoever put it there then.
  const trashedAt = entries.find((entry) => entry.field === 'deleted_at')?.before;
  const deletedBy =
    added || typeof trashedAt !== 'string'
      ? caller.userId
      : sql<number | null>`coalesce((
          select changes.actor_id from item_changes
          join changes on changes.id = item_changes.change_id
          where item_changes.item_id = ${itemId} and item_changes.field = 'deleted_at'
            and item_changes.after = to_jsonb(${trashedAt}::text)
          order by item_changes.change_id desc limit 1), ${caller.userId}::int)`;
  await trx
    .updateTable('stored_items')
    .set({
      ...(values as Updateable<StoredItemsTable>),
      ...('deleted_at' in values ? { deleted_by: trashing ? deletedBy : null } : {}),
      updated_at: sql<Date>`now()`,
      updated_by: caller.userId,
      version: sql<number>`version + 1`,
    })
    .where('id', '=', itemId)
    .execute();
  if (added) return;
  for (const entry of entries) {
    if (entry.field !== 'tag') continue;
    const name = (entry.after ?? entry.before) as string;
    const tag = () =>
      trx
        .selectFrom('tags')
        .where('inventory_id', '=', inventoryId)
        .where('name_key', '=', nameKey(name));
    if (entry.after !== null) {
      await trx
        .deleteFrom('item_tags')
        .where('item_id', '=', itemId)
        .where('tag_id', 'in', tag().select('id'))
        .execute();
    } else {
      await trx
        .insertInto('item_tags')
        .columns(['item_id', 'tag_id'])
        .expression(tag().select([sql<number>`${itemId}::int`.as('item_id'), 'id as tag_id']))
        .onConflict((oc) => oc.doNothing())
        .execute();
    }
  }
}

/** Why an undo was refused, in the words the page and the API both answer with. */
export function undoRefusalMessage(
  outcome: Extract<UndoOutcome, { status: 'changed-since' | 'not-undoable' }>,
): string {
  if (outcome.status === 'not-undoable') return `Not undone. ${outcome.message}`;
  const { itemName, later } = outcome;
  return (
    `Not undone: “${itemName}” was changed again since, by ${later.actor ?? 'someone'} at ` +
    `${formatTimestamp(later.at)} (change ${later.id}). Undo that change first: changes are ` +
    'undone newest first, so no one’s later work is overwritten.'
  );
}
