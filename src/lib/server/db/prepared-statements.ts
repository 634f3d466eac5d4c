import type { PostgresCursor, PostgresPool, PostgresPoolClient, PostgresQueryResult } from 'kysely';
import type pg from 'pg';

/**
 * PostgreSQL parses and plans an unnamed statement every time it arrives, and for the site's
 * queries, which each touch a few rows through an index, that is most of their cost: the
 * main page's five spent ~1.4 ms planning and ~0.26 ms running (bench/RESULTS.md, "Issue 20",
 * round 3). A named statement is parsed once per connection, and after five runs PostgreSQL
 * keeps a generic plan when it costs no more than the plans made for the values, so such a
 * statement's round trip takes half the time, and half the database's CPU.
 *
 * Statements are named by their text, from a text's second use: a one-off (an import batch
 * of an odd size) stays unnamed. Every connection holds each prepared statement until it
 * closes, so at most MAX_PREPARED_STATEMENTS texts are named; later ones run unnamed.
 */
export const MAX_PREPARED_STATEMENTS = 100;

/** Texts seen once, forgotten wholesale past this many, so the set stays small. */
const MAX_SEEN_ONCE = 1_000;

interface StatementNames {
  named: Map<string, string>;
  seenOnce: Set<string>;
}

function nameFor(names: StatementNames, text: string): string | undefined {
  const name = names.named.get(text);
  if (name !== undefined || names.named.size >= MAX_PREPARED_STATEMENTS) return name;
  if (!names.seenOnce.has(text)) {
    if (names.seenOnce.size >= MAX_SEEN_ONCE) names.seenOnce.clear();
    names.seenOnce.add(text);
    return undefined;
  }
  names.seenOnce.delete(text);
  const newName = `s${names.named.size + 1}`;
  names.named.set(text, newName);
  return newName;
}

/**
 * Errors after which a connection's prepared statements cannot be trusted: a cached plan
 * whose result type changed under it (a table altered by a migration, run by this process or
 * a newer version's), or a statement the server no longer has (a pooler in front of it that
 * reset the session). The statement did not run: outside a transaction it runs again at
 * once, unnamed; in one, the transaction has failed with it. Either way the connection is
 * closed when it is given back, and its successor prepares the statements anew.
 */
const STALE_STATEMENT = new Set(['0A000', '26000']);
const TRANSACTION_START = /^(?:begin|start transaction)\b/i;
const TRANSACTION_END = /^(?:commit|rollback)$/i;

/**
 * `pool` as Kysely's PostgresDialect takes it, with each statement that comes back named
 * (a prepared statement), the rest as they were. Names belong to this pool, whose
 * connections are the only ones that see them.
 */
export function namingStatements(pool: pg.Pool): PostgresPool {
  const names: StatementNames = { named: new Map(), seenOnce: new Set() };
  // Kysely keeps one connection object per client it is given, so each client gets one
  // wrapper for its whole life.
  const wrappers = new WeakMap<pg.PoolClient, PostgresPoolClient>();
  const wrap = (client: pg.PoolClient): PostgresPoolClient => {
    let stale = false;
    let inTransaction = false;
    // Kysely calls both: a statement with its values, and a cursor (which stays unnamed).
    function query<R>(text: string, values: readonly unknown[]): Promise<PostgresQueryResult<R>>;
    function query<R>(cursor: PostgresCursor<R>): PostgresCursor<R>;
    function query(
      textOrCursor: string | PostgresCursor<unknown>,
      values?: readonly unknown[],
    ): unknown {
      if (typeof textOrCursor !== 'string') return client.query(textOrCursor as never);
      const text = textOrCursor;
      const parameters = values as unknown[];
      // Kysely's own statements open and close its transactions.
      if (TRANSACTION_START.test(text)) inTransaction = true;
      else if (TRANSACTION_END.test(text)) inTransaction = false;
      const name = nameFor(names, text);
      if (!name) return client.query(text, parameters);
      return client.query({ name, text, values: parameters }).catch((error: unknown) => {
        if (!STALE_STATEMENT.has((error as { code?: string }).code ?? '')) throw error;
        stale = true;
        if (inTransaction) throw error;
        return client.query(text, parameters);
      });
    }
    return {
      query,
      // pg-pool gives each checkout its own `release`, so it is looked up at each call.
      release: (destroy) => client.release(destroy || stale),
    };
  };
  return {
    options: pool.options,
    async connect() {
      const client = await pool.connect();
      let wrapper = wrappers.get(client);
      if (!wrapper) {
        wrapper = wrap(client);
        wrappers.set(client, wrapper);
      }
      return wrapper;
    },
    end: () => pool.end(),
  };
}
