import { config, ConfigError, type Config } from '../src/lib/server/config.ts';
import { openDatabase, type DatabaseHandle } from '../src/lib/server/db/connect.ts';
import { migrateToLatest } from '../src/lib/server/db/migrate.ts';

/**
 * The site's settings for the command-line scripts. A bad setting is reported on stderr
 * and gives undefined, so each script can exit with its own status.
 */
export function configuredSettings(): Config | undefined {
  try {
    return config();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`${error.message}\n`);
    return undefined;
  }
}

/**
 * The database the site is configured for (DATABASE_URL, else the embedded one in
 * DATA_DIR), with one connection: what the command-line scripts work on; undefined after a
 * bad setting was reported.
 */
export function openConfiguredDatabase(): DatabaseHandle | undefined {
  const settings = configuredSettings();
  if (!settings) return undefined;
  return openDatabase({
    databaseUrl: settings.DATABASE_URL,
    dataDir: settings.DATA_DIR,
    poolSize: 1,
  });
}

/**
 * Applies pending migrations to the configured database and closes it again. The names of
 * the migrations applied, or undefined after a bad setting was reported.
 */
export async function migrateConfiguredDatabase(): Promise<string[] | undefined> {
  const handle = openConfiguredDatabase();
  if (!handle) return undefined;
  try {
    const results = await migrateToLatest(handle.db);
    return results.map((result) => result.migrationName);
  } finally {
    await handle.close();
  }
}
