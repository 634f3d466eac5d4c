import { sql, type Kysely } from 'kysely';
import type { Role } from '../../contracts/inventories.ts';
import type { ChangeAction, ChangeVia, Database } from '../db/types.ts';
import { inventoriesFor, type Caller, type Need } from '../inventories/access.ts';

type Db = Kysely<Database>;

/** One field of one item, before and after a change (see ItemChangesTable). */
export interface FieldChange {
  itemId: number;
  field: string;
  before: unknown;
  after: unknown;
}

export interface Change {
  id: number;
  inventoryId: number;
  at: Date;
  /** Null for the system (the purge, a write made outside the site) or a deleted account. */
  actor: { id: number; username: string } | null;
  via: ChangeVia;
  /** The API token it came through. */
  tokenName: string | null;
  action: ChangeAction;
  /** The change this one undid. */
  undoesId: number | null;
  /** How many items it changed. */
  itemCount: number;
  /** Its field changes in item order: all of them, or the first few a page shows. */
  fieldChanges: FieldChange[];
}

/** The order a change's fields are shown in. */
const FIELD_ORDER = [
  'name',
  'amount',
  'description',
  'location_id',
  'min_amount',
  'tag',
  'deleted_at',
];

/** The changes of the inventories the caller may act on with `need`, with who made each. */
function changesFor(db: Db, caller: Caller, need: Need) {
  return db
    .selectFrom('changes')
    .leftJoin('users as actor', 'actor.id', 'changes.actor_id')
    .select([
      'changes.id',
      'changes.inventory_id',
      'changes.at',
      'changes.actor_id',
      'actor.username as actor_username',
      'changes.via',
      'changes.token_name',
      'changes.action',
      'changes.undoes_id',
    ])
    .where('changes.inventory_id', 'in', inventoriesFor(db, caller, need));
}

type ChangeRow = Awaited<ReturnType<ReturnType<typeof changesFor>['execute']>>[number];

/**
 * The changes of these rows with their field changes: of one item only, when `itemId` is
 * given; at most `perChange` of each (a bulk change of thousands stays a short entry).
 */
async function withFieldChanges(
  db: Db,
  rows: readonly ChangeRow[],
  { itemId, perChange }: { itemId?: number; perChange?: number },
): Promise<Change[]> {
  if (rows.length === 0) return [];
  const ids = rows.map((row) => row.id);
  const onlyItem = itemId === undefined ? sql`` : sql`and item_id = ${itemId}`;
  const limit = perChange === undefined ? sql`` : sql`limit ${perChange}`;
  const { rows: entries } = await sql<{
    change_id: number;
    item_id: number;
    field: string;
    before: unknown;
    after: unknown;
  }>`
    select c.id as change_id, e.item_id, e.field, e.before, e.after
    from unnest(${ids}::int[]) as c(id)
    cross join lateral (
      select item_id, field, before, after from item_changes
      where change_id = c.id ${onlyItem}
      order by item_id, array_position(${FIELD_ORDER}::text[], field::text), after::text
      ${limit}) e`.execute(db);
  const { rows: counts } = await sql<{ change_id: number; items: number }>`
    select change_id, count(distinct item_id)::int as items from item_changes
    where change_id = any(${ids}::int[]) ${onlyItem}
    group by change_id`.execute(db);
  const itemCounts = new Map(counts.map((row) => [row.change_id, row.items]));
  const byChange = new Map<number, FieldChange[]>();
  for (const entry of entries) {
    const list = byChange.get(entry.change_id) ?? [];
    list.push({
      itemId: entry.item_id,
      field: entry.field,
      before: entry.before,
      after: entry.after,
    });
    byChange.set(entry.change_id, list);
  }
  return rows.map((row) => ({
    id: row.id,
    inventoryId: row.inventory_id,
    at: row.at,
    actor:
      row.actor_id === null || row.actor_username === null
        ? null
        : { id: row.actor_id, username: row.actor_username },
    via: row.via,
    tokenName: row.token_name,
    action: row.action,
    undoesId: row.undoes_id,
    itemCount: itemCounts.get(row.id) ?? 0,
    fieldChanges: byChange.get(row.id) ?? [],
  }));
}

/** A page of changes, newest first; `before` is the id the next older page starts below. */
export interface ChangePage {
  changes: Change[];
  /** Pass as `before` for the next page; null on the last. */
  before: number | null;
}

export interface ActivityQuery {
  /** Only changes older than this one (keyset paging: every page is an index range). */
  before?: number;
  /** Only this member's changes. */
  actorId?: number;
  /** Only changes to this item. */
  itemId?: number;
  limit: number;
  /** At most this many field changes of each (pages); all of them when absent (the API). */
  perChange?: number;
}

/** An inventory's changes, newest first, the caller's membership checked in the same query. */
export async function listActivityForMember(
  db: Db,
  caller: Caller,
  need: Need,
  inventoryId: number,
  query: ActivityQuery,
): Promise<ChangePage> {
  let rows = changesFor(db, caller, need).where('changes.inventory_id', '=', inventoryId);
  if (query.before !== undefined) rows = rows.where('changes.id', '<', query.before);
  if (query.actorId !== undefined) rows = rows.where('changes.actor_id', '=', query.actorId);
  if (query.itemId !== undefined) {
    rows = rows.where(
      'changes.id',
      'in',
      db.selectFrom('item_changes').select('change_id').where('item_id', '=', query.itemId),
    );
  }
  const found = await rows
    .orderBy('changes.id', 'desc')
    .limit(query.limit + 1)
    .execute();
  const page = found.slice(0, query.limit);
  return {
    changes: await withFieldChanges(db, page, {
      itemId: query.itemId,
      perChange: query.perChange,
    }),
    before: found.length > query.limit ? page.at(-1)!.id : null,
  };
}

/** An item's history, newest first: each change with that item's fields only. */
export async function listItemHistoryForMember(
  db: Db,
  caller: Caller,
  need: Need,
  itemId: number,
  query: Pick<ActivityQuery, 'before' | 'limit'>,
): Promise<ChangePage | undefined> {
  const item = await db
    .selectFrom('items')
    .select('inventory_id')
    .where('id', '=', itemId)
    .where('inventory_id', 'in', inventoriesFor(db, caller, need))
    .executeTakeFirst();
  if (!item) return undefined;
  return listActivityForMember(db, caller, need, item.inventory_id, { ...query, itemId });
}

/** A change the caller can read, and their role in its inventory. */
export async function findChangeWithRole(
  db: Db,
  caller: Caller,
  id: number,
): Promise<{ change: Change; role: Role } | undefined> {
  const row = await changesFor(db, caller, 'read')
    .innerJoin('memberships', (join) =>
      join
        .onRef('memberships.inventory_id', '=', 'changes.inventory_id')
        .on('memberships.user_id', '=', caller.userId),
    )
    .select('memberships.role')
    .where('changes.id', '=', id)
    .executeTakeFirst();
  if (!row) return undefined;
  const [change] = await withFieldChanges(db, [row], {});
  return { change: change!, role: row.role };
}
