import { sql, type Kysely } from 'kysely';

// Frozen: places, tags and minimum amounts. Locations form a tree per inventory (a parent
// in the same inventory, at most ten levels: the rules live in the application, which
// changes a tree under a lock on its inventory); tags are per inventory; an item is in at
// most one location and has any number of tags. Names are unique by a key the application
// computes (lower case), so both backends agree on what "the same name" is, whatever
// collation the database has.

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations must not depend on the app's types
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('locations')
    .addColumn('id', 'integer', (col) => col.primaryKey().generatedByDefaultAsIdentity())
    .addColumn('inventory_id', 'integer', (col) =>
      col.notNull().references('inventories.id').onDelete('cascade'),
    )
    // No cascade: deleting a location first moves what it holds, so nothing goes with it.
    .addColumn('parent_id', 'integer', (col) => col.references('locations.id'))
    .addColumn('name', 'varchar(100)', (col) => col.notNull())
    .addColumn('name_key', 'varchar(100)', (col) => col.notNull())
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addCheckConstraint('locations_name_length', sql`char_length(name) between 1 and 100`)
    .execute();
  // Siblings' names are unique; top-level locations are siblings too (parent 0 stands for none).
  await sql`create unique index locations_sibling_name_key on locations (inventory_id, coalesce(parent_id, 0), name_key)`.execute(
    db,
  );
  await db.schema
    .createIndex('locations_parent_id_idx')
    .on('locations')
    .column('parent_id')
    .execute();

  await db.schema
    .createTable('tags')
    .addColumn('id', 'integer', (col) => col.primaryKey().generatedByDefaultAsIdentity())
    .addColumn('inventory_id', 'integer', (col) =>
      col.notNull().references('inventories.id').onDelete('cascade'),
    )
    .addColumn('name', 'varchar(50)', (col) => col.notNull())
    .addColumn('name_key', 'varchar(50)', (col) => col.notNull())
    .addCheckConstraint('tags_name_length', sql`char_length(name) between 1 and 50`)
    .addUniqueConstraint('tags_inventory_id_name_key_key', ['inventory_id', 'name_key'])
    .execute();

  await db.schema
    .createTable('item_tags')
    .addColumn('item_id', 'integer', (col) =>
      col.notNull().references('items.id').onDelete('cascade'),
    )
    .addColumn('tag_id', 'integer', (col) =>
      col.notNull().references('tags.id').onDelete('cascade'),
    )
    .addPrimaryKeyConstraint('item_tags_pkey', ['item_id', 'tag_id'])
    .execute();
  // "Items with this tag": an index range per tag, intersected for several.
  await db.schema
    .createIndex('item_tags_tag_id_item_id_idx')
    .on('item_tags')
    .columns(['tag_id', 'item_id'])
    .execute();

  await db.schema
    .alterTable('items')
    .addColumn('location_id', 'integer', (col) => col.references('locations.id'))
    .addColumn('min_amount', 'integer', (col) => col.check(sql`min_amount >= 0`))
    .execute();
  await db.schema
    .createIndex('items_location_id_id_idx')
    .on('items')
    .columns(['location_id', 'id'])
    .where(sql.ref('location_id'), 'is not', null)
    .execute();
  // Low stock is rare and asked for often: only the low items are in this index.
  await sql`create index items_low_idx on items (inventory_id, id) where amount < min_amount`.execute(
    db,
  );
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations must not depend on the app's types
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('items_low_idx').execute();
  await db.schema.dropIndex('items_location_id_id_idx').execute();
  await db.schema.alterTable('items').dropColumn('min_amount').dropColumn('location_id').execute();
  await db.schema.dropTable('item_tags').execute();
  await db.schema.dropTable('tags').execute();
  await db.schema.dropTable('locations').execute();
}
