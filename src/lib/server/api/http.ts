import type { APIContext } from 'astro';
import type { User } from 'lucia';
import { fieldErrors } from '../../contracts/field-errors.ts';
import type { ErrorCode } from '../../contracts/errors.ts';
import { problemResponse, problems } from '../http/problems.ts';
import { FORBIDDEN_MESSAGE, type Denied, type Need } from '../inventories/access.ts';

/**
 * The HTTP conventions of `/api`: JSON in and out, errors as `{"error": {code, message,
 * fields?}}` whatever the client's `Accept` says (programs, not browsers, call it), and one
 * place that decides which methods a route answers. Who may call is the pipeline's: a
 * route's handler runs only for the callers its entry in the route table admits.
 */

export type ApiMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export type ApiHandler<Caller> = (
  context: APIContext,
  caller: Caller,
) => Response | Promise<Response>;

export function apiJson(status: number, body: unknown, headers?: HeadersInit): Response {
  const response = new Response(JSON.stringify(body), {
    status,
    // Answers depend on the session; nothing may be cached for another caller.
    headers: { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' },
  });
  for (const [name, value] of new Headers(headers)) response.headers.set(name, value);
  return response;
}

export function apiError(
  status: number,
  error: { code: ErrorCode; message: string; fields?: Record<string, string[]> },
  headers?: Record<string, string>,
): Response {
  return problemResponse('json', { status, ...error, headers });
}

export const notFound = (message = 'No such item.'): Response =>
  problemResponse('json', problems.notFound(message));

/**
 * 404 for what the caller cannot see (exactly as for a missing id: `what` says which kind),
 * 403 saying why for what their role does not allow.
 */
export function deniedResponse(denied: Denied, need: Need, what = 'No such item.'): Response {
  if (denied.status === 'not-found') return notFound(what);
  return problemResponse('json', problems.forbidden(FORBIDDEN_MESSAGE[need]));
}

/** 400 for a body or query the schema refused, with the messages by field. */
export function validationError(
  error: Parameters<typeof fieldErrors>[0],
  message = 'Some fields are invalid.',
): Response {
  return fieldsRefused(fieldErrors(error), message);
}

/** 400 with these messages by field (`_form` for the body as a whole). */
export function fieldsRefused(
  fields: Record<string, string[]>,
  message = 'Some fields are invalid.',
): Response {
  return apiError(400, { code: 'validation_error', message, fields });
}

/** An item's location or tags that cannot be, as a validation error of that one field. */
export function placeRefused({ field, message }: { field: string; message: string }): Response {
  return fieldsRefused({ [field]: [message] });
}

function allowHeader(methods: readonly ApiMethod[]): string[] {
  // HEAD is answered wherever GET is (Astro drops the body).
  return methods.flatMap((method) => (method === 'GET' ? ['GET', 'HEAD'] : [method]));
}

function dispatch<Caller>(
  handlers: Partial<Record<ApiMethod, ApiHandler<Caller>>>,
  caller: (context: APIContext) => Caller,
) {
  const allow = allowHeader((Object.keys(handlers) as ApiMethod[]).filter((m) => handlers[m]));
  return (context: APIContext): Response | Promise<Response> => {
    const requested = context.request.method.toUpperCase();
    const handler = handlers[(requested === 'HEAD' ? 'GET' : requested) as ApiMethod];
    if (!handler) return problemResponse('json', problems.methodNotAllowed(allow));
    return handler(context, caller(context));
  };
}

/** A route for signed-in callers (a session or a token): the route table admits no others. */
export function apiEndpoint(handlers: Partial<Record<ApiMethod, ApiHandler<User>>>) {
  return dispatch(handlers, (context) => {
    const { user } = context.locals;
    if (!user) throw new Error('an /api route ran for a caller the route table should refuse');
    return user;
  });
}

/** A route anyone may read, such as the API's own description. */
export function publicApiEndpoint(handlers: Partial<Record<ApiMethod, ApiHandler<null>>>) {
  return dispatch(handlers, () => null);
}
