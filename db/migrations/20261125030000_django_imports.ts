import { sql, type Kysely } from 'kysely';

// Frozen: one row per dumpdata file imported from the Django app, keyed by the SHA-256 of its
// bytes, so that importing the same file again is refused instead of failing on every row.

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations must not depend on the app's types
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('django_imports')
    .addColumn('id', 'integer', (col) => col.primaryKey().generatedByDefaultAsIdentity())
    .addColumn('sha256', 'char(64)', (col) => col.notNull().unique())
    .addColumn('file_name', 'text', (col) => col.notNull())
    .addColumn('users', 'integer', (col) => col.notNull())
    .addColumn('items', 'integer', (col) => col.notNull())
    .addColumn('imported_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .execute();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see up()
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('django_imports').execute();
}
