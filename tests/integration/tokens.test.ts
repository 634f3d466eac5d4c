import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql, type Kysely } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  authenticateApiToken,
  createApiToken,
  type CreateTokenOutcome,
  listApiTokensForUser,
  revokeApiTokenForUser,
} from '../../src/lib/server/auth/tokens.ts';
import {
  apiCaller,
  API_REQUESTS_PER_MINUTE,
  takeApiRequest,
} from '../../src/lib/server/api/request-budget.ts';
import { openDatabase, type Backend } from '../../src/lib/server/db/connect.ts';
import { migrateToLatest } from '../../src/lib/server/db/migrate.ts';
import type { Database, TokenScope } from '../../src/lib/server/db/types.ts';
import {
  BACKENDS,
  createPostgresDatabase,
  createTestDatabase,
  dropPostgresDatabase,
  urlForDatabase,
  type TestDatabase,
} from '../helpers/database.ts';
import { startServer, type RunningServer } from '../helpers/server.ts';
import { nextAddress, registerInDatabase, signUp, type SiteClient } from '../helpers/site.ts';
import { checkedFetch } from '../helpers/openapi.ts';

/**
 * Personal API tokens (issue 9): the token module on every backend (hashing, expiry,
 * inactive users, revocation, the once-a-minute `last_used_at`, the per-token request
 * budget), then the production server over HTTP: every token endpoint with a read token, a
 * read-write token, an expired, a revoked, an unknown token and malformed headers, owner
 * scoping, the same-origin rule for cookie requests, and the rate limit.
 */

const TOKEN_SHAPE = /^pi_[A-Za-z0-9_-]{43}$/;
const MINUTE = 60_000;

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** A token of the shape the site issues that no database holds. */
const unknownToken = () => `pi_${randomBytes(32).toString('base64url')}`;

let userCounter = 0;

