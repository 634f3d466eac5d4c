import { sql, type Kysely } from 'kysely';
import { PERSONAL_INVENTORY_NAME, type Role } from '../../contracts/inventories.ts';
import { SessionEndedError } from '../auth/session-ended.ts';
import type { Database } from '../db/types.ts';
import {
  allows,
  checkAccess,
  inventoriesFor,
  type Caller,
  type Denied,
  type Need,
} from './access.ts';

/**
 * Inventories: the named lists items belong to. Functions take the database handle (or a
 * transaction) first, and the caller with the role they need wherever an inventory's data
 * is read or changed.
 */

type Db = Kysely<Database>;

export interface Inventory {
  id: number;
  name: string;
  /** The caller's role in it. */
  role: Role;
  /** True for the caller's own "My items", which cannot be deleted. */
  personal: boolean;
  /** How many items it holds; 0 when not asked for (see `ItemCounts`). */
  itemCount: number;
  /** True for the one the caller opened last (`/` opens it again). */
  lastUsed: boolean;
}

/**
 * Whether to count each inventory's items. A count reads every entry of the inventory's
 * index, so the pages that do not show it (the inventory page and its switcher, which has
 * its own count of what it lists) do not ask for it.
 */
export interface ItemCounts {
  itemCounts?: boolean;
}

/** The inventories the caller is in, with their role (and a token's limit), as rows. */
function memberInventories(db: Db, caller: Caller, { itemCounts = true }: ItemCounts) {
  let query = db
    .selectFrom('memberships')
    .innerJoin('inventories', 'inventories.id', 'memberships.inventory_id')
    .select(['inventories.id', 'inventories.name', 'inventories.personal_of', 'memberships.role'])
    .select(
      sql<boolean>`inventories.id is not distinct from (select last_inventory_id from users where users.id = ${caller.userId})`.as(
        'last_used',
      ),
    )
    .select(
      (itemCounts
        ? sql<number>`(select count(*)::int from items where items.inventory_id = inventories.id)`
        : sql<number>`0`
      ).as('item_count'),
    )
    .where('memberships.user_id', '=', caller.userId);
  if (caller.onlyInventoryId !== null) {
    query = query.where('inventories.id', '=', caller.onlyInventoryId);
  }
  return query;
}

function toInventory(
  caller: Caller,
  row: {
    id: number;
    name: string;
    personal_of: number | null;
    role: Role;
    item_count: number | null;
    last_used: boolean;
  },
): Inventory {
  return {
    id: row.id,
    name: row.name,
    role: row.role,
    personal: row.personal_of === caller.userId,
    itemCount: row.item_count ?? 0,
    lastUsed: row.last_used,
  };
}

/** Every inventory the caller is in (the ones a token may reach), personal first, then by name. */
export async function listInventoriesForMember(
  db: Db,
  caller: Caller,
  counts: ItemCounts = {},
): Promise<Inventory[]> {
  const rows = await memberInventories(db, caller, counts)
    .orderBy(sql`inventories.personal_of is distinct from ${caller.userId}`)
    .orderBy(sql`lower(inventories.name)`)
    .orderBy('inventories.id')
    .execute();
  return rows.map((row) => toInventory(caller, row));
}

/** One inventory, when the caller may act on it with `need`: one query, role and all. */
export async function findInventoryForMember(
  db: Db,
  caller: Caller,
  need: Need,
  id: number,
  counts: ItemCounts = {},
): Promise<{ status: 'found'; inventory: Inventory } | Denied> {
  const row = await memberInventories(db, caller, counts)
    .where('inventories.id', '=', id)
    .executeTakeFirst();
  if (!row) return { status: 'not-found' };
  if (!allows(row.role, need)) return { status: 'forbidden', role: row.role };
  return { status: 'found', inventory: toInventory(caller, row) };
}

/** A new inventory, with its maker as the owner. */
export async function createInventory(db: Db, ownerId: number, name: string): Promise<number> {
  return db.transaction().execute(async (trx) => {
    const { id } = await trx
      .insertInto('inventories')
      .values({ name })
      .returning('id')
      .executeTakeFirstOrThrow();
    await trx
      .insertInto('memberships')
      .values({ inventory_id: id, user_id: ownerId, role: 'owner' })
      .execute();
    return id;
  });
}

/**
 * A new inventory the caller makes and owns. A token limited to one inventory makes none:
 * the new one would be out of its reach at once, and a limited token is given out so that
 * it can do nothing beyond that one inventory.
 */
export async function createInventoryForCaller(
  db: Db,
  caller: Caller,
  name: string,
): Promise<{ status: 'created'; inventory: Inventory } | { status: 'limited' }> {
  if (caller.onlyInventoryId !== null) return { status: 'limited' };
  const id = await createInventory(db, caller.userId, name);
  return {
    status: 'created',
    inventory: { id, name, role: 'owner', personal: false, itemCount: 0, lastUsed: false },
  };
}

/**
 * The personal inventory of a new account ("My items"), made in the transaction that makes
 * the account. `trx` must be a transaction: the inventory and the membership go together.
 */
export async function createPersonalInventory(trx: Db, userId: number): Promise<number> {
  const { id } = await trx
    .insertInto('inventories')
    .values({ name: PERSONAL_INVENTORY_NAME, personal_of: userId })
    .returning('id')
    .executeTakeFirstOrThrow();
  await trx
    .insertInto('memberships')
    .values({ inventory_id: id, user_id: userId, role: 'owner' })
    .execute();
  await trx.updateTable('users').set({ last_inventory_id: id }).where('id', '=', userId).execute();
  return id;
}

