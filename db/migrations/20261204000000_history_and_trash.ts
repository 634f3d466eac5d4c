import { sql, type Kysely } from 'kysely';

// Frozen: history, trash and undo.
//
// - The table of items becomes `stored_items`, with `deleted_at`/`deleted_by` for the trash,
//   and `items` becomes a view of the items not in the trash. Every query the application
//   had reads and writes the view, so an item in the trash is gone from all of them unless
//   one asks for `stored_items` on purpose: forgetting the trash hides an item, never shows
//   one. The indexes the lists read become partial, over the items not in the trash.
// - `changes` holds one row per change (a transaction) in an inventory: when, who, through
//   what, which action; `item_changes` each field's value before and after.
// - Triggers on `stored_items` and `item_tags` write `item_changes` themselves, in the
//   statement that changes the row, so nothing can change an item without its record. The
//   application says who and through what with `set_config('pacil.change', <json>, true)`
//   in its transaction or its statement, with the change's id reserved from the sequence, so
//   that a write of one statement knows its change without asking; a write made without it
//   (psql, a script) is recorded too, as `system`. A transaction is one change per
//   inventory it touches.
// - An item that goes with its inventory (the inventory or its last member's account is
//   deleted) leaves no record: the inventory's history goes with it.

const TRACKED_FIELDS = ['name', 'amount', 'description', 'location_id', 'min_amount', 'deleted_at'];

const LIVE_ITEM_COLUMNS = [
  'id',
  'inventory_id',
  'created_by',
  'updated_by',
  'name',
  'amount',
  'description',
  'created_at',
  'updated_at',
  'version',
  'idempotency_key',
  'idempotency_fingerprint',
  'location_id',
  'min_amount',
];

/** The list indexes, by name: their columns, and the predicate they had before. */
const LIST_INDEXES: readonly [name: string, columns: string, where?: string][] = [
  ['items_inventory_id_id_idx', 'inventory_id, id'],
  ['items_inventory_id_lower_name_name_id_idx', 'inventory_id, lower((name)::text), name, id'],
  ['items_inventory_id_amount_id_idx', 'inventory_id, amount, id'],
  ['items_location_id_id_idx', 'location_id, id', 'location_id is not null'],
  ['items_low_idx', 'inventory_id, id', 'amount < min_amount'],
];

