/**
 * One load scenario: autocannon against one URL, a short warm-up first (same connections,
 * results discarded), then the measured run while the server's resident memory is sampled.
 */
import autocannon, { type Request } from 'autocannon';
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
  /** Connection errors and timeouts. */
  errors: number;
  non2xx: number;
  /** Non-2xx status codes and their counts, e.g. { 503: 4 }. */
  otherStatuses: Record<string, number>;
  totalRequests: number;
  /** The most resident memory sampled during the measured run (kB; summed over workers). */
  peakRssKb: number;
  /** The server's CPU time (user + system, all its processes) per response during the run. */
  cpuMsPerRequest: number;
}

function cannon(scenario: Scenario, connections: number, duration: number) {
  const { body, cookie } = scenario;
  const requests: Request[] | undefined =
    body || cookie
      ? [
          {
            setupRequest: (request) => ({
              ...request,
              ...(body ? { body: body() } : {}),
              ...(cookie ? { headers: { ...request.headers, Cookie: cookie() } } : {}),
            }),
          },
        ]
      : undefined;
  return autocannon({
    url: scenario.url,
    method: scenario.method ?? 'GET',
    headers: scenario.headers,
    connections,
    duration,
    timeout: 10,
    requests,
  });
}

export async function runLoad(scenario: Scenario, settings: LoadSettings): Promise<LoadResult> {
  if (settings.warmup > 0) await cannon(scenario, settings.connections, settings.warmup);
  const pids = await processGroup(scenario.pid);
  const sampler = sampleRss(pids, 50);
  const cpuBefore = await readGroupCpuMs(pids);
  const result = await cannon(scenario, settings.connections, settings.duration);
  const cpuMs = (await readGroupCpuMs(pids)) - cpuBefore;
  const peakRssKb = await sampler.stop();
  const otherStatuses: Record<string, number> = {};
  let totalRequests = 0;
  for (const [status, { count }] of Object.entries(result.statusCodeStats ?? {})) {
    totalRequests += Number(count);
    if (!status.startsWith('2')) otherStatuses[status] = Number(count);
  }
  return {
    scenario,
    requestsPerSecond: totalRequests / result.duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors,
    non2xx: result.non2xx,
    otherStatuses,
    totalRequests,
    peakRssKb,
    cpuMsPerRequest: totalRequests > 0 ? cpuMs / totalRequests : NaN,
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