export async function renameInventory(
  db: Db,
  caller: Caller,
  id: number,
  name: string,
): Promise<{ status: 'renamed' } | Denied> {
  const result = await db
    .updateTable('inventories')
    .set({ name })
    .where('id', 'in', inventoriesFor(db, caller, 'own'))
    .where('id', '=', id)
    .executeTakeFirst();
  if (result.numUpdatedRows > 0n) return { status: 'renamed' };
  const access = await checkAccess(db, caller, 'own', id);
  return access.status === 'allowed' ? { status: 'not-found' } : access;
}

/** Deletes an inventory and everything in it. A personal inventory cannot be deleted. */
export async function deleteInventory(
  db: Db,
  caller: Caller,
  id: number,
): Promise<{ status: 'deleted' } | { status: 'personal' } | Denied> {
  const found = await findInventoryForMember(db, caller, 'own', id);
  if (found.status !== 'found') return found;
  const personal = await db
    .selectFrom('inventories')
    .select('id')
    .where('id', '=', id)
    .where('personal_of', 'is not', null)
    .executeTakeFirst();
  if (personal) return { status: 'personal' };
  await db
    .deleteFrom('inventories')
    .where('id', 'in', inventoriesFor(db, caller, 'own'))
    .where('id', '=', id)
    .execute();
  return { status: 'deleted' };
}

/** The user's personal inventory, or the first one they are in when theirs is gone. */
export async function defaultInventoryId(db: Db, caller: Caller): Promise<number | undefined> {
  if (caller.onlyInventoryId !== null) return caller.onlyInventoryId;
  const row = await db
    .selectFrom('memberships')
    .innerJoin('inventories', 'inventories.id', 'memberships.inventory_id')
    .select('inventories.id')
    .where('memberships.user_id', '=', caller.userId)
    .orderBy(sql`inventories.personal_of is distinct from ${caller.userId}`)
    .orderBy('inventories.id')
    .limit(1)
    .executeTakeFirst();
  if (row) return row.id;
  // Everyone has one, unless they left theirs; nobody has one once their account is gone,
  // and a request still under way for a deleted account is a signed-out one.
  const user = await db
    .selectFrom('users')
    .select('id')
    .where('id', '=', caller.userId)
    .executeTakeFirst();
  if (!user) throw new SessionEndedError();
  return undefined;
}

/**
 * Which of the caller's inventories `/` opens: the one used last, while they are still in
 * it; else their own, else the oldest they are in (as `defaultInventoryId` picks).
 */
export function lastUsedOf(inventories: readonly Inventory[]): Inventory | undefined {
  const oldest = () =>
    inventories.reduce<Inventory | undefined>(
      (first, inventory) => (first === undefined || inventory.id < first.id ? inventory : first),
      undefined,
    );
  return (
    inventories.find((inventory) => inventory.lastUsed) ??
    inventories.find((inventory) => inventory.personal) ??
    oldest()
  );
}

/** The inventory `/` opens (see `lastUsedOf`), or the default one when the user is in none. */
export async function lastUsedInventoryId(db: Db, caller: Caller): Promise<number | undefined> {
  const inventories = await listInventoriesForMember(db, caller, { itemCounts: false });
  return lastUsedOf(inventories)?.id ?? (await defaultInventoryId(db, caller));
}

/** Remembers the inventory as the one used last, if the user is one of its members. */
export async function rememberLastInventory(db: Db, userId: number, id: number): Promise<void> {
  await db
    .updateTable('users')
    .set({ last_inventory_id: id })
    .where('id', '=', userId)
    .where('last_inventory_id', 'is distinct from', id)
    .where(({ exists, selectFrom }) =>
      exists(
        selectFrom('memberships')
          .select('memberships.inventory_id')
          .where('memberships.inventory_id', '=', id)
          .where('memberships.user_id', '=', userId),
      ),
    )
    .execute();
}

/**
 * The inventories a user is the only owner of while others are in them: an account cannot
 * be deleted while there are any (it would leave those members without an owner).
 */
export async function inventoriesOnlyOwnedBy(
  db: Db,
  userId: number,
): Promise<{ id: number; name: string }[]> {
  return db
    .selectFrom('inventories')
    .innerJoin('memberships as mine', 'mine.inventory_id', 'inventories.id')
    .select(['inventories.id', 'inventories.name'])
    .where('mine.user_id', '=', userId)
    .where('mine.role', '=', 'owner')
    .where(({ not, exists, selectFrom }) =>
      not(
        exists(
          selectFrom('memberships as other')
            .select('other.user_id')
            .whereRef('other.inventory_id', '=', 'inventories.id')
            .where('other.user_id', '<>', userId)
            .where('other.role', '=', 'owner'),
        ),
      ),
    )
    .where(({ exists, selectFrom }) =>
      exists(
        selectFrom('memberships as other')
          .select('other.user_id')
          .whereRef('other.inventory_id', '=', 'inventories.id')
          .where('other.user_id', '<>', userId),
      ),
    )
    .orderBy('inventories.id')
    .execute();
}

/**
 * What goes with an account: the inventories nobody else is in. (Those with other members
 * but no other owner must be handed over first; see `inventoriesOnlyOwnedBy`.)
 */
export async function deleteInventoriesOnlyUserIsIn(db: Db, userId: number): Promise<void> {
  await db
    .deleteFrom('inventories')
    .where('id', 'in', (eb) =>
      eb
        .selectFrom('memberships')
        .select('inventory_id')
        .where('user_id', '=', userId)
        .where(({ not, exists, selectFrom }) =>
          not(
            exists(
              selectFrom('memberships as other')
                .select('other.user_id')
                .whereRef('other.inventory_id', '=', 'memberships.inventory_id')
                .where('other.user_id', '<>', userId),
            ),
          ),
        ),
    )
    .execute();
}
