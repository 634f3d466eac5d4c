import { defineMiddleware, sequence } from 'astro:middleware';
import { randomUUID } from 'node:crypto';
import { clearSessionCookie, setSessionCookie } from './lib/server/auth/cookies.ts';
import { auth } from './lib/server/auth/index.ts';
import { SESSION_COOKIE } from './lib/server/auth/lucia.ts';
import { validateSessionToken } from './lib/server/auth/sessions.ts';
import { isDatabaseUnavailable } from './lib/server/db/connect.ts';
import { logger } from './lib/server/logger.ts';
import { REQUEST_ID_HEADER } from './lib/server/node-server.ts';
import { clientAddressOf, isHttpsRequest } from './lib/server/request-info.ts';
import { BodyError } from './lib/server/request-body.ts';
import { clientProblem, databaseUnavailable, forbidden } from './lib/server/responses.ts';

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
  try {
    return await next();
  } catch (error) {
    // A body the client sent that cannot be read is its mistake, wherever it was read.
    if (error instanceof BodyError) return clientProblem(request, error.problem);
    if (!isDatabaseUnavailable(error)) throw error;
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
 * 2. Same-origin guard for every state change, whatever its content type. Astro's own
 *    check covers form posts only; JSON bodies, `text/plain`, a missing or upper-case
 *    content type must not slip past it. A request is same-origin when its `Origin` is
 *    ours, or, without `Origin`, when the browser says `Sec-Fetch-Site: same-origin`.
 *    Requests with neither header are refused: browsers send one of them on every
 *    cross-site state change, and programs use the API with a bearer token.
 */
const sameOriginGuard = defineMiddleware((context, next) => {
  const { request, url } = context;
  if (SAFE_METHODS.has(request.method)) return next();
  const origin = request.headers.get('origin');
  const fetchSite = request.headers.get('sec-fetch-site');
  const sameOrigin = origin !== null ? origin === url.origin : fetchSite === 'same-origin';
  if (sameOrigin) return next();
  return forbidden(request, 'Cross-site requests cannot change anything here.');
});

/** Paths that answer anonymous requests themselves (sign-in pages, health, data endpoints). */
const PUBLIC_PATHS =
  /^\/(login|register|logout|healthz|json|xml|api|_actions|_server-islands)(\/|$)/;

/**
 * 3. Session: validates the cookie once, fills `locals.user` and `locals.session`,
 *    re-sends the cookie when Lucia extended the session, blanks one that names no session,
 *    and sends anonymous visitors of protected pages to sign in.
 */
const session = defineMiddleware(async (context, next) => {
  const { locals, cookies, url } = context;
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
