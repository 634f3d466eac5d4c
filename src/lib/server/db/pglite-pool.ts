import type { PGlite } from '@electric-sql/pglite';
import type { PostgresPool, PostgresPoolClient, PostgresQueryResult } from 'kysely';

/**
 * Presents an embedded PGlite database as the `pg`-style pool that Kysely's own
 * PostgresDriver expects, so the embedded backend runs through the same, well-tested
 * driver code as PostgreSQL. (kysely-pglite-dialect supports PGlite only up to 0.4.)
 *
 * PGlite is one session in one process, so the pool has exactly one client: `connect`
 * waits until the previous holder has released it. That keeps a transaction's statements
 * together, the way a pooled connection would.
 */
export function createPGlitePool(pglite: PGlite): PostgresPool {
  let tail: Promise<void> = Promise.resolve();
  let ended = false;

  const client = {
    async query<R>(sql: string, parameters: ReadonlyArray<unknown>) {
      // Text goes in as `pg` sends it: a lone surrogate becomes U+FFFD. PGlite's own encoder
      // miscounts the bytes of some strings with one and sends PostgreSQL broken UTF-8.
      const values = parameters.map((value) =>
        typeof value === 'string' ? value.toWellFormed() : value,
      );
      const result = await pglite.query<R>(sql, values);
      return {
        command: (result.command ?? 'SELECT') as PostgresQueryResult<R>['command'],
        rowCount: result.rowCount ?? result.affectedRows ?? result.rows.length,
        rows: result.rows,
      };
    },
  };

  return {
    options: {},
    async connect(): Promise<PostgresPoolClient> {
      if (ended) throw new Error('The embedded database has been closed.');
      let release!: () => void;
      const previous = tail;
      tail = new Promise<void>((resolve) => (release = resolve));
      await previous;
      let released = false;
      return {
        // Kysely's PostgresPoolClient has an overload for cursors; PGlite has no cursors
        // and exports read in keyset batches instead, so only the (sql, params) form exists.
        query: client.query as PostgresPoolClient['query'],
        release() {
          if (released) return;
          released = true;
          release();
        },
      };
    },
    async end() {
      if (ended) return;
      ended = true;
      await tail;
      await pglite.close();
    },
  };
}
