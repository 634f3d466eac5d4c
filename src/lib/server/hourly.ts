import { auth } from './auth/index.ts';
import { deleteExpiredImports } from './csv/pending.ts';
import { deleteStaleAttempts } from './auth/throttle.ts';
import { db } from './db/index.ts';
import { purgeExpiredTrash } from './history/trash.ts';
import { onShutdown } from './lifecycle.ts';
import { logger } from './logger.ts';

/**
 * Hourly upkeep, by every process (each step is one statement, safe to run twice at once):
 * expired sessions, stale throttle counts, CSV files never confirmed, and items past their
 * time in the trash.
 */
const INTERVAL_MS = 60 * 60 * 1000;

async function upkeep(): Promise<void> {
  try {
    await auth.deleteExpiredSessions();
    await deleteStaleAttempts(db);
    await deleteExpiredImports(db);
    const purged = await purgeExpiredTrash(db);
    if (purged > 0) logger.info({ purged }, 'purged items kept 30 days in the trash');
  } catch (error) {
    logger.warn({ err: (error as Error).message }, 'hourly upkeep failed; will retry');
  }
}

const timer = setInterval(() => void upkeep(), INTERVAL_MS);
timer.unref();
onShutdown(async () => clearInterval(timer));
