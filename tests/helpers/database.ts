import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import pg from 'pg';
import {
  openDatabase,
  type Backend,
  type DatabaseHandle,
} from '../../src/lib/server/db/connect.ts';
import { migrateToLatest } from '../../src/lib/server/db/migrate.ts';
import type { Database } from '../../src/lib/server/db/types.ts';

/**
 * Integration tests run against the embedded database always, and against PostgreSQL too
 * when TEST_DATABASE_URL is set. Each test database is created for the run and dropped
 * after it; no test touches a database it did not create.
 */
export const BACKENDS: Backend[] = process.env.TEST_DATABASE_URL
  ? ['pglite', 'postgres']
  : ['pglite'];

export interface TestDatabase extends DatabaseHandle {
  /** The URL of the created PostgreSQL database; undefined for the embedded one. */
  url: string | undefined;
  /** Closes the handle and drops the database. */
  drop(): Promise<void>;
}

function adminUrl(): string {
  const url = process.env.TEST_DATABASE_URL;
  if (!url) throw new Error('TEST_DATABASE_URL is not set');
  return url;
}

export function urlForDatabase(name: string): string {
  const url = new URL(adminUrl());
  url.pathname = `/${name}`;
  return url.toString();
}

/** Creates an empty PostgreSQL database owned by this run and returns its name. */
export async function createPostgresDatabase(): Promise<string> {
  const name = `pacil_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl() });
  await admin.connect();
  try {
    await admin.query(`create database ${name}`);
  } finally {
    await admin.end();
  }
  return name;
}

export async function dropPostgresDatabase(name: string): Promise<void> {
  if (!/^pacil_test_[0-9a-f]{12}$/.test(name)) throw new Error(`refusing to drop ${name}`);
  const admin = new pg.Client({ connectionString: adminUrl() });
  await admin.connect();
  try {
    await admin.query(`drop database if exists ${name} with (force)`);
  } finally {
    await admin.end();
  }
}

/** A fresh, empty database of the given backend; `migrated` applies every migration. */
export async function createTestDatabase(
  backend: Backend,
  { migrated = true, poolSize = 5 }: { migrated?: boolean; poolSize?: number } = {},
): Promise<TestDatabase> {
  let handle: DatabaseHandle;
  let url: string | undefined;
  let name: string | undefined;
  if (backend === 'postgres') {
    name = await createPostgresDatabase();
    url = urlForDatabase(name);
    handle = openDatabase({ databaseUrl: url, poolSize });
  } else {
    handle = openDatabase({ dataDir: 'memory://' });
  }
  if (migrated) await migrateToLatest(handle.db);
  return {
    ...handle,
    url,
    async drop() {
      await handle.close();
      if (name) await dropPostgresDatabase(name);
    },
  };
}

/** The personal inventory ("My items") registration gave a user: where seeded items go. */
export async function personalInventoryOf(db: Kysely<Database>, userId: number): Promise<number> {
  const { id } = await db
    .selectFrom('inventories')
    .select('id')
    .where('personal_of', '=', userId)
    .executeTakeFirstOrThrow();
  return id;
}
