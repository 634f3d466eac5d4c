import { config, ConfigError } from '../src/lib/server/config.ts';
import { openDatabase, type DatabaseHandle } from '../src/lib/server/db/connect.ts';

/**
 * The database the site is configured for (DATABASE_URL, else the embedded one in
 * DATA_DIR), with one connection: what the command-line scripts work on. A bad setting is
 * reported on stderr and gives undefined, so each script can exit with its own status.
 */
export function openConfiguredDatabase(): DatabaseHandle | undefined {
  let settings;
  try {
    settings = config();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`${error.message}\n`);
    return undefined;
  }
  return openDatabase({
    databaseUrl: settings.DATABASE_URL,
    dataDir: settings.DATA_DIR,
    poolSize: 1,
  });
}
