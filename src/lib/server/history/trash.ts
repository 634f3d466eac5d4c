import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/types.ts';
import {
  allows,
  checkAccess,
  inventoriesFor,
  type Caller,
  type Denied,
  type Need,
} from '../inventories/access.ts';
import { asChange, changeBy, changeMadeIn } from './record.ts';

type Db = Kysely<Database>;

/** An item stays this long in the trash, then the hourly purge deletes it for good. */
export const TRASH_DAYS = 30;

export interface TrashedItem {
  id: number;
  name: string;
  amount: number;
  deletedAt: Date;
  /** Null when that account is deleted. */
  deletedBy: { id: number; username: string } | null;
  /** When the purge takes it. */
  purgeAt: Date;
}

export interface TrashPage {
  items: TrashedItem[];
  total: number;
  page: number;
  limit: number;
}

/** An inventory's trash, most recently deleted first. */
export async function listTrashForMember(
  db: Db,
  caller: Caller,
  need: Need,
  inventoryId: number,
  { page, limit }: { page: number; limit: number },
): Promise<TrashPage> {
  const trash = db
    .selectFrom('stored_items')
    .where('stored_items.inventory_id', '=', inventoryId)
    .where('stored_items.inventory_id', 'in', inventoriesFor(db, caller, need))
    .where('stored_items.deleted_at', 'is not', null);
  const { total } = await trash
    .select(sql<number>`count(*)::int`.as('total'))
    .executeTakeFirstOrThrow();
  const rows = await trash
    .leftJoin('users', 'users.id', 'stored_items.deleted_by')
    .select([
      'stored_items.id',
      'stored_items.name',
      'stored_items.amount',
      'stored_items.deleted_at',
      'stored_items.deleted_by',
      'users.username',
    ])
    .orderBy('stored_items.deleted_at', 'desc')
    .orderBy('stored_items.id', 'desc')
    .limit(limit)
    .offset((page - 1) * limit)
    .execute();
  return {
    items: rows.map((row) => ({
      id: row.id,
      name: row.name,
      amount: row.amount,
      deletedAt: row.deleted_at!,
      deletedBy:
        row.deleted_by === null || row.username === null
          ? null
          : { id: row.deleted_by, username: row.username },
      purgeAt: new Date(row.deleted_at!.getTime() + TRASH_DAYS * 86_400_000),
    })),
    total,
    page,
    limit,
  };
}

export type RestoreOutcome =
  | {
      status: 'restored';
      item: { id: number; name: string; inventoryId: number };
      changeId: number | null;
    }
  | Denied;

/** Brings an item back from the trash, with its history, where it was. */
export async function restoreItemForMember(
  db: Db,
  caller: Caller,
  need: Need,
  id: number,
): Promise<RestoreOutcome> {
  return asChange(db, changeBy(caller, 'restore'), async (trx) => {
    const row = await trx
      .updateTable('stored_items')
      .set({
        deleted_at: null,
        deleted_by: null,
        updated_at: sql<Date>`now()`,
        updated_by: caller.userId,
        version: sql<number>`version + 1`,
      })
      .where('id', '=', id)
      .where('deleted_at', 'is not', null)
      .where('inventory_id', 'in', inventoriesFor(trx, caller, need))
      .returning(['id', 'name', 'inventory_id'])
      .executeTakeFirst();
    if (row) {
      return {
        status: 'restored',
        item: { id: row.id, name: row.name, inventoryId: row.inventory_id },
        changeId: await changeMadeIn(trx, row.inventory_id),
      };
    }
    // Not in the trash, or not the caller's to restore: a reader learns it is there (403),
    // anyone else that it is not (404).
    const trashed = await trx
      .selectFrom('stored_items')
      .select('inventory_id')
      .where('id', '=', id)
      .where('deleted_at', 'is not', null)
      .executeTakeFirst();
    if (!trashed) return { status: 'not-found' };
    const access = await checkAccess(trx, caller, 'read', trashed.inventory_id);
    if (access.status !== 'allowed') return access;
    return allows(access.role, need)
      ? { status: 'not-found' }
      : { status: 'forbidden', role: access.role };
  });
}

/** Deletes for good everything in an inventory's trash ("Empty trash"); recorded as a purge. */
export async function emptyTrashForMember(
  db: Db,
  caller: Caller,
  need: Need,
  inventoryId: number,
): Promise<{ status: 'emptied'; count: number } | Denied> {
  return asChange(db, changeBy(caller, 'purge'), async (trx) => {
    const access = await checkAccess(trx, caller, need, inventoryId);
    if (access.status !== 'allowed') return access;
    const result = await trx
      .deleteFrom('stored_items')
      .where('inventory_id', '=', inventoryId)
      .where('deleted_at', 'is not', null)
      .executeTakeFirst();
    return { status: 'emptied', count: Number(result.numDeletedRows) };
  });
}

/** The hourly purge: what has been in any trash for `TRASH_DAYS`, one change per inventory. */
export async function purgeExpiredTrash(db: Db): Promise<number> {
  const purge = { actor: null, via: 'system', token: null, action: 'purge' } as const;
  return asChange(db, purge, async (trx) => {
    const result = await trx
      .deleteFrom('stored_items')
      .where('deleted_at', '<', sql<Date>`now() - make_interval(days => ${TRASH_DAYS})`)
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  });
}
