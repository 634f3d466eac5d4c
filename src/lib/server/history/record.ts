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
 * Sets the change's context for the current transaction, with an id reserved for the change,
 * and answers it (as JSON text). When the transaction already says what it is (a bulk change
 * or an import calling an item's function for each item), that one stands: it stays one
 * change.
 */
const setContext = (context: ChangeContext) => sql<string>`coalesce(
  nullif(current_setting('pacil.change', true), ''),
  set_config('pacil.change', (${JSON.stringify(context)}::jsonb
    || jsonb_build_object('id', nextval(pg_get_serial_sequence('changes', 'id'))))::text, true))`;

/** Runs `work` as one change, in a transaction (the caller's own when `db` is one). */
export function asChange<T>(
  db: Kysely<Database>,
  context: ChangeContext,
  work: (trx: Transaction<Database>) => Promise<T>,
): Promise<T> {
  return inTransaction(db, async (trx) => {
    await sql`select ${setContext(context)}`.execute(trx);
    return work(trx);
  });
}

/**
 * For a change made by one statement, without a transaction around it (±1, a delete, an add):
 * `db` with a CTE that sets the context in that very statement, and the change's id to select
 * in its `returning`, which makes the statement read the CTE. The row stays locked for that
 * statement only, as before the history: ten members counting one item's stock at once do
 * not wait on each other's round trips. Only for a statement that, when it writes a row,
 * always changes a recorded field (else the id names no change).
 */
export function inOneStatement(db: Kysely<Database>, context: ChangeContext) {
  return {
    db: db.with('change_context', (qb) => qb.selectNoFrom(setContext(context).as('context'))),
    changeId: sql<number>`(select (context::jsonb->>'id')::int from change_context)`,
  };
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
