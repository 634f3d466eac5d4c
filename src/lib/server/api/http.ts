import type { APIContext } from 'astro';
import type { User } from 'lucia';
import type { z } from 'zod';
import { itemFieldErrors } from '../../item-schema.ts';
import { BodyError } from '../request-body.ts';
import { jsonError, type ErrorBody } from '../responses.ts';

/**
 * The HTTP conventions of `/api`: JSON in and out, errors as `{"error": {code, message,
 * fields?}}` whatever the client's `Accept` says (programs, not browsers, call it), and one
 * place that decides which methods a route answers and who may call it.
 */

export type ApiMethod = 'GET' | 'POST' | 'PATCH' | 'DELETE';

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

export function apiError(status: number, error: ErrorBody, headers?: HeadersInit): Response {
  return jsonError(status, error, headers);
}

export const notFound = (): Response =>
  apiError(404, { code: 'not_found', message: 'No such item.' });

/** 400 for a body or query the schema refused, with the messages by field. */
export function validationError(
  error: z.core.$ZodError,
  message = 'Some fields are invalid.',
): Response {
  return apiError(400, { code: 'validation_error', message, fields: itemFieldErrors(error) });
}

function allowHeader(methods: readonly ApiMethod[]): string {
  // HEAD is answered wherever GET is (Astro drops the body).
  return methods.flatMap((method) => (method === 'GET' ? ['GET', 'HEAD'] : [method])).join(', ');
}

function dispatch<Caller>(
  handlers: Partial<Record<ApiMethod, ApiHandler<Caller>>>,
  caller: (context: APIContext) => Caller | Response,
) {
  const methods = (Object.keys(handlers) as ApiMethod[]).filter((m) => handlers[m]);
  const allow = allowHeader(methods);
  return async (context: APIContext): Promise<Response> => {
    const requested = context.request.method.toUpperCase();
    const handler = handlers[(requested === 'HEAD' ? 'GET' : requested) as ApiMethod];
    if (!handler) {
      return apiError(
        405,
        { code: 'method_not_allowed', message: `This address answers ${allow} only.` },
        { Allow: allow },
      );
    }
    const who = caller(context);
    if (who instanceof Response) return who;
    try {
      return await handler(context, who);
    } catch (error) {
      // The middleware would answer an unreadable body in HTML to a browser; the API is JSON.
      if (error instanceof BodyError) {
        const { status, code, message } = error.problem;
        return apiError(status, { code, message });
      }
      throw error;
    }
  };
}

/** A route for signed-in callers only; anonymous ones get a JSON 401, never a redirect. */
export function apiEndpoint(handlers: Partial<Record<ApiMethod, ApiHandler<User>>>) {
  return dispatch(
    handlers,
    (context) =>
      context.locals.user ??
      apiError(401, {
        code: 'unauthorized',
        message:
          'Sign in first: send the session cookie of the web site, or a personal API token as Authorization: Bearer <token>.',
      }),
  );
}

/** A route anyone may read, such as the API's own description. */
export function publicApiEndpoint(handlers: Partial<Record<ApiMethod, ApiHandler<null>>>) {
  return dispatch(handlers, () => null);
}
