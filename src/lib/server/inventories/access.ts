import type { Kysely } from 'kysely';
import type { Role } from '../../contracts/inventories.ts';
import type { Database } from '../db/types.ts';

/**
 * Who may do what in an inventory, in one place. Every query that touches an inventory's
 * data takes a `Caller` and the `Need` it serves and narrows itself with `inventoriesFor`,
 * so membership is read from the database in the same statement, on every request: a
 * member removed or demoted a moment ago is refused on their very next request, in every
 * process. A non-member is told "not found", exactly as for a missing id.
 */

/** What a request needs of the caller's role. */
export type Need = 'read' | 'edit' | 'own';

const ROLES_FOR: Readonly<Record<Need, readonly Role[]>> = {
  read: ['owner', 'editor', 'viewer'],
  edit: ['owner', 'editor'],
  own: ['owner'],
};

export const allows = (role: Role, need: Need): boolean => ROLES_FOR[need].includes(role);

/** A signed-in user, through a session or a token; a token may reach one inventory only. */
export interface Caller {
  userId: number;
  onlyInventoryId: number | null;
  /** The token a request came with (its name goes in the history); absent for the site's pages. */
  tokenName?: string;
}

/** The caller of a request, from what the pipeline put in `locals`. */
export function callerOf(locals: Pick<App.Locals, 'user' | 'token'>): Caller {
  if (!locals.user) throw new Error('callerOf() needs a signed-in request');
  const { token } = locals;
  return token
    ? { userId: locals.user.id, onlyInventoryId: token.inventoryId, tokenName: token.name }
    : { userId: locals.user.id, onlyInventoryId: null };
}

/** Why something the caller asked for is not done. */
export type Denied = { status: 'not-found' } | { status: 'forbidden'; role: Role };

export const FORBIDDEN_MESSAGE: Readonly<Record<Need, string>> = {
  read: 'You are not a member of this inventory.',
  edit: 'Your role in this inventory lets you look, not change anything.',
  own: 'Only an owner of this inventory can do that.',
};

/**
 * The ids of the inventories the caller may act on with `need`, as a subquery for
 * `where inventory_id in (…)`. It reads the memberships index only.
 */
export function inventoriesFor(db: Kysely<Database>, caller: Caller, need: Need) {
  let query = db
    .selectFrom('memberships')
    .select('memberships.inventory_id')
    .where('memberships.user_id', '=', caller.userId);
  if (need !== 'read') query = query.where('memberships.role', 'in', ROLES_FOR[need]);
  if (caller.onlyInventoryId !== null) {
    query = query.where('memberships.inventory_id', '=', caller.onlyInventoryId);
  }
  return query;
}

/** The caller's role in an inventory; undefined when they are not in it (or cannot reach it). */
async function roleIn(
  db: Kysely<Database>,
  caller: Caller,
  inventoryId: number,
): Promise<Role | undefined> {
  if (caller.onlyInventoryId !== null && caller.onlyInventoryId !== inventoryId) return undefined;
  const row = await db
    .selectFrom('memberships')
    .select('role')
    .where('user_id', '=', caller.userId)
    .where('inventory_id', '=', inventoryId)
    .executeTakeFirst();
  return row?.role;
}

/** Whether the caller may act on the inventory with `need`, and if not, why not. */
export async function checkAccess(
  db: Kysely<Database>,
  caller: Caller,
  need: Need,
  inventoryId: number,
): Promise<{ status: 'allowed'; role: Role } | Denied> {
  const role = await roleIn(db, caller, inventoryId);
  if (!role) return { status: 'not-found' };
  return allows(role, need) ? { status: 'allowed', role } : { status: 'forbidden', role };
}
