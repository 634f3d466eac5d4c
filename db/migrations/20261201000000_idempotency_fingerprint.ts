import type { Kysely } from 'kysely';

// Frozen: what an idempotency key was used for (the route and the item it stored, hashed),
// so that the same key sent again with a different item is refused instead of answered with
// the first item while the new one is dropped. Rows from before this migration have none.

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations must not depend on the app's types
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('items').addColumn('idempotency_fingerprint', 'char(64)').execute();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see up()
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('items').dropColumn('idempotency_fingerprint').execute();
}
