/**
 * The embedded database's memory and speed (issue 20): the site on PGlite, as a self-hoster
 * without PostgreSQL runs it, from a first start on an empty data directory to an idle server
 * holding `items` items, and the time its heaviest pages take there.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openDatabase } from '../src/lib/server/db/connect.ts';
import { migrateToLatest } from '../src/lib/server/db/migrate.ts';
import { createUser, seedManyItems } from './database.ts';
import { formatTable } from './load.ts';
import { mb, readMemory, sampleRss, startServerProcess, type ServerProcess } from './processes.ts';

/** How long a started server is left alone before its idle memory is read. */
const SETTLE_MS = 10_000;

/** Each timed page is loaded this many times; the median is reported. */
const PAGE_REPEATS = 5;

export interface EmbeddedOptions {
  items: number;
  nodeFlags: string[];
  logDir: string;
}

interface StartMemory {
  case: string;
  listeningMs: number;
  /** The most resident from spawn until SETTLE_MS after it answered (VmHWM). */
  peakKb: number;
  idleKb: number;
}

async function startEmbedded(
  dataDir: string,
  options: EmbeddedOptions,
  name: string,
): Promise<{ site: ServerProcess; memory: StartMemory }> {
  const started = performance.now();
  const site = await startServerProcess({
    name,
    script: 'scripts/start.ts',
    // No DATABASE_URL: the embedded database in DATA_DIR, as `npm start` runs by default.
    env: { DATA_DIR: dataDir, LOG_LEVEL: 'warn', NODE_ENV: 'production', DATABASE_URL: '' },
    nodeArgs: options.nodeFlags,
    logFile: path.join(options.logDir, `embedded-${name.replace(/\W+/g, '-')}.log`),
  });
  const listeningMs = performance.now() - started;
  await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
  const { rssKb, peakKb } = await readMemory(site.pid);
  return { site, memory: { case: name, listeningMs, peakKb, idleKb: rssKb } };
}

interface PageTiming {
  page: string;
  medianMs: number;
  bytes: number;
  /** The most resident while the page was loaded (kB). */
  peakKb: number;
}

async function timePage(site: ServerProcess, cookie: string, page: string, repeats: number) {
  const sampler = sampleRss(site.pid, 20);
  const times: number[] = [];
  let bytes = 0;
  for (let i = 0; i < repeats; i += 1) {
    const started = performance.now();
    const response = await fetch(`${site.url}${page}`, { headers: { Cookie: cookie } });
    bytes = (await response.arrayBuffer()).byteLength;
    if (response.status !== 200) throw new Error(`GET ${page} answered ${response.status}`);
    times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  return {
    page,
    medianMs: times[Math.floor(times.length / 2)]!,
    bytes,
    peakKb: await sampler.stop(),
  } satisfies PageTiming;
}

/** Runs the embedded case; prints its tables and returns whether every page answered 200. */
export async function embeddedPhase(options: EmbeddedOptions): Promise<boolean> {
  const dataDir = path.join(mkdtempSync(path.join(os.tmpdir(), 'pacil-embedded-')), 'data');
  try {
    console.log(
      `\nembedded: node ${[...options.nodeFlags, 'scripts/start.ts'].join(' ')}, DATA_DIR ${dataDir}`,
    );
    const starts: StartMemory[] = [];
    for (const name of ['first start (new data directory)', 'restart (empty database)']) {
      const { site, memory } = await startEmbedded(dataDir, options, name);
      starts.push(memory);
      await site.stop();
    }

    // Seeded in this process, with the server stopped: the data directory has one user at a time.
    const seeding = performance.now();
    const handle = openDatabase({ dataDir, poolSize: 1 });
    await migrateToLatest(handle.db);
    const owner = await createUser(handle.db, 'bench_embedded');
    await seedManyItems(handle.db, owner.id, options.items);
    await handle.close();
    console.log(
      `embedded: seeded ${options.items} items in ${((performance.now() - seeding) / 1000).toFixed(1)} s`,
    );

    const { site, memory } = await startEmbedded(
      dataDir,
      options,
      `start with ${options.items} items`,
    );
    starts.push(memory);
    const pages = ['/', '/?page=2', '/?sort=name', '/?q=ipsum', '/?q=none-such'];
    const timings: PageTiming[] = [];
    for (const page of pages) timings.push(await timePage(site, owner.cookie, page, PAGE_REPEATS));
    timings.push(await timePage(site, owner.cookie, '/json/', 1));
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
    const after = await readMemory(site.pid);
    await site.stop();

    console.log(
      formatTable(
        ['embedded server', 'answers after', 'peak RSS', 'idle RSS'],
        starts.map((s) => [
          s.case,
          `${(s.listeningMs / 1000).toFixed(1)} s`,
          mb(s.peakKb),
          mb(s.idleKb),
        ]),
      ),
    );
    console.log(
      formatTable(
        [`page (${options.items} items)`, 'median ms', 'size', 'peak RSS during'],
        timings.map((t) => [
          `GET ${t.page}${t.page === '/json/' ? ' (once)' : ` (×${PAGE_REPEATS})`}`,
          t.medianMs.toFixed(1),
          `${(t.bytes / 1024).toFixed(0)} KB`,
          mb(t.peakKb),
        ]),
      ),
    );
    console.log(
      `embedded idle after those pages: ${mb(after.rssKb)}; peak over the server's life ${mb(after.peakKb)}`,
    );
    return true;
  } finally {
    rmSync(path.dirname(dataDir), { recursive: true, force: true });
  }
}
