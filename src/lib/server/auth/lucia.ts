import type { Kysely } from 'kysely';
import { Lucia, TimeSpan, type Adapter, type DatabaseSession, type DatabaseUser } from 'lucia';
import { LOCAL_BUS, type Notification, type NotificationBus } from '../db/notifications.ts';
import type { Database } from '../db/types.ts';
import { RecentSessions, type RecentSessionsOptions } from './recent-sessions.ts';

/**
 * How long a process answers a session it looked up from memory. Every change the site makes
 * reaches every process at once through the notification bus, so the ttl bounds only what
 * the bus cannot carry: a change made behind the site's back (plain SQL, a process of an
 * older version during a rolling upgrade) and a listening connection that died silently
 * until its heartbeat notices. 15 s covers a person moving from page to page and a script's
 * polling, where 2 s covered only a burst; a longer memory would save little more (one
 * indexed lookup per request) for a longer window of such leftovers.
 *
 * While the bus is not listening (not yet connected, or reconnecting), sessions are kept 2 s
 * at most, as before there was a bus: a burst of requests from one browser.
 */
export const RECENT_SESSIONS: RecentSessionsOptions = {
  ttlMs: 15_000,
  unheardTtlMs: 2_000,
  maxEntries: 10_000,
};

/**
 * Lucia's adapter over Kysely (Lucia ships none). Session ids handed to it are already the
 * SHA-256 of the cookie's token (see sessions.ts), so what it stores cannot be replayed.
 * Inactive users have no sessions: their rows read as "no user", and Lucia deletes the session.
 * Sessions found are kept for a while in `RecentSessions`. Every session deleted (sign-out,
 * sign-out everywhere, a password change, an account deleted: Lucia's invalidateSession and
 * invalidateUserSessions) is forgotten here at once and announced on `bus` in the same
 * transaction, so that every other process forgets it too.
 */
export class KyselyAdapter implements Adapter {
  private readonly db: Kysely<Database>;
  private readonly recent: RecentSessions;
  private readonly bus: NotificationBus;

  constructor(
    db: Kysely<Database>,
    recentSessions: RecentSessionsOptions = RECENT_SESSIONS,
    bus: NotificationBus = LOCAL_BUS,
  ) {
    this.db = db;
    this.bus = bus;
    const recent = new RecentSessions(recentSessions, () => bus.hearsAll);
    this.recent = recent;
    bus.subscribe({
      received: (notification) => {
        if (notification.forget === 'session') recent.forgetSession(notification.id);
        else recent.forgetUser(notification.id);
      },
      missed: () => recent.clear(),
    });
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
    await this.deleteAndAnnounce({ forget: 'session', id: sessionId }, (db) =>
      db.deleteFrom('sessions').where('id', '=', sessionId).execute(),
    );
    this.recent.forgetSession(sessionId);
  }

  // Announced even when no row is left: a deleted account's sessions went with it (cascade),
  // but other processes may still remember them.
  async deleteUserSessions(userId: number): Promise<void> {
    await this.deleteAndAnnounce({ forget: 'user', id: userId }, (db) =>
      db.deleteFrom('sessions').where('user_id', '=', userId).execute(),
    );
    this.recent.forgetUser(userId);
  }

  /**
   * Runs `remove` and sends `notification` in one transaction (both happen, or neither),
   * then waits until every process listening has forgotten what it names: the request that
   * ended the session answers only then.
   */
  private async deleteAndAnnounce(
    notification: Notification,
    remove: (db: Kysely<Database>) => Promise<unknown>,
  ): Promise<void> {
    if (!this.bus.sends) {
      await remove(this.db);
      return;
    }
    const delivery = await this.db.transaction().execute(async (trx) => {
      await remove(trx);
      return this.bus.publish(trx, notification);
    });
    await delivery.delivered();
  }

  // Expired sessions need no announcement: every process checks the expiry it remembers.
  async deleteExpiredSessions(): Promise<void> {
    await this.db.deleteFrom('sessions').where('expires_at', '<=', new Date()).execute();
  }
}

export const SESSION_COOKIE = 'sessionid';

/** 30-day sessions; Lucia extends one to 30 days again when less than half remains. */
export function createLucia(db: Kysely<Database>, bus: NotificationBus = LOCAL_BUS) {
  return new Lucia(new KyselyAdapter(db, RECENT_SESSIONS, bus), {
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
