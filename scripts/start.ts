import { pathToFileURL } from 'node:url';
import { runShutdownHooks } from '../src/lib/server/lifecycle.ts';
import {
  createSiteServer,
  stopServer,
  type RequestListener,
} from '../src/lib/server/node-server.ts';
import { createStaticFileHandler } from '../src/lib/server/static-files.ts';
import { buildIfStale, CLIENT_DIR, SERVER_ENTRY } from './build-if-stale.ts';
import { configuredSettings, migrateConfiguredDatabase } from './configured-database.ts';

/**
 * `npm start`: build when `dist/` is missing or stale, apply pending migrations, then serve
 * the built site until SIGTERM or SIGINT, which stop it gracefully (exit status 0).
 */
const STOP_GRACE_MS = 8_000;

const settings = configuredSettings();
if (!settings) process.exit(1);
const { logger } = await import('../src/lib/server/logger.ts');

buildIfStale();
const applied = await migrateConfiguredDatabase();
if (applied?.length) logger.info({ migrations: applied }, 'applied migrations');

// The adapter runs in middleware mode: it renders, and this front serves the static files.
const entry = (await import(pathToFileURL(SERVER_ENTRY).href)) as {
  handler: (...args: Parameters<RequestListener>) => Promise<void>;
};
const serveStaticFile = createStaticFileHandler(CLIENT_DIR);
const server = createSiteServer({
  handler: (req, res) => {
    if (!serveStaticFile(req, res)) void entry.handler(req, res);
  },
  logger,
  trustProxy: settings.TRUST_PROXY,
  headersTimeoutMs: settings.HEADERS_TIMEOUT_SECONDS * 1000,
});

server.on('error', (error) => {
  logger.fatal({ err: error.message }, 'the server could not start');
  process.exit(1);
});
server.listen(settings.PORT, settings.HOST, () => {
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : settings.PORT;
  logger.info(
    {
      url: `http://${settings.HOST}:${port}`,
      database: settings.DATABASE_URL ? 'postgres' : 'pglite',
    },
    'listening',
  );
});

let stopping = false;
async function stop(signal: NodeJS.Signals): Promise<void> {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, 'stopping: finishing requests in flight');
  await stopServer(server, STOP_GRACE_MS);
  try {
    await runShutdownHooks();
  } catch (error) {
    logger.error({ err: String(error) }, 'error while closing the database');
  }
  logger.info('stopped');
  logger.flush();
  process.exit(0);
}
process.once('SIGTERM', (signal) => void stop(signal));
process.once('SIGINT', (signal) => void stop(signal));
