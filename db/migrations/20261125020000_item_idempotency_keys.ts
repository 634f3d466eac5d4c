import type { Kysely } from 'kysely';

// Frozen: a client-chosen key per created item, so that a retried "add item" request (the
// network failed after the server stored it) returns the stored item instead of a copy.
// Sorting by name uses an index per owner.

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations must not depend on the app's types
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('items').addColumn('idempotency_key', 'varchar(100)').execute();
  await db.schema
    .createIndex('items_user_id_idempotency_key_unique')
    .on('items')
    .columns(['user_id', 'idempotency_key'])
    .unique()
    .execute();
  await db.schema
    .createIndex('items_user_id_name_idx')
    .on('items')
    .columns(['user_id', 'name', 'id'])
    .execute();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see up()
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('items_user_id_name_idx').execute();
  await db.schema.dropIndex('items_user_id_idempotency_key_unique').execute();
  await db.schema.alterTable('items').dropColumn('idempotency_key').execute();
}
