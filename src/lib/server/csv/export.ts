import type { APIContext } from 'astro';
import { parseItemListParams } from '../../contracts/items.ts';
import { db } from '../db/index.ts';
import { pacedBatches, readAhead } from '../export/index.ts';
import { problemResponse, problems } from '../http/problems.ts';
import { parseRowId } from '../ids.ts';
import { callerOf } from '../inventories/access.ts';
import { findInventoryForMember } from '../inventories/inventories.ts';
import { listedItemBatchesForMember, type ListedItem } from '../items/items.ts';
import { listLocationsForMember, locationPath } from '../items/locations.ts';
import { logger } from '../logger.ts';
import { CSV_CONTENT_TYPE, csvHeader, csvRows } from './format.ts';

/**
 * `GET /export.csv?inventory=<id>&…`: the rows the main page lists for the same query, all
 * pages of them, in its order, streamed a batch at a time as the client takes them.
 */

/** Rows per query, as for the Django exports: the most held in memory at a time. */
const CSV_BATCH_SIZE = 1000;

/** Rows per encoded chunk: small enough to stay out of V8's large-object space. */
const ROWS_PER_CHUNK = 100;

const ALLOWED_METHODS = ['GET', 'HEAD'] as const;

/**
 * The inventory's name as a file name anyone's disk and any browser take: ASCII letters,
 * digits, spaces, dots, dashes and underscores (accents dropped, anything else a space),
 * never empty, never hidden (no leading dot).
 */
function fileNameFor(inventoryName: string, at: Date): string {
  const base = inventoryName
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/[^A-Za-z0-9._-]+/g, ' ')
    .slice(0, 100)
    .replace(/^[\s.-]+|\s+$/g, '');
  return `${base === '' ? 'inventory' : base}-${at.toISOString().slice(0, 10)}.csv`;
}

/**
 * The header, then the rows of each batch, UTF-8 encoded as the consumer asks for them.
 * Cancelling (the client went away) or a failure returns the batches' iterator, so the
 * source stops querying.
 */
function csvStream(
  batches: AsyncIterable<readonly ListedItem[]>,
  locationPaths: ReadonlyMap<number, string>,
  onError?: (error: unknown) => void,
): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  let iterator: AsyncIterator<readonly ListedItem[]> | undefined;
  let finished = false;
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        if (iterator === undefined) {
          iterator = batches[Symbol.asyncIterator]();
          controller.enqueue(encoder.encode(csvHeader()));
        }
        try {
          for (;;) {
            const step = await iterator.next();
            if (finished) return;
            if (step.done === true) {
              finished = true;
              controller.close();
              return;
            }
            const batch = step.value;
            for (let start = 0; start < batch.length; start += ROWS_PER_CHUNK) {
              const run = batch.slice(start, start + ROWS_PER_CHUNK);
              controller.enqueue(encoder.encode(csvRows(run, locationPaths)));
            }
            if (batch.length > 0) return;
          }
        } catch (error) {
          onError?.(error);
          if (!finished) {
            finished = true;
            await iterator.return?.().catch(() => undefined);
          }
          throw error;
        }
      },
      async cancel(reason) {
        if (finished) return;
        finished = true;
        await iterator?.return?.(reason);
      },
    },
    { highWaterMark: 1 },
  );
}

export async function csvExportResponse(context: APIContext): Promise<Response> {
  const { request, locals, url } = context;
  const method = request.method.toUpperCase();
  if (method !== 'GET' && method !== 'HEAD') {
    return problemResponse(locals.format, problems.methodNotAllowed(ALLOWED_METHODS));
  }
  const caller = callerOf(locals);
  // Unlike the Django formats, this one has no "empty list" convention to keep: an
  // inventory the caller is not in is not found, exactly like a missing one.
  const inventoryId = parseRowId(url.searchParams.get('inventory') ?? '');
  const found =
    inventoryId === undefined
      ? undefined
      : await findInventoryForMember(db, caller, 'read', inventoryId, { itemCounts: false });
  if (inventoryId === undefined || found?.status !== 'found') {
    return problemResponse(locals.format, problems.notFound('There is no such inventory.'));
  }
  const headers = {
    'Content-Type': CSV_CONTENT_TYPE,
    'Content-Disposition': `attachment; filename="${fileNameFor(found.inventory.name, new Date())}"`,
    'Cache-Control': 'no-store',
  };
  if (method === 'HEAD') return new Response(null, { status: 200, headers });

  // The page's own reading of the query: what it lists is what is exported.
  const query = parseItemListParams(url.searchParams);
  const locations = await listLocationsForMember(db, caller, 'read', inventoryId);
  const paths = new Map(locations.map((location) => [location.id, locationPath(location)]));
  const batches = pacedBatches(
    readAhead(
      listedItemBatchesForMember(db, caller, 'read', { inventoryId }, query, CSV_BATCH_SIZE),
    ),
    locals.requestId,
  );
  const failed = (error: unknown) =>
    logger.error(
      { requestId: locals.requestId, err: error },
      'the CSV export failed while streaming',
    );
  return new Response(csvStream(batches, paths, failed), { status: 200, headers });
}
