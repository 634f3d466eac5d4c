import type { AstroGlobal } from 'astro';
import { formatWait } from '../../format.ts';
import {
  clearAccountCookies,
  setLastLoginCookie,
  setOneTimeSecret,
  setNotice,
  setSessionCookie,
  type Notice,
  type SecretKind,
} from '../auth/cookies.ts';
import { FORBIDDEN_MESSAGE, type Denied, type Need } from '../inventories/access.ts';
import { readForm, readUploadForm, type UploadedFile } from '../request-body.ts';
import { problemResponse, problems } from './problems.ts';

/**
 * The one form layer: what every form page repeats, said once. A page names the methods it
 * answers and what a post does; this reads the body (a post without one is an empty form),
 * and turns the outcome into the answer: a redirect with a notice and the cookies it sets
 * (Post/Redirect/Get), or the page again with a status, its errors and a message — a 429
 * with `Retry-After` and the same sentence on every page.
 */

export type FieldErrors = Partial<Record<string, string[]>>;

/** What a post asks the page to do. Services return their own outcomes; pages map them. */
export type FormOutcome =
  | {
      kind: 'redirect';
      /** A local path; see `locationOf`. */
      to: string;
      notice?: Notice;
      /** The browser's new session (sign-in, a password change). */
      session?: { token: string; expiresAt: Date; signedInAt?: Date };
      /** The account's cookies go (sign-out, a deleted account). */
      signOut?: boolean;
      /** A new secret (API token, invite link), shown once on the page the redirect leads to. */
      secret?: { kind: SecretKind; value: string };
    }
  | { kind: 'show'; status: number; errors?: FieldErrors; failure?: string }
  | { kind: 'throttled'; retryAfterSeconds: number; what: string }
  | { kind: 'not-found' }
  /** The caller may not: 404 for a stranger, 403 for a member whose role does not allow it. */
  | { kind: 'denied'; denied: Denied; need: Need };

export interface FormState {
  /** True when this answers a post. */
  posted: boolean;
  /** The posted fields (empty for a GET), to fill the form in again. */
  fields: Record<string, string>;
  errors: FieldErrors;
  /** A message about the form as a whole, shown above it. */
  failure: string | undefined;
}

type Method = 'GET' | 'HEAD' | 'POST';

/** The parts of `Astro` the layer uses. */
type PageContext = Pick<AstroGlobal, 'request' | 'cookies' | 'locals' | 'response' | 'redirect'>;

/**
 * The path a redirect goes to, known to be one a `Location` header can carry: a local
 * path in printable ASCII (safeNextPath percent-encodes whatever a user chose). Anything
 * else is a bug in the page; it goes to the main page rather than failing after the post's
 * change was saved.
 */
function locationOf(to: string): string {
  return /^\/(?![/\\])[\x21-\x7e]*$/.test(to) || to === '/' ? to : '/';
}

export async function formPage(
  Astro: PageContext,
  options: {
    methods?: readonly Method[];
    /**
     * `file`: the upload, when the form may carry one (`uploadLimit`); `all(name)`: every
     * value of a repeated field (a list's checkboxes), where `fields` has the last.
     */
    post?: (
      fields: Record<string, string>,
      file: UploadedFile | undefined,
      all: (name: string) => string[],
    ) => Promise<FormOutcome>;
    /** The form may carry a file of up to this many bytes (a multipart upload). */
    uploadLimit?: number;
  },
): Promise<Response | FormState> {
  const { request, cookies, locals } = Astro;
  const methods = options.methods ?? (options.post ? ['GET', 'HEAD', 'POST'] : ['GET', 'HEAD']);
  if (!(methods as readonly string[]).includes(request.method)) {
    return problemResponse(locals.format, problems.methodNotAllowed(methods));
  }
  const state: FormState = { posted: false, fields: {}, errors: {}, failure: undefined };
  if (request.method !== 'POST' || !options.post) return state;

  state.posted = true;
  const body =
    options.uploadLimit === undefined
      ? { ...(await readForm(request)), file: undefined }
      : await readUploadForm(request, options.uploadLimit);
  state.fields = body.fields;
  const outcome = await options.post(state.fields, body.file, body.all);
  const cookieContext = { cookies, secure: locals.secure };
  switch (outcome.kind) {
    case 'redirect': {
      if (outcome.signOut) clearAccountCookies(cookieContext);
      if (outcome.session) {
        setSessionCookie(cookieContext, outcome.session.token, outcome.session.expiresAt);
        if (outcome.session.signedInAt)
          setLastLoginCookie(cookieContext, outcome.session.signedInAt);
      }
      if (outcome.secret)
        setOneTimeSecret(cookieContext, outcome.secret.kind, outcome.secret.value);
      if (outcome.notice) setNotice(cookieContext, outcome.notice);
      return Astro.redirect(locationOf(outcome.to), 303);
    }
    case 'show':
      Astro.response.status = outcome.status;
      state.errors = outcome.errors ?? {};
      state.failure = outcome.failure;
      return state;
    case 'throttled':
      Astro.response.status = 429;
      Astro.response.headers.set('Retry-After', String(outcome.retryAfterSeconds));
      state.failure = `Too many ${outcome.what}. Please wait ${formatWait(outcome.retryAfterSeconds)} and try again.`;
      return state;
    case 'not-found':
      // Empty: Astro answers it with the site's 404 page.
      return new Response(null, { status: 404 });
    case 'denied':
      return deniedAnswer(Astro, outcome.denied, outcome.need);
  }
}

/** The answer to a page the caller may not see or use: the 404 page, or a 403 that says why. */
export function deniedAnswer(Astro: Pick<PageContext, 'locals'>, denied: Denied, need: Need) {
  if (denied.status === 'not-found') return new Response(null, { status: 404 });
  return problemResponse(Astro.locals.format, problems.forbidden(FORBIDDEN_MESSAGE[need]));
}

/** A page that answers GET (and HEAD) only. */
export async function readOnlyPage(Astro: PageContext): Promise<Response | undefined> {
  const state = await formPage(Astro, { methods: ['GET', 'HEAD'] });
  return state instanceof Response ? state : undefined;
}
