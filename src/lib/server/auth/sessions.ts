import { randomBytes } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import type { Session, User } from 'lucia';
import type { Database } from '../db/types.ts';
import type { Auth } from './lucia.ts';
import { SessionEndedError } from './session-ended.ts';
import { sha256Hex } from '../sha256.ts';

/**
 * Session tokens: the cookie carries a random token (200 bits); the database keys the
 * session by the token's SHA-256, which Lucia sees as the session id. Lucia 3 would store
 * the id it puts in the cookie as is; passing `sessionId` to `createSession` and hashing
 * the cookie before `validateSession` keeps the token itself out of the database, so a
 * leaked table holds nothing that signs anyone in.
 */
export function generateSessionToken(): string {
  return randomBytes(25).toString('base64url');
}

export function sessionIdFromToken(token: string): string {
  return sha256Hex(token);
}

export interface StartedSession {
  token: string;
  session: Session;
}

export async function startSession(auth: Auth, userId: number): Promise<StartedSession> {
  const token = generateSessionToken();
  const session = await auth.createSession(userId, {}, { sessionId: sessionIdFromToken(token) });
  return { token, session };
}

/** The session and user behind a cookie's token, or null when it is unknown or expired. */
export async function validateSessionToken(
  auth: Auth,
  token: string,
): Promise<{ session: Session; user: User } | null> {
  // Anything that is not the shape we issue cannot be a session: skip the database.
  if (!/^[A-Za-z0-9_-]{20,64}$/.test(token)) return null;
  const { session, user } = await auth.validateSession(sessionIdFromToken(token));
  return session && user ? { session, user } : null;
}

/**
 * Asks the database, not this process's memory of recent sessions, whether a session still
 * stands, for a step that must not follow a sign-out made elsewhere a moment ago (making an
 * API token would outlive it). Throws `SessionEndedError` when it does not.
 */
export async function confirmSessionInDatabase(
  db: Kysely<Database>,
  sessionId: string,
): Promise<void> {
  const row = await db
    .selectFrom('sessions')
    .innerJoin('users', 'users.id', 'sessions.user_id')
    .select('sessions.id')
    .where('sessions.id', '=', sessionId)
    .where('sessions.expires_at', '>', sql<Date>`now()`)
    .where('users.is_active', '=', true)
    .executeTakeFirst();
  if (!row) throw new SessionEndedError();
}
