import { sql, type Kysely } from 'kysely';

// Frozen: items belong to inventories, which people share with a role each. Every existing
// user gets a personal inventory, "My items", holding the items they had; the user who
// added an item stays on it as `created_by`. The whole change is one transaction (Kysely
// runs a migration in one on PostgreSQL, and PGlite is PostgreSQL): a failure leaves the
// schema as it was.

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations must not depend on the app's types
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('inventories')
    .addColumn('id', 'integer', (col) => col.primaryKey().generatedByDefaultAsIdentity())
    .addColumn('name', 'varchar(100)', (col) => col.notNull())
    // The user whose personal inventory this is: the one new items go to by default, and
    // the one that cannot be deleted. It outlives its user when it has other owners.
    .addColumn('personal_of', 'integer', (col) =>
      col.unique().references('users.id').onDelete('set null'),
    )
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addCheckConstraint('inventories_name_length', sql`char_length(name) between 1 and 100`)
    .execute();

  await db.schema
    .createTable('memberships')
    .addColumn('inventory_id', 'integer', (col) =>
      col.notNull().references('inventories.id').onDelete('cascade'),
    )
    .addColumn('user_id', 'integer', (col) =>
      col.notNull().references('users.id').onDelete('cascade'),
    )
    .addColumn('role', 'varchar(10)', (col) =>
      col.notNull().check(sql`role in ('owner', 'editor', 'viewer')`),
    )
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('memberships_pkey', ['inventory_id', 'user_id'])
    .execute();
  // Every item query starts from "the inventories this user may read": one index-only scan.
  await db.schema
    .createIndex('memberships_user_id_inventory_id_role_idx')
    .on('memberships')
    .columns(['user_id', 'inventory_id', 'role'])
    .execute();

  await db.schema
    .createTable('invite_links')
    .addColumn('id', 'integer', (col) => col.primaryKey().generatedByDefaultAsIdentity())
    .addColumn('inventory_id', 'integer', (col) =>
      col.notNull().references('inventories.id').onDelete('cascade'),
    )
    // SHA-256 (hex) of the link's secret; the secret itself is shown once and never stored.
    .addColumn('token_hash', 'char(64)', (col) => col.notNull().unique())
    .addColumn('role', 'varchar(10)', (col) =>
      col.notNull().check(sql`role in ('owner', 'editor', 'viewer')`),
    )
    .addColumn('created_by', 'integer', (col) => col.references('users.id').onDelete('set null'))
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn('expires_at', 'timestamptz', (col) => col.notNull())
    .addColumn('max_uses', 'integer', (col) => col.check(sql`max_uses >= 1`))
    .addColumn('uses', 'integer', (col) => col.notNull().defaultTo(0))
    .addColumn('revoked_at', 'timestamptz')
    .execute();
  await db.schema
    .createIndex('invite_links_inventory_id_idx')
    .on('invite_links')
    .column('inventory_id')
    .execute();

  await db.schema
    .alterTable('users')
    .addColumn('last_inventory_id', 'integer', (col) =>
      col.references('inventories.id').onDelete('set null'),
    )
    .execute();
  await db.schema
    .alterTable('api_tokens')
    .addColumn('inventory_id', 'integer', (col) =>
      col.references('inventories.id').onDelete('cascade'),
    )
    .execute();

  await db.schema.alterTable('items').renameColumn('user_id', 'created_by').execute();
  await db.schema
    .alterTable('items')
    .addColumn('inventory_id', 'integer', (col) =>
      col.references('inventories.id').onDelete('cascade'),
    )
    .addColumn('updated_by', 'integer', (col) => col.references('users.id').onDelete('set null'))
    .addColumn('updated_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn('version', 'integer', (col) => col.notNull().defaultTo(1))
    .execute();
  // Items now outlive the account that added them when they sit in a shared inventory.
  await sql`alter table items drop constraint items_user_id_fkey`.execute(db);
  await sql`alter table items alter column created_by drop not null`.execute(db);
  await sql`alter table items add constraint items_created_by_fkey foreign key (created_by)
    references users (id) on delete set null`.execute(db);

  await sql`insert into inventories (name, personal_of, created_at)
    select 'My items', id, created_at from users order by id`.execute(db);
  await sql`insert into memberships (inventory_id, user_id, role, created_at)
    select id, personal_of, 'owner', created_at from inventories`.execute(db);
  await sql`update users set last_inventory_id = inventories.id
    from inventories where inventories.personal_of = users.id`.execute(db);
  await sql`update items set inventory_id = inventories.id, updated_at = items.created_at,
      updated_by = items.created_by
    from inventories where inventories.personal_of = items.created_by`.execute(db);
  await sql`alter table items alter column inventory_id set not null`.execute(db);

  // Lists, pages and exports now start from an inventory's items, not a user's.
  await db.schema.dropIndex('items_user_id_id_idx').execute();
  await db.schema.dropIndex('items_user_id_name_idx').execute();
  await db.schema.dropIndex('items_user_id_lower_name_name_id_idx').execute();
  await db.schema
    .createIndex('items_inventory_id_id_idx')
    .on('items')
    .columns(['inventory_id', 'id'])
    .execute();
  await db.schema
    .createIndex('items_inventory_id_lower_name_name_id_idx')
    .on('items')
    .column('inventory_id')
    .expression(sql`lower(name)`)
    .columns(['name', 'id'])
    .execute();
  await db.schema
    .createIndex('items_inventory_id_amount_id_idx')
    .on('items')
    .columns(['inventory_id', 'amount', 'id'])
    .execute();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see up()
export async function down(db: Kysely<any>): Promise<void> {
  // Items go back to the user who added them; items whose creator is gone cannot.
  await sql`delete from items where created_by is null`.execute(db);
  await db.schema.dropIndex('items_inventory_id_amount_id_idx').execute();
  await db.schema.dropIndex('items_inventory_id_lower_name_name_id_idx').execute();
  await db.schema.dropIndex('items_inventory_id_id_idx').execute();
  await sql`alter table items drop constraint items_created_by_fkey`.execute(db);
  await db.schema
    .alterTable('items')
    .dropColumn('inventory_id')
    .dropColumn('updated_by')
    .dropColumn('updated_at')
    .dropColumn('version')
    .execute();
  await db.schema.alterTable('items').renameColumn('created_by', 'user_id').execute();
  await sql`alter table items alter column user_id set not null`.execute(db);
  await sql`alter table items add constraint items_user_id_fkey foreign key (user_id)
    references users (id) on delete cascade`.execute(db);
  await db.schema
    .createIndex('items_user_id_id_idx')
    .on('items')
    .columns(['user_id', 'id'])
    .execute();
  await db.schema
    .createIndex('items_user_id_name_idx')
    .on('items')
    .columns(['user_id', 'name', 'id'])
    .execute();
  await db.schema
    .createIndex('items_user_id_lower_name_name_id_idx')
    .on('items')
    .column('user_id')
    .expression(sql`lower(name)`)
    .columns(['name', 'id'])
    .execute();
  await db.schema.alterTable('api_tokens').dropColumn('inventory_id').execute();
  await db.schema.alterTable('users').dropColumn('last_inventory_id').execute();
  await db.schema.dropTable('invite_links').execute();
  await db.schema.dropTable('memberships').execute();
  await db.schema.dropTable('inventories').execute();
}