/** Adds a user row directly (the module tests need no password). */
async function addUser(db: Kysely<Database>, prefix = 'tok'): Promise<number> {
  userCounter += 1;
  const username = `${prefix}_${userCounter}_${randomBytes(3).toString('hex')}`;
  const row = await db
    .insertInto('users')
    .values({ username, username_key: username.toLowerCase(), password_hash: '!' })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

async function tokenRow(db: Kysely<Database>, id: number) {
  return db.selectFrom('api_tokens').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
}

/** Every row of every table of the schema, as text. */
async function dumpDatabase(db: Kysely<Database>): Promise<string> {
  const tables = await sql<{ table_name: string }>`
    select table_name from information_schema.tables
    where table_schema = 'public' and table_type = 'BASE TABLE'`.execute(db);
  expect(tables.rows.map((row) => row.table_name)).toContain('api_tokens');
  const parts: string[] = [];
  for (const { table_name: table } of tables.rows) {
    const rows = await sql<{ row: string }>`
      select to_jsonb(t)::text as row from ${sql.table(table)} t`.execute(db);
    parts.push(...rows.rows.map((row) => `${table}: ${row.row}`));
  }
  return parts.join('\n');
}

/** The token of an outcome that must be a created one. */
function created(outcome: CreateTokenOutcome): Extract<CreateTokenOutcome, { status: 'created' }> {
  if (outcome.status !== 'created') throw new Error(`no token was created: ${outcome.status}`);
  return outcome;
}

describe.each(BACKENDS)('the token module on %s', (backend) => {
  let database: TestDatabase;
  let db: Kysely<Database>;

  beforeAll(async () => {
    database = await createTestDatabase(backend);
    db = database.db;
  });

  afterAll(async () => {
    await database?.drop();
  });

  const make = async (userId: number, scope: TokenScope = 'read', expiresAt: Date | null = null) =>
    created(await createApiToken(db, userId, { name: `token ${scope}`, scope, expiresAt }));

  it('creates a recognizable token with 256 random bits and returns its record', async () => {
    const userId = await addUser(db);
    const expiresAt = new Date(Date.now() + 7 * 86_400_000);
    const { token, record } = created(
      await createApiToken(db, userId, { name: 'spreadsheet', scope: 'read-write', expiresAt }),
    );
    expect(token).toMatch(TOKEN_SHAPE);
    expect(Buffer.from(token.slice(3), 'base64url')).toHaveLength(32);
    expect(record).toEqual({
      id: expect.any(Number),
      name: 'spreadsheet',
      scope: 'read-write',
      prefix: token.slice(0, 8),
      createdAt: expect.any(Date),
      lastUsedAt: null,
      expiresAt,
      // Not limited to one inventory: it reaches all of its owner's.
      inventory: null,
    });
    expect(Math.abs(record.createdAt.getTime() - Date.now())).toBeLessThan(MINUTE);

    const many = await Promise.all(Array.from({ length: 20 }, () => make(userId)));
    expect(new Set(many.map(({ token }) => token)).size).toBe(20);
    expect(new Set(many.map(({ token }) => token.slice(3, 13))).size).toBe(20);
  });

  it('authenticates a token as its user with its scope', async () => {
    const userId = await addUser(db, 'auth');
    const { username } = await db
      .selectFrom('users')
      .select('username')
      .where('id', '=', userId)
      .executeTakeFirstOrThrow();
    const read = await make(userId, 'read');
    const write = await make(userId, 'read-write');
    expect(await authenticateApiToken(db, read.token)).toEqual({
      tokenId: read.record.id,
      tokenName: read.record.name,
      userId,
      username,
      scope: 'read',
      inventoryId: null,
    });
    expect(await authenticateApiToken(db, write.token)).toMatchObject({
      tokenId: write.record.id,
      userId,
      scope: 'read-write',
    });
  });

  it('limits a token to one inventory of its owner’s, and to no one else’s', async () => {
    const owner = await addUser(db, 'limited');
    const stranger = await addUser(db, 'stranger');
    const inventoryOf = async (userId: number, name: string) => {
      const { id } = await db
        .insertInto('inventories')
        .values({ name })
        .returning('id')
        .executeTakeFirstOrThrow();
      await db
        .insertInto('memberships')
        .values({ inventory_id: id, user_id: userId, role: 'editor' })
        .execute();
      return id;
    };
    const lab = await inventoryOf(owner, 'Lab');
    const elsewhere = await inventoryOf(stranger, 'Elsewhere');

    const limited = created(
      await createApiToken(db, owner, {
        name: 'lab only',
        scope: 'read-write',
        expiresAt: null,
        inventoryId: lab,
      }),
    );
    expect(limited.record.inventory).toEqual({ id: lab, name: 'Lab' });
    expect(await authenticateApiToken(db, limited.token)).toMatchObject({
      tokenId: limited.record.id,
      userId: owner,
      inventoryId: lab,
    });
    expect((await listApiTokensForUser(db, owner))[0]!.inventory).toEqual({ id: lab, name: 'Lab' });

    const before = await db.selectFrom('api_tokens').select('id').execute();
    for (const inventoryId of [elsewhere, 2_147_483_000]) {
      expect(
        await createApiToken(db, owner, {
          name: 'not mine',
          scope: 'read',
          expiresAt: null,
          inventoryId,
        }),
      ).toEqual({ status: 'no-such-inventory' });
    }
    expect(await db.selectFrom('api_tokens').select('id').execute()).toEqual(before);
  });

  it('authenticates nothing that is not a stored token', async () => {
    const userId = await addUser(db);
    const { token } = await make(userId);
    const last = token.at(-1) === 'A' ? 'B' : 'A';
    for (const candidate of [
      unknownToken(),
      token.slice(0, -1) + last,
      token.slice(0, -1),
      `${token}A`,
      token.slice(3),
      ` ${token}`,
      token.toUpperCase(),
      sha256(token),
      '',
      'pi_',
    ]) {
      expect(await authenticateApiToken(db, candidate), candidate).toBeNull();
    }
    expect(await authenticateApiToken(db, token)).not.toBeNull();
  });

  it('stores only the SHA-256: the token is nowhere in the database', async () => {
    const userId = await addUser(db);
    const created = await Promise.all([make(userId, 'read'), make(userId, 'read-write')]);
    for (const { token } of created) await authenticateApiToken(db, token);
    const dump = await dumpDatabase(db);
    for (const { token, record } of created) {
      expect(dump).not.toContain(token);
      // Only the short prefix (for telling tokens apart) is stored; the secret part is not.
      expect(dump).not.toContain(token.slice(8));
      expect(dump).not.toContain(token.slice(3, 20));
      const row = await tokenRow(db, record.id);
      expect(row.token_hash).toBe(sha256(token));
      expect(row.prefix).toBe(token.slice(0, 8));
    }
  });

  it('lists a user’s tokens only, newest first, without their hashes', async () => {
    const alice = await addUser(db, 'alice');
    const bob = await addUser(db, 'bob');
    const first = await make(alice, 'read');
    const second = await make(alice, 'read-write', new Date(Date.now() + 86_400_000));
    const bobs = await make(bob);
    const list = await listApiTokensForUser(db, alice);
    expect(list.map((token) => token.id)).toEqual([second.record.id, first.record.id]);
    expect(list[0]).toEqual(second.record);
    expect(JSON.stringify(list)).not.toContain(sha256(first.token));
    expect(list.map((token) => token.id)).not.toContain(bobs.record.id);
    expect(await listApiTokensForUser(db, await addUser(db))).toEqual([]);
  });

  it('revokes a token of its owner only; a revoked token authenticates nobody', async () => {
    const alice = await addUser(db, 'alice');
    const bob = await addUser(db, 'bob');
    const kept = await make(alice);
    const revoked = await make(alice, 'read-write');

    expect(await revokeApiTokenForUser(db, bob, revoked.record.id)).toBe(false);
    expect(await authenticateApiToken(db, revoked.token)).not.toBeNull();

    expect(await revokeApiTokenForUser(db, alice, revoked.record.id)).toBe(true);
    expect(await authenticateApiToken(db, revoked.token)).toBeNull();
    expect((await listApiTokensForUser(db, alice)).map((token) => token.id)).toEqual([
      kept.record.id,
    ]);
    expect(await revokeApiTokenForUser(db, alice, revoked.record.id)).toBe(false);
    expect(await revokeApiTokenForUser(db, alice, 2_147_483_000)).toBe(false);
    expect(await authenticateApiToken(db, kept.token)).not.toBeNull();
  });

  it('treats an expired token as unknown', async () => {
    const userId = await addUser(db);
    const future = await make(userId, 'read', new Date(Date.now() + 60 * MINUTE));
    const past = await make(userId, 'read', new Date(Date.now() - MINUTE));
    expect(await authenticateApiToken(db, future.token)).not.toBeNull();
    expect(await authenticateApiToken(db, past.token)).toBeNull();

    // A token that was valid expires: the database's clock decides.
    const expiring = await make(userId, 'read-write', new Date(Date.now() + 60 * MINUTE));
    expect(await authenticateApiToken(db, expiring.token)).not.toBeNull();
    await sql`update api_tokens set expires_at = now() - interval '1 second'
      where id = ${expiring.record.id}`.execute(db);
    expect(await authenticateApiToken(db, expiring.token)).toBeNull();
    expect(await authenticateApiToken(db, future.token)).not.toBeNull();
  });

  it('authenticates no token of an inactive user, and goes with a deleted one', async () => {
    const userId = await addUser(db);
    const { token, record } = await make(userId, 'read-write');
    await db.updateTable('users').set({ is_active: false }).where('id', '=', userId).execute();
    expect(await authenticateApiToken(db, token)).toBeNull();
    await db.updateTable('users').set({ is_active: true }).where('id', '=', userId).execute();
    expect(await authenticateApiToken(db, token)).not.toBeNull();

    await db.deleteFrom('users').where('id', '=', userId).execute();
    expect(await authenticateApiToken(db, token)).toBeNull();
    const rows = await db
      .selectFrom('api_tokens')
      .select('id')
      .where('id', '=', record.id)
      .execute();
    expect(rows).toEqual([]);
  });

  it('records the last use at most once a minute', async () => {
    const userId = await addUser(db);
    const { token, record } = await make(userId);
    expect((await tokenRow(db, record.id)).last_used_at).toBeNull();

    await authenticateApiToken(db, token);
    const first = (await tokenRow(db, record.id)).last_used_at;
    expect(first).toBeInstanceOf(Date);
    expect(Math.abs(first!.getTime() - Date.now())).toBeLessThan(MINUTE);

    await authenticateApiToken(db, token);
    await authenticateApiToken(db, token);
    expect((await tokenRow(db, record.id)).last_used_at).toEqual(first);

    // Half a minute ago: still within the minute, so not written again.
    await sql`update api_tokens set last_used_at = now() - interval '30 seconds'
      where id = ${record.id}`.execute(db);
    const halfMinute = (await tokenRow(db, record.id)).last_used_at!;
    await authenticateApiToken(db, token);
    expect((await tokenRow(db, record.id)).last_used_at).toEqual(halfMinute);

    // Two minutes ago: the next use moves it to now.
    await sql`update api_tokens set last_used_at = now() - interval '2 minutes'
      where id = ${record.id}`.execute(db);
    const old = (await tokenRow(db, record.id)).last_used_at!;
    await authenticateApiToken(db, token);
    const moved = (await tokenRow(db, record.id)).last_used_at!;
    expect(moved.getTime()).toBeGreaterThan(old.getTime() + MINUTE);
    expect(Math.abs(moved.getTime() - Date.now())).toBeLessThan(MINUTE);

    const [listed] = await listApiTokensForUser(db, userId);
    expect(listed!.lastUsedAt).toEqual(moved);
  });
});

describe('the per-token request budget', () => {
  // The counters live in the module; ids no database issues keep these tests to themselves.
  const freshId = () => 1_000_000_000 + Math.floor(Math.random() * 1_000_000_000);

  it('allows 600 requests a minute, then answers with a positive wait', () => {
    expect(API_REQUESTS_PER_MINUTE).toBe(600);
    const id = freshId();
    const start = 1_800_000_000_000;
    for (let i = 0; i < API_REQUESTS_PER_MINUTE; i += 1) {
      expect(takeApiRequest(apiCaller.token(id), start + i)).toBe(0);
    }
    const wait = takeApiRequest(apiCaller.token(id), start + 1_000);
    expect(wait).toBeGreaterThan(0);
    expect(wait).toBeLessThanOrEqual(60);
    expect(wait).toBe(59);
    expect(takeApiRequest(apiCaller.token(id), start + 30_000)).toBe(30);
    expect(takeApiRequest(apiCaller.token(id), start + 59_999)).toBe(1);

    // A new window after a minute: the budget is whole again.
    expect(takeApiRequest(apiCaller.token(id), start + 60_000)).toBe(0);
    for (let i = 1; i < API_REQUESTS_PER_MINUTE; i += 1) {
      expect(takeApiRequest(apiCaller.token(id), start + 60_000 + i)).toBe(0);
    }
    expect(takeApiRequest(apiCaller.token(id), start + 61_000)).toBeGreaterThan(0);
  });

  it('counts each token on its own', () => {
    const busy = freshId();
    const quiet = busy + 1;
    const start = 1_800_000_000_000;
    for (let i = 0; i <= API_REQUESTS_PER_MINUTE; i += 1)
      takeApiRequest(apiCaller.token(busy), start);
    expect(takeApiRequest(apiCaller.token(busy), start)).toBeGreaterThan(0);
    expect(takeApiRequest(apiCaller.token(quiet), start)).toBe(0);
  });
});

// --- over HTTP --------------------------------------------------------------------------------

const FORM = { 'Content-Type': 'application/x-www-form-urlencoded' };

interface TokenSite {
  url: string;
  server: RunningServer;
  /** A connection of the test's own to the server's database (PostgreSQL only). */
  db: Kysely<Database> | undefined;
  seeded: { expiredToken: string; inactiveToken: string };
  close(): Promise<void>;
}

/**
 * The production server on a fresh database: a temp DATA_DIR for the embedded one, a new
 * database for PostgreSQL. Before it starts, the seed adds a token that has already expired
 * and one of an inactive user, through the token module, so both backends can test them.
 */
async function startTokenSite(backend: Backend): Promise<TokenSite> {
  let env: Record<string, string>;
  let remove: () => Promise<void>;
  if (backend === 'postgres') {
    const name = await createPostgresDatabase();
    env = { DATABASE_URL: urlForDatabase(name) };
    remove = () => dropPostgresDatabase(name);
  } else {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'pacil-tokens-'));
    env = { DATA_DIR: dataDir };
    remove = async () => rmSync(dataDir, { recursive: true, force: true });
  }
  let seedHandle;
  try {
    seedHandle = openDatabase({ databaseUrl: env.DATABASE_URL, dataDir: env.DATA_DIR });
    const seedDb = seedHandle.db;
    await migrateToLatest(seedDb);
    const expiredOwner = await registerInDatabase(seedDb, `seed_expired_${backend}`);
    const { id: expiredOwnersInventory } = await seedDb
      .selectFrom('inventories')
      .select('id')
      .where('personal_of', '=', expiredOwner)
      .executeTakeFirstOrThrow();
    await seedDb
      .insertInto('items')
      .values({
        inventory_id: expiredOwnersInventory,
        created_by: expiredOwner,
        name: 'Seeded',
        amount: 3,
      })
      .execute();
    const expired = created(
      await createApiToken(seedDb, expiredOwner, {
        name: 'expired',
        scope: 'read-write',
        expiresAt: new Date(Date.now() - MINUTE),
      }),
    );
    const inactiveOwner = await registerInDatabase(seedDb, `seed_inactive_${backend}`);
    const inactive = created(
      await createApiToken(seedDb, inactiveOwner, {
        name: 'inactive',
        scope: 'read-write',
        expiresAt: null,
      }),
    );
    await seedDb
      .updateTable('users')
      .set({ is_active: false })
      .where('id', '=', inactiveOwner)
      .execute();
    // The embedded database belongs to one process at a time: close it before the server.
    await seedHandle.close();
    seedHandle = undefined;

    const server = await startServer({ ...env, TRUST_PROXY: 'true', LOG_LEVEL: 'warn' });
    const own = env.DATABASE_URL ? openDatabase({ databaseUrl: env.DATABASE_URL }) : undefined;
    return {
      url: server.url,
      server,
      db: own?.db,
      seeded: { expiredToken: expired.token, inactiveToken: inactive.token },
      async close() {
        try {
          await own?.close();
          await server.stop();
        } finally {
          await remove();
        }
      },
    };
  } catch (error) {
    await seedHandle?.close();
    await remove();
    throw error;
  }
}

