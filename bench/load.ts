/**
 * One load scenario: wrk against one URL, a short warm-up first (same threads and
 * connections, results discarded), then the measured run while the server's resident memory
 * and CPU time are sampled, and wrk's own CPU time beside them.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { processGroup, readGroupCpuMs, sampleRss } from './processes.ts';

export interface Scenario {
  /** Short key for --only. */
  key: string;
  label: string;
  url: string;
  method?: 'GET' | 'POST';
  headers: Record<string, string>;
  /** Builds each request's body (POST). */
  body?: () => string;
  /** Each request's Cookie header, when it changes from one request to the next. */
  cookie?: () => string;
  /** The process serving it, whose memory and CPU time are measured (with its workers, if any). */
  pid: number;
}

export interface LoadSettings {
  /** wrk -t; at most `connections`. */
  threads: number;
  connections: number;
  /** Seconds. */
  duration: number;
  /** Seconds of warm-up before each measured run; 0 for none. */
  warmup: number;
}

export interface LoadResult {
  scenario: Scenario;
  requestsPerSecond: number;
  /** Milliseconds. */
  p50: number;
  p99: number;
  /** Connection errors (connect, read, write) and timeouts. */
  errors: number;
  non2xx: number;
  /** Non-2xx status codes and their counts, e.g. { 503: 4 }. */
  otherStatuses: Record<string, number>;
  totalRequests: number;
  /** The most resident memory sampled during the measured run (kB; summed over workers). */
  peakRssKb: number;
  /** The server's CPU time (user + system, all its processes) per response during the run. */
  cpuMsPerRequest: number;
  /** wrk's own CPU time (user + system) per response: the load generator's cost. */
  clientCpuMsPerRequest: number;
}

const WRK_MISSING = 'npm run bench needs wrk: apt-get install wrk';

/** Throws `WRK_MISSING` unless an executable `wrk` is on PATH. */
export function requireWrk(): void {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    try {
      accessSync(path.join(dir || '.', 'wrk'), constants.X_OK);
      return;
    } catch {
      // Not in this one.
    }
  }
  throw new Error(WRK_MISSING);
}

/**
 * Requests pregenerated for scenarios whose body or cookie changes per request, taken from
 * the scenario's closures in order (body first, as they share a counter). A multiple of the
 * writer's 256 sessions, so the rotation stays even when wrk wraps around to the first.
 */
const VARIED_REQUESTS = 4096;

/** A Lua string literal of any text: printable ASCII as is, every other byte as \ddd. */
function luaString(text: string): string {
  let out = '"';
  for (const byte of Buffer.from(text, 'utf8')) {
    out +=
      byte >= 0x20 && byte < 0x7f && byte !== 0x22 && byte !== 0x5c
        ? String.fromCharCode(byte)
        : `\\${byte}`;
  }
  return `${out}"`;
}

const luaTable = (headers: Record<string, string>) =>
  `{ ${Object.entries(headers)
    .map(([name, value]) => `[${luaString(name)}] = ${luaString(value)}`)
    .join(', ')} }`;

/**
 * The wrk script: per-status counts in each thread (`response`), collected in `done`, which
 * prints one line `PACIL_WRK {json}`; and, for varied scenarios, `request` cycling through
 * the pregenerated requests (each thread starting at its own place in the list).
 */
function wrkScript(scenario: Scenario, threads: number): string {
  const method = scenario.method ?? 'GET';
  const lines = [
    `wrk.method = ${luaString(method)}`,
    ...Object.entries(scenario.headers).map(
      ([name, value]) => `wrk.headers[${luaString(name)}] = ${luaString(value)}`,
    ),
    'local threads = {}',
    'function setup(thread)',
    '  thread:set("thread_index", #threads)',
    '  table.insert(threads, thread)',
    'end',
    'counts = {}',
    'function response(status, headers, body)',
    '  counts[status] = (counts[status] or 0) + 1',
    'end',
  ];
  const { body, cookie } = scenario;
  if (body || cookie) {
    const varied: string[] = [];
    for (let i = 0; i < VARIED_REQUESTS; i += 1) {
      const text = body?.();
      const headers = { ...scenario.headers, ...(cookie ? { Cookie: cookie() } : {}) };
      varied.push(`  { ${luaTable(headers)}, ${text === undefined ? 'nil' : luaString(text)} },`);
    }
    lines.push(
      'local varied = {',
      ...varied,
      '}',
      'local formatted = {}',
      'local next_index = 1',
      'function init(args)',
      '  local path = wrk.path',
      '  for i, r in ipairs(varied) do',
      // wrk.format would put in wrk.host without the port; Origin checks need the port.
      '    r[1]["Host"] = wrk.headers["Host"]',
      `    formatted[i] = wrk.format(${luaString(method)}, path, r[1], r[2])`,
      '  end',
      '  varied = nil',
      `  next_index = math.floor((thread_index or 0) * #formatted / ${threads}) + 1`,
      'end',
      'function request()',
      '  local r = formatted[next_index]',
      '  next_index = next_index % #formatted + 1',
      '  return r',
      'end',
    );
  }
  lines.push(
    'function done(summary, latency, requests)',
    '  local all = {}',
    '  for _, thread in ipairs(threads) do',
    '    for status, n in pairs(thread:get("counts")) do',
    '      all[status] = (all[status] or 0) + n',
    '    end',
    '  end',
    '  local statuses = {}',
    '  for status, n in pairs(all) do',
    '    statuses[#statuses + 1] = string.format(\'"%d":%d\', status, n)',
    '  end',
    '  local e = summary.errors',
    '  io.write(string.format(',
    '    \'\\nPACIL_WRK {"requests":%.0f,"durationUs":%.0f,"connect":%.0f,"read":%.0f,\' ..',
    '    \'"write":%.0f,"status":%.0f,"timeout":%.0f,"p50Us":%.0f,"p99Us":%.0f,"statuses":{%s}}\\n\',',
    '    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,',
    '    latency:percentile(50), latency:percentile(99), table.concat(statuses, ",")))',
    'end',
    '',
  );
  return lines.join('\n');
}

