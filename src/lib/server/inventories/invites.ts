import { randomBytes } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import { INVITE_MAX_DAYS, type Role } from '../../contracts/inventories.ts';
import type { Database } from '../db/types.ts';
import { sha256Hex } from '../sha256.ts';
import { checkAccess, type Caller, type Denied } from './access.ts';

/**
 * Invite links: `/invite/<secret>`, where the secret is 32 random bytes (256 bits) in
 * base64url. Only its SHA-256 is stored, so a leaked table lets nobody join. A link joins
 * with its role until it expires (at most 30 days), is used up, or is revoked.
 */

type Db = Kysely<Database>;

const SECRET_SHAPE = /^[A-Za-z0-9_-]{43}$/;
const DAY_MS = 24 * 60 * 60 * 1000;

export const invitePath = (secret: string): string => `/invite/${secret}`;

export interface InviteLink {
  id: number;
  role: Role;
  createdAt: Date;
  expiresAt: Date;
  maxUses: number | null;
  uses: number;
  createdBy: string | null;
}

export async function createInviteLink(
  db: Db,
  caller: Caller,
  inventoryId: number,
  { role, days, maxUses }: { role: Role; days: number; maxUses: number | null },
): Promise<{ status: 'created'; secret: string } | Denied> {
  const access = await checkAccess(db, caller, 'own', inventoryId);
  if (access.status !== 'allowed') return access;
  const secret = randomBytes(32).toString('base64url');
  await db
    .insertInto('invite_links')
    .values({
      inventory_id: inventoryId,
      token_hash: sha256Hex(secret),
      role,
      created_by: caller.userId,
      expires_at: new Date(Date.now() + Math.min(days, INVITE_MAX_DAYS) * DAY_MS),
      max_uses: maxUses,
    })
    .execute();
  return { status: 'created', secret };
}

/** The links that still work, newest first. */
export async function listInviteLinks(
  db: Db,
  caller: Caller,
  inventoryId: number,
): Promise<{ status: 'found'; links: InviteLink[] } | Denied> {
  const access = await checkAccess(db, caller, 'own', inventoryId);
  if (access.status !== 'allowed') return access;
  const rows = await db
    .selectFrom('invite_links')
    .leftJoin('users', 'users.id', 'invite_links.created_by')
    .select([
      'invite_links.id',
      'invite_links.role',
      'invite_links.created_at',
      'invite_links.expires_at',
      'invite_links.max_uses',
      'invite_links.uses',
      'users.username',
    ])
    .where('invite_links.inventory_id', '=', inventoryId)
    .where('invite_links.revoked_at', 'is', null)
    .where('invite_links.expires_at', '>', sql<Date>`now()`)
    .where((eb) =>
      eb.or([
        eb('invite_links.max_uses', 'is', null),
        eb('invite_links.uses', '<', eb.ref('invite_links.max_uses')),
      ]),
    )
    .orderBy('invite_links.id', 'desc')
    .execute();
  return {
    status: 'found',
    links: rows.map((row) => ({
      id: row.id,
      role: row.role,
      createdAt: row.created_at,
      expiresAt: row.expires_at,
      maxUses: row.max_uses,
      uses: row.uses,
      createdBy: row.username,
    })),
  };
}

export async function revokeInviteLink(
  db: Db,
  caller: Caller,
  inventoryId: number,
  linkId: number,
): Promise<{ status: 'revoked' } | Denied> {
  const access = await checkAccess(db, caller, 'own', inventoryId);
  if (access.status !== 'allowed') return access;
  const result = await db
    .updateTable('invite_links')
    .set({ revoked_at: sql<Date>`now()` })
    .where('inventory_id', '=', inventoryId)
    .where('id', '=', linkId)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  return result.numUpdatedRows > 0n ? { status: 'revoked' } : { status: 'not-found' };
}