interface ApiItem {
  id: number;
  name: string;
  amount: number;
  description: string;
}

interface ExportObject {
  model: string;
  pk: number;
  fields: { user: number; name: string; amount: number; description: string };
}

type Format = 'json' | 'xml';

interface Endpoint {
  label: string;
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  path: (id: number) => string;
  body?: unknown;
  writes: boolean;
  format: Format;
}

/** Every address a token opens. */
const ENDPOINTS: Endpoint[] = [
  {
    label: 'GET /api/items',
    method: 'GET',
    path: () => '/api/items',
    writes: false,
    format: 'json',
  },
  {
    label: 'POST /api/items',
    method: 'POST',
    path: () => '/api/items',
    body: { name: 'Made by token', amount: 4 },
    writes: true,
    format: 'json',
  },
  {
    label: 'GET /api/items/<id>',
    method: 'GET',
    path: (id) => `/api/items/${id}`,
    writes: false,
    format: 'json',
  },
  {
    label: 'PATCH /api/items/<id>',
    method: 'PATCH',
    path: (id) => `/api/items/${id}`,
    body: { amount: 99 },
    writes: true,
    format: 'json',
  },
  {
    label: 'DELETE /api/items/<id>',
    method: 'DELETE',
    path: (id) => `/api/items/${id}`,
    writes: true,
    format: 'json',
  },
  {
    label: 'POST /api/items/<id>/adjust',
    method: 'POST',
    path: (id) => `/api/items/${id}/adjust`,
    body: { delta: 1 },
    writes: true,
    format: 'json',
  },
  { label: 'GET /json/', method: 'GET', path: () => '/json/', writes: false, format: 'json' },
  {
    label: 'GET /json/<id>/',
    method: 'GET',
    path: (id) => `/json/${id}/`,
    writes: false,
    format: 'json',
  },
  { label: 'GET /xml/', method: 'GET', path: () => '/xml/', writes: false, format: 'xml' },
  {
    label: 'GET /xml/<id>/',
    method: 'GET',
    path: (id) => `/xml/${id}/`,
    writes: false,
    format: 'xml',
  },
];

