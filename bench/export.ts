/**
 * The large-export case (`npm run bench -- --export 100000`): how long GET /json/ and
 * GET /xml/ take to the last byte for one user with that many items, and how much memory
 * the server needs meanwhile (VmRSS sampled every 20 ms during each download: VmHWM covers
 * the process's whole life, the load runs included). Each body must be complete: JSON.parse
 * must give every item, and the XML must hold one `<object ` per item.
 *
 * First, a client that stalls (`stalledDownload`): it takes the first bytes of /json/, then
 * reads nothing for `--export-stall` seconds, while the server's memory is sampled. A server
 * that paces the export by the socket (waitForDrain in node-server.ts) holds a batch or two;
 * one that does not serializes the rest into its socket buffer, and grows by more than the
 * export. (`npm test` checks the behaviour, by CPU time: tests/integration/exports.test.ts.)
 *
 * `node bench/export.ts` still works: it runs only this case (BENCH_ITEMS items, 100,000 by
 * default) through bench/run.ts.
 */
import { createHash } from 'node:crypto';
import net from 'node:net';
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
  const objects = countObjects(format, body);
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

/** Items in an export's body, or -1 when it is not a whole export. */
function countObjects(format: 'json' | 'xml', body: Buffer): number {
  const text = body.toString('utf8');
  if (format === 'json') {
    const parsed = JSON.parse(text) as unknown;
    return Array.isArray(parsed) ? parsed.length : -1;
  }
  if (!text.trimEnd().endsWith('</django-objects>')) return -1;
  return text.match(/<object /g)?.length ?? 0;
}

export interface StalledDownload {
  status: number;
  bytes: number;
  stallMs: number;
  /** The server's resident memory just before the request (kB). */
  rssBeforeKb: number;
  /** The most resident memory seen while the client read nothing (kB). */
  peakRssKb: number;
  /** The server's CPU time while the client read nothing. */
  stalledCpuMs: number;
  objects: number;
}

/**
 * GET /json/ by a client that takes the first bytes and then reads nothing for `stallMs`,
 * over raw HTTP/1.0 (no chunking: the body is what follows the headers), sampling the
 * server's memory meanwhile; then it reads the rest, which must be the whole export.
 */
export async function stalledDownload(
  baseUrl: string,
  cookie: string,
  pid: number,
  stallMs: number,
): Promise<StalledDownload> {
  const url = new URL(baseUrl);
  const rssBeforeKb = (await readMemory(pid)).rssKb;
  const socket = net.connect(Number(url.port), url.hostname);
  socket.write(`GET /json/ HTTP/1.0\r\nHost: ${url.host}\r\nCookie: ${cookie}\r\n\r\n`);
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  const ended = new Promise<void>((resolve, reject) => {
    socket.on('end', resolve);
    socket.on('error', reject);
  });
  await new Promise((resolve) => socket.once('data', resolve));
  socket.pause();
  const sampler = sampleRss(pid, 20);
  const cpuBefore = await readCpuMs(pid);
  await new Promise((resolve) => setTimeout(resolve, stallMs));
  const stalledCpuMs = (await readCpuMs(pid)) - cpuBefore;
  const peakRssKb = await sampler.stop();
  socket.resume();
  await ended;

  const response = Buffer.concat(chunks);
  const end = response.indexOf('\r\n\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3}) /.exec(response.toString('latin1', 0, 16))?.[1]);
  const body = response.subarray(end + 4);
  return {
    status,
    bytes: body.length,
    stallMs,
    rssBeforeKb,
    peakRssKb,
    stalledCpuMs,
    objects: end === -1 ? -1 : countObjects('json', body),
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
