import type { Kysely } from 'kysely';
import { Lucia, TimeSpan, type Adapter, type DatabaseSession, type DatabaseUser } from 'lucia';
import type { Database } from '../db/types.ts';

/**
 * Lucia's adapter over Kysely (Lucia ships none). Session ids handed to it are already the
 * SHA-256 of the cookie's token (see sessions.ts), so what it stores cannot be replayed.
 * Inactive users have no sessions: their rows read as "no user", and Lucia deletes the session.
 */
export class KyselyAdapter implements Adapter {
  private readonly db: Kysely<Database>;

  constructor(db: Kysely<Database>) {
    this.db = db;
  }

  async getSessionAndUser(
    sessionId: string,
  ): Promise<[session: DatabaseSession | null, user: DatabaseUser | null]> {
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
    const user: DatabaseUser | null =
      row.username === null ? null : { id: row.userId, attributes: { username: row.username } };
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
  }

  async deleteSession(sessionId: string): Promise<void> {
    await this.db.deleteFrom('sessions').where('id', '=', sessionId).execute();
  }

  async deleteUserSessions(userId: number): Promise<void> {
    await this.db.deleteFrom('sessions').where('user_id', '=', userId).execute();
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
