import { sql, type Kysely } from 'kysely';

// Frozen: the main page's name sort orders one owner's items by lower(name), name, id (both
// ways). The (user_id, id) index cannot give that order, so every page sorted all of the
// owner's items first; this index holds the items in it, so a page reads its own rows. The
// (user_id, id) index stays: the keyset batches of the exports and the id sorts read it.

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations must not depend on the app's types
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createIndex('items_user_id_lower_name_name_id_idx')
    .on('items')
    .column('user_id')
    .expression(sql`lower(name)`)
    .columns(['name', 'id'])
    .execute();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see up()
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('items_user_id_lower_name_name_id_idx').execute();
}
