import type { APIContext } from 'astro';
import { defineMiddleware, sequence } from 'astro:middleware';
import { randomUUID } from 'node:crypto';
import { clearSessionCookie, setSessionCookie } from './lib/server/auth/cookies.ts';
import { auth } from './lib/server/auth/index.ts';
import { SESSION_COOKIE } from './lib/server/auth/lucia.ts';
import { isSessionEnded } from './lib/server/auth/session-ended.ts';
import { validateSessionToken } from './lib/server/auth/sessions.ts';
import { authenticateApiToken } from './lib/server/auth/tokens.ts';
import { apiCaller, takeApiRequest } from './lib/server/api/request-budget.ts';
import { db } from './lib/server/db/index.ts';
import { GateBusyError } from './lib/server/fair-gate.ts';
import { exportError } from './lib/server/export/index.ts';
import { isDatabaseUnavailable } from './lib/server/db/connect.ts';
import { logger } from './lib/server/logger.ts';
import { REQUEST_ID_HEADER } from './lib/server/node-server.ts';
import { clientAddressOf, isHttpsRequest } from './lib/server/request-info.ts';
import { BodyError } from './lib/server/request-body.ts';
import {
  clientProblem,
  databaseUnavailable,
  forbidden,
  idsExhausted,
  internalError,
  isIdSequenceExhausted,
  prefersHtml,
  serverBusy,
} from './lib/server/responses.ts';

/**
 * 1. Request context: the request id from the Node front, the client's address, and the one
 *    place where a lost database becomes a 503, and an unreadable body a 4xx, instead of an
 *    error page.
 */
const requestContext = defineMiddleware(async (context, next) => {
  const { locals, request } = context;
  locals.requestId = request.headers.get(REQUEST_ID_HEADER) ?? randomUUID();
  locals.secure = isHttpsRequest(request);
  locals.clientAddress = clientAddressOf(request, safeClientAddress(context));
  locals.user = null;
  locals.session = null;
  locals.token = null;
  try {
    return await next();
  } catch (error) {
    // A body the client sent that cannot be read is its mistake, wherever it was read.
    if (error instanceof BodyError) return clientProblem(request, error.problem);
    if (isSessionEnded(error)) return answerSignedOut(context);
    if (error instanceof GateBusyError) return serverBusy(request);
    if (isIdSequenceExhausted(error)) return idsExhausted(request);
    if (!isDatabaseUnavailable(error)) {
      logger.error(
        { requestId: locals.requestId, err: error instanceof Error ? error.stack : String(error) },
        'unhandled error',
      );
      // Pages get the site's 500 page (which shows the request id); programs get JSON.
      if (prefersHtml(request)) throw error;
      return internalError(locals.requestId);
    }
    logger.warn(
      { requestId: locals.requestId, err: (error as Error).message },
      'database unavailable',
    );
    return databaseUnavailable(request);
  }
});

/**
 * The answer to a request whose session or token turned out, mid-way, to belong to an
 * account that no longer exists (see session-ended.ts): the answer an anonymous request gets.
 * The session is ended here too, so this process's memory of it goes with it.
 */
async function answerSignedOut(context: APIContext): Promise<Response> {
  const { locals, request, url, cookies } = context;
  if (locals.session) await auth.invalidateSession(locals.session.id);
  clearSessionCookie({ cookies, secure: locals.secure });
  if (locals.token) {
    return dataEndpointError(url, 401, 'invalid_token', INVALID_TOKEN_MESSAGE, {
      'WWW-Authenticate': 'Bearer error="invalid_token"',
    });
  }
  if (TOKEN_PATHS.test(url.pathname) && !prefersHtml(request)) {
    return dataEndpointError(url, 401, 'unauthorized', 'Sign in first.');
  }
  return signInRedirect(context);
}

/** Sends a browser to sign in, and back here afterwards. */
function signInRedirect(context: APIContext): Response {
  const next = encodeURIComponent(context.url.pathname + context.url.search);
  return context.redirect(`/login/?next=${next}`, 302);
}

