import cluster, { type Worker } from 'node:cluster';
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
 *
 * With WEB_CONCURRENCY=n (n > 1, PostgreSQL only) this process builds and migrates once,
 * then runs n server processes (node:cluster workers, sharing the port), starts another
 * when one dies, and on SIGTERM or SIGINT stops them all gracefully and exits 0.
 */
const STOP_GRACE_MS = 8_000;
/**
 * A stop takes at most STOP_GRACE_MS plus closing the database; a server process still
 * running past this has hung, and exits (or, a worker, is killed) with status 1.
 */
const STOP_DEADLINE_MS = STOP_GRACE_MS + 4_000;
/** A worker that dies sooner than this after its start counts towards a crash loop. */
const HEALTHY_AFTER_MS = 10_000;
/** The wait before starting a worker again doubles with each quick death, within these. */
const RESTART_MIN_MS = 250;
const RESTART_MAX_MS = 15_000;

const settings = configuredSettings();
if (!settings) process.exit(1);
const { logger } = await import('../src/lib/server/logger.ts');

if (cluster.isPrimary) {
  const processes = settings.WEB_CONCURRENCY;
  if (processes > 1 && !settings.DATABASE_URL) {
    process.stderr.write(
      `WEB_CONCURRENCY=${process.env.WEB_CONCURRENCY ?? ''} asks for ${processes} server ` +
        `processes, but the embedded database belongs to one process: set WEB_CONCURRENCY=1, ` +
        `or use PostgreSQL with DATABASE_URL=postgres://… (see "PostgreSQL, and several ` +
        `server processes" in README.md).\n`,
    );
    process.exit(1);
  }
  buildIfStale();
  const applied = await migrateConfiguredDatabase();
  if (applied?.length) logger.info({ migrations: applied }, 'applied migrations');
  if (processes > 1) superviseWorkers(processes);
  else await serve();
} else {
  // A worker: the primary has built and migrated.
  await serve();
}

/** Serves the built site in this process until SIGTERM or SIGINT. */
async function serve(): Promise<void> {
  const { DATABASE_URL, HOST, PORT, TRUST_PROXY, HEADERS_TIMEOUT_SECONDS } = settings!;
  const log = cluster.isWorker ? logger.child({ worker: cluster.worker!.id }) : logger;
  // The adapter runs in middleware mode: it renders, and this front serves the static files.
  const entry = (await import(pathToFileURL(SERVER_ENTRY).href)) as {
    handler: (...args: Parameters<RequestListener>) => Promise<void>;
  };
  const serveStaticFile = createStaticFileHandler(CLIENT_DIR);
  const server = createSiteServer({
    handler: (req, res) => {
      if (!serveStaticFile(req, res)) void entry.handler(req, res);
    },
    logger: log,
    trustProxy: TRUST_PROXY,
    headersTimeoutMs: HEADERS_TIMEOUT_SECONDS * 1000,
  });

  server.on('error', (error) => {
    log.fatal({ err: error.message }, 'the server could not start');
    process.exit(1);
  });
  server.listen(PORT, HOST, () => {
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : PORT;
    log.info(
      { url: `http://${HOST}:${port}`, database: DATABASE_URL ? 'postgres' : 'pglite' },
      'listening',
    );
    if (cluster.isPrimary) announce(port);
  });

  let stopping = false;
  async function stop(signal: NodeJS.Signals): Promise<void> {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping: finishing requests in flight');
    setTimeout(() => {
      log.error('the stop hung; exiting');
      logger.flush();
      process.exit(1);
    }, STOP_DEADLINE_MS).unref();
    await stopServer(server, STOP_GRACE_MS);
    try {
      await runShutdownHooks();
    } catch (error) {
      log.error({ err: String(error) }, 'error while closing the database');
    }
    log.info('stopped');
    logger.flush();
    process.exit(0);
  }
  process.once('SIGTERM', (signal) => void stop(signal));
  process.once('SIGINT', (signal) => void stop(signal));
}

/**
 * The primary of WEB_CONCURRENCY > 1: keeps `count` workers running. Workers run with this
 * process's node flags (`npm start`'s, see server-node-flags.ts, or a benchmark's own).
 */
function superviseWorkers(count: number): void {
  cluster.setupPrimary({ execArgv: process.execArgv });
  const startedAt = new Map<Worker, number>();
  const restarts = new Set<NodeJS.Timeout>();
  let anyListened = false;
  let quickDeaths = 0;
  let stopping = false;
  let stopCode = 0;

  const fork = () => {
    const worker = cluster.fork();
    startedAt.set(worker, performance.now());
    worker.once('listening', (address) => {
      if (!anyListened) {
        logger.info({ processes: count }, 'serving with several processes');
        announce(address.port);
      }
      anyListened = true;
    });
  };

  const exit = (code: number) => {
    logger.info('stopped');
    logger.flush();
    process.exit(code);
  };

  cluster.on('exit', (worker, code, signal) => {
    const lived = performance.now() - (startedAt.get(worker) ?? 0);
    startedAt.delete(worker);
    const details = { worker: worker.id, pid: worker.process.pid, code, signal };
    if (stopping) {
      if (code !== 0) logger.warn(details, 'a server process did not stop cleanly');
      if (startedAt.size === 0) exit(stopCode);
      return;
    }
    if (!anyListened) {
      // Before any worker served: a setting or the port, which another start will not fix.
      logger.fatal(details, 'a server process failed to start; stopping');
      void stopAll('SIGTERM', 1);
      return;
    }
    quickDeaths = lived < HEALTHY_AFTER_MS ? quickDeaths + 1 : 0;
    const delay =
      quickDeaths === 0 ? 0 : Math.min(RESTART_MIN_MS * 2 ** (quickDeaths - 1), RESTART_MAX_MS);
    logger.error({ ...details, restartInMs: delay }, 'a server process died; starting another');
    const timer = setTimeout(() => {
      restarts.delete(timer);
      if (!stopping) fork();
    }, delay);
    restarts.add(timer);
  });

  /** Asks every worker to stop (each drains its requests and closes the database). */
  async function stopAll(signal: NodeJS.Signals, code = 0): Promise<void> {
    if (stopping) return;
    stopping = true;
    stopCode = code;
    logger.info({ signal, processes: startedAt.size }, 'stopping every server process');
    for (const timer of restarts) clearTimeout(timer);
    if (startedAt.size === 0) exit(stopCode);
    for (const worker of startedAt.keys()) worker.process.kill('SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, STOP_DEADLINE_MS).unref());
    for (const worker of startedAt.keys()) {
      logger.error({ worker: worker.id, pid: worker.process.pid }, 'a server process hung; killed');
      worker.process.kill('SIGKILL');
    }
    exit(1);
  }

  for (let i = 0; i < count; i += 1) fork();
  process.once('SIGTERM', (signal) => void stopAll(signal));
  process.once('SIGINT', (signal) => void stopAll(signal));
}

/**
 * One plain line for the person who ran `npm start`, among the JSON logs: where to open the
 * site. A wildcard or loopback address is one they can open as localhost.
 */
function announce(port: number): void {
  const { HOST } = settings!;
  const local = ['0.0.0.0', '::', '127.0.0.1', '::1', 'localhost'].includes(HOST);
  const host = local ? 'localhost' : HOST.includes(':') ? `[${HOST}]` : HOST;
  process.stdout.write(`Pacil Inventory is running at http://${host}:${port}\n`);
}
