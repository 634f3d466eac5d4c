import type { APIContext } from 'astro';
import { db } from '../db/index.ts';
import { findItemForUser, itemBatchesForUser } from '../items.ts';
import { parseRowId } from '../ids.ts';
import { waitForDrain } from '../node-server.ts';
import { jsonError, prefersHtml } from '../responses.ts';
import {
  EXPORT_CONTENT_TYPE,
  exportStream,
  serializeItems,
  type ExportFormat,
  type ExportItem,
} from './django-format.ts';

/**
 * The HTTP side of `/json/`, `/xml/`, `/json/<id>/` and `/xml/<id>/`: who may call, which
 * items, and how the bytes leave. The format itself is django-format.ts's business.
 */

/** Rows per query: one batch is the most the export holds in memory at a time. */
export const EXPORT_BATCH_SIZE = 1000;

const ALLOWED_METHODS = ['GET', 'HEAD'] as const;

const escapeXmlText = (text: string) =>
  text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');

/**
 * A short error in the endpoint's own format, so a program reading `/xml/` needs no JSON
 * parser to learn why it got nothing. Shared with the middleware's token checks, whose
 * messages may hold markup characters (`Bearer <token>`), so the XML text is escaped.
 */
export function exportError(
  format: ExportFormat,
  status: number,
  code: string,
  message: string,
): Response {
  if (format === 'json') return jsonError(status, { code, message });
  const document =
    '<?xml version="1.0" encoding="utf-8"?>\n' +
    `<error><code>${escapeXmlText(code)}</code><message>${escapeXmlText(message)}</message></error>`;
  return new Response(document, {
    status,
    headers: { 'Content-Type': EXPORT_CONTENT_TYPE.xml, 'Cache-Control': 'no-store' },
  });
}

function unauthorized(format: ExportFormat): Response {
  return exportError(format, 401, 'unauthorized', 'Sign in to export your items.');
}

function methodNotAllowed(format: ExportFormat): Response {
  const allow = ALLOWED_METHODS.join(', ');
  const response = exportError(
    format,
    405,
    'method_not_allowed',
    `This address answers ${allow} only.`,
  );
  response.headers.set('Allow', allow);
  return response;
}

/**
 * Batches that are fetched only once the client has taken the previous one, so a slow
 * reader holds the database queries back instead of letting the export pile up in memory
 * (see waitForDrain in node-server.ts).
 */
async function* pacedBatches(
  batches: AsyncIterable<readonly ExportItem[]>,
  requestId: string,
): AsyncGenerator<readonly ExportItem[]> {
  for await (const batch of batches) {
    yield batch;
    await waitForDrain(requestId);
  }
}

/**
 * The export of the caller's items (all of them, or the one named by `rawId`) in `format`.
 * An id that is not digits, out of range, missing or someone else's gives the empty list,
 * as the original did; an anonymous browser is sent to sign in, a program gets a 401.
 */
export async function exportResponse(
  context: APIContext,
  format: ExportFormat,
  rawId?: string,
): Promise<Response> {
  const { request, locals, url } = context;
  const method = request.method.toUpperCase();
  if (method !== 'GET' && method !== 'HEAD') return methodNotAllowed(format);

  const user = locals.user;
  if (!user) {
    if (prefersHtml(request)) {
      return context.redirect(`/login/?next=${encodeURIComponent(url.pathname + url.search)}`, 302);
    }
    return unauthorized(format);
  }

  const headers = {
    'Content-Type': EXPORT_CONTENT_TYPE[format],
    // Personal data: no shared cache may keep it, and a signed-out browser must not show it.
    'Cache-Control': 'no-store',
  };
  // The headers do not depend on the items, so HEAD needs no query.
  if (method === 'HEAD') return new Response(null, { status: 200, headers });

  if (rawId !== undefined) {
    const id = parseRowId(rawId);
    const item = id === undefined ? undefined : await findItemForUser(db, user.id, id);
    return new Response(serializeItems(format, item ? [item] : []), { status: 200, headers });
  }

  const batches = pacedBatches(
    itemBatchesForUser(db, user.id, EXPORT_BATCH_SIZE),
    locals.requestId,
  );
  return new Response(exportStream(format, batches), { status: 200, headers });
}