function safeClientAddress(context: { clientAddress: string }): string | undefined {
  try {
    return context.clientAddress;
  } catch {
    // Astro throws when the adapter cannot tell (prerendering); throttling then shares a key.
    return undefined;
  }
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * 2. Same-origin guard for every state change made with cookies, whatever its content type. Astro's own
 *    check covers form posts only; JSON bodies, `text/plain`, a missing or upper-case
 *    content type must not slip past it. A request is same-origin when its `Origin` is
 *    ours, or, without `Origin`, when the browser says `Sec-Fetch-Site: same-origin`.
 *    Requests with neither header are refused: browsers send one of them on every
 *    cross-site state change, and programs use the API with a bearer token.
 */
const sameOriginGuard = defineMiddleware((context, next) => {
  const { request, url } = context;
  if (SAFE_METHODS.has(request.method)) return next();
  // A bearer token without cookies is a program, not a browser a site could ride on.
  if (bearerToken(request) !== undefined && !request.headers.has('cookie')) return next();
  const origin = request.headers.get('origin');
  const fetchSite = request.headers.get('sec-fetch-site');
  const sameOrigin = origin !== null ? origin === url.origin : fetchSite === 'same-origin';
  if (sameOrigin) return next();
  const message = 'Cross-site requests cannot change anything here.';
  // Programs get the data endpoints' own format, whatever their Accept header says.
  return TOKEN_PATHS.test(url.pathname)
    ? dataEndpointError(url, 403, 'forbidden', message)
    : forbidden(request, message);
});

/** The token of an `Authorization` header, '' for a malformed one, undefined for none. */
function bearerToken(request: Request): string | undefined {
  const header = request.headers.get('authorization');
  if (header === null) return undefined;
  return /^Bearer +([\x21-\x7e]+)$/i.exec(header.trim())?.[1] ?? '';
}

const INVALID_TOKEN_MESSAGE = 'The token is unknown, revoked or expired.';

/** Where a personal API token is accepted instead of a session. */
const TOKEN_PATHS = /^\/(json|xml|api)(\/|$)/;

/** An error in the format of the data endpoint asked for: XML for /xml, JSON otherwise. */
function dataEndpointError(
  url: URL,
  status: number,
  code: string,
  message: string,
  headers: Record<string, string> = {},
): Response {
  const format = url.pathname.startsWith('/xml') ? 'xml' : 'json';
  const response = exportError(format, status, code, message);
  for (const [name, value] of Object.entries(headers)) response.headers.set(name, value);
  return response;
}

/**
 * 3a. Token: on the data endpoints an `Authorization: Bearer` header stands instead of the
 *     cookie. A malformed header, or a token that is unknown, revoked or expired, is a 401
 *     with `WWW-Authenticate`; a read-only token may not change anything (403); each token
 *     has a request budget (429).
 */
async function authenticateToken(
  context: Parameters<Parameters<typeof defineMiddleware>[0]>[0],
  token: string,
): Promise<Response | undefined> {
  const { locals, request, url } = context;
  if (token === '') {
    return dataEndpointError(
      url,
      401,
      'invalid_request',
      'Send the token as: Authorization: Bearer <token>.',
      {
        'WWW-Authenticate': 'Bearer error="invalid_request"',
      },
    );
  }
  const owner = await authenticateApiToken(db, token);
  if (!owner) {
    return dataEndpointError(url, 401, 'invalid_token', INVALID_TOKEN_MESSAGE, {
      'WWW-Authenticate': 'Bearer error="invalid_token"',
    });
  }
  const wait = takeApiRequest(apiCaller.token(owner.tokenId));
  if (wait > 0) return tooManyRequests(url, wait);
  if (owner.scope === 'read' && !SAFE_METHODS.has(request.method)) {
    return dataEndpointError(url, 403, 'insufficient_scope', 'This token can only read.', {
      'WWW-Authenticate': 'Bearer error="insufficient_scope", scope="read-write"',
    });
  }
  locals.user = { id: owner.userId, username: owner.username };
  locals.token = { id: owner.tokenId, scope: owner.scope };
  return undefined;
}

/** The answer of the data endpoints to a caller over its request budget. */
function tooManyRequests(url: URL, wait: number): Response {
  return dataEndpointError(
    url,
    429,
    'too_many_requests',
    'Too many requests in the last minute; slow down.',
    { 'Retry-After': String(wait) },
  );
}

/** Paths that answer anonymous requests themselves (sign-in pages, health, data endpoints). */
const PUBLIC_PATHS =
  /^\/(login|register|logout|healthz|json|xml|api|_actions|_server-islands)(\/|$)/;

/**
 * 3b. Session: validates the cookie once, fills `locals.user` and `locals.session`,
 *    re-sends the cookie when Lucia extended the session, blanks one that names no session,
 *    and sends anonymous visitors of protected pages to sign in.
 */
const session = defineMiddleware(async (context, next) => {
  const { locals, cookies, url, request } = context;
  const bearer = bearerToken(request);
  if (bearer !== undefined && TOKEN_PATHS.test(url.pathname)) {
    return (await authenticateToken(context, bearer)) ?? next();
  }
  const token = cookies.get(SESSION_COOKIE)?.value;
  if (token) {
    const valid = await validateSessionToken(auth, token);
    const cookieContext = { cookies, secure: locals.secure };
    if (valid) {
      locals.user = valid.user;
      locals.session = valid.session;
      if (valid.session.fresh) setSessionCookie(cookieContext, token, valid.session.expiresAt);
      // The API has the same budget for a browser's session as for a token.
      if (url.pathname.startsWith('/api/')) {
        const wait = takeApiRequest(apiCaller.session(valid.session.id));
        if (wait > 0) return tooManyRequests(url, wait);
      }
    } else {
      clearSessionCookie(cookieContext);
    }
  }
  if (!locals.user && !PUBLIC_PATHS.test(url.pathname)) return signInRedirect(context);
  return next();
});

export const onRequest = sequence(requestContext, sameOriginGuard, session);
