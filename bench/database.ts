/**
 * The benchmark's own PostgreSQL database: created on the server named by BENCH_DATABASE_URL
 * (an admin URL; default postgres://postgres@127.0.0.1:5432/postgres), migrated, seeded
 * directly (no sign-in forms, which are throttled), and always dropped at the end.
 */
import { randomBytes } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import pg from 'pg';
import { hashPassword } from '../src/lib/server/auth/passwords.ts';
import { generateSessionToken, sessionIdFromToken } from '../src/lib/server/auth/sessions.ts';
import { openDatabase, type DatabaseHandle } from '../src/lib/server/db/connect.ts';
import { migrateToLatest } from '../src/lib/server/db/migrate.ts';
import type { Database } from '../src/lib/server/db/types.ts';
import { createPersonalInventory } from '../src/lib/server/inventories/inventories.ts';

const ADMIN_URL = process.env.BENCH_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres';

const NAME_PATTERN = /^pacil_bench_[0-9a-f]{12}$/;
const SESSION_DAYS = 30;

async function asAdmin<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: ADMIN_URL });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

export interface BenchDatabase {
  name: string;
  url: string;
  /** A migrated handle for seeding (a small pool of its own). */
  handle: DatabaseHandle;
  /** `select version()` of the server. */
  version: string;
  /** Closes the handle and drops the database; safe to call twice. */
  drop(): Promise<void>;
}

/** Creates `pacil_bench_<random>` and migrates it. */
export async function createBenchDatabase(): Promise<BenchDatabase> {
  const name = `pacil_bench_${randomBytes(6).toString('hex')}`;
  const version = await asAdmin(async (client) => {
    await client.query(`create database ${name}`);
    const result = await client.query<{ version: string }>('select version()');
    return result.rows[0]!.version;
  });
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  const handle = openDatabase({ databaseUrl: url.toString(), poolSize: 2 });
  let dropped: Promise<void> | undefined;
  const drop = () =>
    (dropped ??= (async () => {
      await handle.close().catch(() => undefined);
      if (!NAME_PATTERN.test(name)) throw new Error(`refusing to drop ${name}`);
      await asAdmin((client) => client.query(`drop database if exists ${name} with (force)`));
    })());
  try {
    await migrateToLatest(handle.db);
  } catch (error) {
    await drop();
    throw error;
  }
  return { name, url: url.toString(), handle, version, drop };
}

export interface BenchUser {
  id: number;
  username: string;
  /** The cookie's token; the database holds only its SHA-256. */
  token: string;
  /** `sessionid=<token>`, ready for a Cookie header. */
  cookie: string;
  /** One such cookie per session the user has; the first is `cookie`. */
  cookies: string[];
}

/**
 * A user with an Argon2id password hash and `sessions` fresh 30-day sessions (one by
 * default). A user whose requests go to the API needs many: the API takes 600 requests a
 * minute per session and process, far fewer than a load run makes.
 */
