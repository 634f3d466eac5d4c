import { sql, type Kysely, type RawBuilder } from 'kysely';
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
async function secondsUntilAllowed(db: Kysely<Database>, keys: readonly string[]): Promise<number> {
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

export type AttemptOutcome = { allowed: true } | { allowed: false; retryAfterSeconds: number };

/**
 * Counts one attempt against every key in `keys`, before the work it limits is done, or
 * refuses it without counting when any key is blocked. Each key is counted and checked in
 * the same statement, under the row's lock, so parallel attempts — in one process or in
 * several sharing the database — are counted one after the other, and no more of them get
 * through than the policy allows: checking first and counting after the work would let a
 * burst pass the check all at once.
 */
export async function takeAttempt(
  db: Kysely<Database>,
  keys: readonly string[],
  policy: ThrottlePolicy,
): Promise<AttemptOutcome> {
  const window = sql`make_interval(secs => ${policy.windowSeconds}::int)`;
  const expired = sql`auth_throttle.window_started_at < now() - ${window}`;
  const attempts = sql<number>`case when ${expired} then 1 else auth_throttle.attempts + 1 end`;
  const blockAfter = (count: RawBuilder<number>) =>
    sql<Date | null>`case when ${count} >= ${policy.freeAttempts}::int
      then now() + make_interval(secs => least(${policy.maxDelaySeconds}::int,
        ${policy.baseDelaySeconds}::int * power(2, greatest(0, ${count} - ${policy.freeAttempts}::int))))
      else null end`;
  const counted = await db
    .insertInto('auth_throttle')
    .values(keys.map((key) => ({ key, attempts: 1, blocked_until: blockAfter(sql<number>`1`) })))
    .onConflict((oc) =>
      oc
        .column('key')
        .doUpdateSet({
          attempts,
          window_started_at: sql`case when ${expired} then now() else auth_throttle.window_started_at end`,
          blocked_until: blockAfter(attempts),
        })
        // A blocked key is left as it is, and returns no row: that is the refusal.
        .where((eb) =>
          eb.or([
            eb('auth_throttle.blocked_until', 'is', null),
            eb('auth_throttle.blocked_until', '<=', sql<Date>`now()`),
          ]),
        ),
    )
    .returning('key')
    .execute();
  if (counted.length === keys.length) return { allowed: true };
  // Refused by one key: the others must not count an attempt that never happened.
  for (const { key } of counted) await refundAttempt(db, key, policy);
  return { allowed: false, retryAfterSeconds: Math.max(1, await secondsUntilAllowed(db, keys)) };
}

/**
 * Takes back one attempt counted against `key`: a sign-in that succeeded does not count
 * against the address it came from, so a household behind one address is not slowed down.
 */
export async function refundAttempt(
  db: Kysely<Database>,
  key: string,
  policy: ThrottlePolicy,
): Promise<void> {
  await db
    .updateTable('auth_throttle')
    .set({
      attempts: sql<number>`greatest(attempts - 1, 0)`,
      blocked_until: sql<Date | null>`case when attempts - 1 >= ${policy.freeAttempts}::int
        then blocked_until else null end`,
    })
    .where('key', '=', key)
    .execute();
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
