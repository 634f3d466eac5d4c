import { sql, type Kysely, type Transaction } from 'kysely';
import type { Role } from '../../contracts/inventories.ts';
import { usernameKey } from '../auth/username.ts';
import type { Database } from '../db/types.ts';
import { checkAccess, type Caller, type Denied } from './access.ts';

/**
 * The members of an inventory and their roles. An inventory always keeps an owner: the
 * last one can neither leave nor be demoted. Changes lock the inventory's memberships
 * first, so two owners demoting each other at once cannot both succeed.
 */

type Db = Kysely<Database>;

export interface Member {
  userId: number;
  username: string;
  role: Role;
}

/** Everyone in the inventory, owners first, then by name. */
export async function listMembers(
  db: Db,
  caller: Caller,
  inventoryId: number,
): Promise<{ status: 'found'; members: Member[] } | Denied> {
  const access = await checkAccess(db, caller, 'read', inventoryId);
  if (access.status !== 'allowed') return access;
  const rows = await db
    .selectFrom('memberships')
    .innerJoin('users', 'users.id', 'memberships.user_id')
    .select(['users.id', 'users.username', 'memberships.role'])
    .where('memberships.inventory_id', '=', inventoryId)
    .orderBy(sql`case memberships.role when 'owner' then 0 when 'editor' then 1 else 2 end`)
    .orderBy('users.username_key')
    .execute();
  return {
    status: 'found',
    members: rows.map((row) => ({ userId: row.id, username: row.username, role: row.role })),
  };
}

export type MemberChange =
  | { status: 'added' | 'changed' | 'unchanged'; member: Member }
  /** No account has that username. */
  | { status: 'no-such-user' }
  /** The change would leave the inventory without an owner. */
  | { status: 'last-owner' }
  | Denied;

async function lockMemberships(trx: Transaction<Database>, inventoryId: number) {
  return trx
    .selectFrom('memberships')
    .select(['user_id', 'role'])
    .where('inventory_id', '=', inventoryId)
    .forUpdate()
    .execute();
}

/**
 * The account a username names, compared as registration compares them (case and width
 * ignored). The name may come from a URL, so anything at all: PostgreSQL text cannot hold
 * U+0000 (a parameter with one is an error, not a miss), and no username contains it.
 */
async function userNamed(trx: Transaction<Database>, username: string) {
  const key = usernameKey(username);
  if (key.includes('\0')) return undefined;
  return trx
    .selectFrom('users')
    .select(['id', 'username'])
    .where('username_key', '=', key)
    .executeTakeFirst();
}

/** Adds someone by username with a role, or changes the role of someone already in. */
export async function setMemberRole(
  db: Db,
  caller: Caller,
  inventoryId: number,
  username: string,
  role: Role,
): Promise<MemberChange> {
  return db.transaction().execute(async (trx) => {
    const access = await checkAccess(trx, caller, 'own', inventoryId);
    if (access.status !== 'allowed') return access;
    const user = await userNamed(trx, username);
    if (!user) return { status: 'no-such-user' };
    const memberships = await lockMemberships(trx, inventoryId);
    const current = memberships.find((membership) => membership.user_id === user.id);
    const member = { userId: user.id, username: user.username, role };
    if (current?.role === role) return { status: 'unchanged', member };
    const owners = memberships.filter((membership) => membership.role === 'owner');
    if (current?.role === 'owner' && owners.length === 1) return { status: 'last-owner' };
    if (current) {
      await trx
        .updateTable('memberships')
        .set({ role })
        .where('inventory_id', '=', inventoryId)
        .where('user_id', '=', user.id)
        .execute();
      return { status: 'changed', member };
    }
    await trx
      .insertInto('memberships')
      .values({ inventory_id: inventoryId, user_id: user.id, role })
      .execute();
    return { status: 'added', member };
  });
}

export type MemberRemoval =
  { status: 'removed' } | { status: 'no-such-member' } | { status: 'last-owner' } | Denied;

/** Takes someone out of an inventory: an owner removing a member, or a member leaving. */
export async function removeMember(
  db: Db,
  caller: Caller,
  inventoryId: number,
  username: string,
): Promise<MemberRemoval> {
  return db.transaction().execute(async (trx) => {
    const access = await checkAccess(trx, caller, 'read', inventoryId);
    if (access.status !== 'allowed') return access;
    const user = await userNamed(trx, username);
    const leaving = user?.id === caller.userId;
    if (!leaving && access.role !== 'owner') return { status: 'forbidden', role: access.role };
    const memberships = await lockMemberships(trx, inventoryId);
    const current = user && memberships.find((membership) => membership.user_id === user.id);
    if (!current) return { status: 'no-such-member' };
    const owners = memberships.filter((membership) => membership.role === 'owner');
    if (current.role === 'owner' && owners.length === 1) return { status: 'last-owner' };
    await trx
      .deleteFrom('memberships')
      .where('inventory_id', '=', inventoryId)
      .where('user_id', '=', current.user_id)
      .execute();
    return { status: 'removed' };
  });
}
