/**
 * Reads a dump into temporary tables inside the import's transaction: records stream in
 * (dump-reader.ts), each is checked on its own (records.ts) and staged in batches, so the
 * process holds one batch, never the file. Invalid records are staged too, marked so, for the
 * checks that need the whole file (checks.ts). Once every check passes, the staged rows are
 * copied into `users` and `items` and the id sequences moved past them.
 */
import { createHash } from 'node:crypto';
import { sql, type Kysely, type Transaction } from 'kysely';
import { PERSONAL_INVENTORY_NAME } from '../../contracts/inventories.ts';
import { classifyPasswordHash } from '../auth/django-hashers.ts';
import type { Database } from '../db/types.ts';
import { DumpSyntaxError, readDumpRecords, type DumpEntry } from './dump-reader.ts';
import {
  checkRecord,
  ITEM_MODEL,
  USER_MODEL,
  type ImportedItem,
  type ImportedUser,
} from './records.ts';
import type { ImportTally } from './report.ts';

interface StagedUser {
  seq: number;
  pk: number;
  username: string | null;
  username_key: string | null;
  password_hash: string | null;
  is_active: boolean | null;
  created_at: Date | null;
  last_login_at: Date | null;
  valid: boolean;
}

interface StagedItem {
  seq: number;
  pk: number;
  user_pk: number | null;
  name: string | null;
  amount: number | null;
  description: string | null;
  valid: boolean;
}

// A type, not an interface: Kysely's `$extendTables` wants an index-signature-compatible shape.
type StagingTables = {
  django_import_users: StagedUser;
  django_import_items: StagedItem;
};

type Staging = Kysely<Database & StagingTables>;

export async function createStagingTables(trx: Transaction<Database>): Promise<void> {
  // Temporary and dropped at commit; a rollback removes them as well.
  await sql`
    create temporary table django_import_users (
      seq integer not null, pk integer not null, username text, username_key text,
      password_hash text, is_active boolean, created_at timestamptz, last_login_at timestamptz,
      valid boolean not null
    ) on commit drop`.execute(trx);
  await sql`
    create temporary table django_import_items (
      seq integer not null, pk integer not null, user_pk integer, name text, amount integer,
      description text, valid boolean not null
    ) on commit drop`.execute(trx);
}

export async function indexStagingTables(trx: Transaction<Database>): Promise<void> {
  await sql`create index on django_import_users (pk)`.execute(trx);
  await sql`create index on django_import_users (username_key)`.execute(trx);
  await sql`create index on django_import_items (pk)`.execute(trx);
  await sql`create index on django_import_items (user_pk)`.execute(trx);
  // Temporary tables are never analyzed automatically; the checks join on them.
  await sql`analyze django_import_users`.execute(trx);
  await sql`analyze django_import_items`.execute(trx);
}

/** Buffers staged rows and inserts them a batch at a time. */
class Stager {
  private users: StagedUser[] = [];
  private items: StagedItem[] = [];
  private readonly staging: Staging;
  private readonly batchSize: number;

  constructor(trx: Transaction<Database>, batchSize: number) {
    this.staging = trx.$extendTables<StagingTables>();
    this.batchSize = batchSize;
  }

  async addUser(row: StagedUser): Promise<void> {
    this.users.push(row);
    if (this.users.length >= this.batchSize) await this.flushUsers();
  }

  async addItem(row: StagedItem): Promise<void> {
    this.items.push(row);
    if (this.items.length >= this.batchSize) await this.flushItems();
  }

  async flush(): Promise<void> {
    await this.flushUsers();
    await this.flushItems();
  }

  private async flushUsers(): Promise<void> {
    if (this.users.length === 0) return;
    const rows = this.users;
    this.users = [];
    await this.staging.insertInto('django_import_users').values(rows).execute();
  }

  private async flushItems(): Promise<void> {
    if (this.items.length === 0) return;
    const rows = this.items;
    this.items = [];
    await this.staging.insertInto('django_import_items').values(rows).execute();
  }
}

function stagedUser(seq: number, pk: number, user: ImportedUser | undefined): StagedUser {
  return {
    seq,
    pk,
    username: user?.username ?? null,
    username_key: user?.usernameKey ?? null,
    password_hash: user?.passwordHash ?? null,
    is_active: user?.isActive ?? null,
    created_at: user?.dateJoined ?? null,
    last_login_at: user?.lastLogin ?? null,
    valid: user !== undefined,
  };
}

function stagedItem(
  seq: number,
  pk: number,
  userPk: number | null,
  item: ImportedItem | undefined,
): StagedItem {
  return {
    seq,
    pk,
    user_pk: userPk,
    name: item?.name ?? null,
    amount: item?.amount ?? null,
    description: item?.description ?? null,
    valid: item !== undefined,
  };
}

