import { PGlite } from '@electric-sql/pglite';
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { createPGlitePool } from './pglite-pool.ts';
import { namingStatements } from './prepared-statements.ts';
import { copyEmbeddedTemplate } from './template.ts';
import type { Database } from './types.ts';

export type Backend = 'postgres' | 'pglite';

export interface DatabaseOptions {
  /** A postgres:// URL; without one the embedded PGlite database under `dataDir` is used. */
  databaseUrl?: string | undefined;
  poolSize?: number;
  /** PGlite's data directory, or `memory://` for a throwaway database. */
  dataDir?: string;
  /** Called when an idle pooled connection fails, for example when the server goes away. */
  onIdleError?: (error: Error) => void;
}

export interface DatabaseHandle {
  db: Kysely<Database>;
  backend: Backend;
  /** Closes the pool, or the embedded database after its pending work. */
  close(): Promise<void>;
}

/**
 * How long a caller waits for a PostgreSQL connection before the request fails with 503,
 * so that an outage is reported within seconds instead of hanging requests.
 */
const CONNECT_TIMEOUT_MS = 3_000;

/**
 * PGlite runs no autovacuum, so nothing else gathers the planner's statistics or clears dead
 * rows. Without statistics the planner took a user's 50,000 items for about a hundred and
 * sorted all of them for every export batch, and the embedded database's memory grew by the
 * table's size. So the embedded database is analyzed when it opens, and vacuumed and analyzed
 * hourly; a PostgreSQL server's autovacuum does this by itself.
 */
const MAINTENANCE_INTERVAL_MS = 60 * 60 * 1000;

/**
 * The embedded database's memory settings, in place of initdb's, which size PostgreSQL for a
 * server of its own: 128 MB of shared buffers and 64 MB for vacuum. In WebAssembly memory a
 * page once touched stays resident for good, so these are megabytes of the process's RSS
 * (bench/RESULTS.md, "Issue 20", "The embedded database", has what each costs and saves).
 */
const EMBEDDED_SETTINGS = {
  shared_buffers: '16MB',
  maintenance_work_mem: '8MB',
};

export function openDatabase(options: DatabaseOptions): DatabaseHandle {
  if (options.databaseUrl) {
    const { databaseUrl, poolSize = 10, onIdleError } = options;
    const dialect = new PostgresDialect({
      pool: async () => {
        const pool = new pg.Pool({
          connectionString: databaseUrl,
          max: poolSize,
          connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
          idleTimeoutMillis: 30_000,
          keepAlive: true,
        });
        // An idle client that loses its server emits 'error' on the pool; without a
        // listener that would crash the process. The pool drops the client by itself and
        // opens a new one when the server is back.
        pool.on('error', (error) => onIdleError?.(error));
        // A connection lost while a client is checked out (a query in flight) is reported
        // by pg twice: to the query, which fails and is answered 503, and as an 'error'
        // event on the client, which pg-pool listens for only while the client is idle.
        // Unheard, that event would crash the process.
        pool.on('connect', (client) => client.on('error', () => undefined));
        return namingStatements(pool);
      },
    });
    const db = new Kysely<Database>({ dialect });
    return { db, backend: 'postgres', close: () => db.destroy() };
  }

  const dataDir = options.dataDir ?? './data';
  let maintenance: NodeJS.Timeout | undefined;
  const dialect = new PostgresDialect({
    pool: async () => {
      copyEmbeddedTemplate(dataDir);
      const pglite = await PGlite.create(dataDir, {
        startParams: [
          ...PGlite.defaultStartParams,
          ...Object.entries(EMBEDDED_SETTINGS).flatMap(([name, value]) => [
            '-c',
            `${name}=${value}`,
          ]),
        ],
      });
      // Nobody else holds the database yet; later rounds queue for the one connection like
      // any query, so they never land inside someone's transaction.
      await pglite.exec('analyze');
      // The database opens at the end of a start, which leaves V8's young generation at its
      // largest and some 20 MB of pages that V8 would give back by itself only after ~100 s
      // idle (its memory reducer's watchdog). Collected now, a restarted server idles at ~171
      // MB instead of ~196. `gc` is there with node's --expose-gc, which `npm start` passes.
      void globalThis.gc?.({ type: 'major', execution: 'async', flavor: 'last-resort' });
      maintenance = setInterval(() => {
        // A round that fails (the database is busy closing, say) is simply retried next hour.
        sql`vacuum analyze`.execute(db).catch(() => undefined);
      }, MAINTENANCE_INTERVAL_MS);
      maintenance.unref();
      return createPGlitePool(pglite);
    },
  });
  const db = new Kysely<Database>({ dialect });
  return {
    db,
    backend: 'pglite',
    close: async () => {
      clearInterval(maintenance);
      await db.destroy();
    },
  };
}

const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  // PostgreSQL: admin_shutdown, crash_shutdown, cannot_connect_now, too_many_connections.
  '57P01',
  '57P02',
  '57P03',
  '53300',
]);

const UNAVAILABLE_MESSAGES =
  /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Connection ended unexpectedly|database is unavailable/i;

/**
 * True when an error means the database cannot be reached, as opposed to a query that the
 * database refused. Such errors become 503 responses and clear up when the database is back.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  for (let current: unknown = error; current instanceof Error; current = current.cause) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && (UNAVAILABLE_CODES.has(code) || code.startsWith('08'))) {
      return true;
    }
    if (UNAVAILABLE_MESSAGES.test(current.message)) return true;
    if (current instanceof AggregateError && current.errors.some(isDatabaseUnavailable)) {
      return true;
    }
  }
  return false;
}

class DatabaseTimeoutError extends Error {
  override name = 'DatabaseTimeoutError';
  constructor() {
    super('The database is unavailable: it did not answer in time.');
  }
}

/** Resolves when the database answers a trivial query within `timeoutMs`, rejects otherwise. */
export async function pingDatabase(db: Kysely<Database>, timeoutMs = 2_000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DatabaseTimeoutError()), timeoutMs);
  });
  try {
    await Promise.race([sql`select 1`.execute(db), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