/** Why a link cannot be used. All of them read the same to someone guessing links. */
export type DeadInvite = { status: 'unknown' | 'expired' | 'used-up' | 'revoked' };

export interface LiveInvite {
  status: 'live';
  inventoryId: number;
  inventoryName: string;
  role: Role;
  /** The visitor's role there already, if they are in it. */
  currentRole: Role | undefined;
}

/** What a link offers, for the page that asks whether to join. */
export async function openInvite(
  db: Db,
  secret: string,
  visitorId: number,
): Promise<LiveInvite | DeadInvite> {
  if (!SECRET_SHAPE.test(secret)) return { status: 'unknown' };
  const row = await db
    .selectFrom('invite_links')
    .innerJoin('inventories', 'inventories.id', 'invite_links.inventory_id')
    .leftJoin('memberships', (join) =>
      join
        .onRef('memberships.inventory_id', '=', 'invite_links.inventory_id')
        .on('memberships.user_id', '=', visitorId),
    )
    .select([
      'invite_links.inventory_id',
      'inventories.name',
      'invite_links.role',
      'invite_links.revoked_at',
      'invite_links.max_uses',
      'invite_links.uses',
      sql<boolean>`invite_links.expires_at <= now()`.as('expired'),
      'memberships.role as current_role',
    ])
    .where('invite_links.token_hash', '=', sha256Hex(secret))
    .executeTakeFirst();
  if (!row) return { status: 'unknown' };
  // A member is told they are in, whatever became of the link since.
  const live = {
    status: 'live',
    inventoryId: row.inventory_id,
    inventoryName: row.name,
    role: row.role,
    currentRole: row.current_role ?? undefined,
  } as const;
  if (live.currentRole) return live;
  if (row.revoked_at !== null) return { status: 'revoked' };
  if (row.expired) return { status: 'expired' };
  if (row.max_uses !== null && row.uses >= row.max_uses) return { status: 'used-up' };
  return live;
}

export type JoinOutcome =
  { status: 'joined' | 'already-member'; inventoryId: number; role: Role } | DeadInvite;

/**
 * Joins the inventory a link names. The use is counted in the same statement that checks
 * the link, so a link with one use left admits one person however many try at once. A
 * member already in keeps their role (a link never lowers one) and uses nothing up.
 */
export async function joinWithInvite(db: Db, secret: string, userId: number): Promise<JoinOutcome> {
  if (!SECRET_SHAPE.test(secret)) return { status: 'unknown' };
  return db.transaction().execute(async (trx): Promise<JoinOutcome> => {
    const used = await trx
      .updateTable('invite_links')
      .set({ uses: sql<number>`uses + 1` })
      .where('token_hash', '=', sha256Hex(secret))
      .where('revoked_at', 'is', null)
      .where('expires_at', '>', sql<Date>`now()`)
      .where((eb) => eb.or([eb('max_uses', 'is', null), eb('uses', '<', eb.ref('max_uses'))]))
      .where(({ not, exists, selectFrom }) =>
        not(
          exists(
            selectFrom('memberships')
              .select('memberships.user_id')
              .whereRef('memberships.inventory_id', '=', 'invite_links.inventory_id')
              .where('memberships.user_id', '=', userId),
          ),
        ),
      )
      .returning(['inventory_id', 'role'])
      .executeTakeFirst();
    if (!used) {
      const invite = await openInvite(trx, secret, userId);
      if (invite.status !== 'live') return invite;
      return invite.currentRole
        ? { status: 'already-member', inventoryId: invite.inventoryId, role: invite.currentRole }
        : { status: 'used-up' };
    }
    await trx
      .insertInto('memberships')
      .values({ inventory_id: used.inventory_id, user_id: userId, role: used.role })
      .onConflict((oc) => oc.columns(['inventory_id', 'user_id']).doNothing())
      .execute();
    return { status: 'joined', inventoryId: used.inventory_id, role: used.role };
  });
}
