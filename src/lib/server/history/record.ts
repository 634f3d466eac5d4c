import { sql, type Kysely, type Transaction } from 'kysely';
import type { ChangeAction, ChangeVia, Database } from '../db/types.ts';
import { inTransaction } from '../db/transaction.ts';
import type { Caller } from '../inventories/access.ts';

/**
 * Who makes a change, through what, and what it is. The database's triggers write each
 * changed field of each item (db/migrations/…_history_and_trash.ts); the application only
 * says this much, once per transaction.
 */
export interface ChangeContext {
  actor: number | null;
  via: ChangeVia;
  token: string | null;
  action: ChangeAction;
  /** The change an undo undoes. */
  undoes?: number;
}

/** A caller's change: through a token it is the API's (with the token's name), else a page's. */
export function changeBy(caller: Caller, action: ChangeAction): ChangeContext {
  return {
    actor: caller.userId,
    via: caller.tokenName === undefined ? 'page' : 'api',
    token: caller.tokenName ?? null,
    action,
  };
}

/**
 * Runs `work` as one change, in a transaction (the caller's own when `db` is one). When that
 * transaction already says what it is (a bulk change or an import calling this for each
 * item), it stays one change: the first context set stands.
 */
export function asChange<T>(
  db: Kysely<Database>,
  context: ChangeContext,
  work: (trx: Transaction<Database>) => Promise<T>,
): Promise<T> {
  return inTransaction(db, async (trx) => {
    await sql`select set_config('pacil.change', ${JSON.stringify(context)}, true)
      where coalesce(current_setting('pacil.change', true), '') = ''`.execute(trx);
    return work(trx);
  });
}

/**
 * The change the current transaction made in an inventory: what a page offers to undo.
 * Null when nothing changed (an edit that saved the same values records nothing).
 */
export async function changeMadeIn(
  trx: Kysely<Database>,
  inventoryId: number,
): Promise<number | null> {
  const { rows } = await sql<{ id: number | null }>`
    select nullif(current_setting(${`pacil.change_in_${inventoryId}`}, true), '')::int as id`.execute(
    trx,
  );
  return rows[0]?.id ?? null;
}
