import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KyselyAdapter } from '../../src/lib/server/auth/lucia.ts';
import {
  LISTENER_APPLICATION_NAME,
  LOCAL_BUS,
  NOTIFICATION_CHANNEL,
  openNotificationBus,
  type Notification,
  type NotificationBus,
} from '../../src/lib/server/db/notifications.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { startServer, type RunningServer } from '../helpers/server.ts';
import {
  PASSWORD,
  registerInDatabase,
  SiteClient,
  signIn,
  signUp,
  startSite,
  type Site,
} from '../helpers/site.ts';

/**
 * Several server processes on one PostgreSQL database: what one of them ends (a session, a
 * user's sessions, a token) is refused by the others on their very next request, although
 * each remembers the sessions it looked up; and the notification bus that makes it so.
 */

const ON_POSTGRES = Boolean(process.env.TEST_DATABASE_URL);

/** Polls `check` until it gives a value (not undefined), or fails after `timeoutMs`. */
async function waitFor<T>(check: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const FORM = { 'Content-Type': 'application/x-www-form-urlencoded' };

function postForm(client: SiteClient, pathname: string, fields: Record<string, string>) {
  return client.request(pathname, {
    method: 'POST',
    headers: FORM,
    body: new URLSearchParams(fields).toString(),
  });
}

/** The same session (cookie and address) as seen through another server process. */
const through = (client: SiteClient, url: string) =>
  new SiteClient(url, client.cookie, client.address);

/** 200 while the session signs the client in; the API answers 401 once it does not. */
async function apiStatus(client: SiteClient): Promise<number> {
  const response = await client.request('/api/items?limit=1');
  await response.arrayBuffer();
  return response.status;
}

/** Signs in through `b` and uses the session there, so that process remembers it. */
async function rememberedBy(url: string, username: string): Promise<SiteClient> {
  const client = await signIn(url, username);
  expect(await apiStatus(client)).toBe(200);
  expect(await apiStatus(client)).toBe(200);
  return client;
}

describe.runIf(ON_POSTGRES)('two server processes on one PostgreSQL database', () => {
  let a: Site;
  let b: RunningServer;

  beforeAll(async () => {
    a = await startSite('postgres');
    b = await startServer({ DATABASE_URL: a.databaseUrl!, TRUST_PROXY: 'true', LOG_LEVEL: 'warn' });
  });

  afterAll(async () => {
    await b?.stop();
    await a?.close();
  });

  it('a sign-out through one is refused by the other on the very next request', async () => {
    await signUp(a.url, 'two_signout');
    const inB = await rememberedBy(b.url, 'two_signout');
    const signedOut = await postForm(through(inB, a.url), '/logout/', {});
    expect(signedOut.status).toBe(303);
    expect(await apiStatus(inB)).toBe(401);
    const page = await inB.request('/');
    expect(page.status).toBe(302);
    expect(page.headers.get('location')).toBe('/login/?next=%2F');
  });

  it('so is "sign out everywhere" through the other', async () => {
    await signUp(a.url, 'two_everywhere');
    const inB = await rememberedBy(b.url, 'two_everywhere');
    const inA = await signIn(a.url, 'two_everywhere');
    const everywhere = await postForm(inA, '/settings/', { action: 'sign-out-everywhere' });
    expect(everywhere.status).toBe(303);
    expect(await apiStatus(inB)).toBe(401);
  });

  it('so is a password change through the other', async () => {
    await signUp(a.url, 'two_password');
    const inB = await rememberedBy(b.url, 'two_password');
    const inA = await signIn(a.url, 'two_password');
    const changed = await postForm(inA, '/settings/', {
      action: 'change-password',
      old_password: PASSWORD,
      new_password1: 'Another-Horse-Battery-7',
      new_password2: 'Another-Horse-Battery-7',
    });
    expect(changed.status).toBe(303);
    expect(await apiStatus(inB)).toBe(401);
  });

  it('so is a deleted account', async () => {
    await signUp(a.url, 'two_deleted');
    const inB = await rememberedBy(b.url, 'two_deleted');
    const inA = await signIn(a.url, 'two_deleted');
    const deleted = await postForm(inA, '/settings/', {
      action: 'delete-account',
      confirmation: 'two_deleted',
      password: PASSWORD,
    });
    expect(deleted.status).toBe(303);
    expect(await apiStatus(inB)).toBe(401);
  });

  // Tokens are not remembered by any process: every request reads api_tokens.
  it('so is a revoked API token', async () => {
    const owner = await signUp(a.url, 'two_token');
    const created = await postForm(owner, '/settings/', {
      action: 'create-token',
      name: 'script',
      scope: 'read',
      expires_in_days: '',
    });
    expect(created.status).toBe(303);
    const carried = created.headers
      .getSetCookie()
      .find((cookie) => cookie.startsWith('new_token='))!
      .split(';', 1)[0]!;
    const settings = await owner.request('/settings/', {
      headers: { Cookie: `${owner.cookie}; ${carried}` },
    });
    const html = await settings.text();
    const token = /data-testid="new-token"[^>]*>\s*([^<\s]+)\s*</.exec(html)![1]!;
    const id = /data-token-id="(\d+)"/.exec(html)![1]!;
    const withToken = () =>
      fetch(`${b.url}/json/`, { headers: { Authorization: `Bearer ${token}` } });
    expect((await withToken()).status).toBe(200);
    const revoked = await postForm(owner, '/settings/', { action: 'revoke-token', token_id: id });
    expect(revoked.status).toBe(303);
    expect((await withToken()).status).toBe(401);
  });
});

/** What a listener of the bus was told, in order; `missed` records whether it then heard all. */
function recorder(bus: NotificationBus) {
  const events: Array<Notification | { missed: boolean }> = [];
  bus.subscribe({
    received: (notification) => events.push(notification),
    missed: () => events.push({ missed: bus.hearsAll }),
  });
  return events;
}

describe.runIf(ON_POSTGRES)('the notification bus on PostgreSQL', () => {
  let database: TestDatabase;
  const buses: NotificationBus[] = [];
  const open = () => {
    const bus = openNotificationBus({
      databaseUrl: database.url,
      heartbeatMs: 200,
      heartbeatTimeoutMs: 2_000,
      retryMinMs: 50,
      // Longer than the test: a delivery that resolves was acknowledged, it did not time out.
      ackTimeoutMs: 60_000,
    });
    buses.push(bus);
    return bus;
  };
  const listening = (bus: NotificationBus) =>
    waitFor(async () => bus.hearsAll || undefined, 10_000);

  beforeAll(async () => {
    database = await createTestDatabase('postgres');
  });

  afterAll(async () => {
    for (const bus of buses) await bus.close();
    await database?.drop();
  });

  it('delivers on commit, to every process, and the sender waits until each has it', async () => {
    const [sender, other] = [open(), open()];
    const [sent, heard] = [recorder(sender), recorder(other)];
    await Promise.all([listening(sender), listening(other)]);
    const forget: Notification = { forget: 'user', id: 7 };
    const delivery = await database.db.transaction().execute(async (trx) => {
      const pending = await sender.publish(trx, forget);
      // Not before the commit.
      await sql`select pg_sleep(0.1)`.execute(trx);
      expect(heard).not.toContainEqual(forget);
      return pending;
    });
    await delivery.delivered();
    // Both have forgotten it by the time the sender goes on: no waiting here.
    expect(heard).toContainEqual(forget);
    expect(sent).toContainEqual(forget);

    // A rollback sends nothing.
    const rolledBack: Notification = { forget: 'session', id: 'rolled-back' };
    await expect(
      database.db.transaction().execute(async (trx) => {
        await sender.publish(trx, rolledBack);
        throw new Error('roll back');
      }),
    ).rejects.toThrow('roll back');
    const after: Notification = { forget: 'session', id: 'after' };
    await (await sender.publish(database.db, after)).delivered();
    expect(heard).toContainEqual(after);
    expect(heard).not.toContainEqual(rolledBack);
  });

  it('takes a notification sent by hand, and forgets everything for one it does not know', async () => {
    const bus = open();
    const events = recorder(bus);
    await listening(bus);
    events.length = 0;
    await sql`select pg_notify(${NOTIFICATION_CHANNEL}, '{"forget":"user","id":5}')`.execute(
      database.db,
    );
    await waitFor(async () => events.length > 0 || undefined, 10_000);
    expect(events).toEqual([{ forget: 'user', id: 5 }]);
    await sql`select pg_notify(${NOTIFICATION_CHANNEL}, '{"forget":"everything"}')`.execute(
      database.db,
    );
    await waitFor(async () => events.length > 1 || undefined, 10_000);
    expect(events[1]).toEqual({ missed: true });
  });

  it('when its connection is lost: forgets everything, and reconnects', async () => {
    const bus = open();
    const events = recorder(bus);
    const adapter = new KyselyAdapter(
      database.db,
      { ttlMs: 60_000, unheardTtlMs: 2_000, maxEntries: 10 },
      bus,
    );
    await listening(bus);
    const userId = await registerInDatabase(database.db, 'bus_lost_user');
    const expiresAt = new Date(Date.now() + 3_600_000);
    await adapter.setSession({ id: 'bus-lost', userId, expiresAt, attributes: {} });
    expect((await adapter.getSessionAndUser('bus-lost'))[1]?.id).toBe(userId);
    // Deleted behind the process's back (no notification): answered from memory, as designed.
    await database.db.deleteFrom('sessions').where('id', '=', 'bus-lost').execute();
    expect((await adapter.getSessionAndUser('bus-lost'))[1]?.id).toBe(userId);

    await sql`select pg_terminate_backend(pid) from pg_stat_activity
      where datname = current_database() and application_name = ${LISTENER_APPLICATION_NAME}`.execute(
      database.db,
    );
    await waitFor(async () => events.some((e) => 'missed' in e && !e.missed) || undefined, 10_000);
    // Whatever it remembered may have missed a notification: it asks the database again.
    expect(await adapter.getSessionAndUser('bus-lost')).toEqual([null, null]);
    // Back, it forgets again (notifications sent meanwhile never reached it) and hears all.
    await listening(bus);
    const missed = events
      .filter((e) => 'missed' in e)
      .map((e) => (e as { missed: boolean }).missed);
    expect(missed).toEqual([true, false, true]);
  });

  it('is no bus at all on the embedded database', () => {
    expect(openNotificationBus({ databaseUrl: undefined })).toBe(LOCAL_BUS);
    expect(LOCAL_BUS.hearsAll).toBe(true);
    expect(LOCAL_BUS.sends).toBe(false);
  });
});