export async function createUser(
  db: Kysely<Database>,
  username: string,
  sessions = 1,
): Promise<BenchUser> {
  const passwordHash = await hashPassword(`${username}-${randomBytes(8).toString('hex')}`);
  const id = await db.transaction().execute(async (trx) => {
    const user = await trx
      .insertInto('users')
      .values({
        username,
        username_key: username.normalize('NFKC').toLowerCase(),
        password_hash: passwordHash,
        is_active: true,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    await createPersonalInventory(trx, user.id);
    return user.id;
  });
  const tokens = Array.from({ length: sessions }, () => generateSessionToken());
  // A full 30 days left, so Lucia never extends them (no Set-Cookie, no UPDATE) during a run.
  const expiresAt = new Date(Date.now() + SESSION_DAYS * 24 * 3600 * 1000);
  await db
    .insertInto('sessions')
    .values(
      tokens.map((token) => ({
        id: sessionIdFromToken(token),
        user_id: id,
        expires_at: expiresAt,
      })),
    )
    .execute();
  const cookies = tokens.map((token) => `sessionid=${token}`);
  return { id, username, token: tokens[0]!, cookie: cookies[0]!, cookies };
}

// Deterministic, varied content: quotes, backslashes, markup, tabs, newlines, U+2028,
// accents, CJK and emoji, so both serializers have escaping and multi-byte work to do.
const NAMES = [
  'Kopi "Luwak" 250 g',
  'Café crème <Édition spéciale>',
  '漢字ノート A5',
  'Ayam & Bebek — frozen',
  'Tab\tseparated label',
  'Back\\slash hook',
  'Emoji box 📦',
  "O'Reilly handbook",
  'Line\u2028separator',
  'Straße-Karte',
  'Ñandú plush',
  'Σ-sensor (Ω 10k)',
];
const DESCRIPTION_PARTS = [
  'Stored on shelf B-3.',
  'Fragile: handle with care & keep dry.',
  'Bought at "Toko Makmur" <Depok>.',
  'Größe: 42 — Farbe: grün.',
  '在庫あり。',
  'Path: C:\\inventory\\spare',
  'Line one\nline two\n\tindented',
  '🍜 mie ayam ×2',
];

export interface SeedItem {
  name: string;
  amount: number;
  description: string;
}

/** The `n`-th item of the deterministic sequence (also the bodies of POST /api/items). */
export function itemFor(n: number): SeedItem {
  const parts: string[] = [];
  for (let i = 0; i < (n % 5) + 1; i += 1) {
    parts.push(DESCRIPTION_PARTS[(n * 3 + i) % DESCRIPTION_PARTS.length]!);
  }
  return {
    name: `${NAMES[n % NAMES.length]} #${n}`,
    amount: (n * 7919) % 100_000,
    description: n % 11 === 0 ? '' : parts.join(' '),
  };
}

/** `count` items from the sequence, inserted in batches. */
export async function seedItems(
  db: Kysely<Database>,
  userId: number,
  count: number,
): Promise<void> {
  const BATCH = 1000;
  const inventoryId = await personalInventoryId(db, userId);
  for (let start = 0; start < count; start += BATCH) {
    const rows = [];
    for (let n = start; n < Math.min(count, start + BATCH); n += 1) {
      rows.push({ inventory_id: inventoryId, created_by: userId, ...itemFor(n) });
    }
    await db.insertInto('items').values(rows).execute();
  }
}

async function personalInventoryId(db: Kysely<Database>, userId: number): Promise<number> {
  const { id } = await db
    .selectFrom('inventories')
    .select('id')
    .where('personal_of', '=', userId)
    .executeTakeFirstOrThrow();
  return id;
}

/** `count` items in one INSERT … SELECT over generate_series: fast for 100,000 and more. */
export async function seedManyItems(
  db: Kysely<Database>,
  userId: number,
  count: number,
): Promise<void> {
  const marked = ` "quoted" 'single' é 漢字 <b>&amp;</b> \\ 📦\n`;
  const inventoryId = await personalInventoryId(db, userId);
  await sql`
    insert into items (inventory_id, created_by, name, amount, description)
    select ${inventoryId}, ${userId}, 'Item ' || g || ' <b>& "Café"', (g * 7919) % 2147483647,
           'Bench item ' || g || ${marked}::text || repeat('lorem ipsum ', g % 20)
    from generate_series(1, ${count}::int) as g
  `.execute(db);
  await sql`analyze stored_items`.execute(db);
}

/**
 * A history of `count` changes in the user's personal inventory, each an amount step of one
 * of their items, written straight into the log (as a long-lived inventory accumulates it):
 * what the Activity page pages through. Returns the inventory's id.
 */
export async function seedHistory(
  db: Kysely<Database>,
  userId: number,
  count: number,
): Promise<number> {
  const inventoryId = await personalInventoryId(db, userId);
  await sql`
    with items_of as (
      select array_agg(id order by id) as ids from items where inventory_id = ${inventoryId}
    ), made as (
      insert into changes (inventory_id, actor_id, via, action, at)
      select ${inventoryId}, ${userId}, 'page', 'adjust', now() - make_interval(secs => ${count}::int - g)
      from generate_series(1, ${count}::int) as g
      returning id
    )
    insert into item_changes (change_id, item_id, field, before, after)
    select made.id, items_of.ids[1 + made.id % cardinality(items_of.ids)], 'amount',
      to_jsonb(made.id % 100), to_jsonb(made.id % 100 + 1)
    from made, items_of
  `.execute(db);
  await sql`analyze changes, item_changes`.execute(db);
  return inventoryId;
}
