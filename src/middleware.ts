import { defineMiddleware, sequence } from 'astro:middleware';
import { randomUUID } from 'node:crypto';
import { clearSessionCookie, setSessionCookie } from './lib/server/auth/cookies.ts';
import { auth } from './lib/server/auth/index.ts';
import { SESSION_COOKIE } from './lib/server/auth/lucia.ts';
import { validateSessionToken } from './lib/server/auth/sessions.ts';
import { authenticateApiToken, takeTokenRequest } from './lib/server/auth/tokens.ts';
import { db } from './lib/server/db/index.ts';
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
  internalError,
  prefersHtml,
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
    return dataEndpointError(
      url,
      401,
      'invalid_token',
      'The token is unknown, revoked or expired.',
      {
        'WWW-Authenticate': 'Bearer error="invalid_token"',
      },
    );
  }
  const wait = takeTokenRequest(owner.tokenId);
  if (wait > 0) {
    return dataEndpointError(
      url,
      429,
      'too_many_requests',
      'This token has made too many requests; slow down.',
      {
        'Retry-After': String(wait),
      },
    );
  }
  if (owner.scope === 'read' && !SAFE_METHODS.has(request.method)) {
    return dataEndpointError(url, 403, 'insufficient_scope', 'This token can only read.', {
      'WWW-Authenticate': 'Bearer error="insufficient_scope", scope="read-write"',
    });
  }
  locals.user = { id: owner.userId, username: owner.username };
  locals.token = { id: owner.tokenId, scope: owner.scope };
  return undefined;
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
    } else {
      clearSessionCookie(cookieContext);
    }
  }
  if (!locals.user && !PUBLIC_PATHS.test(url.pathname)) {
    const next = encodeURIComponent(url.pathname + url.search);
    return context.redirect(`/login/?next=${next}`, 302);
  }
  return next();
});

export const onRequest = sequence(requestContext, sameOriginGuard, session);
