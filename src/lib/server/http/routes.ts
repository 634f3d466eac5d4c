import { prefersHtml, type AnswerFormat } from './problems.ts';

/**
 * The one table of who may call what, and how each path answers. The request pipeline
 * (src/middleware.ts) reads it once per request; nothing else decides these things.
 *
 * - `access`: `public` answers anyone; `session` needs a signed-in browser; `data` takes a
 *   session or a personal API token (`Authorization: Bearer`), and only there is a token
 *   read at all; `none` is answered 404 for everyone (addresses Astro serves by itself that
 *   this site does not use).
 * - `format`: how errors are answered. `page` is HTML for a browser and JSON for a program
 *   (a script posting a form gets a body it can read); `json` and `xml` always.
 * - `signedOut`: what a caller without a session or token gets: sent to sign in, sent to
 *   sign in only when it is a browser navigating there, or a 401 in the route's format.
 */
export type Access = 'public' | 'session' | 'data' | 'none';
export type RouteFormat = 'page' | AnswerFormat;
export type SignedOut = 'sign-in' | 'sign-in-browsers' | 'refuse';

export interface Route {
  access: Access;
  format: RouteFormat;
  signedOut: SignedOut;
  /**
   * Whether a browser session's calls count against the per-caller budget (tokens always
   * do, wherever they are taken; see request-budget.ts).
   */
  budgetSessions: boolean;
}

const page = (access: Access): Route => ({
  access,
  format: 'page',
  signedOut: 'sign-in',
  budgetSessions: false,
});

const ROUTES: ReadonlyArray<readonly [RegExp, Route]> = [
  // Anything under them too, so that an anonymous mistyped address gets the 404 page.
  [/^\/(login|register|logout)(\/|$)/, page('public')],
  // Astro's image service, actions and server islands: no page here uses them.
  [/^\/_(image|actions|server-islands)(\/|$)/, page('none')],
  [
    /^\/healthz\/?$/,
    { access: 'public', format: 'json', signedOut: 'refuse', budgetSessions: false },
  ],
  [
    /^\/api\/openapi\.json$/,
    { access: 'public', format: 'json', signedOut: 'refuse', budgetSessions: false },
  ],
  [/^\/api(\/|$)/, { access: 'data', format: 'json', signedOut: 'refuse', budgetSessions: true }],
  [
    /^\/json(\/|$)/,
    { access: 'data', format: 'json', signedOut: 'sign-in-browsers', budgetSessions: false },
  ],
  // A download, like /json/: a browser following the link is sent to sign in, a program 401.
  [
    /^\/export\.csv$/,
    { access: 'data', format: 'page', signedOut: 'sign-in-browsers', budgetSessions: false },
  ],
  [
    /^\/xml(\/|$)/,
    { access: 'data', format: 'xml', signedOut: 'sign-in-browsers', budgetSessions: false },
  ],
];

/** Everything else is a page of a signed-in user. */
const SIGNED_IN_PAGE = page('session');

export function routeOf(pathname: string): Route {
  for (const [pattern, route] of ROUTES) if (pattern.test(pathname)) return route;
  return SIGNED_IN_PAGE;
}

/** The format this request's errors are answered in. */
export function answerFormat(route: Route, request: Request): AnswerFormat {
  if (route.format !== 'page') return route.format;
  return prefersHtml(request) ? 'html' : 'json';
}
