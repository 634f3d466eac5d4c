/**
 * Small, final responses the request pipeline answers by itself (the database is down, an
 * unexpected error). They must not need the database or the page renderer.
 */

export interface ErrorBody {
  code: string;
  message: string;
  fields?: Record<string, string[]>;
}

export function jsonError(status: number, error: ErrorBody, headers?: HeadersInit): Response {
  const response = new Response(JSON.stringify({ error }), {
    status,
    headers: { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' },
  });
  for (const [name, value] of new Headers(headers)) response.headers.set(name, value);
  return response;
}

/** True when the client is a browser asking for a page rather than a program asking for data. */
export function prefersHtml(request: Request): boolean {
  const accept = request.headers.get('accept') ?? '';
  const html = accept.indexOf('text/html');
  if (html === -1) return false;
  const json = accept.indexOf('application/json');
  const xml = accept.indexOf('application/xml');
  return (json === -1 || html < json) && (xml === -1 || html < xml);
}

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * The Content-Security-Policy of a plain page. Astro's `security.csp` covers the pages it
 * renders; these are written here, so they state their own: the stylesheet and nothing else.
 */
const PLAIN_PAGE_CSP = [
  "default-src 'none'",
  "style-src 'self'",
  "img-src 'self'",
  "object-src 'none'",
  "base-uri 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** A plain page in the site's look, for when rendering a real page is not possible. */
export function plainPage(status: number, title: string, message: string): Response {
  const body = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} · Pacil Inventory</title><link rel="stylesheet" href="/site.css"></head>
<body><main class="page narrow"><h1>${escapeHtml(title)}</h1><p>${escapeHtml(message)}</p>
<p><a href="/">Back to the inventory</a></p></main></body></html>`;
  return new Response(body, {
    status,
    headers: {
      'Content-Type': 'text/html; charset=utf-8',
      'Cache-Control': 'no-store',
      'Content-Security-Policy': PLAIN_PAGE_CSP,
    },
  });
}

const UNAVAILABLE_MESSAGE = 'The database is unavailable right now. Please try again in a moment.';

export function databaseUnavailable(request: Request): Response {
  const response = prefersHtml(request)
    ? plainPage(503, 'Temporarily unavailable', UNAVAILABLE_MESSAGE)
    : jsonError(503, { code: 'database_unavailable', message: UNAVAILABLE_MESSAGE });
  response.headers.set('Retry-After', '5');
  return response;
}

/** Too many password checks are waiting in this process (see passwords.ts). */
export function serverBusy(request: Request): Response {
  const message = 'The server is busy checking other passwords. Please try again in a moment.';
  const response = prefersHtml(request)
    ? plainPage(503, 'Busy', message)
    : jsonError(503, { code: 'server_busy', message });
  response.headers.set('Retry-After', '2');
  return response;
}

const SEQUENCE_LIMIT_EXCEEDED = '2200H';

/** True when the database has no id left to give a new row (an id sequence at its maximum). */
export function isIdSequenceExhausted(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === SEQUENCE_LIMIT_EXCEEDED;
}

/**
 * No new account or item can be stored: the ids have run out (a Django import can have
 * moved a sequence to its end). Nothing the client can change, and nothing was stored.
 */
export function idsExhausted(request: Request): Response {
  const message =
    'This site cannot store anything new: it has run out of ids for new rows. Nothing was saved. Please tell whoever runs the site.';
  return prefersHtml(request)
    ? plainPage(503, 'Nothing can be added', message)
    : jsonError(503, { code: 'ids_exhausted', message });
}

/** 405 with the methods the route does answer. */
export function methodNotAllowed(request: Request, allow: readonly string[]): Response {
  const message = `This address answers ${allow.join(', ')} only.`;
  const response = prefersHtml(request)
    ? plainPage(405, 'Method not allowed', message)
    : jsonError(405, { code: 'method_not_allowed', message });
  response.headers.set('Allow', allow.join(', '));
  return response;
}

/** A client's unreadable request (bad body, wrong type, too large), answered in its format. */
export function clientProblem(
  request: Request,
  problem: { status: number; code: string; message: string },
): Response {
  return prefersHtml(request)
    ? plainPage(problem.status, 'The request could not be read', problem.message)
    : jsonError(problem.status, { code: problem.code, message: problem.message });
}

export function forbidden(request: Request, message: string): Response {
  return prefersHtml(request)
    ? plainPage(403, 'Forbidden', message)
    : jsonError(403, { code: 'forbidden', message });
}

/**
 * An empty 404: Astro answers it with the site's 404 page. Unlike `Astro.rewrite`, it works
 * after the request body has been read.
 */
export function notFound(): Response {
  return new Response(null, { status: 404 });
}

/** An unexpected failure, for programs: the request id and nothing about the cause. */
export function internalError(requestId: string): Response {
  return jsonError(500, {
    code: 'internal_error',
    message: `Something went wrong on our side. Request id: ${requestId}`,
  });
}