const READS = ENDPOINTS.filter((endpoint) => !endpoint.writes);
const WRITES = ENDPOINTS.filter((endpoint) => endpoint.writes);

const MALFORMED_HEADERS = ['Bearer', 'Bearer a b', 'Basic xyz', 'bearer    '];

describe.each(BACKENDS)('API tokens over HTTP on %s', (backend) => {
  let site: TokenSite;
  let alice: SiteClient;
  let bob: SiteClient;
  let address: string;

  beforeAll(async () => {
    site = await startTokenSite(backend);
    [alice, bob] = await Promise.all([
      signUp(site.url, `tok_alice_${backend}`),
      signUp(site.url, `tok_bob_${backend}`),
    ]);
  });

  afterAll(async () => {
    await site?.close();
  });

  beforeEach(() => {
    // A client address of this test's own for the bearer requests.
    address = nextAddress();
  });

  /** A program with a token: no cookies, no Origin, nothing but the Authorization header. */
  function withToken(
    authorization: string | undefined,
    pathname: string,
    init: { method?: string; json?: unknown; headers?: Record<string, string> } = {},
  ): Promise<Response> {
    const headers: Record<string, string> = { 'X-Forwarded-For': address, ...init.headers };
    if (authorization !== undefined) headers.Authorization = authorization;
    if (init.json !== undefined) headers['Content-Type'] = 'application/json';
    return checkedFetch(`${site.url}${pathname}`, {
      method: init.method ?? 'GET',
      headers,
      body: init.json === undefined ? undefined : JSON.stringify(init.json),
      redirect: 'manual',
    });
  }

  const call = (authorization: string | undefined, endpoint: Endpoint, id: number) =>
    withToken(authorization, endpoint.path(id), { method: endpoint.method, json: endpoint.body });

  /**
   * Creates a token through the settings form, then reads it from the settings page the
   * browser is sent to (the token rides there in a short-lived cookie for /settings).
   */
  async function createToken(
    client: SiteClient,
    fields: { name: string; scope: TokenScope; expires_in_days?: string },
  ): Promise<string> {
    const posted = await client.request('/settings/', {
      method: 'POST',
      headers: FORM,
      body: new URLSearchParams({ action: 'create-token', expires_in_days: '', ...fields }),
    });
    expect(posted.status).toBe(303);
    expect(posted.headers.get('location')).toBe('/settings/#tokens');
    const setCookie = posted.headers
      .getSetCookie()
      .find((cookie) => cookie.startsWith('new_token='));
    expect(setCookie).toBeDefined();
    expect(setCookie).toMatch(/;\s*Path=\/settings(;|$)/i);
    expect(setCookie).toMatch(/;\s*HttpOnly/i);
    const carried = setCookie!.split(';', 1)[0]!;

    const shown = await client.request('/settings/', {
      headers: { Cookie: `${client.cookie}; ${carried}` },
    });
    expect(shown.status).toBe(200);
    const html = await shown.text();
    const token = /data-testid="new-token"[^>]*>\s*([^<\s]+)\s*</.exec(html)?.[1];
    expect(token).toMatch(TOKEN_SHAPE);
    // Shown once: the page deletes the cookie, and without it there is no token to see.
    const cleared = shown.headers.getSetCookie().find((cookie) => cookie.startsWith('new_token='));
    expect(cleared).toMatch(/Max-Age=0|Expires=Thu, 01 Jan 1970/i);
    const again = await (await client.request('/settings/')).text();
    expect(again).not.toContain(token!);
    expect(again).not.toContain('data-testid="new-token"');
    return token!;
  }

  /** The id of the user's token called `name`, from the list on the settings page. */
  async function tokenIdOf(client: SiteClient, name: string): Promise<number | undefined> {
    const html = await (await client.request('/settings/')).text();
    for (const row of html.split('data-token-id="').slice(1)) {
      const cells = row.slice(0, row.indexOf('</tr>'));
      const escaped = name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      if (new RegExp(`<td[^>]*>\\s*${escaped}\\s`).test(cells)) return Number(/^\d+/.exec(row)![0]);
    }
    return undefined;
  }

  async function revokeToken(client: SiteClient, name: string): Promise<void> {
    const id = await tokenIdOf(client, name);
    expect(id).toBeDefined();
    const response = await client.request('/settings/', {
      method: 'POST',
      headers: FORM,
      body: new URLSearchParams({ action: 'revoke-token', token_id: String(id) }),
    });
    expect(response.status).toBe(303);
    expect(await tokenIdOf(client, name)).toBeUndefined();
  }

  async function createItem(client: SiteClient, name: string, amount = 5): Promise<ApiItem> {
    const response = await client.request('/api/items', {
      method: 'POST',
      json: { name, amount, description: 'kept' },
    });
    expect(response.status).toBe(201);
    return (await response.json()) as ApiItem;
  }

  /** Everything the user has, as the session sees it: the JSON export. */
  async function stateOf(client: SiteClient): Promise<string> {
    const response = await client.request('/json/');
    expect(response.status).toBe(200);
    return response.text();
  }

  let tokenCounter = 0;
  const tokenName = (label: string) => `${label}-${(tokenCounter += 1)}`;

  const xmlErrorCode = (body: string) => /<code>([^<]*)<\/code>/.exec(body)?.[1] ?? null;

  function jsonErrorCode(body: string): string | null {
    try {
      return (JSON.parse(body) as { error?: { code?: string } } | null)?.error?.code ?? null;
    } catch {
      return null;
    }
  }

  interface Outcome {
    endpoint: string;
    status: number;
    challenge: string | null;
    code: string | null;
    contentType: string | null;
    setsCookies: boolean;
  }

  /** What a refused request answered, in a shape that compares as one table. */
  async function outcomeOf(endpoint: Endpoint, response: Response): Promise<Outcome> {
    const body = await response.text();
    return {
      endpoint: endpoint.label,
      status: response.status,
      challenge: response.headers.get('www-authenticate'),
      code: endpoint.format === 'xml' ? xmlErrorCode(body) : jsonErrorCode(body),
      contentType: response.headers.get('content-type'),
      setsCookies: response.headers.getSetCookie().length > 0,
    };
  }

  const contentTypeOf = (endpoint: Endpoint) =>
    endpoint.format === 'xml' ? 'application/xml' : 'application/json';

  /**
   * Sends every endpoint (or those given) with `authorization` and expects each to be refused
   * with `status` and the Bearer challenge naming `error`, in the endpoint's own format. All
   * endpoints are sent before comparing, so one failure does not hide the others.
   */
  async function expectRefusedEverywhere(
    authorization: string,
    id: number,
    status: 401 | 403,
    error: 'invalid_token' | 'invalid_request' | 'insufficient_scope',
    endpoints: Endpoint[] = ENDPOINTS,
  ): Promise<void> {
    const actual: Outcome[] = [];
    for (const endpoint of endpoints) {
      actual.push(await outcomeOf(endpoint, await call(authorization, endpoint, id)));
    }
    // Soft, so that what the test checks afterwards (nothing changed) still runs.
    expect.soft(actual, authorization).toEqual(
      endpoints.map((endpoint) => ({
        endpoint: endpoint.label,
        status,
        challenge: expect.stringMatching(new RegExp(`^Bearer\\b.*error="${error}"`)),
        code: error,
        contentType: contentTypeOf(endpoint),
        setsCookies: false,
      })),
    );
  }

  it('a read-write token lists, creates, changes, deletes and exports, with no Origin and no cookie', async () => {
    const token = await createToken(alice, { name: tokenName('rw'), scope: 'read-write' });
    const auth = `Bearer ${token}`;
    const bobsBefore = await stateOf(bob);

    const created = await withToken(auth, '/api/items', {
      method: 'POST',
      json: { name: 'Scripted', amount: 2, description: 'by a script' },
    });
    expect(created.status).toBe(201);
    const item = (await created.json()) as ApiItem;
    expect(item).toMatchObject({ name: 'Scripted', amount: 2, description: 'by a script' });
    expect(created.headers.get('location')).toBe(`/api/items/${item.id}`);

    // It is Alice's item: her session sees it.
    const viaSession = await alice.request(`/api/items/${item.id}`);
    expect(viaSession.status).toBe(200);

    const list = await withToken(auth, '/api/items');
    expect(list.status).toBe(200);
    const listed = (await list.json()) as { items: ApiItem[]; total: number };
    expect(listed.items.map((each) => each.id)).toContain(item.id);

    const one = await withToken(auth, `/api/items/${item.id}`);
    expect(one.status).toBe(200);
    expect(await one.json()).toMatchObject({ id: item.id, name: 'Scripted' });

    const patched = await withToken(auth, `/api/items/${item.id}`, {
      method: 'PATCH',
      json: { amount: 10 },
    });
    expect(patched.status).toBe(200);
    expect(await patched.json()).toMatchObject({ id: item.id, amount: 10 });

    const adjusted = await withToken(auth, `/api/items/${item.id}/adjust`, {
      method: 'POST',
      json: { delta: -3 },
    });
    expect(adjusted.status).toBe(200);
    expect(await adjusted.json()).toMatchObject({ id: item.id, amount: 7 });

    const json = await withToken(auth, '/json/');
    expect(json.status).toBe(200);
    expect(json.headers.get('content-type')).toBe('application/json');
    const exported = (await json.json()) as ExportObject[];
    const mine = exported.find((object) => object.pk === item.id);
    expect(mine).toMatchObject({
      model: 'main.item',
      fields: { name: 'Scripted', amount: 7, description: 'by a script' },
    });
    expect(new Set(exported.map((object) => object.fields.user)).size).toBe(1);

    const jsonOne = await withToken(auth, `/json/${item.id}/`);
    expect(jsonOne.status).toBe(200);
    expect(((await jsonOne.json()) as ExportObject[]).map((object) => object.pk)).toEqual([
      item.id,
    ]);

    const xml = await withToken(auth, '/xml/');
    expect(xml.status).toBe(200);
    expect(xml.headers.get('content-type')).toBe('application/xml');
    expect(await xml.text()).toContain(`pk="${item.id}"`);

    const xmlOne = await withToken(auth, `/xml/${item.id}/`);
    expect(xmlOne.status).toBe(200);
    const xmlOneBody = await xmlOne.text();
    expect(xmlOneBody).toContain(`<object model="main.item" pk="${item.id}">`);
    expect(xmlOneBody.match(/<object /g)).toHaveLength(1);

    // HEAD works like GET on the exports.
    const head = await withToken(auth, '/json/', { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await stateOf(bob)).toBe(bobsBefore);

    // A script's DELETE has no body, so no Content-Type, and no Origin.
    const deleted = await withToken(auth, `/api/items/${item.id}`, { method: 'DELETE' });
    expect(deleted.status, await deleted.clone().text()).toBe(204);
    expect((await withToken(auth, `/api/items/${item.id}`)).status).toBe(404);
    expect((await alice.request(`/api/items/${item.id}`)).status).toBe(404);
  });

  it('a read token reads every endpoint and changes nothing (403 insufficient_scope)', async () => {
    const item = await createItem(alice, 'Read me', 6);
    const token = await createToken(alice, { name: tokenName('read'), scope: 'read' });
    const auth = `Bearer ${token}`;

    for (const endpoint of READS) {
      const response = await call(auth, endpoint, item.id);
      expect(response.status, endpoint.label).toBe(200);
      const body = await response.text();
      if (endpoint.format === 'xml') expect(body, endpoint.label).toContain(`pk="${item.id}"`);
      else expect(body, endpoint.label).toContain('"Read me"');
    }

    const before = await stateOf(alice);
    await expectRefusedEverywhere(auth, item.id, 403, 'insufficient_scope', WRITES);
    // Sent with the site's own Origin, as a browser's fetch would: still read-only.
    const withOrigin = await withToken(auth, '/api/items', {
      method: 'POST',
      json: { name: 'Nope', amount: 1 },
      headers: { Origin: site.url },
    });
    expect(withOrigin.status).toBe(403);
    expect(await stateOf(alice)).toBe(before);
    expect((await alice.request(`/api/items/${item.id}`)).status).toBe(200);
  });

  it('a revoked token gets 401 invalid_token everywhere, and changes nothing', async () => {
    const item = await createItem(alice, 'Revoked target');
    const name = tokenName('revoked');
    const token = await createToken(alice, { name, scope: 'read-write' });
    const kept = await createToken(alice, { name: tokenName('kept'), scope: 'read' });
    expect((await withToken(`Bearer ${token}`, '/api/items')).status).toBe(200);

    await revokeToken(alice, name);
    const before = await stateOf(alice);
    await expectRefusedEverywhere(`Bearer ${token}`, item.id, 401, 'invalid_token');
    expect(await stateOf(alice)).toBe(before);
    // Revoking one token leaves the others working.
    expect((await withToken(`Bearer ${kept}`, '/api/items')).status).toBe(200);
  });

  it('one user cannot revoke another user’s token', async () => {
    const name = tokenName('bobs');
    const token = await createToken(bob, { name, scope: 'read' });
    const id = await tokenIdOf(bob, name);
    const response = await alice.request('/settings/', {
      method: 'POST',
      headers: FORM,
      body: new URLSearchParams({ action: 'revoke-token', token_id: String(id) }),
    });
    expect(response.status).toBe(303);
    expect(await tokenIdOf(bob, name)).toBe(id);
    expect((await withToken(`Bearer ${token}`, '/api/items')).status).toBe(200);
  });

  it('an expired token gets 401 invalid_token everywhere', async () => {
    await expectRefusedEverywhere(`Bearer ${site.seeded.expiredToken}`, 1, 401, 'invalid_token');
  });

  it('a token of an inactive user gets 401 invalid_token', async () => {
    await expectRefusedEverywhere(`Bearer ${site.seeded.inactiveToken}`, 1, 401, 'invalid_token');
  });

  it('a well-formed unknown token, or one not of the site’s shape, gets 401 invalid_token', async () => {
    const item = await createItem(alice, 'Unknown target');
    const before = await stateOf(alice);
    for (const token of [unknownToken(), 'not-a-token', `pi_${'A'.repeat(42)}`]) {
      await expectRefusedEverywhere(`Bearer ${token}`, item.id, 401, 'invalid_token');
    }
    expect(await stateOf(alice)).toBe(before);
  });

  it('a malformed Authorization header gets 401 invalid_request everywhere', async () => {
    const item = await createItem(alice, 'Malformed target');
    const before = await stateOf(alice);
    for (const header of MALFORMED_HEADERS) {
      await expectRefusedEverywhere(header, item.id, 401, 'invalid_request');
    }
    expect(await stateOf(alice)).toBe(before);
  });

  it('a malformed header beside a valid session cookie is still refused', async () => {
    const response = await alice.request('/api/items', {
      headers: { Authorization: 'Basic xyz' },
    });
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toMatch(/error="invalid_request"/);
  });

  it('without an Authorization header a program gets the endpoint’s plain 401', async () => {
    const response = await withToken(undefined, '/api/items');
    expect(response.status).toBe(401);
    const json = await withToken(undefined, '/json/');
    expect(json.status).toBe(401);
  });

  it('a token of one user never reaches another user’s items', async () => {
    const bobsItem = await createItem(bob, 'Bob private', 8);
    const bobsBefore = await stateOf(bob);
    const token = await createToken(alice, { name: tokenName('alice-rw'), scope: 'read-write' });
    const auth = `Bearer ${token}`;

    // Every address that names an item: the API says 404, the exports the empty list.
    const actual: { endpoint: string; status: number; body: string }[] = [];
    const expected: typeof actual = [];
    for (const endpoint of ENDPOINTS.filter((each) => each.path(0) !== each.path(1))) {
      const response = await call(auth, endpoint, bobsItem.id);
      const text = await response.text();
      const isApi = endpoint.path(1).startsWith('/api/');
      actual.push({
        endpoint: endpoint.label,
        status: response.status,
        body: isApi ? JSON.stringify(jsonErrorCode(text)) : text,
      });
      expected.push({
        endpoint: endpoint.label,
        status: isApi ? 404 : 200,
        body: isApi
          ? '"not_found"'
          : endpoint.format === 'json'
            ? '[]'
            : expect.stringMatching(/<django-objects version="1.0">\s*<\/django-objects>\s*$/),
      });
    }
    expect.soft(actual).toEqual(expected);

    const list = (await (await withToken(auth, '/api/items?limit=100')).json()) as {
      items: ApiItem[];
    };
    expect(list.items.map((item) => item.id)).not.toContain(bobsItem.id);
    const json = (await (await withToken(auth, '/json/')).json()) as ExportObject[];
    expect(json.map((object) => object.pk)).not.toContain(bobsItem.id);
    expect(json.map((object) => object.fields.name)).not.toContain('Bob private');
    expect(await (await withToken(auth, '/xml/')).text()).not.toContain('Bob private');

    expect(await stateOf(bob)).toBe(bobsBefore);
  });

  it('a cookie request from another origin is refused even with a valid bearer token', async () => {
    const item = await createItem(alice, 'Cross-site target', 2);
    const token = await createToken(alice, { name: tokenName('cross'), scope: 'read-write' });
    const before = await stateOf(alice);
    const evil = 'https://evil.example';
    for (const endpoint of WRITES) {
      const response = await alice.request(endpoint.path(item.id), {
        method: endpoint.method,
        json: endpoint.body,
        origin: evil,
        headers: { Authorization: `Bearer ${token}` },
      });
      expect(response.status, endpoint.label).toBe(403);
    }
    // Without Origin, a browser's Sec-Fetch-Site: cross-site is refused as well.
    const fetchSite = await alice.request('/api/items', {
      method: 'POST',
      json: { name: 'Nope', amount: 1 },
      origin: null,
      headers: { Authorization: `Bearer ${token}`, 'Sec-Fetch-Site': 'cross-site' },
    });
    expect(fetchSite.status).toBe(403);
    expect(await stateOf(alice)).toBe(before);

    // The same token with no cookie is a program: no same-origin check.
    const program = await withToken(`Bearer ${token}`, '/api/items', {
      method: 'POST',
      json: { name: 'Program', amount: 1 },
      headers: { Origin: evil },
    });
    expect(program.status).toBe(201);
  });

  it('a token opens the data endpoints only, not the pages', async () => {
    const token = await createToken(alice, { name: tokenName('pages'), scope: 'read-write' });
    const name = tokenName('planted');
    for (const pathname of ['/', '/settings/']) {
      const response = await withToken(`Bearer ${token}`, pathname);
      expect(response.status, pathname).toBe(302);
      expect(response.headers.get('location'), pathname).toMatch(/^\/login\/\?next=/);
    }
    // Posting the settings form with a token (from the site's own origin, even) does nothing.
    const settingsPost = await fetch(`${site.url}/settings/`, {
      method: 'POST',
      redirect: 'manual',
      headers: {
        ...FORM,
        Authorization: `Bearer ${token}`,
        Origin: site.url,
        'X-Forwarded-For': address,
      },
      body: new URLSearchParams({ action: 'create-token', name, scope: 'read-write' }),
    });
    expect(settingsPost.status).toBe(302);
    expect(settingsPost.headers.get('location')).toMatch(/^\/login\/\?next=/);
    expect(settingsPost.headers.getSetCookie().join('\n')).not.toContain('new_token=');
    expect(await tokenIdOf(alice, name)).toBeUndefined();
  });

  it('limits each token to 600 requests a minute: the 601st gets 429 with Retry-After', async () => {
    const token = await createToken(alice, { name: tokenName('busy'), scope: 'read' });
    const other = await createToken(alice, { name: tokenName('calm'), scope: 'read' });
    const statuses: number[] = [];
    let last: Response | undefined;
    for (let i = 0; i < API_REQUESTS_PER_MINUTE + 1; i += 1) {
      last = await withToken(`Bearer ${token}`, '/api/items?limit=1');
      statuses.push(last.status);
      if (i < API_REQUESTS_PER_MINUTE) await last.arrayBuffer();
    }
    expect(statuses.slice(0, API_REQUESTS_PER_MINUTE).every((status) => status === 200)).toBe(true);
    expect(last!.status).toBe(429);
    const retryAfter = last!.headers.get('retry-after');
    expect(retryAfter).toMatch(/^\d+$/);
    expect(Number(retryAfter)).toBeGreaterThan(0);
    expect(Number(retryAfter)).toBeLessThanOrEqual(60);
    expect(await last!.json()).toMatchObject({ error: { code: 'too_many_requests' } });

    // Still limited on the next request; the XML endpoint answers in XML.
    const xml = await withToken(`Bearer ${token}`, '/xml/');
    expect(xml.status).toBe(429);
    expect(xml.headers.get('content-type')).toBe('application/xml');
    // The budget is the token's: another token of the same user, and the session, go on.
    expect((await withToken(`Bearer ${other}`, '/api/items')).status).toBe(200);
    expect((await alice.request('/api/items')).status).toBe(200);
  });

  describe.runIf(backend === 'postgres')('with the test’s own connection to the database', () => {
    let db: Kysely<Database>;
    beforeAll(() => {
      db = site.db!;
    });

    it('a token that expires while in use gets 401 from then on', async () => {
      const name = tokenName('expiring');
      const token = await createToken(alice, { name, scope: 'read-write', expires_in_days: '7' });
      const row = await db
        .selectFrom('api_tokens')
        .select(['id', 'expires_at'])
        .where('token_hash', '=', sha256(token))
        .executeTakeFirstOrThrow();
      const expected = Date.now() + 7 * 86_400_000;
      expect(Math.abs(row.expires_at!.getTime() - expected)).toBeLessThan(MINUTE);
      expect((await withToken(`Bearer ${token}`, '/api/items')).status).toBe(200);

      await sql`update api_tokens set expires_at = now() - interval '1 minute'
        where id = ${row.id}`.execute(db);
      await expectRefusedEverywhere(`Bearer ${token}`, 1, 401, 'invalid_token');
    });

    it('the server records the last use once a minute, and keeps only the hash', async () => {
      const token = await createToken(alice, { name: tokenName('used'), scope: 'read' });
      const select = () =>
        db
          .selectFrom('api_tokens')
          .select(['id', 'last_used_at'])
          .where('token_hash', '=', sha256(token))
          .executeTakeFirstOrThrow();
      expect((await select()).last_used_at).toBeNull();
      await withToken(`Bearer ${token}`, '/json/');
      const first = (await select()).last_used_at;
      expect(first).toBeInstanceOf(Date);
      await withToken(`Bearer ${token}`, '/json/');
      expect((await select()).last_used_at).toEqual(first);

      const dump = await dumpDatabase(db);
      expect(dump).not.toContain(token);
      expect(dump).not.toContain(token.slice(8));
    });
  });
});

describe('API tokens in the OpenAPI document', () => {
  let server: RunningServer;
  let dataDir: string;

  beforeAll(async () => {
    dataDir = mkdtempSync(path.join(tmpdir(), 'pacil-tokens-openapi-'));
    server = await startServer({ DATA_DIR: dataDir, LOG_LEVEL: 'warn' });
  });

  afterAll(async () => {
    await server?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('declares the bearer scheme, and that changes need the read-write scope', async () => {
    const response = await checkedFetch(`${server.url}/api/openapi.json`);
    expect(response.status).toBe(200);
    type Security = Record<string, string[]>[];
    const document = (await response.json()) as {
      security?: Security;
      paths: Record<string, Record<string, { security?: Security }>>;
      components?: { securitySchemes?: Record<string, { type?: string; scheme?: string }> };
    };
    const schemes = document.components?.securitySchemes ?? {};
    const bearer = Object.keys(schemes).find(
      (name) => schemes[name]?.type === 'http' && schemes[name]?.scheme === 'bearer',
    );
    expect(bearer, 'an http bearer security scheme').toBeDefined();

    /** The scopes an operation asks of the bearer scheme (its own, or the document's). */
    const bearerScopes = (operation: { security?: Security }) =>
      (operation.security ?? document.security ?? []).flatMap((requirement) =>
        bearer! in requirement ? [requirement[bearer!] ?? []] : [],
      );
    const operations: [string, string, string[][]][] = [];
    for (const [route, methods] of Object.entries(document.paths)) {
      if (!route.startsWith('/api/items') && !route.startsWith('/api/inventories')) continue;
      for (const [method, operation] of Object.entries(methods)) {
        if (['get', 'post', 'put', 'patch', 'delete'].includes(method)) {
          operations.push([method, route, bearerScopes(operation)]);
        }
      }
    }
    expect(
      operations.map(([method, route, scopes]) => `${method} ${route}: ${JSON.stringify(scopes)}`),
    ).toEqual(
      expect.arrayContaining([
        'get /api/items: [["read"]]',
        'post /api/items: [["read-write"]]',
        'get /api/items/{id}: [["read"]]',
        'patch /api/items/{id}: [["read-write"]]',
        'delete /api/items/{id}: [["read-write"]]',
        'post /api/items/{id}/adjust: [["read-write"]]',
        'get /api/inventories: [["read"]]',
        'post /api/inventories: [["read-write"]]',
        'get /api/inventories/{id}: [["read"]]',
        'patch /api/inventories/{id}: [["read-write"]]',
        'delete /api/inventories/{id}: [["read-write"]]',
        'get /api/inventories/{id}/members: [["read"]]',
        'put /api/inventories/{id}/members/{username}: [["read-write"]]',
        'delete /api/inventories/{id}/members/{username}: [["read-write"]]',
      ]),
    );
  });
});
