import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Kysely } from 'kysely';
import { FileMigrationProvider, Migrator, type MigrationResult } from 'kysely/migration';

const MIGRATIONS_FOLDER = fileURLToPath(new URL('../../../../db/migrations', import.meta.url));

class MigrationError extends Error {
  override name = 'MigrationError';
}

/**
 * Applies every pending migration in `db/migrations`, in name order. Safe to re-run, and
 * safe when two processes start at once: Kysely takes a PostgreSQL advisory lock for the
 * run, so the second process waits and then finds nothing left to do.
 */
export async function migrateToLatest(
  // Migrations are written against `Kysely<any>`, never the app's current types.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  db: Kysely<any>,
  migrationFolder = MIGRATIONS_FOLDER,
): Promise<MigrationResult[]> {
  const migrator = new Migrator({
    db,
    provider: new FileMigrationProvider({ fs, path, migrationFolder }),
  });
  const { error, results = [] } = await migrator.migrateToLatest();
  if (error) {
    const failed = results.find((result) => result.status === 'Error');
    throw new MigrationError(
      `Migration ${failed?.migrationName ?? '(unknown)'} failed: ${String(error)}`,
      { cause: error },
    );
  }
  return results;
}
