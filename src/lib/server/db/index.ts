import { config } from '../config.ts';
import { onShutdown } from '../lifecycle.ts';
import { logger } from '../logger.ts';
import { openDatabase } from './connect.ts';
import { openNotificationBus } from './notifications.ts';

export { pingDatabase } from './connect.ts';

const settings = config();
const handle = openDatabase({
  databaseUrl: settings.DATABASE_URL,
  poolSize: settings.DB_POOL_SIZE,
  dataDir: settings.DATA_DIR,
  onIdleError: (error) => logger.warn({ err: error.message }, 'database connection lost'),
});
onShutdown(handle.close);

/** The process's one database handle (a `pg` pool, or the embedded PGlite database). */
export const db = handle.db;

/** Tells every process sharing the database what to forget (nothing to tell on PGlite). */
export const notifications = openNotificationBus({
  databaseUrl: settings.DATABASE_URL,
  log: logger,
});
// Hooks run newest first: the listener closes before the pool.
onShutdown(() => notifications.close());