/** Checks one record, counts it and stages it: invalid ones too, when they have a pk. */
async function stageEntry(stager: Stager, tally: ImportTally, entry: DumpEntry): Promise<void> {
  const at = { record: entry.index, line: entry.line };
  if (entry.error !== undefined) {
    tally.problems.add({ kind: 'file', ...at, message: entry.error });
    return;
  }
  const checked = checkRecord(entry.value);
  if (checked.model === 'other') {
    tally.countSkipped(checked.label);
    return;
  }
  const { model, pk } = checked;
  for (const message of checked.problems) {
    tally.problems.add({ kind: 'invalid', ...at, ...(model ? { model, pk } : {}), message });
  }
  if (checked.model === USER_MODEL) {
    const { user } = checked;
    if (user) tally.countUser(user.isActive, classifyPasswordHash(user.passwordHash));
    if (pk !== null) await stager.addUser(stagedUser(entry.index, pk, user));
  } else if (checked.model === ITEM_MODEL) {
    if (checked.item) tally.items += 1;
    if (pk !== null) {
      await stager.addItem(stagedItem(entry.index, pk, checked.userPk, checked.item));
    }
  }
}

async function* tap(
  source: AsyncIterable<Uint8Array | string>,
  onChunk: (chunk: Uint8Array | string) => void,
): AsyncGenerator<Uint8Array | string> {
  for await (const chunk of source) {
    onChunk(chunk);
    yield chunk;
  }
}

export interface StageOptions {
  batchSize: number;
  /** Called every `progressEvery` records while reading. */
  onProgress: (records: number) => void;
  progressEvery: number;
}

export interface StagedDump {
  /** Of the file's bytes, as far as they were read. */
  sha256: string;
  /** False when a break in the list itself stopped reading. */
  readToTheEnd: boolean;
}

/** Reads the whole dump into the staging tables, counting records and problems in `tally`. */
export async function stageDump(
  trx: Transaction<Database>,
  source: AsyncIterable<Uint8Array | string>,
  tally: ImportTally,
  { batchSize, onProgress, progressEvery }: StageOptions,
): Promise<StagedDump> {
  const stager = new Stager(trx, batchSize);
  const hash = createHash('sha256');
  const counted = tap(source, (chunk) => {
    hash.update(chunk);
    tally.bytes += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.byteLength;
  });
  let readToTheEnd = true;
  try {
    for await (const entry of readDumpRecords(counted)) {
      tally.records = entry.index;
      if (entry.index % progressEvery === 0) onProgress(entry.index);
      await stageEntry(stager, tally, entry);
    }
  } catch (error) {
    if (!(error instanceof DumpSyntaxError)) throw error;
    readToTheEnd = false;
    tally.problems.add({ kind: 'file', line: error.line || undefined, message: error.message });
  }
  await stager.flush();
  return { sha256: hash.digest('hex'), readToTheEnd };
}

/**
 * Moves a table's id sequence past every id in it; returns the next id it will give. A dry run
 * only computes that: sequences are not transactional, a rollback would not undo `setval`.
 */
export async function moveSequence(
  trx: Transaction<Database>,
  table: 'users' | 'stored_items',
  dryRun: boolean,
): Promise<number> {
  const last = sql<number>`greatest(
    (select coalesce(max(id), 0) from ${sql.table(table)}),
    coalesce(pg_sequence_last_value(seq), 0),
    1
  )`;
  const target = dryRun ? last : sql<number>`setval(seq, ${last})`;
  const { rows } = await sql<{ next: number }>`
    select (${target} + 1)::integer as next
    from (select pg_get_serial_sequence(${table}, 'id')::regclass as seq) sequence`.execute(trx);
  return rows[0]!.next;
}

export async function copyStagedRows(trx: Transaction<Database>): Promise<void> {
  await sql`
    insert into users (id, username, username_key, password_hash, is_active, created_at,
      last_login_at)
    select pk, username, username_key, password_hash, is_active, coalesce(created_at, now()),
      last_login_at
    from django_import_users order by pk`.execute(trx);
  // Each imported user gets a personal inventory holding their items, as registration and
  // the migration that brought inventories give everyone one.
  await sql`
    insert into inventories (name, personal_of)
    select ${PERSONAL_INVENTORY_NAME}::text, pk from django_import_users order by pk`.execute(trx);
  await sql`
    insert into memberships (inventory_id, user_id, role)
    select inventories.id, inventories.personal_of, 'owner'
    from inventories join django_import_users on django_import_users.pk = inventories.personal_of`.execute(
    trx,
  );
  await sql`
    update users set last_inventory_id = inventories.id
    from inventories join django_import_users on django_import_users.pk = inventories.personal_of
    where users.id = inventories.personal_of`.execute(trx);
  await sql`
    insert into items (id, inventory_id, created_by, updated_by, name, amount, description)
    select staged.pk, inventories.id, staged.user_pk, staged.user_pk, staged.name, staged.amount,
      staged.description
    from django_import_items staged join inventories on inventories.personal_of = staged.user_pk
    order by staged.pk`.execute(trx);
}
