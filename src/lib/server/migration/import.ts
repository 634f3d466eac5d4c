/**
 * Imports a Django `dumpdata auth.user main.item` file in one transaction.
 *
 * The file is read, checked record by record and staged in temporary tables (staging.ts);
 * then set-based queries over the staged rows find what no single record shows (checks.ts).
 * Only when there is no problem at all are the staged rows copied into `users` and `items`,
 * the id sequences moved past them and the file recorded. Any problem, or a dry run, rolls
 * everything back, temporary tables included: nothing is written. What was found is in the
 * result (report.ts).
 *
 * The same file twice: each import records the SHA-256 of the file's bytes in
 * `django_imports`, and a file whose hash is there is refused with the date of the first
 * import. A different file with the same data (a fresh dumpdata of the same site) is refused
 * too, by the clash checks: its ids and usernames already exist.
 */
import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database } from '../db/types.ts';
import { asChange } from '../history/record.ts';
import { findCrossRecordProblems } from './checks.ts';
import { ITEM_MODEL, USER_MODEL } from './records.ts';
import { ImportTally, type ImportResult, type PreviousImport } from './report.ts';
import {
  copyStagedRows,
  createStagingTables,
  indexStagingTables,
  moveSequence,
  stageDump,
} from './staging.ts';

export { formatImportResult } from './report.ts';
export type { ImportResult } from './report.ts';

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

/** Thrown inside the transaction to roll it back: a refusal or a dry run, not a failure. */
class RollBack extends Error {
  override name = 'RollBack';
  readonly result: ImportResult;
  constructor(result: ImportResult) {
    super(`import ${result.status}: rolled back`);
    this.result = result;
  }
}

async function findPreviousImport(
  trx: Transaction<Database>,
  sha256: string,
): Promise<PreviousImport | undefined> {
  const previous = await trx
    .selectFrom('django_imports')
    .select(['file_name', 'imported_at', 'users', 'items'])
    .where('sha256', '=', sha256)
    .executeTakeFirst();
  return (
    previous && {
      fileName: previous.file_name,
      importedAt: previous.imported_at,
      users: previous.users,
      items: previous.items,
    }
  );
}

async function importInTransaction(
  trx: Transaction<Database>,
  source: AsyncIterable<Uint8Array | string>,
  options: ImportOptions,
): Promise<ImportResult> {
  const {
    dryRun = false,
    fileName = '(unnamed)',
    onProgress,
    progressEvery = 10_000,
    batchSize = 1_000,
  } = options;
  const tally = new ImportTally();
  const report = (phase: ImportProgress['phase']) =>
    onProgress?.({ phase, records: tally.records, bytes: tally.bytes });

  await createStagingTables(trx);
  const { sha256, readToTheEnd } = await stageDump(trx, source, tally, {
    batchSize,
    progressEvery,
    onProgress: () => report('reading'),
  });

  // Writers wait from here to the end, readers do not; a concurrent import of the same file
  // waits here and then finds the first one's row.
  await sql`lock table users, stored_items, django_imports in share row exclusive mode`.execute(
    trx,
  );
  const alreadyImported = await findPreviousImport(trx, sha256);
  if (alreadyImported) {
    throw new RollBack(tally.result({ status: 'refused', dryRun, sha256, alreadyImported }));
  }

  if (readToTheEnd) {
    report('checking');
    await indexStagingTables(trx);
    await findCrossRecordProblems(trx, tally.problems);
    if (tally.problems.total === 0 && tally.users === 0 && tally.items === 0) {
      tally.problems.add({
        kind: 'file',
        message: `The file has no ${USER_MODEL} or ${ITEM_MODEL} records: there is nothing to import.`,
      });
    }
  }
  if (tally.problems.total > 0) {
    throw new RollBack(tally.result({ status: 'refused', dryRun, sha256 }));
  }

  report('writing');
  await copyStagedRows(trx);
  const nextUserId = await moveSequence(trx, 'users', dryRun);
  const nextItemId = await moveSequence(trx, 'stored_items', dryRun);
  await trx
    .insertInto('django_imports')
    .values({ sha256, file_name: fileName, users: tally.users, items: tally.items })
    .execute();
  const result = tally.result({
    status: dryRun ? 'checked' : 'imported',
    dryRun,
    sha256,
    nextUserId,
    nextItemId,
  });
  if (dryRun) throw new RollBack(result);
  return result;
}

/**
 * Imports a dumpdata file read from `source` (a file stream, say) into `db`. Resolves with
 * what was (or, on a dry run, would be) imported, or with the problems found; rejects only
 * when the database fails.
 */
export async function importDjangoDump(
  db: Kysely<Database>,
  source: AsyncIterable<Uint8Array | string>,
  options: ImportOptions = {},
): Promise<ImportResult> {
  try {
    // Each inventory it fills gets one change in its history: imported, by no one signed in.
    const imported = { actor: null, via: 'import', token: null, action: 'import' } as const;
    return await asChange(db, imported, (trx) => importInTransaction(trx, source, options));
  } catch (error) {
    if (error instanceof RollBack) return error.result;
    throw error;
  }
}
