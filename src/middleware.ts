import type { APIContext } from 'astro';
import { defineMiddleware } from 'astro:middleware';
import { randomUUID } from 'node:crypto';
import { apiCaller, takeApiRequest } from './lib/server/api/request-budget.ts';
import { clearSessionCookie, setSessionCookie } from './lib/server/auth/cookies.ts';
import { auth } from './lib/server/auth/index.ts';
import { SESSION_COOKIE } from './lib/server/auth/lucia.ts';
import { isSessionEnded } from './lib/server/auth/session-ended.ts';
import { validateSessionToken } from './lib/server/auth/sessions.ts';
import { authenticateApiToken } from './lib/server/auth/tokens.ts';
import { isDatabaseUnavailable } from './lib/server/db/connect.ts';
import { db } from './lib/server/db/index.ts';
import { GateBusyError } from './lib/server/fair-gate.ts';
// Started with the pipeline, so every server process runs it.
import './lib/server/hourly.ts';
import {
  prefersHtml,
  problemResponse,
  problems,
  type AnswerFormat,
  type Problem,
} from './lib/server/http/problems.ts';
import { answerFormat, routeOf, type Route } from './lib/server/http/routes.ts';
import { logger } from './lib/server/logger.ts';
import { REQUEST_ID_HEADER } from './lib/server/node-server.ts';
import { BodyError } from './lib/server/request-body.ts';
import { clientAddressOf, isHttpsRequest } from './lib/server/request-info.ts';

/**
 * The request pipeline, one pass per request, driven by the route table (http/routes.ts):
 *
 * 1. the request's context (id, address, scheme) and the one place where failures become
 *    answers: an unreadable body a 4xx, a lost database a 503, a gone account signed out;
 * 2. the same-origin guard for every state change (the only origin check: Astro's own is
 *    off, and the Node front rewrites no header);
 * 3. who is calling: a bearer token on the routes that take one, else the session cookie;
 *    a caller the route does not admit is answered here, once, in the route's format.
 *
 * It only fills `locals`; what a route does with them is the route's business.
 */
export const onRequest = defineMiddleware(async (context, next) => {
  const { locals, request } = context;
  locals.requestId = request.headers.get(REQUEST_ID_HEADER) ?? randomUUID();
  locals.secure = isHttpsRequest(request);
  locals.clientAddress = clientAddressOf(request, socketAddress(context));
  locals.user = null;
  locals.session = null;
  locals.token = null;
  const route = routeOf(context.url.pathname);
  const format = answerFormat(route, request);
  locals.format = format;
  if (route.access === 'none') return problemResponse(format, problems.notFound());
  try {
    const bearer = bearerToken(request);
    if (!isSafeMethod(request.method) && !isProgram(request, bearer)) {
      if (!isSameOrigin(context)) return problemResponse(format, problems.crossSite());
    }
    const refusal =
      bearer !== undefined && route.access === 'data'
        ? await authenticateToken(context, format, bearer)
        : await authenticateSession(context, route, format);
    if (refusal) return refusal;
    if (!locals.user && route.access !== 'public') return signedOutAnswer(context, route, format);
    const response = await next();
    // What a signed-in page shows is private: no cache may keep it, and Back after signing
    // out must not show it again from the browser's.
    return locals.user ? withHeader(response, 'Cache-Control', 'no-store') : response;
  } catch (error) {
    return await answerFailure(context, route, format, error);
  }
});

/** The answer to whatever a route or this pipeline threw. */
async function answerFailure(
  context: APIContext,
  route: Route,
  format: AnswerFormat,
  error: unknown,
): Promise<Response> {
  const { locals } = context;
  // A body the client sent that cannot be read is its mistake, wherever it was read.
  if (error instanceof BodyError) return problemResponse(format, error.problem);
  if (isSessionEnded(error)) {
    // The session (or token) belongs to an account deleted meanwhile: signed out.
    if (locals.session) await auth.invalidateSession(locals.session.id);
    clearSessionCookie({ cookies: context.cookies, secure: locals.secure });
    if (locals.token) return problemResponse(format, invalidToken());
    return signedOutAnswer(context, route, format);
  }
  if (error instanceof GateBusyError) return problemResponse(format, problems.serverBusy());
  if ((error as { code?: unknown } | null)?.code === SEQUENCE_LIMIT_EXCEEDED) {
    return problemResponse(format, problems.idsExhausted());
  }
  if (isDatabaseUnavailable(error)) {
    logger.warn(
      { requestId: locals.requestId, err: (error as Error).message },
      'database unavailable',
    );
    return problemResponse(format, problems.databaseUnavailable());
  }
  logger.error(
    { requestId: locals.requestId, err: error instanceof Error ? error.stack : String(error) },
    'unhandled error',
  );
  // A browser gets the site's 500 page (which shows the request id); programs a body.
  if (format === 'html') throw error;
  return problemResponse(format, problems.internal(locals.requestId));
}

/** `response` with the header set; a response whose headers are immutable is copied first. */
function withHeader(response: Response, name: string, value: string): Response {
  try {
    response.headers.set(name, value);
    return response;
  } catch {
    const copy = new Response(response.body, response);
    copy.headers.set(name, value);
    return copy;
  }
}

