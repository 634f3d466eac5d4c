import { sql } from 'kysely';
import { Lucia, TimeSpan } from 'lucia';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { registerAccount, signIn } from '../../src/lib/server/auth/accounts.ts';
import { createLucia, KyselyAdapter } from '../../src/lib/server/auth/lucia.ts';
import {
  sessionIdFromToken,
  startSession,
  validateSessionToken,
} from '../../src/lib/server/auth/sessions.ts';
import { SIGN_IN_POLICY, takeAttempt } from '../../src/lib/server/auth/throttle.ts';
import { BACKENDS, createTestDatabase, type TestDatabase } from '../helpers/database.ts';

const PASSWORD = 'Correct-Horse-Battery-9';

describe.each(BACKENDS)('accounts on %s', (backend) => {
  let database: TestDatabase;
  let address = 0;
  /** A fresh client address per test, so throttling counts do not leak between tests. */
  const nextAddress = () => `192.0.2.${++address}`;

  beforeAll(async () => {
    database = await createTestDatabase(backend);
  });
  afterAll(async () => {
    await database.drop();
  });
  beforeEach(async () => {
    await database.db.deleteFrom('auth_throttle').execute();
  });

  async function register(username: string, password = PASSWORD) {
    const outcome = await registerAccount(
      database.db,
      { username, password1: password, password2: password },
      nextAddress(),
    );
    if (outcome.status !== 'created') throw new Error(`not created: ${JSON.stringify(outcome)}`);
    return outcome.userId;
  }

  it('the adapter stores, finds, extends and deletes sessions', async () => {
    const userId = await register('adapter_user');
    const adapter = new KyselyAdapter(database.db);
    const expiresAt = new Date(Date.now() + 60_000);
    await adapter.setSession({ id: 's1', userId, expiresAt, attributes: {} });
    await adapter.setSession({
      id: 's2',
      userId,
      expiresAt: new Date(Date.now() - 1000),
      attributes: {},
    });

    const [session, user] = await adapter.getSessionAndUser('s1');
    expect(session).toMatchObject({ id: 's1', userId });
    expect(session?.expiresAt.getTime()).toBe(expiresAt.getTime());
    expect(user).toEqual({ id: userId, attributes: { username: 'adapter_user' } });
    expect(await adapter.getSessionAndUser('missing')).toEqual([null, null]);
    expect((await adapter.getUserSessions(userId)).map((s) => s.id).sort()).toEqual(['s1', 's2']);

    const later = new Date(Date.now() + 120_000);
    await adapter.updateSessionExpiration('s1', later);
    expect((await adapter.getSessionAndUser('s1'))[0]?.expiresAt.getTime()).toBe(later.getTime());

    await adapter.deleteExpiredSessions();
    expect((await adapter.getUserSessions(userId)).map((s) => s.id)).toEqual(['s1']);
    await adapter.deleteSession('s1');
    expect(await adapter.getUserSessions(userId)).toEqual([]);

    await adapter.setSession({ id: 's3', userId, expiresAt, attributes: {} });
    await adapter.setSession({ id: 's4', userId, expiresAt, attributes: {} });
    await adapter.deleteUserSessions(userId);
    expect(await adapter.getUserSessions(userId)).toEqual([]);

    // An inactive user's session names no user, so Lucia refuses and deletes it.
    await adapter.setSession({ id: 's5', userId, expiresAt, attributes: {} });
    await database.db
      .updateTable('users')
      .set({ is_active: false })
      .where('id', '=', userId)
      .execute();
    expect((await adapter.getSessionAndUser('s5'))[1]).toBeNull();
  });

  it('keeps only the SHA-256 of session tokens, and a signed-out token is useless', async () => {
    const userId = await register('token_user');
    const auth = createLucia(database.db);
    const { token, session } = await startSession(auth, userId);
    expect(token.length).toBeGreaterThanOrEqual(32);

    const stored = await database.db
      .selectFrom('sessions')
      .select('id')
      .where('user_id', '=', userId)
      .execute();
    expect(stored.map((row) => row.id)).toEqual([sessionIdFromToken(token)]);
    const dump = JSON.stringify((await sql`select * from sessions`.execute(database.db)).rows);
    expect(dump).not.toContain(token);

    expect((await validateSessionToken(auth, token))?.user).toEqual({
      id: userId,
      username: 'token_user',
    });
    // The stored hash, presented as a cookie, is not a session.
    expect(await validateSessionToken(auth, session.id)).toBeNull();
    await auth.invalidateSession(session.id);
    expect(await validateSessionToken(auth, token)).toBeNull();
  });

  it('answers a session from memory for a moment; ending it here takes effect at once', async () => {
    const userId = await register('recent_user');
    const ttlMs = 300;
    const auth = new Lucia(new KyselyAdapter(database.db, { ttlMs, maxEntries: 10 }));
    const expectUser = async (token: string, valid: boolean) =>
      expect((await validateSessionToken(auth, token))?.user.id).toBe(valid ? userId : undefined);
    const deleteRowsBehindItsBack = (token: string) =>
      database.db.deleteFrom('sessions').where('id', '=', sessionIdFromToken(token)).execute();

    // Another process deleting the row: honoured from memory until the entry is too old.
    const elsewhere = await startSession(auth, userId);
    await expectUser(elsewhere.token, true);
    const deletedAt = performance.now();
    await deleteRowsBehindItsBack(elsewhere.token);
    await expectUser(elsewhere.token, true);
    await new Promise((resolve) =>
      setTimeout(resolve, ttlMs + 50 - (performance.now() - deletedAt)),
    );
    await expectUser(elsewhere.token, false);

    // Signing out through this process ends the session at once, remembered or not.
    const one = await startSession(auth, userId);
    await expectUser(one.token, true);
    await auth.invalidateSession(one.session.id);
    await expectUser(one.token, false);

    // So does ending all of the user's sessions (password change, sign out everywhere).
    const two = await startSession(auth, userId);
    const three = await startSession(auth, userId);
    await expectUser(two.token, true);
    await expectUser(three.token, true);
    await auth.invalidateUserSessions(userId);
    await expectUser(two.token, false);
    await expectUser(three.token, false);
  });

  it('extends a remembered session in memory as in the database', async () => {
    const userId = await register('extended_user');
    const auth = new Lucia(new KyselyAdapter(database.db, { ttlMs: 60_000, maxEntries: 10 }), {
      sessionExpiresIn: new TimeSpan(30, 'd'),
    });
    const { token, session } = await startSession(auth, userId);
    // Less than half of the 30 days left: the next validation extends it.
    const soon = new Date(Date.now() + 60_000);
    await database.db
      .updateTable('sessions')
      .set({ expires_at: soon })
      .where('id', '=', session.id)
      .execute();
    const extended = await validateSessionToken(auth, token);
    expect(extended?.session.fresh).toBe(true);
    const stored = await database.db
      .selectFrom('sessions')
      .select('expires_at')
      .where('id', '=', session.id)
      .executeTakeFirstOrThrow();
    expect(stored.expires_at.getTime()).toBe(extended?.session.expiresAt.getTime());
    // Answered from memory now, with the new date: not extended a second time.
    const again = await validateSessionToken(auth, token);
    expect(again?.session.fresh).toBe(false);
    expect(again?.session.expiresAt.getTime()).toBe(stored.expires_at.getTime());
  });

  it('two registrations racing for Alice and alice make exactly one user', async () => {
    const outcomes = await Promise.all(
      ['RaceAlice', 'racealice', 'RACEALICE'].map((username) =>
        registerAccount(
          database.db,
          { username, password1: PASSWORD, password2: PASSWORD },
          nextAddress(),
        ),
      ),
    );
    expect(outcomes.filter((o) => o.status === 'created')).toHaveLength(1);
    for (const outcome of outcomes.filter((o) => o.status !== 'created')) {
      expect(outcome).toEqual({
        status: 'invalid',
        errors: { username: ['A user with that username already exists.'] },
      });
    }
    const rows = await database.db
      .selectFrom('users')
      .select('id')
      .where('username_key', '=', 'racealice')
      .execute();
    expect(rows).toHaveLength(1);
  });

  it('signs in by normalized name, fails alike for unknown names, and throttles after five failures', async () => {
    await register('Throttled');
    const auth = createLucia(database.db);
    const clientAddress = nextAddress();
    const attempt = (username: string, password: string) =>
      signIn(database.db, auth, { username, password }, clientAddress);

    const success = await attempt('ｔｈｒｏｔｔｌｅｄ', PASSWORD);
    expect(success.status).toBe('signed-in');

    expect(await attempt('nobody_here', PASSWORD)).toEqual({ status: 'failed' });
    for (let i = 0; i < 4; i += 1)
      expect((await attempt('throttled', 'wrong')).status).toBe('failed');
    // Five failures from this address: the sixth attempt is refused, right password or not.
    const refused = await attempt('throttled', PASSWORD);
    expect(refused.status).toBe('throttled');
    if (refused.status === 'throttled') {
      expect(refused.retryAfterSeconds).toBeGreaterThan(0);
      expect(refused.retryAfterSeconds).toBeLessThanOrEqual(SIGN_IN_POLICY.maxDelaySeconds);
    }

    const counts = await database.db
      .selectFrom('auth_throttle')
      .select(['key', 'attempts'])
      .where('key', 'like', 'login:%')
      .orderBy('key')
      .execute();
    expect(counts).toEqual([
      { key: `login:address:${clientAddress}`, attempts: 5 },
      { key: 'login:user:nobody_here', attempts: 1 },
      { key: 'login:user:throttled', attempts: 4 },
    ]);
  });

  it('a success clears the username count; the wait grows but is capped', async () => {
    await register('grower');
    const auth = createLucia(database.db);
    for (let i = 0; i < 3; i += 1) {
      await signIn(database.db, auth, { username: 'grower', password: 'nope' }, nextAddress());
    }
    expect(
      (await signIn(database.db, auth, { username: 'grower', password: PASSWORD }, nextAddress()))
        .status,
    ).toBe('signed-in');
    const left = await database.db
      .selectFrom('auth_throttle')
      .select('key')
      .where('key', '=', 'login:user:grower')
      .execute();
    expect(left).toEqual([]);

    const key = 'login:user:growth-test';
    const waits: number[] = [];
    for (let i = 0; i < 12; i += 1) {
      expect((await takeAttempt(database.db, [key], SIGN_IN_POLICY)).allowed).toBe(true);
      const { wait } = await database.db
        .selectFrom('auth_throttle')
        .select(
          sql<number>`coalesce(ceil(extract(epoch from blocked_until - now())), 0)::int`.as('wait'),
        )
        .where('key', '=', key)
        .executeTakeFirstOrThrow();
      waits.push(wait);
      if (wait > 0) {
        // While blocked, an attempt is refused and not counted...
        const refused = await takeAttempt(database.db, [key], SIGN_IN_POLICY);
        expect(refused.allowed).toBe(false);
        if (!refused.allowed) expect(wait - refused.retryAfterSeconds).toBeOneOf([0, 1]);
        // ...until the block runs out, as it would with time.
        await database.db
          .updateTable('auth_throttle')
          .set({ blocked_until: sql<Date>`now() - interval '1 second'` })
          .where('key', '=', key)
          .execute();
      }
    }
    expect(waits.slice(0, 4)).toEqual([0, 0, 0, 0]);
    expect(waits[4]).toBeGreaterThanOrEqual(59);
    expect(waits[5]!).toBeGreaterThan(waits[4]!);
    expect(Math.max(...waits)).toBeLessThanOrEqual(SIGN_IN_POLICY.maxDelaySeconds);
  });

  it('allows twenty registration attempts per address per hour', async () => {
    const clientAddress = nextAddress();
    const outcomes = [];
    for (let i = 0; i < 21; i += 1) {
      outcomes.push(
        await registerAccount(
          database.db,
          { username: '', password1: '', password2: '' },
          clientAddress,
        ),
      );
    }
    expect(outcomes.slice(0, 20).every((o) => o.status === 'invalid')).toBe(true);
    expect(outcomes[20]?.status).toBe('throttled');
  });
});
