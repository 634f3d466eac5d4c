/**
 * `npm run bench`: the production server under load next to a raw node:http ceiling doing
 * the same work for GET /json/, on a PostgreSQL database of the run's own. See README.md.
 */
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { readlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { buildIfStale } from '../scripts/build-if-stale.ts';
import { serverNodeFlags } from '../scripts/server-node-flags.ts';
import { profilesIn, report, summarize } from './cpuprofile.ts';
import {
  createBenchDatabase,
  createUser,
  itemFor,
  seedItems,
  seedHistory,
  seedManyItems,
  type BenchDatabase,
  type BenchUser,
} from './database.ts';
import { embeddedPhase } from './embedded.ts';
import { downloadCsv, placeManyItems, postCsvImport, spreadsheetOf } from './csv.ts';
import { IMPORT_MAX_ROWS } from '../src/lib/contracts/imports.ts';
import { createInventory } from '../src/lib/server/inventories/inventories.ts';
import { measureExports, stalledDownload, type Download } from './export.ts';
import { explainPlaces, PLACES_ITEMS, seedPlaces } from './places.ts';
import { formatTable, requireWrk, runLoad, type LoadResult, type Scenario } from './load.ts';
import {
  mb,
  processGroup,
  readMemory,
  startServerProcess,
  type ServerProcess,
} from './processes.ts';

const SCENARIOS = ['ceiling', 'json', 'xml', 'main', 'post', 'adjust', 'activity'] as const;
type ScenarioKey = (typeof SCENARIOS)[number];

/**
 * Sessions of the user the POST scenario loads, taken in turn: at 1,500 requests a second
 * each gets about 350 a minute, within the API's 600 a minute per session and process.
 */
const WRITER_SESSIONS = 256;

/** The history the Activity scenario reads: a long-lived, busy inventory's. */
const HISTORY_CHANGES = 100_000;

const TARGETS = {
  // Issue 20: of the ceiling's /json/ req/s, in one run side by side.
  json: 0.7,
  main: 0.35,
  // Issue 20: WEB_CONCURRENCY=2 against one process, on this 2-core machine.
  twoProcesses: 1.6,
  exportSeconds: 2,
  exportRssMb: 200,
  filtered: 0.8,
  // The Activity page of a long history answers as fast as the main page.
  activity: 1,
};

const USAGE = `usage: npm run bench -- [options]

  --items N           items of the user under load (100)
  --connections N     wrk connections, same for every run (10)
  --threads N         wrk threads, at most --connections (1: leaves the other cores to
                      the servers and PostgreSQL)
  --duration S        seconds of each measured run (10)
  --warmup S          seconds of warm-up before each run, not measured (2)
  --pool N            DB_POOL_SIZE of the site, and the ceiling's pool size (10)
  --log-level L       LOG_LEVEL of the site under load (warn)
  --log-cost          then restart the site at LOG_LEVEL=info and load /json/ and / again
  --export N          then seed N items for a second user and time GET /json/ and /xml/
  --export-repeats N  downloads of each format in the export case (3)
  --csv N             then seed N items (tagged, in places) for a third user and time
                      GET /export.csv of their inventory, newest first and by name
                      (then preview and apply a 50,000-row CSV import into another
                      inventory of theirs)
  --export-stall S    first, seconds a client that has taken the first bytes of /json/
                      reads nothing, the server's memory sampled meanwhile (8; 0 skips it)
  --embedded N        then run the site on the embedded database (PGlite): its memory at a
                      first start, a restart, and with N items, and the time its heaviest
                      pages take there (with --node-flags, the same under other flags)
  --places            then seed an inventory of ${PLACES_ITEMS} items in locations, with tags and
                      minimum amounts; print the plans of its list's filters and load its
                      main page unfiltered and with each filter
  --rounds N          run the scenarios N times, interleaved; report the median (1)
  --web-concurrency N also run the site with WEB_CONCURRENCY=N (node:cluster workers) and
                      load it beside the one process, scenario by scenario (1: off)
  --only LIST         load scenarios, comma-separated: ${SCENARIOS.join(',')} (all); none
                      (adjust: ±1 on one of the writer's items; activity: the reader's
                      Activity page, over a history of ${HISTORY_CHANGES} changes)
  --node-flags S      node's flags for the site instead of those of \`npm start\`
                      (package.json), e.g. "" or "--max-semi-space-size=4"
  --node-options S    NODE_OPTIONS for the site
  --cpu-prof DIR      run the site with node --cpu-prof, write the profile under DIR and
                      print where the time went (use with --only to profile one route)
  --help

The load generator is wrk (apt-get install wrk); "client CPU ms/req" in the tables is wrk's
own CPU time (user + system) per response, beside the server's "CPU ms/req".

Env: BENCH_DATABASE_URL (admin URL, default postgres://postgres@127.0.0.1:5432/postgres).`;

interface Options {
  items: number;
  threads: number;
  connections: number;
  duration: number;
  warmup: number;
  pool: number;
  logLevel: string;
  logCost: boolean;
  exportItems: number;
  exportRepeats: number;
  exportStall: number;
  csvItems: number;
  embeddedItems: number;
  places: boolean;
  rounds: number;
  webConcurrency: number;
  only: Set<ScenarioKey>;
  cpuProfDir: string | undefined;
  nodeOptions: string | undefined;
  nodeFlags: string[];
}

function parseOptions(argv: string[]): Options | undefined {
  const { values } = parseArgs({
    args: argv,
    options: {
      items: { type: 'string', default: '100' },
      threads: { type: 'string', default: '1' },
      connections: { type: 'string', default: '10' },
      duration: { type: 'string', default: '10' },
      warmup: { type: 'string', default: '2' },
      pool: { type: 'string', default: '10' },
      'log-level': { type: 'string', default: 'warn' },
      'log-cost': { type: 'boolean', default: false },
      export: { type: 'string', default: '0' },
      'export-repeats': { type: 'string', default: '3' },
      'export-stall': { type: 'string', default: '8' },
      csv: { type: 'string', default: '0' },
      embedded: { type: 'string', default: '0' },
      places: { type: 'boolean', default: false },
      rounds: { type: 'string', default: '1' },
      'web-concurrency': { type: 'string', default: '1' },
      only: { type: 'string', default: SCENARIOS.join(',') },
      'cpu-prof': { type: 'string' },
      'node-options': { type: 'string' },
      'node-flags': { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) return undefined;
  const count = (name: string, raw: string, min: number) => {
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min) {
      throw new Error(`--${name} must be a whole number of at least ${min}, got ${raw}`);
    }
    return value;
  };
  const only = new Set<ScenarioKey>();
  for (const key of values.only.split(',').map((k) => k.trim())) {
    if (key === 'none' || key === '') continue;
    if (!(SCENARIOS as readonly string[]).includes(key)) {
      throw new Error(`--only: unknown scenario ${key} (known: ${SCENARIOS.join(', ')}, none)`);
    }
    only.add(key as ScenarioKey);
  }
  const threads = count('threads', values.threads, 1);
  const connections = count('connections', values.connections, 1);
  if (connections < threads) {
    throw new Error(`--connections (${connections}) must be at least --threads (${threads})`);
  }
  return {
    items: count('items', values.items, 1),
    threads,
    connections,
    duration: count('duration', values.duration, 1),
    warmup: count('warmup', values.warmup, 0),
    pool: count('pool', values.pool, 1),
    logLevel: values['log-level'],
    logCost: values['log-cost'],
    exportItems: count('export', values.export, 0),
    exportRepeats: count('export-repeats', values['export-repeats'], 1),
    exportStall: count('export-stall', values['export-stall'], 0),
    csvItems: count('csv', values.csv, 0),
    embeddedItems: count('embedded', values.embedded, 0),
    places: values.places,
    rounds: count('rounds', values.rounds, 1),
    webConcurrency: count('web-concurrency', values['web-concurrency'], 1),
    only,
    cpuProfDir: values['cpu-prof'],
    nodeOptions: values['node-options'],
    nodeFlags:
      values['node-flags'] === undefined
        ? serverNodeFlags()
        : values['node-flags'].split(' ').filter(Boolean),
  };
}

/** Cleanup steps, run last-in first-out on the way out, also on Ctrl-C. */
const cleanups: Array<() => Promise<unknown>> = [];
async function cleanUp(): Promise<void> {
  while (cleanups.length > 0) {
    try {
      await cleanups.pop()!();
    } catch (error) {
      console.error(`cleanup: ${String(error)}`);
    }
  }
}

const loadAverage = () =>
  os
    .loadavg()
    .map((value) => value.toFixed(2))
    .join(' ');

const percent = (ratio: number) => `${(ratio * 100).toFixed(0)}%`;

function verdict(ratio: number, target: number): string {
  return ratio >= target ? `meets ≥ ${percent(target)}` : `BELOW the ${percent(target)} target`;
}

/** The site as `npm start` runs it: one process, or `processes` node:cluster workers. */
async function startSite(
  database: BenchDatabase,
  options: Options,
  logLevel: string,
  logDir: string,
  profileDir?: string,
  processes = 1,
): Promise<ServerProcess> {
  const several = processes > 1 ? `×${processes}` : '';
  const site = await startServerProcess({
    name: `site${several} (LOG_LEVEL=${logLevel})`,
    script: 'scripts/start.ts',
    env: {
      DATABASE_URL: database.url,
      DB_POOL_SIZE: String(options.pool),
      LOG_LEVEL: logLevel,
      NODE_ENV: 'production',
      WEB_CONCURRENCY: String(processes),
      ...(options.nodeOptions ? { NODE_OPTIONS: options.nodeOptions } : {}),
    },
    nodeArgs: [...options.nodeFlags, ...cpuProfArgs(profileDir)],
    logFile: path.join(logDir, `site${several}-${logLevel}.log`),
  });
  cleanups.push(() => site.stop());
  return site;
}

const cpuProfArgs = (dir: string | undefined) =>
  dir ? ['--cpu-prof', `--cpu-prof-dir=${dir}`] : [];

/** Fails loudly unless the site and the ceiling answer GET /json/ with the same bytes. */
async function verifyIdenticalJson(
  site: ServerProcess,
  ceiling: ServerProcess,
  user: BenchUser,
  items: number,
): Promise<void> {
  const bodies: Buffer[] = [];
  for (const server of [site, ceiling]) {
    const response = await fetch(`${server.url}/json/`, { headers: { Cookie: user.cookie } });
    const body = Buffer.from(await response.arrayBuffer());
    if (response.status !== 200) {
      throw new Error(`${server.name} GET /json/ answered ${response.status}: ${body}`);
    }
    const type = response.headers.get('content-type');
    if (type !== 'application/json') throw new Error(`${server.name} sent Content-Type ${type}`);
    bodies.push(body);
  }
  const [fromSite, fromCeiling] = bodies as [Buffer, Buffer];
  if (!fromSite.equals(fromCeiling)) {
    let at = 0;
    while (at < fromSite.length && fromSite[at] === fromCeiling[at]) at += 1;
    throw new Error(
      `the ceiling's /json/ differs from the site's (${fromCeiling.length} vs ${fromSite.length} ` +
        `bytes), first at byte ${at}:\n  site:    ${JSON.stringify(fromSite.subarray(at, at + 80).toString())}` +
        `\n  ceiling: ${JSON.stringify(fromCeiling.subarray(at, at + 80).toString())}`,
    );
  }
  const parsed = JSON.parse(fromSite.toString('utf8')) as unknown[];
  if (parsed.length !== items) throw new Error(`/json/ held ${parsed.length} items, not ${items}`);
  console.log(`ceiling and site /json/: byte-identical (${fromSite.length} bytes, ${items} items)`);
}

/** One request per site scenario before loading it: a misconfiguration fails here, clearly. */
async function preflight(scenarios: Scenario[]): Promise<void> {
  for (const scenario of scenarios) {
    const response = await fetch(scenario.url, {
      method: scenario.method ?? 'GET',
      headers: scenario.headers,
      body: scenario.body?.(),
      redirect: 'manual',
    });
    const body = await response.text();
    if (response.status < 200 || response.status >= 300) {
      throw new Error(`${scenario.label} answered ${response.status}: ${body.slice(0, 300)}`);
    }
  }
}

function loadTable(results: LoadResult[], ceilingRps: number | undefined): string {
  return formatTable(
    [
      'scenario',
      'req/s',
      'p50 ms',
      'p99 ms',
      'errors',
      'non-2xx',
      'peak RSS',
      'CPU ms/req',
      'client CPU ms/req',
      '÷ ceiling',
    ],
    results.map((r) => [
      r.scenario.label,
      r.requestsPerSecond.toFixed(0),
      r.p50.toFixed(1),
      r.p99.toFixed(1),
      String(r.errors),
      r.non2xx === 0 ? '0' : `${r.non2xx} ${JSON.stringify(r.otherStatuses)}`,
      mb(r.peakRssKb),
      r.cpuMsPerRequest.toFixed(2),
      r.clientCpuMsPerRequest.toFixed(3),
      ceilingRps && r.scenario.key !== 'ceiling' ? percent(r.requestsPerSecond / ceilingRps) : '',
    ]),
  );
}

function exportTable(downloads: Download[], items: number): string {
  return formatTable(
    [
      'export',
      'size',
      'first byte',
      'last byte',
      'server CPU',
      'RSS before',
      'peak RSS during',
      'items',
    ],
    downloads.map((d) => [
      `GET /${d.format}/`,
      `${(d.bytes / 1024 / 1024).toFixed(1)} MB`,
      `${d.firstByteMs.toFixed(0)} ms`,
      `${(d.lastByteMs / 1000).toFixed(2)} s`,
      `${(d.cpuMs / 1000).toFixed(2)} s`,
      mb(d.rssBeforeKb),
      mb(d.peakRssKb),
      d.status === 200 && d.objects === items
        ? `${d.objects} ok`
        : `${d.objects} BAD (${d.status})`,
    ]),
  );
}

/** What the adjust and activity scenarios load, when they were seeded. */
interface Targets {
  adjustItemId?: number;
  historyInventoryId?: number;
}

/** The scenarios in `keys`; `name` labels the site's (and suffixes their keys) when not 'site'. */
function scenariosFor(
  keys: Set<ScenarioKey>,
  site: ServerProcess,
  ceiling: ServerProcess | undefined,
  reader: BenchUser,
  writer: BenchUser,
  targets: Targets,
  name = 'site',
): Scenario[] {
  let posted = 0;
  let adjusted = 0;
  const suffix = name === 'site' ? '' : name.slice('site'.length);
  const all: Record<ScenarioKey, Scenario | undefined> = {
    ceiling: ceiling && {
      key: 'ceiling',
      label: 'ceiling GET /json/',
      url: `${ceiling.url}/json/`,
      headers: { Cookie: reader.cookie },
      pid: ceiling.pid,
    },
    json: {
      key: `json${suffix}`,
      label: `${name} GET /json/`,
      url: `${site.url}/json/`,
      headers: { Cookie: reader.cookie },
      pid: site.pid,
    },
    xml: {
      key: `xml${suffix}`,
      label: `${name} GET /xml/`,
      url: `${site.url}/xml/`,
      headers: { Cookie: reader.cookie },
      pid: site.pid,
    },
    main: {
      key: `main${suffix}`,
      label: `${name} GET / (signed in)`,
      url: `${site.url}/`,
      headers: { Cookie: reader.cookie, Accept: 'text/html' },
      pid: site.pid,
    },
    post: {
      key: `post${suffix}`,
      label: `${name} POST /api/items`,
      url: `${site.url}/api/items`,
      method: 'POST',
      // The writer is another user, so the reader's /json/ stays the same size.
      headers: {
        Cookie: writer.cookie,
        Origin: site.url,
        'Content-Type': 'application/json',
        Accept: 'application/json',
      },
      body: () => JSON.stringify(itemFor((posted += 1))),
      // Round the writer's sessions, each within the API's budget per session and minute.
      cookie: () => writer.cookies[posted % writer.cookies.length]!,
      pid: site.pid,
    },
    adjust: targets.adjustItemId
      ? {
          key: `adjust${suffix}`,
          label: `${name} POST /api/items/{id}/adjust`,
          url: `${site.url}/api/items/${targets.adjustItemId}/adjust`,
          method: 'POST',
          headers: {
            Cookie: writer.cookie,
            Origin: site.url,
            'Content-Type': 'application/json',
            Accept: 'application/json',
          },
          // Up and down in turn, so the amount stays in range however long the run.
          body: () => JSON.stringify({ delta: (adjusted += 1) % 2 === 0 ? -1 : 1 }),
          cookie: () => writer.cookies[adjusted % writer.cookies.length]!,
          pid: site.pid,
        }
      : undefined,
    activity: targets.historyInventoryId
      ? {
          key: `activity${suffix}`,
          label: `${name} GET /inventories/{id}/activity`,
          url: `${site.url}/inventories/${targets.historyInventoryId}/activity`,
          headers: { Cookie: reader.cookie, Accept: 'text/html' },
          pid: site.pid,
        }
      : undefined,
  };
  return SCENARIOS.filter((key) => keys.has(key))
    .map((key) => all[key])
    .filter((scenario): scenario is Scenario => scenario !== undefined);
}

/**
 * Every scenario once per round, in order, so that slow drifts in the machine's load touch
 * the ceiling and the site alike; per scenario, the round with the median req/s is kept
 * (with the errors and non-2xx of all rounds, and the most memory seen in any).
 */
/** A scenario's result over all rounds: the median round, plus every round. */
interface RoundsResult extends LoadResult {
  rounds: LoadResult[];
}

const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

async function runRounds(
  scenarios: Scenario[],
  options: Options,
  rounds: number,
): Promise<RoundsResult[]> {
  const byScenario = new Map<Scenario, LoadResult[]>(scenarios.map((s) => [s, []]));
  for (let round = 1; round <= rounds; round += 1) {
    for (const scenario of scenarios) {
      const prefix = rounds > 1 ? `round ${round}/${rounds}: ` : '';
      process.stdout.write(`${prefix}loading ${scenario.label} …`);
      const result = await runLoad(scenario, options);
      console.log(
        ` ${result.requestsPerSecond.toFixed(0)} req/s, p99 ${result.p99.toFixed(1)} ms` +
          (result.errors || result.non2xx
            ? `, ${result.errors} errors, ${result.non2xx} non-2xx`
            : ''),
      );
      byScenario.get(scenario)!.push(result);
    }
  }
  return scenarios.map((scenario) => {
    const all = byScenario.get(scenario)!;
    const sorted = [...all].sort((a, b) => a.requestsPerSecond - b.requestsPerSecond);
    const middle = sorted[Math.floor(sorted.length / 2)]!;
    const otherStatuses: Record<string, number> = {};
    for (const result of all) {
      for (const [status, count] of Object.entries(result.otherStatuses)) {
        otherStatuses[status] = (otherStatuses[status] ?? 0) + count;
      }
    }
    return {
      ...middle,
      rounds: all,
      cpuMsPerRequest: median(all.map((r) => r.cpuMsPerRequest)),
      clientCpuMsPerRequest: median(all.map((r) => r.clientCpuMsPerRequest)),
      errors: all.reduce((sum, r) => sum + r.errors, 0),
      non2xx: all.reduce((sum, r) => sum + r.non2xx, 0),
      otherStatuses,
      peakRssKb: Math.max(...all.map((r) => r.peakRssKb)),
    };
  });
}

function failed(results: LoadResult[]): boolean {
  return results.some((r) => r.errors > 0 || r.non2xx > 0);
}

function printProfile(phase: string, dir: string): void {
  const profiles = profilesIn(dir);
  if (profiles.length === 0) {
    console.log(`no .cpuprofile written under ${dir}`);
    return;
  }
  console.log(`\nCPU profile: ${phase} (${dir}):`);
  console.log(report(summarize(profiles), 25));
}

interface Run {
  /** Phase name → directory of the CPU profile written by that phase's site. */
  profiles: Map<string, string>;
  options: Options;
  database: BenchDatabase;
  logDir: string;
  reader: BenchUser;
  writer: BenchUser;
  targets: Targets;
}

/** A fresh directory for the CPU profile of a phase's site, when --cpu-prof was given. */
function profileDir(run: Run, phase: string): string | undefined {
  if (!run.options.cpuProfDir) return undefined;
  const root = path.resolve(run.options.cpuProfDir);
  mkdirSync(root, { recursive: true });
  const dir = mkdtempSync(path.join(root, `${phase}-`));
  run.profiles.set(phase, dir);
  return dir;
}

/** Phase 1: the site and the ceiling under load. Returns the results, or [] if none ran. */
async function loadPhase(run: Run): Promise<LoadResult[]> {
  const { options, database, logDir, reader, writer, targets } = run;
  const site = await startSite(
    database,
    options,
    options.logLevel,
    logDir,
    profileDir(run, 'site-load'),
  );
  const executable = await readlink(`/proc/${site.pid}/exe`);
  console.log(
    `site: ${site.url}, pid ${site.pid} (${executable}, Node ${process.version}), ` +
      `node ${[...options.nodeFlags, 'scripts/start.ts'].join(' ')}, ` +
      `LOG_LEVEL=${options.logLevel}, DB_POOL_SIZE=${options.pool}, ` +
      (options.nodeOptions ? `NODE_OPTIONS=${options.nodeOptions}, ` : '') +
      `RSS at start ${mb((await readMemory(site.pid)).rssKb)}`,
  );
  let ceiling: ServerProcess | undefined;
  if (options.only.has('ceiling')) {
    ceiling = await startServerProcess({
      name: 'ceiling',
      script: 'bench/ceiling.ts',
      env: { DATABASE_URL: database.url, DB_POOL_SIZE: String(options.pool) },
      nodeArgs: cpuProfArgs(profileDir(run, 'ceiling')),
      logFile: path.join(logDir, 'ceiling.log'),
    });
    cleanups.push(() => ceiling!.stop());
    console.log(
      `ceiling: ${ceiling.url}, pid ${ceiling.pid}, pg pool of ${options.pool}, ` +
        `RSS at start ${mb((await readMemory(ceiling.pid)).rssKb)}`,
    );
    await verifyIdenticalJson(site, ceiling, reader, options.items);
  }

  let scenarios = scenariosFor(options.only, site, ceiling, reader, writer, targets);
  let cluster: ServerProcess | undefined;
  if (options.webConcurrency > 1) {
    cluster = await startSite(
      database,
      options,
      options.logLevel,
      logDir,
      undefined,
      options.webConcurrency,
    );
    const pids = await processGroup(cluster.pid);
    const rss = await Promise.all(pids.map(async (pid) => (await readMemory(pid)).rssKb));
    console.log(
      `${cluster.name}: ${cluster.url}, WEB_CONCURRENCY=${options.webConcurrency}: primary ` +
        `pid ${cluster.pid}, workers ${pids.slice(1).join(', ')}; RSS at start ` +
        `${mb(rss.reduce((sum, kb) => sum + kb, 0))} together`,
    );
    const many = scenariosFor(
      options.only,
      cluster,
      undefined,
      reader,
      writer,
      targets,
      `site×${options.webConcurrency}`,
    );
    // Each of the site's scenarios beside its counterpart, so both see the same drift.
    scenarios = scenarios.flatMap((one) => {
      const counterpart = many.find(
        (other) => other.key === `${one.key}×${options.webConcurrency}`,
      );
      return counterpart ? [one, counterpart] : [one];
    });
  }
  await preflight(scenarios.filter((s) => s.key !== 'ceiling'));
  console.log(
    `load: wrk, ${options.threads} thread(s), ` +
      `${Math.floor(options.connections / options.threads) * options.threads} connections, ` +
      `${options.warmup} s warm-up + ` +
      `${options.duration} s per scenario, ${options.rounds} round(s)\n`,
  );
  const results = await runRounds(scenarios, options, options.rounds);
  const ceilingRps = results.find((r) => r.scenario.key === 'ceiling')?.requestsPerSecond;
  console.log(`\n${loadTable(results, ceilingRps)}\n`);
  if (options.rounds > 1) {
    console.log(
      `(each row is the round with the median req/s; CPU ms/req and client CPU ms/req are ` +
        `medians over rounds; ` +
        `errors and non-2xx are summed)`,
    );
  }
  console.log(
    `site peak RSS over the load phase (VmHWM): ${mb((await readMemory(site.pid)).peakKb)}`,
  );
  if (ceiling) {
    console.log(`ceiling peak RSS (VmHWM): ${mb((await readMemory(ceiling.pid)).peakKb)}`);
    await ceiling.stop();
  }
  if (cluster) {
    compareProcesses(results, options.webConcurrency);
    if (failed(results)) console.error(`${cluster.name} log (last lines):\n${cluster.logTail()}`);
    await cluster.stop();
  }
  const ceilingResult = results.find((r) => r.scenario.key === 'ceiling');
  for (const key of ['json', 'main'] as const) {
    const result = results.find((r) => r.scenario.key === key);
    if (!ceilingResult || !result) continue;
    const ratio = result.requestsPerSecond / ceilingResult.requestsPerSecond;
    const perRound = result.rounds.map(
      (r, i) => r.requestsPerSecond / ceilingResult.rounds[i]!.requestsPerSecond,
    );
    console.log(
      `${result.scenario.label} ÷ ceiling GET /json/: ${percent(ratio)} ` +
        `(${verdict(ratio, TARGETS[key])})` +
        (perRound.length > 1 ? `; round by round ${perRound.map(percent).join(', ')}` : '') +
        `; by CPU per request ${percent(ceilingResult.cpuMsPerRequest / result.cpuMsPerRequest)} ` +
        `(${result.cpuMsPerRequest.toFixed(2)} vs ${ceilingResult.cpuMsPerRequest.toFixed(2)} ms)`,
    );
  }

  const main = results.find((r) => r.scenario.key === 'main');
  const activity = results.find((r) => r.scenario.key === 'activity');
  if (main && activity) {
    const ratio = activity.requestsPerSecond / main.requestsPerSecond;
    console.log(
      `${activity.scenario.label} (${HISTORY_CHANGES} changes) ÷ ${main.scenario.label}: ` +
        `${percent(ratio)} (${verdict(ratio, TARGETS.activity)}); CPU per request ` +
        `${activity.cpuMsPerRequest.toFixed(2)} vs ${main.cpuMsPerRequest.toFixed(2)} ms`,
    );
  }

  if (failed(results)) console.error(`site log (last lines):\n${site.logTail()}`);
  // Stopping writes the CPU profile, if one was asked for.
  await site.stop();
  return results;
}

/** With --web-concurrency: each site scenario with n processes beside the same with one. */
function compareProcesses(results: RoundsResult[], processes: number): void {
  const times = (ratio: number) => `${ratio.toFixed(2)}×`;
  for (const many of results) {
    const key = many.scenario.key;
    if (!key.endsWith(`×${processes}`)) continue;
    const one = results.find((r) => r.scenario.key === key.slice(0, key.lastIndexOf('×')));
    if (!one) continue;
    const perRound = many.rounds.map(
      (r, i) => r.requestsPerSecond / one.rounds[i]!.requestsPerSecond,
    );
    const ratio = many.requestsPerSecond / one.requestsPerSecond;
    const verdictText =
      processes === 2
        ? ratio >= TARGETS.twoProcesses
          ? ` (meets ≥ ${times(TARGETS.twoProcesses)})`
          : ` (BELOW the ${times(TARGETS.twoProcesses)} target)`
        : '';
    console.log(
      `${many.scenario.label} ÷ ${one.scenario.label}: ` +
        `${times(ratio)} req/s${verdictText} ` +
        `(${one.requestsPerSecond.toFixed(0)} → ${many.requestsPerSecond.toFixed(0)}` +
        (perRound.length > 1 ? `; round by round ${perRound.map(times).join(', ')}` : '') +
        `), ` +
        `p99 ${one.p99.toFixed(1)} → ${many.p99.toFixed(1)} ms, ` +
        `CPU ms/req ${one.cpuMsPerRequest.toFixed(2)} → ${many.cpuMsPerRequest.toFixed(2)}`,
    );
  }
}

/**
 * The --places phase: one inventory's main page, unfiltered and with each filter, on a fresh
 * site; each filtered page should keep `TARGETS.filtered` of the unfiltered one's req/s.
 */
async function placesPhase(run: Run): Promise<boolean> {
  const { options, database, logDir } = run;
  const { db } = database.handle;
  const owner = await createUser(db, 'bench_places');
  const started = performance.now();
  const places = await seedPlaces(db, owner);
  console.log(
    `\nplaces: seeded inventory ${places.inventoryId} (${PLACES_ITEMS} items, locations, tags) ` +
      `in ${((performance.now() - started) / 1000).toFixed(1)} s; plans of the list:\n`,
  );
  console.log(await explainPlaces(db, owner, places));
  const site = await startSite(
    database,
    options,
    options.logLevel,
    logDir,
    profileDir(run, 'site-places'),
  );
  const scenarios: Scenario[] = places.filters.map((filter) => ({
    key: `places-${filter.key}`,
    label: `site GET /inventories/${places.inventoryId}/${filter.label === 'unfiltered' ? '' : filter.label}`,
    url: `${site.url}/inventories/${places.inventoryId}/${filter.search}`,
    headers: { Cookie: owner.cookie, Accept: 'text/html' },
    pid: site.pid,
  }));
  await preflight(scenarios);
  console.log('');
  const results = await runRounds(scenarios, options, options.rounds);
  console.log(`\n${loadTable(results, undefined)}\n`);
  const [unfiltered, ...filtered] = results;
  for (const result of filtered) {
    const ratio = result.requestsPerSecond / unfiltered!.requestsPerSecond;
    const perRound = result.rounds.map(
      (r, i) => r.requestsPerSecond / unfiltered!.rounds[i]!.requestsPerSecond,
    );
    console.log(
      `${result.scenario.label} ÷ unfiltered: ${percent(ratio)} (${verdict(ratio, TARGETS.filtered)})` +
        (perRound.length > 1 ? `; round by round ${perRound.map(percent).join(', ')}` : '') +
        `; CPU ms/req ${result.cpuMsPerRequest.toFixed(2)} vs ${unfiltered!.cpuMsPerRequest.toFixed(2)}`,
    );
  }
  if (failed(results)) console.error(`site log (last lines):\n${site.logTail()}`);
  await site.stop();
  return !failed(results);
}

/** Phase 2: the large export, on a fresh site so that its memory is the export's alone. */
async function exportPhase(run: Run): Promise<boolean> {
  const { options, database, logDir } = run;
  const count = options.exportItems;
  const owner = await createUser(database.handle.db, 'bench_exporter');
  const started = performance.now();
  await seedManyItems(database.handle.db, owner.id, count);
  console.log(
    `\nexport: seeded ${count} items for ${owner.username} in ` +
      `${((performance.now() - started) / 1000).toFixed(1)} s; starting a fresh site`,
  );
  const site = await startSite(
    database,
    options,
    options.logLevel,
    logDir,
    profileDir(run, 'site-export'),
  );
  console.log(`site RSS at start: ${mb((await readMemory(site.pid)).rssKb)}`);
  let ok = true;
  if (options.exportStall > 0) ok = await stalledClient(site, owner.cookie, count, options);
  const downloads = await measureExports(site.url, owner.cookie, site.pid, options.exportRepeats);
  console.log(`\n${exportTable(downloads, count)}\n`);
  for (const format of ['json', 'xml'] as const) {
    const mine = downloads.filter((d) => d.format === format);
    const times = mine.map((d) => d.lastByteMs / 1000).sort((a, b) => a - b);
    const median = times[Math.floor(times.length / 2)]!;
    const peakMb = Math.max(...mine.map((d) => d.peakRssKb)) / 1024;
    const identical = new Set(mine.map((d) => d.sha256)).size === 1;
    console.log(
      `/${format}/ × ${count}: median ${median.toFixed(2)} s to the last byte ` +
        `(${median < TARGETS.exportSeconds ? 'meets' : 'OVER'} < ${TARGETS.exportSeconds} s), ` +
        `peak RSS ${peakMb.toFixed(1)} MB (${peakMb < TARGETS.exportRssMb ? 'meets' : 'OVER'} ` +
        `< ${TARGETS.exportRssMb} MB)${identical ? '' : '; BODIES DIFFER between downloads'}`,
    );
    ok &&= identical;
  }
  ok &&= downloads.every((d) => d.status === 200 && d.objects === count);
  console.log(
    `site peak RSS over the export phase (VmHWM): ${mb((await readMemory(site.pid)).peakKb)}`,
  );
  await site.stop();
  return ok;
}

/** The CSV export (issue 19), on a fresh site: the same targets as the Django exports. */
async function csvPhase(run: Run): Promise<boolean> {
  const { options, database, logDir } = run;
  const count = options.csvItems;
  const db = database.handle.db;
  const owner = await createUser(db, 'bench_csv');
  const started = performance.now();
  await seedManyItems(db, owner.id, count);
  const { id: inventoryId } = await db
    .selectFrom('inventories')
    .select('id')
    .where('personal_of', '=', owner.id)
    .executeTakeFirstOrThrow();
  await placeManyItems(db, inventoryId);
  // An empty inventory for the import, made while the database is still the bench's alone.
  const importInto = await createInventory(db, owner.id, 'Imported');
  console.log(
    `\ncsv: seeded ${count} items for ${owner.username} in ` +
      `${((performance.now() - started) / 1000).toFixed(1)} s; starting a fresh site`,
  );
  const site = await startSite(database, options, options.logLevel, logDir);
  console.log(`site RSS at start: ${mb((await readMemory(site.pid)).rssKb)}`);
  // A small answer warms the route up first.
  await downloadCsv(site.url, `inventory=${inventoryId}&q=none-such`, owner.cookie, site.pid);
  let ok = true;
  for (const sort of ['newest', 'name']) {
    const runs = [];
    for (let round = 0; round < options.exportRepeats; round += 1) {
      runs.push(
        await downloadCsv(
          site.url,
          `inventory=${inventoryId}&sort=${sort}`,
          owner.cookie,
          site.pid,
        ),
      );
    }
    const times = runs.map((d) => d.lastByteMs / 1000).sort((a, b) => a - b);
    const median = times[Math.floor(times.length / 2)]!;
    const peakMb = Math.max(...runs.map((d) => d.peakRssKb)) / 1024;
    const whole = runs.every((d) => d.status === 200 && d.rows === count);
    console.log(
      `/export.csv sort=${sort} × ${count}: ${(runs[0]!.bytes / 1024 / 1024).toFixed(1)} MB, ` +
        `median ${median.toFixed(2)} s to the last byte (runs ${times.map((t) => t.toFixed(2)).join(', ')}; ` +
        `${median < 3 ? 'meets' : 'OVER'} < 3 s), server CPU ${runs.map((d) => d.cpuMs).join(', ')} ms, ` +
        `RSS before ${mb(runs[0]!.rssBeforeKb)}, peak ${peakMb.toFixed(1)} MB ` +
        `(${peakMb < TARGETS.exportRssMb ? 'meets' : 'OVER'} < ${TARGETS.exportRssMb} MB)` +
        (whole ? '' : `; BAD: ${runs.map((d) => `${d.status}/${d.rows} rows`).join(', ')}`),
    );
    ok &&= whole;
  }
  // The import's largest file, previewed and then applied (SPEC: one transaction).
  const sheet = spreadsheetOf(IMPORT_MAX_ROWS);
  for (const dryRun of [true, false]) {
    const run = await postCsvImport(site.url, importInto, owner.cookie, site.pid, sheet, dryRun);
    console.log(
      `import ${IMPORT_MAX_ROWS} rows (${(sheet.length / 1024 / 1024).toFixed(1)} MB) ` +
        `${dryRun ? 'preview (dry_run)' : 'applied'}: ${run.status}, ${(run.ms / 1000).toFixed(2)} s, ` +
        `server CPU ${run.cpuMs} ms, peak RSS ${mb(run.peakRssKb)}, ${run.adds} to add, ` +
        `${run.problems} problems`,
    );
    ok &&= run.status === 200 && run.adds === IMPORT_MAX_ROWS && run.problems === 0;
  }
  console.log(
    `site peak RSS over the csv phase (VmHWM): ${mb((await readMemory(site.pid)).peakKb)}`,
  );
  await site.stop();
  return ok;
}

/**
 * The export's first download, by a client that stops reading after the first bytes: how
 * much the server grows while it waits. Run before the full-speed downloads, which would
 * leave freed but retained memory behind and hide any growth; a small answer warms the
 * route up first.
 */
async function stalledClient(
  site: ServerProcess,
  cookie: string,
  count: number,
  options: Options,
): Promise<boolean> {
  await (await fetch(`${site.url}/json/1/`, { headers: { Cookie: cookie } })).arrayBuffer();
  const stalled = await stalledDownload(site.url, cookie, site.pid, options.exportStall * 1000);
  const grewMb = (stalled.peakRssKb - stalled.rssBeforeKb) / 1024;
  const exportMb = stalled.bytes / 1024 / 1024;
  const whole = stalled.status === 200 && stalled.objects === count;
  console.log(
    `stalled client: GET /json/ (${exportMb.toFixed(1)} MB), no reads for ` +
      `${options.exportStall} s after the first bytes: RSS ${mb(stalled.rssBeforeKb)} → ` +
      `peak ${mb(stalled.peakRssKb)} (+${grewMb.toFixed(1)} MB; ` +
      `${grewMb < exportMb / 2 ? 'meets' : 'OVER'} < half the export), server CPU during ` +
      `the stall ${stalled.stalledCpuMs} ms; then ` +
      (whole ? `${stalled.objects} items ok` : `${stalled.objects} items BAD (${stalled.status})`),
  );
  return whole;
}

/** Phase 3: /json/ and / again with one access-log line per request. */
async function logCostPhase(run: Run, quiet: LoadResult[]): Promise<LoadResult[]> {
  const { options, database, logDir, reader, writer, targets } = run;
  const keys = new Set([...options.only].filter((key) => key === 'json' || key === 'main'));
  const site = await startSite(database, options, 'info', logDir);
  console.log(`\nthe same site at LOG_LEVEL=info (access log to a file):`);
  const results = await runRounds(
    scenariosFor(keys, site, undefined, reader, writer, targets),
    options,
    options.rounds,
  );
  console.log(`\n${loadTable(results, undefined)}\n`);
  for (const info of results) {
    const before = quiet.find((r) => r.scenario.key === info.scenario.key);
    if (!before) continue;
    const change = info.requestsPerSecond / before.requestsPerSecond - 1;
    console.log(
      `${info.scenario.label}: LOG_LEVEL=info vs ${options.logLevel}: ` +
        `${change >= 0 ? '+' : ''}${(change * 100).toFixed(1)}% req/s ` +
        `(${before.requestsPerSecond.toFixed(0)} → ${info.requestsPerSecond.toFixed(0)})`,
    );
  }
  await site.stop();
  const logSize = statSync(path.join(logDir, 'site-info.log')).size;
  console.log(`access log written: ${(logSize / 1024 / 1024).toFixed(1)} MB`);
  return results;
}

export async function main(argv: string[]): Promise<number> {
  let options: Options | undefined;
  try {
    options = parseOptions(argv);
  } catch (error) {
    console.error(`${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (!options) {
    console.log(USAGE);
    return 0;
  }
  if (options.only.size > 0 || options.places) {
    try {
      requireWrk();
    } catch (error) {
      console.error((error as Error).message);
      return 2;
    }
  }

  const interrupted = (signal: NodeJS.Signals) => {
    console.error(`\n${signal}: stopping the servers and dropping the database …`);
    void cleanUp().finally(() => process.exit(130));
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);

  const logDir = mkdtempSync(path.join(os.tmpdir(), 'pacil-bench-'));
  let ok = false;
  try {
    console.log(`pacil-inventory benchmark, ${new Date().toISOString()}`);
    console.log(`command: npm run bench${argv.length ? ` -- ${argv.join(' ')}` : ''}`);
    console.log(
      `machine: ${os.availableParallelism()} CPUs (${os.cpus()[0]?.model ?? 'unknown'}), ` +
        `${mb(os.totalmem() / 1024)} RAM, load average ${loadAverage()} (1/5/15 min)`,
    );
    buildIfStale();

    const database = await createBenchDatabase();
    cleanups.push(() => database.drop());
    const { db } = database.handle;
    const reader = await createUser(db, 'bench_reader');
    const writer = await createUser(db, 'bench_writer', WRITER_SESSIONS);
    await seedItems(db, reader.id, options.items);
    const targets: Targets = {};
    if (options.only.has('adjust')) {
      await seedItems(db, writer.id, 1);
      // Far from 0: ten connections stepping up and down in turn may take several down at once.
      await db
        .updateTable('items')
        .set({ amount: 1_000_000 })
        .where('created_by', '=', writer.id)
        .execute();
      targets.adjustItemId = (
        await db
          .selectFrom('items')
          .select('id')
          .where('created_by', '=', writer.id)
          .executeTakeFirstOrThrow()
      ).id;
    }
    if (options.only.has('activity')) {
      targets.historyInventoryId = await seedHistory(db, reader.id, HISTORY_CHANGES);
    }
    console.log(`PostgreSQL: ${database.version}`);
    console.log(`database: ${database.name}; ${options.items} items for ${reader.username}`);
    const run: Run = { profiles: new Map(), options, database, logDir, reader, writer, targets };
    let allOk = true;
    let results: LoadResult[] = [];
    if (options.only.size > 0) {
      results = await loadPhase(run);
      allOk &&= !failed(results);
    }
    if (options.exportItems > 0) allOk = (await exportPhase(run)) && allOk;
    if (options.csvItems > 0) allOk = (await csvPhase(run)) && allOk;
    if (options.places) allOk = (await placesPhase(run)) && allOk;
    if (options.embeddedItems > 0) {
      allOk =
        (await embeddedPhase({
          items: options.embeddedItems,
          nodeFlags: options.nodeFlags,
          logDir,
        })) && allOk;
    }
    if (
      options.logCost &&
      options.logLevel !== 'info' &&
      (options.only.has('json') || options.only.has('main'))
    ) {
      allOk &&= !failed(await logCostPhase(run, results));
    }

    console.log(`\nload average at the end: ${loadAverage()}`);
    if (!allOk) console.error('FAILED: some requests errored, answered non-2xx or were incomplete');
    ok = allOk;
    await cleanUp();
    for (const [phase, dir] of run.profiles) printProfile(phase, dir);
    return ok ? 0 : 1;
  } catch (error) {
    console.error(`\nbenchmark failed: ${error instanceof Error ? error.stack : String(error)}`);
    return 1;
  } finally {
    await cleanUp();
    if (ok) rmSync(logDir, { recursive: true, force: true });
    else console.error(`server logs kept in ${logDir}`);
    process.off('SIGINT', interrupted);
    process.off('SIGTERM', interrupted);
  }
}

if (import.meta.main) process.exitCode = await main(process.argv.slice(2));