/** PostgreSQL's error for an id sequence at its end (a Django import can move one there). */
const SEQUENCE_LIMIT_EXCEEDED = '2200H';

function socketAddress(context: { clientAddress: string }): string | undefined {
  try {
    return context.clientAddress;
  } catch {
    // Astro throws when the adapter cannot tell (prerendering); throttling then shares a key.
    return undefined;
  }
}

const isSafeMethod = (method: string) =>
  method === 'GET' || method === 'HEAD' || method === 'OPTIONS';

/** The token of an `Authorization` header, '' for a malformed one, undefined for none. */
function bearerToken(request: Request): string | undefined {
  const header = request.headers.get('authorization');
  if (header === null) return undefined;
  return /^Bearer +([\x21-\x7e]+)$/i.exec(header.trim())?.[1] ?? '';
}

/**
 * A bearer token without cookies is a program, not a browser another site could ride on:
 * browsers never add `Authorization` on their own. The token alone decides what it may do.
 */
const isProgram = (request: Request, bearer: string | undefined) =>
  bearer !== undefined && !request.headers.has('cookie');

/**
 * A state change made with cookies, whatever its content type, must come from the site's
 * own pages: its `Origin` is ours, or, without `Origin`, the browser says
 * `Sec-Fetch-Site: same-origin`. Browsers send one of them on every cross-site state change.
 * Behind a proxy that ends TLS (TRUST_PROXY), the site's origin is https even though the
 * request reached us over http.
 */
function isSameOrigin({ request, url, locals }: APIContext): boolean {
  const origin = request.headers.get('origin');
  if (origin === null) return request.headers.get('sec-fetch-site') === 'same-origin';
  return origin === `${locals.secure ? 'https:' : url.protocol}//${url.host}`;
}

const invalidToken = (): Problem => ({
  status: 401,
  code: 'invalid_token',
  title: 'Sign in first',
  message: 'The token is unknown, revoked or expired.',
  headers: { 'WWW-Authenticate': 'Bearer error="invalid_token"' },
});

/**
 * A personal API token instead of the cookie. A malformed header, or a token that is
 * unknown, revoked or expired, is a 401 with `WWW-Authenticate`; each token has a request
 * budget (429); a read-only token may not change anything (403).
 */
async function authenticateToken(
  context: APIContext,
  format: AnswerFormat,
  token: string,
): Promise<Response | undefined> {
  const { locals, request } = context;
  if (token === '') {
    return problemResponse(format, {
      status: 401,
      code: 'invalid_request',
      title: 'Sign in first',
      message: 'Send the token as: Authorization: Bearer <token>.',
      headers: { 'WWW-Authenticate': 'Bearer error="invalid_request"' },
    });
  }
  const owner = await authenticateApiToken(db, token);
  if (!owner) return problemResponse(format, invalidToken());
  const wait = takeApiRequest(apiCaller.token(owner.tokenId));
  if (wait > 0) return problemResponse(format, problems.tooManyRequests(wait));
  if (owner.scope === 'read' && !isSafeMethod(request.method)) {
    return problemResponse(format, {
      status: 403,
      code: 'insufficient_scope',
      title: 'Forbidden',
      message: 'This token can only read.',
      headers: { 'WWW-Authenticate': 'Bearer error="insufficient_scope", scope="read-write"' },
    });
  }
  locals.user = { id: owner.userId, username: owner.username };
  locals.token = {
    id: owner.tokenId,
    name: owner.tokenName,
    scope: owner.scope,
    inventoryId: owner.inventoryId,
  };
  return undefined;
}

/**
 * The session cookie, validated once: fills `locals.user` and `locals.session`, re-sends the
 * cookie when Lucia extended the session, and blanks one that names no session.
 */
async function authenticateSession(
  context: APIContext,
  route: Route,
  format: AnswerFormat,
): Promise<Response | undefined> {
  const { locals, cookies } = context;
  const token = cookies.get(SESSION_COOKIE)?.value;
  if (!token) return undefined;
  const valid = await validateSessionToken(auth, token);
  const cookieContext = { cookies, secure: locals.secure };
  if (!valid) {
    clearSessionCookie(cookieContext);
    return undefined;
  }
  locals.user = valid.user;
  locals.session = valid.session;
  if (valid.session.fresh) setSessionCookie(cookieContext, token, valid.session.expiresAt);
  if (route.budgetSessions) {
    // The API has the same budget for a browser's session as for a token.
    const wait = takeApiRequest(apiCaller.session(valid.session.id));
    if (wait > 0) return problemResponse(format, problems.tooManyRequests(wait));
  }
  return undefined;
}

/** What a caller without a session or token gets, as the route says (see routes.ts). */
function signedOutAnswer(context: APIContext, route: Route, format: AnswerFormat): Response {
  const { request, url } = context;
  const redirect =
    route.signedOut === 'sign-in' ||
    (route.signedOut === 'sign-in-browsers' && prefersHtml(request));
  if (!redirect) return problemResponse(format, problems.signInFirst());
  return context.redirect(`/login/?next=${encodeURIComponent(url.pathname + url.search)}`, 302);
}