async function recreateListIndexes(db: Kysely<unknown>, live: boolean) {
  for (const [name, columns, where] of LIST_INDEXES) {
    const predicates = [...(where ? [where] : []), ...(live ? ['deleted_at is null'] : [])];
    await sql`drop index ${sql.id(name)}`.execute(db);
    await sql`create index ${sql.id(name)} on stored_items (${sql.raw(columns)})
      ${sql.raw(predicates.length > 0 ? `where ${predicates.join(' and ')}` : '')}`.execute(db);
  }
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations must not depend on the app's types
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('changes')
    .addColumn('id', 'integer', (col) => col.primaryKey().generatedByDefaultAsIdentity())
    .addColumn('inventory_id', 'integer', (col) =>
      col.notNull().references('inventories.id').onDelete('cascade'),
    )
    .addColumn('at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn('actor_id', 'integer', (col) => col.references('users.id').onDelete('set null'))
    .addColumn('via', 'varchar(10)', (col) =>
      col.notNull().check(sql`via in ('page', 'api', 'import', 'bulk', 'undo', 'system')`),
    )
    .addColumn('token_name', 'varchar(100)')
    .addColumn('action', 'varchar(10)', (col) =>
      col
        .notNull()
        .check(
          sql`action in ('add', 'edit', 'adjust', 'move', 'tag', 'delete', 'restore', 'purge', 'import', 'bulk', 'undo')`,
        ),
    )
    .addColumn('undoes_id', 'integer', (col) => col.references('changes.id').onDelete('set null'))
    .execute();
  // The Activity page: an inventory's changes newest first, all or one member's.
  await db.schema
    .createIndex('changes_inventory_id_id_idx')
    .on('changes')
    .columns(['inventory_id', 'id desc'])
    .execute();
  await db.schema
    .createIndex('changes_actor_id_inventory_id_id_idx')
    .on('changes')
    .columns(['actor_id', 'inventory_id', 'id desc'])
    .execute();
  await db.schema
    .createIndex('changes_undoes_id_idx')
    .on('changes')
    .column('undoes_id')
    .where(sql.ref('undoes_id'), 'is not', null)
    .execute();

  // No reference to the item: its history outlives its purge.
  await db.schema
    .createTable('item_changes')
    .addColumn('change_id', 'integer', (col) =>
      col.notNull().references('changes.id').onDelete('cascade'),
    )
    .addColumn('item_id', 'integer', (col) => col.notNull())
    .addColumn('field', 'varchar(20)', (col) => col.notNull())
    .addColumn('before', 'jsonb')
    .addColumn('after', 'jsonb')
    .execute();
  await db.schema
    .createIndex('item_changes_change_id_idx')
    .on('item_changes')
    .column('change_id')
    .execute();
  // An item's history, and "has it changed since?" for undo.
  await db.schema
    .createIndex('item_changes_item_id_change_id_idx')
    .on('item_changes')
    .columns(['item_id', 'change_id'])
    .execute();

  await sql`alter table items rename to stored_items`.execute(db);
  await db.schema
    .alterTable('stored_items')
    .addColumn('deleted_at', 'timestamptz')
    .addColumn('deleted_by', 'integer', (col) => col.references('users.id').onDelete('set null'))
    .execute();
  await recreateListIndexes(db, true);
  // The trash of an inventory, and the purge of what is older than 30 days.
  await sql`create index stored_items_trash_idx on stored_items (inventory_id, deleted_at)
    where deleted_at is not null`.execute(db);
  await sql`create view items as select ${sql.join(LIVE_ITEM_COLUMNS.map((c) => sql.id(c)))}
    from stored_items where deleted_at is null`.execute(db);

  // The change a write in `inventory` belongs to: made at the transaction's first write
  // there, from the application's `pacil.change` (or as `system` without one).
  await sql`
    create function current_change_id(inventory integer, operation text) returns integer
    language plpgsql as $$
    declare
      setting text := 'pacil.change_in_' || inventory;
      change integer := nullif(current_setting(setting, true), '')::integer;
      context jsonb := nullif(current_setting('pacil.change', true), '')::jsonb;
    begin
      if change is not null then
        return change;
      end if;
      -- The id the application reserved (and may already have returned to its caller) goes to
      -- the first inventory the transaction changes; any other gets one of its own.
      if current_setting('pacil.change_id_taken', true) is distinct from 'yes' then
        change := (context->>'id')::integer;
        perform set_config('pacil.change_id_taken', 'yes', true);
      end if;
      insert into changes (id, inventory_id, actor_id, via, token_name, action, undoes_id)
      values (
        coalesce(change, nextval(pg_get_serial_sequence('changes', 'id'))),
        inventory,
        (context->>'actor')::integer,
        coalesce(context->>'via', 'system'),
        context->>'token',
        coalesce(context->>'action', case operation
          when 'INSERT' then 'add' when 'DELETE' then 'purge' when 'UPDATE' then 'edit'
          else 'tag' end),
        (context->>'undoes')::integer)
      returning id into change;
      perform set_config(setting, change::text, true);
      return change;
    end $$`.execute(db);

  await sql`
    create function record_item_change() returns trigger language plpgsql as $$
    declare
      before_row jsonb := case when tg_op <> 'INSERT' then to_jsonb(old) end;
      after_row jsonb := case when tg_op <> 'DELETE' then to_jsonb(new) end;
      item jsonb := coalesce(after_row, before_row);
    begin
      if tg_op = 'DELETE' and not exists (select from inventories where id = old.inventory_id) then
        return null;
      end if;
      insert into item_changes (change_id, item_id, field, before, after)
      select current_change_id((item->>'inventory_id')::integer, tg_op),
        (item->>'id')::integer, field, value_before, value_after
      from unnest(${sql.raw(`array[${TRACKED_FIELDS.map((f) => `'${f}'`).join(', ')}]`)}) as field,
        lateral (select nullif(before_row->field, 'null'), nullif(after_row->field, 'null'))
          as v(value_before, value_after)
      where value_before is distinct from value_after;
      return null;
    end $$`.execute(db);
  await sql`create trigger stored_items_record_change
    after insert or update or delete on stored_items
    for each row execute function record_item_change()`.execute(db);

  // A tag added or removed: the tag's name as the value after or before. A link that goes
  // with its tag or its item (a tag deleted, an item purged) is recorded by what removed them.
  await sql`
    create function record_item_tag_change() returns trigger language plpgsql as $$
    declare
      link_item integer := case when tg_op = 'DELETE' then old.item_id else new.item_id end;
      link_tag integer := case when tg_op = 'DELETE' then old.tag_id else new.tag_id end;
      tag record;
    begin
      select tags.name, tags.inventory_id into tag
      from tags join stored_items on stored_items.id = link_item
      where tags.id = link_tag;
      if not found then
        return null;
      end if;
      insert into item_changes (change_id, item_id, field, before, after)
      values (current_change_id(tag.inventory_id, 'TAG'), link_item, 'tag',
        case when tg_op = 'DELETE' then to_jsonb(tag.name) end,
        case when tg_op = 'INSERT' then to_jsonb(tag.name) end);
      return null;
    end $$`.execute(db);
  await sql`create trigger item_tags_record_change
    after insert or delete on item_tags
    for each row execute function record_item_tag_change()`.execute(db);
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see up()
export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop trigger item_tags_record_change on item_tags`.execute(db);
  await sql`drop function record_item_tag_change()`.execute(db);
  await sql`drop trigger stored_items_record_change on stored_items`.execute(db);
  await sql`drop function record_item_change()`.execute(db);
  await sql`drop function current_change_id(integer, text)`.execute(db);
  await sql`drop view items`.execute(db);
  // Before the trash there was no coming back from a delete: what is in it is gone.
  await sql`delete from stored_items where deleted_at is not null`.execute(db);
  await sql`drop index stored_items_trash_idx`.execute(db);
  await recreateListIndexes(db, false);
  await db.schema
    .alterTable('stored_items')
    .dropColumn('deleted_by')
    .dropColumn('deleted_at')
    .execute();
  await sql`alter table stored_items rename to items`.execute(db);
  await db.schema.dropTable('item_changes').execute();
  await db.schema.dropTable('changes').execute();
}
