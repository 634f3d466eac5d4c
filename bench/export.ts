/**
 * The large-export case (`npm run bench -- --export 100000`): how long GET /json/ and
 * GET /xml/ take to the last byte for one user with that many items, and how much memory
 * the server needs meanwhile (VmRSS sampled every 20 ms during each download: VmHWM covers
 * the process's whole life, the load runs included). Each body must be complete: JSON.parse
 * must give every item, and the XML must hold one `<object ` per item.
 *
 * `node bench/export.ts` still works: it runs only this case (BENCH_ITEMS items, 100,000 by
 * default) through bench/run.ts.
 */
import { createHash } from 'node:crypto';
import { readCpuMs, readMemory, sampleRss } from './processes.ts';

export interface Download {
  format: 'json' | 'xml';
  status: number;
  bytes: number;
  sha256: string;
  firstByteMs: number;
  lastByteMs: number;
  /** The most resident memory seen during the download (kB). */
  peakRssKb: number;
  /** The server's resident memory just before it (kB). */
  rssBeforeKb: number;
  /** The server's CPU time (user + system) during the download: less sensitive to a busy machine. */
  cpuMs: number;
  /** Items found in the body. */
  objects: number;
}

/** Downloads `/<format>/` to the last byte while sampling the server's memory. */
export async function download(
  baseUrl: string,
  format: 'json' | 'xml',
  cookie: string,
  pid: number,
): Promise<Download> {
  const rssBeforeKb = (await readMemory(pid)).rssKb;
  const sampler = sampleRss(pid, 20);
  const cpuBefore = await readCpuMs(pid);
  const started = performance.now();
  const response = await fetch(`${baseUrl}/${format}/`, { headers: { Cookie: cookie } });
  const firstByteMs = performance.now() - started;
  const chunks: Uint8Array[] = [];
  let bytes = 0;
  for await (const chunk of response.body!) {
    bytes += chunk.byteLength;
    chunks.push(chunk);
  }
  const lastByteMs = performance.now() - started;
  const cpuMs = (await readCpuMs(pid)) - cpuBefore;
  const peakRssKb = await sampler.stop();

  // Verified after the clock stopped: parsing is the client's time, not the server's.
  const body = Buffer.concat(chunks);
  const text = body.toString('utf8');
  let objects: number;
  if (format === 'json') {
    const parsed = JSON.parse(text) as unknown;
    objects = Array.isArray(parsed) ? parsed.length : -1;
  } else {
    objects = text.match(/<object /g)?.length ?? 0;
    if (!text.trimEnd().endsWith('</django-objects>')) objects = -1;
  }
  return {
    format,
    status: response.status,
    bytes,
    sha256: createHash('sha256').update(body).digest('hex'),
    firstByteMs,
    lastByteMs,
    peakRssKb,
    rssBeforeKb,
    cpuMs,
    objects,
  };
}

/** `repeats` downloads of each format, alternating; a small request warms the route first. */
export async function measureExports(
  baseUrl: string,
  cookie: string,
  pid: number,
  repeats: number,
): Promise<Download[]> {
  for (const format of ['json', 'xml'] as const) {
    await (await fetch(`${baseUrl}/${format}/1/`, { headers: { Cookie: cookie } })).arrayBuffer();
  }
  const downloads: Download[] = [];
  for (let round = 0; round < repeats; round += 1) {
    for (const format of ['json', 'xml'] as const) {
      downloads.push(await download(baseUrl, format, cookie, pid));
    }
  }
  return downloads;
}

if (import.meta.main) {
  // A child process: run.ts imports this module, so importing it back here would be a cycle.
  const { spawnSync } = await import('node:child_process');
  const run = new URL('./run.ts', import.meta.url).pathname;
  const items = process.env.BENCH_ITEMS || '100000';
  const child = spawnSync(process.execPath, [run, '--only', 'none', '--export', items], {
    stdio: 'inherit',
  });
  process.exitCode = child.status ?? 1;
}
