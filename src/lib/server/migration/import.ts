/**
 * Imports a Django `dumpdata auth.user main.item` file in one transaction.
 *
 * Streaming: records are read one at a time (dump-reader.ts), checked (records.ts) and staged
 * in batches into temporary tables inside the transaction, so the process holds one batch,
 * never the file. Once the whole file is read, set-based queries over the staged rows find
 * what no single record shows: pks repeated in the file, usernames that clash ignoring case
 * (within the file or with users already here), ids already taken, items whose owner is not
 * in the file. Only when there is no problem at all are the staged rows copied into `users`
 * and `items`, the id sequences moved past them and the file recorded. Any problem, or a dry
 * run, rolls everything back, temporary tables included: nothing is written.
 *
 * The same file twice: each import records the SHA-256 of the file's bytes in
 * `django_imports`, and a file whose hash is there is refused with the date of the first
 * import. A different file with the same data (a fresh dumpdata of the same site) is refused
 * too, by the clash checks: its ids and usernames already exist.
 */
import { createHash } from 'node:crypto';
import { sql, type Kysely, type Transaction } from 'kysely';
import { classifyPasswordHash, type PasswordHashKind } from '../auth/django-hashers.ts';
import type { Database } from '../db/types.ts';
import { DumpSyntaxError, readDumpRecords } from './dump-reader.ts';
import {
  checkRecord,
  ITEM_MODEL,
  USER_MODEL,
  type ImportedItem,
  type ImportedUser,
} from './records.ts';

export type ProblemKind =
  /** The file itself: not JSON, cut short, nothing to import. */
  | 'file'
  /** A record the forms (or Django's rules) would refuse. */
  | 'invalid'
  /** A pk or username that appears twice in the file. */
  | 'duplicate'
  /** An id or username that already exists in this database. */
  | 'exists'
  /** An item whose owner is not in the file. */
  | 'owner';

export interface ImportProblem {
  kind: ProblemKind;
  /** 1-based position of the record in the file's list. */
  record?: number;
  line?: number;
  model?: string;
  pk?: number | null;
  message: string;
}

export interface ImportProgress {
  /** Reading reports every `progressEvery` records; checking and writing once each. */
  phase: 'reading' | 'checking' | 'writing';
  records: number;
  bytes: number;
}

export interface ImportOptions {
  /** Check everything, write nothing. */
  dryRun?: boolean;
  /** Recorded with the import, and shown when the same file comes again. */
  fileName?: string;
  onProgress?: (progress: ImportProgress) => void;
  /** Reports progress every this many records (10,000). */
  progressEvery?: number;
  /** Rows per insert into the staging tables. */
  batchSize?: number;
}

export interface PreviousImport {
  fileName: string;
  importedAt: Date;
  users: number;
  items: number;
}

export interface ImportResult {
  /** `checked`: a dry run that found no problem. */
  status: 'imported' | 'checked' | 'refused';
  dryRun: boolean;
  sha256: string;
  records: number;
  bytes: number;
  users: number;
  inactiveUsers: number;
  items: number;
  /** Records of other models, by model label; they are not imported. */
  skipped: Record<string, number>;
  /** Users' password hashes by format. */
  passwordHashes: Partial<Record<PasswordHashKind, number>>;
  /** Hashes that cannot be checked here, by format name: those users cannot sign in. */
  unsupportedHashes: Record<string, number>;
  /** The ids new rows get after the import (only when imported or checked). */
  nextUserId?: number;
  nextItemId?: number;
  /** Every problem, in file order; empty unless refused. */
  problems: ImportProblem[];
  /** Set when this very file was imported before. */
  alreadyImported?: PreviousImport;
}

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

