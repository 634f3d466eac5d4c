import type { Kysely } from 'kysely';
import { Lucia, TimeSpan, type Adapter, type DatabaseSession, type DatabaseUser } from 'lucia';
import type { Database } from '../db/types.ts';
import { RecentSessions, type RecentSessionsOptions } from './recent-sessions.ts';

/**
 * Short enough that a session ended by another server process sharing the database stops
 * working here within moments; long enough to cover a burst of requests from one browser.
 */
export const RECENT_SESSIONS: RecentSessionsOptions = { ttlMs: 2_000, maxEntries: 10_000 };

/**
 * Lucia's adapter over Kysely (Lucia ships none). Session ids handed to it are already the
 * SHA-256 of the cookie's token (see sessions.ts), so what it stores cannot be replayed.
 * Inactive users have no sessions: their rows read as "no user", and Lucia deletes the session.
 * Sessions found are kept for a moment in `RecentSessions`; every change below goes to it too.
 */
export class KyselyAdapter implements Adapter {
  private readonly db: Kysely<Database>;
  private readonly recent: RecentSessions;

  constructor(db: Kysely<Database>, recentSessions: RecentSessionsOptions = RECENT_SESSIONS) {
    this.db = db;
    this.recent = new RecentSessions(recentSessions);
  }

  async getSessionAndUser(
    sessionId: string,
  ): Promise<[session: DatabaseSession | null, user: DatabaseUser | null]> {
    const recent = this.recent.get(sessionId);
    if (recent) return recent;
    const mark = this.recent.lookupStarted();
    const row = await this.db
      .selectFrom('sessions')
      .leftJoin('users', (join) =>
        join.onRef('users.id', '=', 'sessions.user_id').on('users.is_active', '=', true),
      )
      .select([
        'sessions.id as sessionId',
        'sessions.user_id as userId',
        'sessions.expires_at as expiresAt',
        'users.username as username',
      ])
      .where('sessions.id', '=', sessionId)
      .executeTakeFirst();
    if (!row) return [null, null];
    const session: DatabaseSession = {
      id: row.sessionId,
      userId: row.userId,
      expiresAt: row.expiresAt,
      attributes: {},
    };
    // An inactive user is not kept: Lucia deletes that session right away.
    if (row.username === null) return [session, null];
    const user: DatabaseUser = { id: row.userId, attributes: { username: row.username } };
    this.recent.remember(sessionId, [session, user], mark);
    return [session, user];
  }

  async getUserSessions(userId: number): Promise<DatabaseSession[]> {
    const rows = await this.db
      .selectFrom('sessions')
      .select(['id', 'user_id', 'expires_at'])
      .where('user_id', '=', userId)
      .execute();
    return rows.map((row) => ({
      id: row.id,
      userId: row.user_id,
      expiresAt: row.expires_at,
      attributes: {},
    }));
  }

  async setSession(session: DatabaseSession): Promise<void> {
    await this.db
      .insertInto('sessions')
      .values({ id: session.id, user_id: session.userId, expires_at: session.expiresAt })
      .execute();
  }

  async updateSessionExpiration(sessionId: string, expiresAt: Date): Promise<void> {
    await this.db
      .updateTable('sessions')
      .set({ expires_at: expiresAt })
      .where('id', '=', sessionId)
      .execute();
    this.recent.extend(sessionId, expiresAt);
  }

  // Forgotten after the delete: a lookup that read the row before it cannot keep it.
  async deleteSession(sessionId: string): Promise<void> {
    await this.db.deleteFrom('sessions').where('id', '=', sessionId).execute();
    this.recent.forgetSession(sessionId);
  }

  async deleteUserSessions(userId: number): Promise<void> {
    await this.db.deleteFrom('sessions').where('user_id', '=', userId).execute();
    this.recent.forgetUser(userId);
  }

  async deleteExpiredSessions(): Promise<void> {
    await this.db.deleteFrom('sessions').where('expires_at', '<=', new Date()).execute();
  }
}

export const SESSION_COOKIE = 'sessionid';

/** 30-day sessions; Lucia extends one to 30 days again when less than half remains. */
export function createLucia(db: Kysely<Database>) {
  return new Lucia(new KyselyAdapter(db), {
    sessionExpiresIn: new TimeSpan(30, 'd'),
    sessionCookie: { name: SESSION_COOKIE },
    getUserAttributes: (attributes) => ({ username: attributes.username }),
  });
}

export type Auth = ReturnType<typeof createLucia>;

declare module 'lucia' {
  interface Register {
    Lucia: Auth;
    UserId: number;
    DatabaseUserAttributes: { username: string };
  }
}
