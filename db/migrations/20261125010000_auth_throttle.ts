import { sql, type Kysely } from 'kysely';

// Frozen: counts of failed sign-ins and registrations, shared by every server process.

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations must not depend on the app's types
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('auth_throttle')
    .addColumn('key', 'text', (col) => col.primaryKey())
    .addColumn('attempts', 'integer', (col) => col.notNull())
    .addColumn('window_started_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn('blocked_until', 'timestamptz')
    .execute();
  await db.schema
    .createIndex('auth_throttle_window_started_at_idx')
    .on('auth_throttle')
    .column('window_started_at')
    .execute();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see up()
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('auth_throttle').execute();
}
