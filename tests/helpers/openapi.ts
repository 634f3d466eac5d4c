import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { expect } from 'vitest';
import { OPENAPI_DOCUMENT } from '../../src/lib/server/api/openapi.ts';

/**
 * Every API response a test receives is checked against /api/openapi.json: its status must
 * be one the operation documents, and its body must match the documented schema. So the
 * document cannot drift from what the server sends, successes and errors alike.
 */

type Operation = { responses: Record<string, { $ref?: string; content?: unknown }> };
type Document = {
  paths: Record<string, Record<string, unknown>>;
  components: { responses: Record<string, { content?: Record<string, { schema: unknown }> }> };
};

const document = OPENAPI_DOCUMENT as unknown as Document;
// The document holds more than schemas (paths, operations), which Ajv is told to ignore.
const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats.default(ajv);
ajv.addSchema(document, 'openapi.json');

const validators = new Map<string, ValidateFunction>();
function validatorFor(schema: unknown): ValidateFunction {
  const key = JSON.stringify(schema);
  let validate = validators.get(key);
  if (!validate) {
    // Local references point into the document.
    const rooted = JSON.parse(key.replaceAll('"#/components/', '"openapi.json#/components/'));
    validate = ajv.compile(rooted as object);
    validators.set(key, validate);
  }
  return validate;
}

/** The document's path template for a request path, such as `/api/items/{id}`. */
function templateOf(pathname: string): string | undefined {
  // A path of its own (`/api/items/bulk`) comes before a template it also fits (`{id}`).
  if (Object.hasOwn(document.paths, pathname)) return pathname;
  return Object.keys(document.paths).find((template) =>
    new RegExp(`^${template.replace(/\{[^}]+\}/g, '[^/]+')}$`).test(pathname),
  );
}

function resolve(response: { $ref?: string; content?: unknown }) {
  const name = response.$ref?.replace('#/components/responses/', '');
  return name === undefined ? response : document.components.responses[name]!;
}

/** True for the requests this document describes: everything under /api. */
const isApiPath = (pathname: string) => pathname === '/api' || pathname.startsWith('/api/');

/** Checks one API response (its status, type and body) against the OpenAPI document. */
function expectDocumentedResponse(
  method: string,
  pathname: string,
  status: number,
  contentType: string | null,
  body: string,
): void {
  const label = `${method} ${pathname} → ${status}`;
  const template = templateOf(pathname);
  const operation = template
    ? (document.paths[template]![method.toLowerCase() === 'head' ? 'get' : method.toLowerCase()] as
        Operation | undefined)
    : undefined;
  // An address or a method the document does not have answers with a documented error.
  const responses = operation?.responses ?? {
    '404': { $ref: '#/components/responses/NotFound' },
    '405': { $ref: '#/components/responses/MethodNotAllowed' },
    ...(template ? {} : { '401': { $ref: '#/components/responses/Unauthorized' } }),
    '403': { $ref: '#/components/responses/Forbidden' },
    '429': { $ref: '#/components/responses/TooManyRequests' },
    '503': { $ref: '#/components/responses/ServiceUnavailable' },
  };
  const documented = responses[String(status)];
  expect(documented, `${label}: status not in the document (${body.slice(0, 200)})`).toBeDefined();
  const content = resolve(documented!).content as Record<string, { schema: unknown }> | undefined;
  if (!content || method.toUpperCase() === 'HEAD') {
    if (method.toUpperCase() !== 'HEAD') expect(body, `${label}: no body documented`).toBe('');
    return;
  }
  expect(contentType?.split(';', 1)[0], `${label}: content type`).toBe('application/json');
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    expect.fail(`${label}: the body is not JSON: ${body.slice(0, 200)}`);
  }
  const validate = validatorFor(content['application/json']!.schema);
  expect(
    validate(parsed),
    `${label}: ${ajv.errorsText(validate.errors)}\n${body.slice(0, 500)}`,
  ).toBe(true);
}

/** `fetch`, checking what an API path answers against the document. */
export async function checkedFetch(input: string | URL, init?: RequestInit): Promise<Response> {
  const response = await fetch(input, init);
  const { pathname } = new URL(input);
  if (isApiPath(pathname)) {
    expectDocumentedResponse(
      init?.method ?? 'GET',
      pathname,
      response.status,
      response.headers.get('content-type'),
      await response.clone().text(),
    );
  }
  return response;
}
