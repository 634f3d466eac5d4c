import { db, notifications } from '../db/index.ts';
import { onShutdown } from '../lifecycle.ts';
import { logger } from '../logger.ts';
import { createLucia } from './lucia.ts';
import { deleteStaleAttempts } from './throttle.ts';

/** Lucia bound to the process's database, hearing what other processes on it end. */
export const auth = createLucia(db, notifications);

/** Expired sessions and stale throttle counts are deleted hourly, by every process. */
const CLEANUP_INTERVAL_MS = 60 * 60 * 1000;

async function cleanUp(): Promise<void> {
  try {
    await auth.deleteExpiredSessions();
    await deleteStaleAttempts(db);
  } catch (error) {
    logger.warn({ err: (error as Error).message }, 'session cleanup failed; will retry');
  }
}

const cleanupTimer = setInterval(() => void cleanUp(), CLEANUP_INTERVAL_MS);
cleanupTimer.unref();
onShutdown(async () => clearInterval(cleanupTimer));
