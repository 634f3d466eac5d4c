/**
 * The CSV export case (`npm run bench -- --only none --csv 100000`): how long
 * GET /export.csv takes to the last byte for one inventory of that many items, a third of
 * them tagged and half of them in a two-level location, and how much memory the server needs
 * meanwhile (VmRSS sampled every 20 ms). Each body must be whole: a BOM, the header and one
 * CRLF-ended line per item (the seeded text holds no CR, and its LF sits inside quotes).
 */
import { sql, type Kysely } from 'kysely';
import type { Database } from '../src/lib/server/db/types.ts';
import { readCpuMs, readMemory, sampleRss } from './processes.ts';

export interface CsvDownload {
  query: string;
  status: number;
  bytes: number;
  lastByteMs: number;
  /** The most resident memory seen during the download (kB). */
  peakRssKb: number;
  rssBeforeKb: number;
  cpuMs: number;
  /** Item rows in the body, or -1 when it is not a whole export. */
  rows: number;
}

/** Tags and places for the items seedManyItems made, so that every column has work to do. */
export async function placeManyItems(db: Kysely<Database>, inventoryId: number): Promise<void> {
  const garage = await db
    .insertInto('locations')
    .values({ inventory_id: inventoryId, parent_id: null, name: 'Garage', name_key: 'garage' })
    .returning('id')
    .executeTakeFirstOrThrow();
  const shelf = await db
    .insertInto('locations')
    .values({
      inventory_id: inventoryId,
      parent_id: garage.id,
      name: 'Shelf 2',
      name_key: 'shelf 2',
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  const tags = await db
    .insertInto('tags')
    .values([
      { inventory_id: inventoryId, name: 'metal', name_key: 'metal' },
      { inventory_id: inventoryId, name: 'Spare', name_key: 'spare' },
    ])
    .returning('id')
    .execute();
  await sql`update stored_items set location_id = ${shelf.id}::int, min_amount = 10
    where inventory_id = ${inventoryId} and id % 2 = 0`.execute(db);
  for (const tag of tags) {
    await sql`insert into item_tags (item_id, tag_id)
      select id, ${tag.id}::int from items where inventory_id = ${inventoryId} and id % 3 = 0`.execute(
      db,
    );
  }
  // The updates above left a dead version of half the rows; a real table has had autovacuum.
  await sql`vacuum analyze`.execute(db);
}

function countRows(body: Buffer): number {
  if (body[0] !== 0xef || body[1] !== 0xbb || body[2] !== 0xbf) return -1;
  const text = body.toString('utf8');
  if (!text.endsWith('\r\n')) return -1;
  return text.split('\r\n').length - 2;
}

/** Downloads `/export.csv?<query>` to the last byte while sampling the server's memory. */
export async function downloadCsv(
  baseUrl: string,
  query: string,
  cookie: string,
  pid: number,
): Promise<CsvDownload> {
  const rssBeforeKb = (await readMemory(pid)).rssKb;
  const sampler = sampleRss(pid, 20);
  const cpuBefore = await readCpuMs(pid);
  const started = performance.now();
  const response = await fetch(`${baseUrl}/export.csv?${query}`, { headers: { Cookie: cookie } });
  const chunks: Uint8Array[] = [];
  let bytes = 0;
  for await (const chunk of response.body!) {
    bytes += chunk.byteLength;
    chunks.push(chunk);
  }
  const lastByteMs = performance.now() - started;
  const cpuMs = (await readCpuMs(pid)) - cpuBefore;
  const peakRssKb = await sampler.stop();
  return {
    query,
    status: response.status,
    bytes,
    lastByteMs,
    peakRssKb,
    rssBeforeKb,
    cpuMs,
    rows: countRows(Buffer.concat(chunks)),
  };
}

/**
 * A spreadsheet of `rows` new items, as people bring one: names, amounts, notes with commas,
 * a two-level location out of 50 and two tags out of 20 per row.
 */
export function spreadsheetOf(rows: number): string {
  const lines = ['name,qty,notes,location,tags'];
  for (let i = 0; i < rows; i += 1) {
    lines.push(
      `Part ${i},${i % 500},"bin ${i % 97}, checked",Room ${i % 10} / Shelf ${i % 5},"t${i % 20}, t${(i + 7) % 20}"`,
    );
  }
  return `${lines.join('\r\n')}\r\n`;
}

export interface CsvImportRun {
  status: number;
  ms: number;
  cpuMs: number;
  peakRssKb: number;
  /** What the report counts: rows to add and problems. */
  adds: number;
  problems: number;
}

/** `POST /api/inventories/{id}/imports` with the file, timed, sampling the server's memory. */
export async function postCsvImport(
  baseUrl: string,
  inventoryId: number,
  cookie: string,
  pid: number,
  body: string,
  dryRun: boolean,
): Promise<CsvImportRun> {
  const sampler = sampleRss(pid, 20);
  const cpuBefore = await readCpuMs(pid);
  const started = performance.now();
  const response = await fetch(
    `${baseUrl}/api/inventories/${inventoryId}/imports${dryRun ? '?dry_run=true' : ''}`,
    {
      method: 'POST',
      headers: { Cookie: cookie, Origin: baseUrl, 'Content-Type': 'text/csv' },
      body,
    },
  );
  const answer = (await response.json()) as {
    report?: { add: unknown[]; problems: unknown[] } | null;
  };
  const ms = performance.now() - started;
  return {
    status: response.status,
    ms,
    cpuMs: (await readCpuMs(pid)) - cpuBefore,
    peakRssKb: await sampler.stop(),
    adds: answer.report?.add.length ?? -1,
    problems: answer.report?.problems.length ?? -1,
  };
}
