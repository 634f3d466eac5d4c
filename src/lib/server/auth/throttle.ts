import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/types.ts';

/**
 * Attempt counting for sign-in and registration, in a table of our own so that it works on
 * both backends through Kysely and every server process shares the counts (the usual
 * library, rate-limiter-flexible, has a store for `pg` but not for PGlite).
 *
 * A key counts attempts within a fixed window. Once `freeAttempts` are used, the key is
 * blocked for `baseDelaySeconds`, doubling with every further counted attempt up to
 * `maxDelaySeconds`: the wait grows, but never without end, so nobody is locked out for
 * good. The window starts again once it has passed and the key is not blocked.
 */
export interface ThrottlePolicy {
  windowSeconds: number;
  freeAttempts: number;
  baseDelaySeconds: number;
  maxDelaySeconds: number;
}

/** Five failed sign-ins in 15 minutes, per username and per client address. */
export const SIGN_IN_POLICY: ThrottlePolicy = {
  windowSeconds: 15 * 60,
  freeAttempts: 5,
  baseDelaySeconds: 60,
  maxDelaySeconds: 15 * 60,
};

/** Twenty registration attempts per client address per hour. */
export const REGISTRATION_POLICY: ThrottlePolicy = {
  windowSeconds: 60 * 60,
  freeAttempts: 20,
  baseDelaySeconds: 60 * 60,
  maxDelaySeconds: 60 * 60,
};

export const throttleKeys = {
  signInUser: (usernameKey: string) => `login:user:${usernameKey}`,
  signInAddress: (address: string) => `login:address:${address}`,
  registrationAddress: (address: string) => `register:address:${address}`,
};

/** Seconds until every key in `keys` may try again; 0 when none is blocked. */
export async function secondsUntilAllowed(
  db: Kysely<Database>,
  keys: readonly string[],
): Promise<number> {
  const row = await db
    .selectFrom('auth_throttle')
    .select(
      sql<number>`coalesce(ceil(extract(epoch from max(blocked_until) - now())), 0)::int`.as(
        'wait',
      ),
    )
    .where('key', 'in', keys)
    .where('blocked_until', '>', sql<Date>`now()`)
    .executeTakeFirst();
  return Math.max(0, row?.wait ?? 0);
}

/**
 * Counts one attempt against `key` in one statement, so concurrent attempts from several
 * processes are all counted. Returns the attempts in the current window.
 */
export async function recordAttempt(
  db: Kysely<Database>,
  key: string,
  policy: ThrottlePolicy,
): Promise<number> {
  const window = sql`make_interval(secs => ${policy.windowSeconds})`;
  const expired = sql`(auth_throttle.window_started_at < now() - ${window}
    and (auth_throttle.blocked_until is null or auth_throttle.blocked_until <= now()))`;
  const attempts = sql<number>`case when ${expired} then 1 else auth_throttle.attempts + 1 end`;
  const delay = (count: unknown) =>
    sql`least(${policy.maxDelaySeconds}, ${policy.baseDelaySeconds} * power(2, greatest(0, ${count} - ${policy.freeAttempts})))`;
  const row = await db
    .insertInto('auth_throttle')
    .values({ key, attempts: 1, blocked_until: null })
    .onConflict((oc) =>
      oc.column('key').doUpdateSet({
        attempts,
        window_started_at: sql`case when ${expired} then now() else auth_throttle.window_started_at end`,
        blocked_until: sql`case when ${attempts} >= ${policy.freeAttempts}
          then now() + make_interval(secs => ${delay(attempts)})
          else null end`,
      }),
    )
    .returning('attempts')
    .executeTakeFirstOrThrow();
  return row.attempts;
}

/** Forgets the attempts counted against `key` (a successful sign-in clears its username). */
export async function clearAttempts(db: Kysely<Database>, key: string): Promise<void> {
  await db.deleteFrom('auth_throttle').where('key', '=', key).execute();
}

/** Drops counts whose window and block have both passed; run periodically. */
export async function deleteStaleAttempts(db: Kysely<Database>): Promise<void> {
  await db
    .deleteFrom('auth_throttle')
    .where('window_started_at', '<', sql<Date>`now() - interval '1 day'`)
    .where((eb) =>
      eb.or([eb('blocked_until', 'is', null), eb('blocked_until', '<', sql<Date>`now()`)]),
    )
    .execute();
}
