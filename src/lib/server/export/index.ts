import type { APIContext } from 'astro';
import { db } from '../db/index.ts';
import { logger } from '../logger.ts';
import { callerOf } from '../inventories/access.ts';
import { findItemForMember, itemBatchesForMember } from '../items/items.ts';
import { parseRowId } from '../ids.ts';
import { waitForDrain } from '../node-server.ts';
import { problemResponse, problems } from '../http/problems.ts';
import {
  EXPORT_CONTENT_TYPE,
  exportStream,
  serializeItems,
  type ExportFormat,
} from './django-format.ts';

/**
 * The HTTP side of `/json/`, `/xml/`, `/json/<id>/` and `/xml/<id>/`: which items, and how
 * the bytes leave. The format itself is django-format.ts's business.
 */

/** Rows per query: one batch is the most the export holds in memory at a time. */
const EXPORT_BATCH_SIZE = 1000;

const ALLOWED_METHODS = ['GET', 'HEAD'] as const;

/**
 * Batches that are fetched only once the client has taken the previous one, so a slow
 * reader holds the database queries back instead of letting the export pile up in memory
 * (see waitForDrain in node-server.ts).
 */
export async function* pacedBatches<T>(
  batches: AsyncIterable<readonly T[]>,
  requestId: string,
): AsyncGenerator<readonly T[]> {
  for await (const batch of batches) {
    yield batch;
    await waitForDrain(requestId);
  }
}

/**
 * The same batches, the next one fetched while the consumer writes the current one, so the
 * database and the writer work at once: at most one batch more in memory. A consumer that
 * stops early returns the source, as for any iterator.
 */
export async function* readAhead<T>(batches: AsyncIterable<T>): AsyncGenerator<T> {
  const source = batches[Symbol.asyncIterator]();
  let next = source.next();
  // A failure of the batch fetched ahead surfaces when it is awaited, or not at all if the
  // consumer stopped first.
  next.catch(() => undefined);
  try {
    for (;;) {
      const step = await next;
      if (step.done === true) return;
      next = source.next();
      next.catch(() => undefined);
      yield step.value;
    }
  } finally {
    await source.return?.();
  }
}

/**
 * The export of the items the caller can read (all of them, those of the inventory named by
 * `?inventory=<id>`, or the one named by `rawId`) in `format`. An id that is not digits, out
 * of range, missing or in an inventory the caller is not in gives the empty list, as the
 * original did for someone else's. Anonymous callers never get here: the route table sends
 * a browser to sign in and answers a program 401.
 */
/** `first`, then what `rest` still yields: a batch already read, back in front of its source. */
async function* continueWith<T>(first: T, rest: AsyncGenerator<T>): AsyncGenerator<T> {
  try {
    yield first;
    yield* rest;
  } finally {
    await rest.return(undefined);
  }
}

export async function exportResponse(
  context: APIContext,
  format: ExportFormat,
  rawId?: string,
): Promise<Response> {
  const { request, locals } = context;
  const method = request.method.toUpperCase();
  if (method !== 'GET' && method !== 'HEAD') {
    return problemResponse(format, problems.methodNotAllowed(ALLOWED_METHODS));
  }
  const caller = callerOf(locals);

  const headers = {
    'Content-Type': EXPORT_CONTENT_TYPE[format],
    // Personal data: no shared cache may keep it, and a signed-out browser must not show it.
    'Cache-Control': 'no-store',
  };
  // The headers do not depend on the items, so HEAD needs no query.
  if (method === 'HEAD') return new Response(null, { status: 200, headers });

  if (rawId !== undefined) {
    const id = parseRowId(rawId);
    const item = id === undefined ? undefined : await findItemForMember(db, caller, 'read', id);
    const exported = item && { ...item, userId: item.createdBy?.id ?? null };
    return new Response(serializeItems(format, exported ? [exported] : []), {
      status: 200,
      headers,
    });
  }

  const narrowedTo = context.url.searchParams.get('inventory');
  const inventoryId = narrowedTo === null ? undefined : parseRowId(narrowedTo);
  if (narrowedTo !== null && inventoryId === undefined) {
    return new Response(serializeItems(format, []), { status: 200, headers });
  }
  const source = itemBatchesForMember(db, caller, 'read', { inventoryId }, EXPORT_BATCH_SIZE);
  const first = await source.next();
  if (first.done === true || first.value.length < EXPORT_BATCH_SIZE) {
    // Most inventories fit in one batch: one string, with its length, and no stream to run.
    await source.return(undefined);
    const body = new TextEncoder().encode(
      serializeItems(format, first.done === true ? [] : first.value),
    );
    return new Response(body, {
      status: 200,
      headers: { ...headers, 'Content-Length': String(body.byteLength) },
    });
  }
  const batches = pacedBatches(continueWith(first.value, source), locals.requestId);
  // Once streaming, the status line is long gone: the adapter cuts the connection and says
  // nothing, so the failure is logged here.
  const failed = (error: unknown) =>
    logger.error({ requestId: locals.requestId, err: error }, 'the export failed while streaming');
  return new Response(exportStream(format, batches, failed), { status: 200, headers });
}
