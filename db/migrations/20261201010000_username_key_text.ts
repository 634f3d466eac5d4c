import type { Kysely } from 'kysely';

// Frozen: a username of 150 characters can lower-case to more (`İ` becomes two code points),
// so its key did not fit the 150 of the username column and registration failed. The key
// is text; the unique index on it stays.

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations must not depend on the app's types
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('users')
    .alterColumn('username_key', (col) => col.setDataType('text'))
    .execute();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see up()
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('users')
    .alterColumn('username_key', (col) => col.setDataType('varchar(150)'))
    .execute();
}