async function createStagingTables(trx: Transaction<Database>): Promise<void> {
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

async function indexStagingTables(trx: Transaction<Database>): Promise<void> {
  await sql`create index on django_import_users (pk)`.execute(trx);
  await sql`create index on django_import_users (username_key)`.execute(trx);
  await sql`create index on django_import_items (pk)`.execute(trx);
  await sql`create index on django_import_items (user_pk)`.execute(trx);
  // Temporary tables are never analyzed automatically; the checks below join on them.
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

/** The checks that need the whole file (and the database): see the module comment. */
async function findCrossRecordProblems(trx: Transaction<Database>): Promise<ImportProblem[]> {
  const problems: ImportProblem[] = [];

  for (const [table, model] of [
    ['django_import_users', USER_MODEL],
    ['django_import_items', ITEM_MODEL],
  ] as const) {
    const repeated = await sql<{ seq: number; pk: number; first_seq: number }>`
      select seq, pk, first_seq from (
        select seq, pk, first_value(seq) over (partition by pk order by seq) as first_seq
        from ${sql.table(table)}
      ) staged where seq <> first_seq order by seq`.execute(trx);
    for (const row of repeated.rows) {
      problems.push({
        kind: 'duplicate',
        record: row.seq,
        model,
        pk: row.pk,
        message: `the same pk as record ${row.first_seq}: a pk must appear once`,
      });
    }
  }

  const sameName = await sql<{
    seq: number;
    pk: number;
    username: string;
    first_pk: number;
    first_username: string;
    first_seq: number;
  }>`
    select seq, pk, username, first_pk, first_username, first_seq from (
      select seq, pk, username,
        first_value(pk) over same as first_pk,
        first_value(username) over same as first_username,
        first_value(seq) over same as first_seq
      from django_import_users where valid
      window same as (partition by username_key order by seq)
    ) staged where seq <> first_seq order by seq`.execute(trx);
  for (const row of sameName.rows) {
    problems.push({
      kind: 'duplicate',
      record: row.seq,
      model: USER_MODEL,
      pk: row.pk,
      message:
        `username "${row.username}" is the same, ignoring case, as "${row.first_username}" ` +
        `(pk ${row.first_pk}, record ${row.first_seq})`,
    });
  }

  const existingUsers = await sql<{
    seq: number;
    pk: number;
    username: string | null;
    id_username: string | null;
    key_id: number | null;
    key_username: string | null;
  }>`
    select staged.seq, staged.pk, staged.username, by_id.username as id_username,
      by_key.id as key_id, by_key.username as key_username
    from django_import_users staged
    left join users by_id on by_id.id = staged.pk
    left join users by_key on staged.valid and by_key.username_key = staged.username_key
    where by_id.id is not null or by_key.id is not null
    order by staged.seq`.execute(trx);
  for (const row of existingUsers.rows) {
    const messages: string[] = [];
    if (row.id_username !== null && row.key_id === row.pk) {
      messages.push(`user ${row.pk} "${row.id_username}" already exists here`);
    } else {
      if (row.id_username !== null) {
        messages.push(`id ${row.pk} is taken by the existing user "${row.id_username}"`);
      }
      if (row.key_id !== null) {
        messages.push(
          `username "${row.username}" clashes, ignoring case, with the existing user ` +
            `"${row.key_username}" (id ${row.key_id})`,
        );
      }
    }
    problems.push({
      kind: 'exists',
      record: row.seq,
      model: USER_MODEL,
      pk: row.pk,
      message: messages.join('; '),
    });
  }

  const existingItems = await sql<{ seq: number; pk: number }>`
    select staged.seq, staged.pk from django_import_items staged
    join items on items.id = staged.pk
    order by staged.seq`.execute(trx);
  for (const row of existingItems.rows) {
    problems.push({
      kind: 'exists',
      record: row.seq,
      model: ITEM_MODEL,
      pk: row.pk,
      message: `id ${row.pk} is taken by an item already here`,
    });
  }

  const orphans = await sql<{ seq: number; pk: number; user_pk: number }>`
    select staged.seq, staged.pk, staged.user_pk from django_import_items staged
    where staged.user_pk is not null
      and not exists (select 1 from django_import_users users where users.pk = staged.user_pk)
    order by staged.seq`.execute(trx);
  for (const row of orphans.rows) {
    problems.push({
      kind: 'owner',
      record: row.seq,
      model: ITEM_MODEL,
      pk: row.pk,
      message: `its owner, ${USER_MODEL} pk ${row.user_pk}, is not in the file`,
    });
  }
  return problems;
}

/**
 * Moves a table's id sequence past every id in it; returns the next id it will give. A dry run
 * only computes that: sequences are not transactional, a rollback would not undo `setval`.
 */
async function moveSequence(
  trx: Transaction<Database>,
  table: 'users' | 'items',
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

async function copyStagedRows(trx: Transaction<Database>): Promise<void> {
  await sql`
    insert into users (id, username, username_key, password_hash, is_active, created_at,
      last_login_at)
    select pk, username, username_key, password_hash, is_active, coalesce(created_at, now()),
      last_login_at
    from django_import_users order by pk`.execute(trx);
  await sql`
    insert into items (id, user_id, name, amount, description)
    select pk, user_pk, name, amount, description from django_import_items order by pk`.execute(
    trx,
  );
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

/**
 * Imports a dumpdata file read from `source` (a file stream, say) into `db`. Resolves with
 * what was (or, on a dry run, would be) imported, or with every problem found; rejects only
 * when the database fails.
 */
export async function importDjangoDump(
  db: Kysely<Database>,
  source: AsyncIterable<Uint8Array | string>,
  options: ImportOptions = {},
): Promise<ImportResult> {
  const {
    dryRun = false,
    fileName = '(unnamed)',
    onProgress,
    progressEvery = 10_000,
    batchSize = 1_000,
  } = options;
  const result: ImportResult = {
    status: 'refused',
    dryRun,
    sha256: '',
    records: 0,
    bytes: 0,
    users: 0,
    inactiveUsers: 0,
    items: 0,
    skipped: {},
    passwordHashes: {},
    unsupportedHashes: {},
    problems: [],
  };
  const { problems } = result;
  const hash = createHash('sha256');

  const trx = await db.startTransaction().execute();
  try {
    await createStagingTables(trx);
    const stager = new Stager(trx, batchSize);
    const counted = tap(source, (chunk) => {
      hash.update(chunk);
      result.bytes += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.byteLength;
    });

    let readToTheEnd = true;
    try {
      for await (const entry of readDumpRecords(counted)) {
        result.records = entry.index;
        if (entry.index % progressEvery === 0) {
          onProgress?.({ phase: 'reading', records: entry.index, bytes: result.bytes });
        }
        const at = { record: entry.index, line: entry.line };
        if (entry.error !== undefined) {
          problems.push({ kind: 'file', ...at, message: entry.error });
          continue;
        }
        const checked = checkRecord(entry.value);
        if (checked.model === 'other') {
          result.skipped[checked.label] = (result.skipped[checked.label] ?? 0) + 1;
          continue;
        }
        const { model, pk } = checked;
        for (const message of checked.problems) {
          problems.push({ kind: 'invalid', ...at, ...(model ? { model, pk } : {}), message });
        }
        if (checked.model === USER_MODEL) {
          if (checked.user) {
            result.users += 1;
            if (!checked.user.isActive) result.inactiveUsers += 1;
            const format = classifyPasswordHash(checked.user.passwordHash);
            result.passwordHashes[format.kind] = (result.passwordHashes[format.kind] ?? 0) + 1;
            if (format.kind === 'unsupported') {
              result.unsupportedHashes[format.label] =
                (result.unsupportedHashes[format.label] ?? 0) + 1;
            }
          }
          if (pk !== null) await stager.addUser(stagedUser(entry.index, pk, checked.user));
        } else if (checked.model === ITEM_MODEL) {
          if (checked.item) result.items += 1;
          if (pk !== null) {
            await stager.addItem(stagedItem(entry.index, pk, checked.userPk, checked.item));
          }
        }
      }
    } catch (error) {
      if (!(error instanceof DumpSyntaxError)) throw error;
      readToTheEnd = false;
      problems.push({ kind: 'file', line: error.line || undefined, message: error.message });
    }
    await stager.flush();
    result.sha256 = hash.digest('hex');

    // Writers wait from here to the end, readers do not; a concurrent import of the same file
    // waits here and then finds the first one's row.
    await sql`lock table users, items, django_imports in share row exclusive mode`.execute(trx);
    const previous = await trx
      .selectFrom('django_imports')
      .select(['file_name', 'imported_at', 'users', 'items'])
      .where('sha256', '=', result.sha256)
      .executeTakeFirst();
    if (previous) {
      result.alreadyImported = {
        fileName: previous.file_name,
        importedAt: previous.imported_at,
        users: previous.users,
        items: previous.items,
      };
      result.problems = [];
      await trx.rollback().execute();
      return result;
    }

    if (readToTheEnd) {
      onProgress?.({ phase: 'checking', records: result.records, bytes: result.bytes });
      await indexStagingTables(trx);
      // A loop, not push(...): a bad file can have more problems than a call has arguments.
      for (const problem of await findCrossRecordProblems(trx)) problems.push(problem);
      if (problems.length === 0 && result.users === 0 && result.items === 0) {
        problems.push({
          kind: 'file',
          message: `The file has no ${USER_MODEL} or ${ITEM_MODEL} records: there is nothing to import.`,
        });
      }
    }
    if (problems.length > 0) {
      // File order: record-level problems were found while reading, the others after it.
      problems.sort((a, b) => (a.record ?? Infinity) - (b.record ?? Infinity));
      await trx.rollback().execute();
      return result;
    }

    onProgress?.({ phase: 'writing', records: result.records, bytes: result.bytes });
    await copyStagedRows(trx);
    result.nextUserId = await moveSequence(trx, 'users', dryRun);
    result.nextItemId = await moveSequence(trx, 'items', dryRun);
    await trx
      .insertInto('django_imports')
      .values({
        sha256: result.sha256,
        file_name: fileName,
        users: result.users,
        items: result.items,
      })
      .execute();
    if (dryRun) {
      await trx.rollback().execute();
      result.status = 'checked';
    } else {
      await trx.commit().execute();
      result.status = 'imported';
    }
    return result;
  } catch (error) {
    await trx
      .rollback()
      .execute()
      .catch(() => undefined);
    throw error;
  }
}

// --- Report -------------------------------------------------------------------------------

const number = (value: number) => value.toLocaleString('en-US');
const plural = (count: number, one: string, many = `${one}s`) =>
  `${number(count)} ${count === 1 ? one : many}`;

function formatBytes(bytes: number): string {
  if (bytes < 1024) return plural(bytes, 'byte');
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

export function formatProblem(problem: ImportProblem): string {
  const where: string[] = [];
  if (problem.model) where.push(`${problem.model} pk ${problem.pk ?? '?'}`);
  if (problem.record !== undefined) {
    where.push(
      problem.model
        ? `(record ${problem.record})`
        : `record ${problem.record}${problem.line ? ` (line ${problem.line})` : ''}`,
    );
  } else if (problem.line) {
    where.push(`line ${problem.line}`);
  }
  return where.length > 0 ? `${where.join(' ')}: ${problem.message}` : problem.message;
}

const HASH_NOTES: Record<PasswordHashKind, string> = {
  argon2id: 'Argon2id',
  pbkdf2_sha256: 'Django PBKDF2-SHA256',
  pbkdf2_sha1: 'Django PBKDF2-SHA1',
  'django-argon2': "Django's Argon2",
  unusable: "Django's unusable-password marker (these users cannot sign in)",
  unsupported: 'a format this site cannot check (these users cannot sign in)',
};

/** The report printed by `npm run import:django`, one line per fact or problem. */
export function formatImportResult(result: ImportResult): string {
  const lines: string[] = [];
  const source = `${plural(result.records, 'record')}, ${formatBytes(result.bytes)}`;
  if (result.alreadyImported) {
    const previous = result.alreadyImported;
    lines.push(
      `Refused: this file was already imported on ${previous.importedAt.toISOString()} ` +
        `(as ${previous.fileName}: ${plural(previous.users, 'user')}, ` +
        `${plural(previous.items, 'item')}). Nothing was imported again.`,
      `(SHA-256 ${result.sha256})`,
    );
    return lines.join('\n');
  }
  if (result.status === 'refused') {
    lines.push(
      `Refused: ${plural(result.problems.length, 'problem')} found in the file (${source}). ` +
        `Nothing was ${result.dryRun ? 'written (dry run)' : 'imported'}.`,
    );
    if (result.problems.some((problem) => problem.kind === 'exists')) {
      lines.push(
        'Some users or items are already in this database: was this data imported before? ' +
          'Import into a new, empty site.',
      );
    }
    for (const problem of result.problems) lines.push(`  - ${formatProblem(problem)}`);
    return lines.join('\n');
  }

  const verb = result.status === 'imported' ? 'Imported' : 'Dry run, nothing written. Would import';
  const inactive = result.inactiveUsers > 0 ? ` (${number(result.inactiveUsers)} inactive)` : '';
  lines.push(
    `${verb} ${plural(result.users, 'user')}${inactive} and ${plural(result.items, 'item')} ` +
      `from ${source}.`,
  );
  for (const [kind, count] of Object.entries(result.passwordHashes)) {
    lines.push(`  passwords: ${number(count)} × ${HASH_NOTES[kind as PasswordHashKind]}`);
  }
  for (const [label, count] of Object.entries(result.unsupportedHashes)) {
    lines.push(`    ${label}: ${number(count)}`);
  }
  if (result.inactiveUsers > 0) {
    lines.push(`  ${plural(result.inactiveUsers, 'inactive user')} cannot sign in, as in Django.`);
  }
  for (const [model, count] of Object.entries(result.skipped)) {
    lines.push(
      `  skipped ${plural(count, `${model} record`)} (only ${USER_MODEL} and ${ITEM_MODEL} are imported)`,
    );
  }
  lines.push(
    `  new users will get ids from ${result.nextUserId}, new items from ${result.nextItemId}`,
  );
  if (result.status === 'imported') {
    lines.push('Django passwords work as they are, and become Argon2id at each first sign-in.');
  }
  return lines.join('\n');
}
