import type { Kysely, Transaction } from 'kysely';
import type { Database } from './types.ts';

/**
 * Runs `work` in a transaction: the caller's own when `db` is one already (so repository
 * functions compose inside a larger change), else a new one.
 */
export function inTransaction<T>(
  db: Kysely<Database>,
  work: (trx: Transaction<Database>) => Promise<T>,
): Promise<T> {
  return db.isTransaction ? work(db as Transaction<Database>) : db.transaction().execute(work);
}

/**
 * Takes the lock that serializes changes to one inventory's locations and tags (a row lock
 * on the inventory, held to the end of the transaction `trx` is), so that two moves at once cannot
 * make a cycle and two creations cannot both take the last free name.
 */
export async function lockInventory(trx: Kysely<Database>, inventoryId: number) {
  await trx
    .selectFrom('inventories')
    .select('id')
    .where('id', '=', inventoryId)
    .forUpdate()
    .execute();
}