interface WrkSummary {
  requests: number;
  durationUs: number;
  connect: number;
  read: number;
  write: number;
  status: number;
  timeout: number;
  p50Us: number;
  p99Us: number;
  statuses: Record<string, number>;
  /** wrk's user + system CPU time (ms), from the shell's `times`. */
  cpuMs: number;
}

/**
 * Runs wrk through `sh -c 'wrk …; times'`: dash's `times` prints the shell's own user and
 * system time, then its children's (wrk's) on the second line.
 */
async function runWrk(scenario: Scenario, settings: LoadSettings, seconds: number) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pacil-wrk-'));
  try {
    const script = path.join(dir, 'scenario.lua');
    writeFileSync(script, wrkScript(scenario, settings.threads));
    const args = [
      '-c',
      'wrk "$@"; status=$?; times; exit $status',
      'sh',
      `--threads=${settings.threads}`,
      `--connections=${settings.connections}`,
      `--duration=${seconds}s`,
      '--timeout=10s',
      `--script=${script}`,
      scenario.url,
    ];
    const child = spawn('/bin/sh', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const code = await new Promise<number | null>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', resolve);
    });
    const line = /^PACIL_WRK (.*)$/m.exec(stdout)?.[1];
    const times = /^(\d+)m([\d.]+)s (\d+)m([\d.]+)s\s*$/gm;
    const [, children] = [...stdout.matchAll(times)];
    if (code !== 0 || !line || !children) {
      throw new Error(
        `wrk for ${scenario.label} exited with ${code}:\n${stdout.trim()}\n${stderr.trim()}`,
      );
    }
    const [, userMin, userS, sysMin, sysS] = children.map(Number);
    return {
      ...(JSON.parse(line) as Omit<WrkSummary, 'cpuMs'>),
      cpuMs: ((userMin! + sysMin!) * 60 + userS! + sysS!) * 1000,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function runLoad(scenario: Scenario, settings: LoadSettings): Promise<LoadResult> {
  if (settings.warmup > 0) await runWrk(scenario, settings, settings.warmup);
  const pids = await processGroup(scenario.pid);
  const sampler = sampleRss(pids, 50);
  const cpuBefore = await readGroupCpuMs(pids);
  const result = await runWrk(scenario, settings, settings.duration);
  const cpuMs = (await readGroupCpuMs(pids)) - cpuBefore;
  const peakRssKb = await sampler.stop();
  const otherStatuses: Record<string, number> = {};
  let non2xx = 0;
  for (const [status, count] of Object.entries(result.statuses)) {
    if (status.startsWith('2')) continue;
    otherStatuses[status] = count;
    non2xx += count;
  }
  const totalRequests = result.requests;
  const perRequest = (ms: number) => (totalRequests > 0 ? ms / totalRequests : NaN);
  return {
    scenario,
    requestsPerSecond: totalRequests / (result.durationUs / 1e6),
    p50: result.p50Us / 1000,
    p99: result.p99Us / 1000,
    errors: result.connect + result.read + result.write + result.timeout,
    non2xx,
    otherStatuses,
    totalRequests,
    peakRssKb,
    cpuMsPerRequest: perRequest(cpuMs),
    clientCpuMsPerRequest: perRequest(result.cpuMs),
  };
}

/** Fixed-width text table; numbers right-aligned. */
export function formatTable(header: string[], rows: string[][]): string {
  const widths = header.map((title, i) =>
    Math.max(title.length, ...rows.map((row) => (row[i] ?? '').length)),
  );
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!, ' ')))
      .join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}
