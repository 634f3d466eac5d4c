import { config, ConfigError } from '../src/lib/server/config.ts';
import { openDatabase } from '../src/lib/server/db/connect.ts';
import { migrateToLatest } from '../src/lib/server/db/migrate.ts';

/** Applies pending migrations to the configured database and closes it again. */
export async function migrateConfiguredDatabase(): Promise<string[]> {
  const settings = config();
  const handle = openDatabase({
    databaseUrl: settings.DATABASE_URL,
    poolSize: 1,
    dataDir: settings.DATA_DIR,
  });
  try {
    const results = await migrateToLatest(handle.db);
    return results.map((result) => result.migrationName);
  } finally {
    await handle.close();
  }
}

if (import.meta.main) {
  try {
    const applied = await migrateConfiguredDatabase();
    process.stdout.write(
      applied.length === 0
        ? 'The database is up to date.\n'
        : `Applied ${applied.length} migration(s): ${applied.join(', ')}\n`,
    );
  } catch (error) {
    process.stderr.write(`${error instanceof ConfigError ? error.message : String(error)}\n`);
    process.exitCode = 1;
  }
}
