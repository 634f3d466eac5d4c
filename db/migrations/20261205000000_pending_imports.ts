import { sql, type Kysely } from 'kysely';

// Frozen: CSV imports waiting for their confirmation. The uploaded file is held here, as the
// text it was read as, between the preview and the confirmation (so confirming does not
// upload it again, and every process of the site can answer the confirmation); it goes when
// the import is applied, discarded or expires.

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations must not depend on the app's types
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('pending_imports')
    // A random secret: the preview's address, only for the user who uploaded it.
    .addColumn('id', 'text', (col) => col.primaryKey())
    .addColumn('inventory_id', 'integer', (col) =>
      col.notNull().references('inventories.id').onDelete('cascade'),
    )
    .addColumn('user_id', 'integer', (col) =>
      col.notNull().references('users.id').onDelete('cascade'),
    )
    .addColumn('file_name', 'varchar(255)', (col) => col.notNull())
    .addColumn('encoding', 'text', (col) => col.notNull())
    .addColumn('content', 'text', (col) => col.notNull())
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn('expires_at', 'timestamptz', (col) => col.notNull())
    .execute();
  await db.schema
    .createIndex('pending_imports_expires_at_idx')
    .on('pending_imports')
    .column('expires_at')
    .execute();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see up()
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('pending_imports').execute();
}
