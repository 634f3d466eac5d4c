import { randomBytes } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import type { Database, TokenScope } from '../db/types.ts';
import { SessionEndedError } from './session-ended.ts';
import { lockUser } from './users.ts';
import { sha256Hex } from '../sha256.ts';

/**
 * Personal API tokens: `pi_` followed by 32 random bytes in base64url (256 bits). The
 * prefix lets secret scanners recognise a leaked token; the database keeps only its
 * SHA-256, so a leaked table signs nobody in.
 */
const TOKEN_PREFIX = 'pi_';
const TOKEN_SHAPE = /^pi_[A-Za-z0-9_-]{43}$/;

export interface ApiToken {
  id: number;
  name: string;
  scope: TokenScope;
  prefix: string;
  createdAt: Date;
  lastUsedAt: Date | null;
  expiresAt: Date | null;
  /** The one inventory it may reach, or null for all of its owner's. */
  inventory: { id: number; name: string } | null;
}

export interface TokenOwner {
  tokenId: number;
  /** What its owner called it: the history names the token a change came through. */
  tokenName: string;
  userId: number;
  username: string;
  scope: TokenScope;
  inventoryId: number | null;
}

function hashToken(token: string): string {
  return sha256Hex(token);
}

function isTokenShaped(token: string): boolean {
  return TOKEN_SHAPE.test(token);
}

/** A user may keep this many tokens; a script per purpose needs far fewer. */
export const MAX_TOKENS_PER_USER = 50;

export type CreateTokenOutcome =
  | { status: 'created'; token: string; record: ApiToken }
  | { status: 'limit-reached' }
  /** The inventory to limit it to is not one of the user's. */
  | { status: 'no-such-inventory' };

/**
 * Creates a token and returns it in full: the only time anyone sees it. The user's row is
 * locked while the tokens are counted, so parallel requests cannot pass the limit together.
 */
export function createApiToken(
  db: Kysely<Database>,
  userId: number,
  {
    name,
    scope,
    expiresAt,
    inventoryId = null,
  }: { name: string; scope: TokenScope; expiresAt: Date | null; inventoryId?: number | null },
): Promise<CreateTokenOutcome> {
  return db.transaction().execute(async (trx) => {
    if (!(await lockUser(trx, userId))) throw new SessionEndedError();
    const { count } = await trx
      .selectFrom('api_tokens')
      .select(sql<number>`count(*)::int`.as('count'))
      .where('user_id', '=', userId)
      .executeTakeFirstOrThrow();
    if (count >= MAX_TOKENS_PER_USER) return { status: 'limit-reached' };
    const inventory =
      inventoryId === null
        ? undefined
        : await trx
            .selectFrom('memberships')
            .innerJoin('inventories', 'inventories.id', 'memberships.inventory_id')
            .select('inventories.name')
            .where('memberships.user_id', '=', userId)
            .where('memberships.inventory_id', '=', inventoryId)
            .executeTakeFirst();
    if (inventoryId !== null && !inventory) return { status: 'no-such-inventory' };
    const token = TOKEN_PREFIX + randomBytes(32).toString('base64url');
    const row = await trx
      .insertInto('api_tokens')
      .values({
        user_id: userId,
        name,
        scope,
        token_hash: hashToken(token),
        prefix: token.slice(0, 8),
        expires_at: expiresAt,
        inventory_id: inventoryId,
      })
      .returning([
        'id',
        'name',
        'scope',
        'prefix',
        'created_at',
        'last_used_at',
        'expires_at',
        'inventory_id',
      ])
      .executeTakeFirstOrThrow();
    const record = toApiToken({ ...row, inventory_name: inventory?.name ?? null });
    return { status: 'created', token, record };
  });
}

function toApiToken(row: {
  id: number;
  name: string;
  scope: TokenScope;
  prefix: string;
  created_at: Date;
  last_used_at: Date | null;
  expires_at: Date | null;
  inventory_id: number | null;
  inventory_name: string | null;
}): ApiToken {
  return {
    id: row.id,
    name: row.name,
    scope: row.scope,
    prefix: row.prefix,
    createdAt: row.created_at,
    lastUsedAt: row.last_used_at,
    expiresAt: row.expires_at,
    inventory:
      row.inventory_id === null || row.inventory_name === null
        ? null
        : { id: row.inventory_id, name: row.inventory_name },
  };
}

export async function listApiTokensForUser(
  db: Kysely<Database>,
  userId: number,
): Promise<ApiToken[]> {
  const rows = await db
    .selectFrom('api_tokens')
    .leftJoin('inventories', 'inventories.id', 'api_tokens.inventory_id')
    .select([
      'api_tokens.id',
      'api_tokens.name',
      'api_tokens.scope',
      'api_tokens.prefix',
      'api_tokens.created_at',
      'api_tokens.last_used_at',
      'api_tokens.expires_at',
      'api_tokens.inventory_id',
      'inventories.name as inventory_name',
    ])
    .where('api_tokens.user_id', '=', userId)
    .orderBy('api_tokens.id', 'desc')
    .execute();
  return rows.map(toApiToken);
}

/** Revoking deletes the token: a revoked token is then simply unknown. */
export async function revokeApiTokenForUser(
  db: Kysely<Database>,
  userId: number,
  tokenId: number,
): Promise<boolean> {
  const result = await db
    .deleteFrom('api_tokens')
    .where('user_id', '=', userId)
    .where('id', '=', tokenId)
    .executeTakeFirst();
  return result.numDeletedRows > 0n;
}

/** Revokes every token of a user: part of signing out everywhere and of a password change. */
export async function revokeAllApiTokensForUser(
  db: Kysely<Database>,
  userId: number,
): Promise<void> {
  await db.deleteFrom('api_tokens').where('user_id', '=', userId).execute();
}

/**
 * The active user behind a token, or null when it is unknown, revoked, expired or its user
 * is inactive. Records the use at most once a minute, so busy scripts do not turn every
 * read into a write.
 */
export async function authenticateApiToken(
  db: Kysely<Database>,
  token: string,
): Promise<TokenOwner | null> {
  if (!isTokenShaped(token)) return null;
  const row = await db
    .selectFrom('api_tokens')
    .innerJoin('users', 'users.id', 'api_tokens.user_id')
    .select([
      'api_tokens.id as tokenId',
      'api_tokens.name as tokenName',
      'api_tokens.user_id as userId',
      'api_tokens.scope as scope',
      'api_tokens.last_used_at as lastUsedAt',
      'api_tokens.inventory_id as inventoryId',
      'users.username as username',
    ])
    .where('api_tokens.token_hash', '=', hashToken(token))
    .where('users.is_active', '=', true)
    .where((eb) =>
      eb.or([
        eb('api_tokens.expires_at', 'is', null),
        eb('api_tokens.expires_at', '>', sql<Date>`now()`),
      ]),
    )
    .executeTakeFirst();
  if (!row) return null;
  if (row.lastUsedAt === null || Date.now() - row.lastUsedAt.getTime() >= 60_000) {
    await db
      .updateTable('api_tokens')
      .set({ last_used_at: sql<Date>`now()` })
      .where('id', '=', row.tokenId)
      .where((eb) =>
        eb.or([
          eb('last_used_at', 'is', null),
          eb('last_used_at', '<', sql<Date>`now() - interval '1 minute'`),
        ]),
      )
      .execute();
  }
  return {
    tokenId: row.tokenId,
    tokenName: row.tokenName,
    userId: row.userId,
    username: row.username,
    scope: row.scope,
    inventoryId: row.inventoryId,
  };
}
