import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import http from 'node:http';
import { availableParallelism, tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KyselyAdapter } from '../../src/lib/server/auth/lucia.ts';
import { parseConfig } from '../../src/lib/server/config.ts';
import {
  LISTENER_APPLICATION_NAME,
  LOCAL_BUS,
  NOTIFICATION_CHANNEL,
  openNotificationBus,
  type Notification,
  type NotificationBus,
} from '../../src/lib/server/db/notifications.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { childProcessIds, runScript, startServer, type RunningServer } from '../helpers/server.ts';
import {
  PASSWORD,
  registerInDatabase,
  SiteClient,
  signIn,
  signUp,
  startSite,
  type Site,
} from '../helpers/site.ts';
import { postForm } from '../security/kit.ts';

/**
 * Several server processes on one PostgreSQL database: what one of them ends (a session, a
 * user's sessions, a token) is refused by the others on their very next request, although
 * each remembers the sessions it looked up; the notification bus that makes it so; and
 * `WEB_CONCURRENCY`, which runs several processes from one `npm start`.
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

  // Each ends every session of the user, through the settings page of A.
  it.each([
    ['"sign out everywhere"', 'two_everywhere', () => ({ action: 'sign-out-everywhere' })],
    [
      'a password change',
      'two_password',
      () => ({
        action: 'change-password',
        old_password: PASSWORD,
        new_password1: 'Another-Horse-Battery-7',
        new_password2: 'Another-Horse-Battery-7',
      }),
    ],
    [
      'a deleted account',
      'two_deleted',
      (username: string) => ({
        action: 'delete-account',
        confirmation: username,
        password: PASSWORD,
      }),
    ],
  ])('so is %s through the other', async (_, username, fields) => {
    await signUp(a.url, username);
    const inB = await rememberedBy(b.url, username);
    const inA = await signIn(a.url, username);
    const ended = await postForm(inA, '/settings/', fields(username));
    expect(ended.status).toBe(303);
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

/** GET over a connection of its own (no keep-alive): the status, or 0 when it failed. */
function freshGet(url: string): Promise<number> {
  return new Promise((resolve) => {
    http
      .get(url, { agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      })
      .on('error', () => resolve(0));
  });
}

describe.runIf(ON_POSTGRES)('WEB_CONCURRENCY=2 on PostgreSQL', () => {
  it('serves from two processes, replaces one killed, and stops with 0 on SIGTERM', async () => {
    const site = await startSite('postgres', undefined, { WEB_CONCURRENCY: '2' });
    try {
      const primary = site.server.process.pid!;
      const workers = await waitFor(async () => {
        const children = await childProcessIds(primary);
        return children.length === 2 ? children : undefined;
      }, 60_000);
      // The line that says where to open the site is printed once, not by each process.
      expect(site.server.output().match(/^Pacil Inventory is running at /gm)).toHaveLength(1);
      const client = await signUp(site.url, 'cluster_user');
      expect(await apiStatus(client)).toBe(200);

      process.kill(workers[0]!, 'SIGKILL');
      await waitFor(
        async () => site.server.output().includes('a server process died') || undefined,
        10_000,
      );
      // The other process answers while the new one starts.
      const statuses: number[] = [];
      const replaced = await waitFor(async () => {
        statuses.push(await freshGet(`${site.url}/healthz`));
        const children = await childProcessIds(primary);
        return children.length === 2 && !children.includes(workers[0]!) ? children : undefined;
      }, 60_000);
      expect(
        statuses.every((status) => status === 200),
        JSON.stringify(statuses),
      ).toBe(true);
      expect(replaced).toContain(workers[1]);
      // The session lives in the database, whichever process answers.
      for (let i = 0; i < 4; i += 1) expect(await apiStatus(client)).toBe(200);

      const stopped = await site.server.stop('SIGTERM');
      expect(stopped.code).toBe(0);
      expect(stopped.ms).toBeLessThan(10_000);
      for (const pid of replaced) expect(() => process.kill(pid, 0)).toThrow();
    } finally {
      await site.close();
    }
  });
});

describe('WEB_CONCURRENCY', () => {
  // Should one start after all, it takes a port of its own, and is killed after 20 s.
  const anyPort = { HOST: '127.0.0.1', PORT: '0' };

  it('is a number of processes, or auto for one per core', () => {
    expect(parseConfig({}).WEB_CONCURRENCY).toBe(1);
    expect(parseConfig({ WEB_CONCURRENCY: '3' }).WEB_CONCURRENCY).toBe(3);
    expect(parseConfig({ WEB_CONCURRENCY: 'auto' }).WEB_CONCURRENCY).toBe(availableParallelism());
  });

  it('refuses to start with a bad value, naming the variable', async () => {
    for (const value of ['abc', '0', '1.5']) {
      const result = await runScript(
        'scripts/start.ts',
        { ...anyPort, WEB_CONCURRENCY: value },
        20_000,
      );
      expect(result.code, value).toBe(1);
      expect(result.output).toContain('WEB_CONCURRENCY');
      expect(result.output).not.toContain('    at ');
    }
  });

  it('refuses more than one process on the embedded database, saying what to do', async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'pacil-cluster-'));
    try {
      const result = await runScript(
        'scripts/start.ts',
        { ...anyPort, WEB_CONCURRENCY: '2', DATABASE_URL: '', DATA_DIR: dataDir },
        20_000,
      );
      expect(result.code).toBe(1);
      expect(result.output).toContain(
        'the embedded database belongs to one process: set WEB_CONCURRENCY=1, or use PostgreSQL with DATABASE_URL',
      );
      // Refused before anything started: no database was made.
      expect(readdirSync(dataDir)).toEqual([]);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
