import { STATUS_CODES } from 'node:http';
import type { ErrorCode } from '../../contracts/errors.ts';
import { escapeHtml } from '../../html.ts';

/**
 * What went wrong with a request, said once as data (`Problem`), and answered by the one
 * factory of the format the route answers in: an HTML page, a JSON error body, or an XML
 * one. These answers need neither the database nor the page renderer, so they also serve
 * when those fail.
 */

export type AnswerFormat = 'html' | 'json' | 'xml';

export interface Problem {
  status: number;
  code: ErrorCode;
  /** For people: a sentence or two. */
  message: string;
  /** The HTML page's heading; the status's reason phrase without one. */
  title?: string;
  /** Messages by field (JSON only). */
  fields?: Record<string, string[]>;
  headers?: Record<string, string>;
}

const escapeXmlText = (text: string) =>
  text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');

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

function htmlError(problem: Problem): Response {
  const title = problem.title ?? STATUS_CODES[problem.status] ?? 'Error';
  const body = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} · Pacil Inventory</title><link rel="stylesheet" href="/site.css"></head>
<body><main class="page narrow"><h1>${escapeHtml(title)}</h1><p>${escapeHtml(problem.message)}</p>
<p><a href="/">Back to the inventory</a></p></main></body></html>`;
  return new Response(body, {
    status: problem.status,
    headers: {
      'Content-Type': 'text/html; charset=utf-8',
      'Content-Security-Policy': PLAIN_PAGE_CSP,
    },
  });
}

function jsonError({ status, code, message, fields }: Problem): Response {
  const error = fields ? { code, message, fields } : { code, message };
  return new Response(JSON.stringify({ error }), {
    status,
    headers: { 'Content-Type': 'application/json' },
  });
}

/** For the XML export: a program reading `/xml/` needs no JSON parser to learn why. */
function xmlError({ status, code, message }: Problem): Response {
  const document =
    '<?xml version="1.0" encoding="utf-8"?>\n' +
    `<error><code>${escapeXmlText(code)}</code><message>${escapeXmlText(message)}</message></error>`;
  return new Response(document, {
    status,
    headers: { 'Content-Type': 'application/xml' },
  });
}

const FACTORIES: Record<AnswerFormat, (problem: Problem) => Response> = {
  html: htmlError,
  json: jsonError,
  xml: xmlError,
};

/** The answer to `problem` in `format`; never cached, since it depends on who asked. */
export function problemResponse(format: AnswerFormat, problem: Problem): Response {
  const response = FACTORIES[format](problem);
  response.headers.set('Cache-Control', 'no-store');
  for (const [name, value] of Object.entries(problem.headers ?? {})) {
    response.headers.set(name, value);
  }
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

// The problems the pipeline and the endpoints share.

export const problems = {
  methodNotAllowed: (allow: readonly string[]): Problem => ({
    status: 405,
    code: 'method_not_allowed',
    title: 'Method not allowed',
    message: `This address answers ${allow.join(', ')} only.`,
    headers: { Allow: allow.join(', ') },
  }),
  forbidden: (message: string): Problem => ({
    status: 403,
    code: 'forbidden',
    title: 'Not allowed',
    message,
  }),
  notFound: (message = 'There is nothing here.'): Problem => ({
    status: 404,
    code: 'not_found',
    title: 'Not found',
    message,
  }),
  crossSite: (): Problem => ({
    status: 403,
    code: 'forbidden',
    title: 'Forbidden',
    message: 'Cross-site requests cannot change anything here.',
  }),
  signInFirst: (): Problem => ({
    status: 401,
    code: 'unauthorized',
    title: 'Sign in first',
    message:
      'Sign in first: send the session cookie of the web site, or a personal API token as Authorization: Bearer <token>.',
  }),
  databaseUnavailable: (): Problem => ({
    status: 503,
    code: 'database_unavailable',
    title: 'Temporarily unavailable',
    message: 'The database is unavailable right now. Please try again in a moment.',
    headers: { 'Retry-After': '5' },
  }),
  serverBusy: (): Problem => ({
    status: 503,
    code: 'server_busy',
    title: 'Busy',
    message: 'The server is busy checking other passwords. Please try again in a moment.',
    headers: { 'Retry-After': '2' },
  }),
  idsExhausted: (): Problem => ({
    status: 503,
    code: 'ids_exhausted',
    title: 'Nothing can be added',
    message:
      'This site cannot store anything new: it has run out of ids for new rows. Nothing was saved. Please tell whoever runs the site.',
  }),
  tooManyRequests: (retryAfterSeconds: number): Problem => ({
    status: 429,
    code: 'too_many_requests',
    title: 'Too many requests',
    message: 'Too many requests in the last minute; slow down.',
    headers: { 'Retry-After': String(retryAfterSeconds) },
  }),
  internal: (requestId: string): Problem => ({
    status: 500,
    code: 'internal_error',
    title: 'Something went wrong',
    message: `Something went wrong on our side. Request id: ${requestId}`,
  }),
};
