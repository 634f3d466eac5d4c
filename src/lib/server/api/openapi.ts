import { AMOUNT_MAX, DESCRIPTION_MAX_LENGTH, NAME_MAX_LENGTH } from '../../item-schema.ts';
import { SESSION_COOKIE } from '../auth/lucia.ts';
import { BODY_LIMIT_BYTES } from '../request-body.ts';
import { ITEM_SORTS, DEFAULT_SORT } from '../items.ts';
import { DEFAULT_LIMIT, IDEMPOTENCY_KEY_HEADER, MAX_LIMIT, SEARCH_MAX_LENGTH } from './items.ts';

/**
 * The API as OpenAPI 3.1, served at /api/openapi.json. Limits come from the constants the
 * code enforces, so the description cannot drift from them.
 */

const errorResponse = (description: string) => ({
  description,
  content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
});

const ref = (name: string) => ({ $ref: `#/components/${name}` });

const itemResponse = (description: string) => ({
  description,
  content: { 'application/json': { schema: ref('schemas/Item') } },
});

const jsonBody = (schema: string) => ({
  required: true,
  content: { 'application/json': { schema: ref(`schemas/${schema}`) } },
});

/** Errors any signed-in call can meet. */
const commonErrors = {
  '401': ref('responses/Unauthorized'),
  '405': ref('responses/MethodNotAllowed'),
  '429': ref('responses/TooManyRequests'),
  '503': ref('responses/ServiceUnavailable'),
};

/** Errors of calls that send a JSON body. */
const bodyErrors = {
  '400': ref('responses/BadRequest'),
  '403': ref('responses/Forbidden'),
  '413': ref('responses/PayloadTooLarge'),
  '415': ref('responses/UnsupportedMediaType'),
};

const itemIdParameter = {
  name: 'id',
  in: 'path',
  required: true,
  description: 'The item id: digits; another user’s id answers like a missing one (404).',
  schema: { type: 'string', pattern: '^[0-9]+$' },
};

const text = (maxLength: number, description: string) => ({
  type: 'string',
  maxLength,
  description:
    `${description} Line breaks are stored as LF (CR LF and lone CR become LF). Characters ` +
    'XML 1.0 cannot carry (U+0000–U+0008, U+000B, U+000C, U+000E–U+001F, U+FFFE, U+FFFF) ' +
    'are refused. Lengths count characters (code points).',
});

const itemFields = {
  name: {
    ...text(NAME_MAX_LENGTH, 'Trimmed; required.'),
    minLength: 1,
  },
  amount: {
    description: 'A whole number; a string of digits is accepted too.',
    oneOf: [
      { type: 'integer', minimum: 0, maximum: AMOUNT_MAX },
      { type: 'string', pattern: '^\\s*[+-]?[0-9]+\\s*$' },
    ],
  },
  description: {
    ...text(DESCRIPTION_MAX_LENGTH, 'May be empty.'),
  },
};

/** Changes need a browser session, or a token with the `read-write` scope. */
const WRITE_SECURITY = [{ sessionCookie: [] }, { bearerToken: ['read-write'] }];

export const OPENAPI_DOCUMENT = {
  openapi: '3.1.0',
  info: {
    title: 'Pacil Inventory API',
    version: '1.0.0',
    description:
      'The signed-in user’s items. Every call sees only the caller’s own items. Requests ' +
      'that change something need `Content-Type: application/json` (where they have a ' +
      `body, at most ${BODY_LIMIT_BYTES / 1024} KiB) and must be same-origin: an \`Origin\` ` +
      'header equal to the site’s origin, or, without one, `Sec-Fetch-Site: same-origin`. ' +
      'The Django-compatible exports `/json/`, `/xml/`, `/json/{id}/` and `/xml/{id}/` are ' +
      'described in the README, not here: their format is Django’s, not this API’s. ' +
      'Programs authenticate with a personal API token (the `bearerToken` scheme) instead ' +
      'of the session cookie; token requests need no same-origin headers.',
  },
  servers: [{ url: '/' }],
  // Either a browser session or a personal API token; operations that change something
  // require a token with the `read-write` scope (see below).
  security: [{ sessionCookie: [] }, { bearerToken: ['read'] }],
  paths: {
    '/api/items': {
      get: {
        operationId: 'listItems',
        summary: 'A page of the caller’s items',
        parameters: [
          {
            name: 'q',
            in: 'query',
            description: 'Case-insensitive text to find in the name or the description.',
            schema: { type: 'string', maxLength: SEARCH_MAX_LENGTH },
          },
          {
            name: 'sort',
            in: 'query',
            description: '`newest`/`oldest` order by id; ties are broken by id.',
            schema: { type: 'string', enum: [...ITEM_SORTS], default: DEFAULT_SORT },
          },
          {
            name: 'page',
            in: 'query',
            description: 'From 1; a page past the end is empty.',
            schema: { type: 'integer', minimum: 1, default: 1 },
          },
          {
            name: 'limit',
            in: 'query',
            schema: { type: 'integer', minimum: 1, maximum: MAX_LIMIT, default: DEFAULT_LIMIT },
          },
        ],
        responses: {
          '200': {
            description: 'The page.',
            content: { 'application/json': { schema: ref('schemas/ItemList') } },
          },
          '400': ref('responses/BadRequest'),
          ...commonErrors,
        },
      },
      post: {
        operationId: 'createItem',
        security: WRITE_SECURITY,
        summary: 'Add an item',
        parameters: [
          {
            name: IDEMPOTENCY_KEY_HEADER,
            in: 'header',
            description:
              'Chosen by the client so that a retried request does not store a copy: a ' +
              'second request with the same key and the same item returns the item the ' +
              'first one stored (200 instead of 201); the same key with a different item, ' +
              'or first used by the add-item form, is refused (422) and stores nothing.',
            schema: { type: 'string', minLength: 1, maxLength: 100, pattern: '^[ -~]+$' },
          },
        ],
        requestBody: jsonBody('ItemInput'),
        responses: {
          '201': {
            ...itemResponse('Stored.'),
            headers: {
              Location: {
                description: 'The new item’s address.',
                schema: { type: 'string' },
              },
            },
          },
          '200': itemResponse('The item an earlier request with the same Idempotency-Key stored.'),
          '422': errorResponse(
            'The Idempotency-Key was used before for a different request (`idempotency_key_reused`); nothing was stored.',
          ),
          ...bodyErrors,
          ...commonErrors,
        },
      },
    },
    '/api/items/{id}': {
      parameters: [itemIdParameter],
      get: {
        operationId: 'getItem',
        summary: 'One item',
        responses: {
          '200': itemResponse('The item.'),
          '404': ref('responses/NotFound'),
          ...commonErrors,
        },
      },
      patch: {
        operationId: 'updateItem',
        security: WRITE_SECURITY,
        summary: 'Change some fields of an item',
        requestBody: jsonBody('ItemPatch'),
        responses: {
          '200': itemResponse('The changed item.'),
          '404': ref('responses/NotFound'),
          ...bodyErrors,
          ...commonErrors,
        },
      },
      delete: {
        operationId: 'deleteItem',
        security: WRITE_SECURITY,
        summary: 'Delete an item',
        responses: {
          '204': { description: 'Deleted.' },
          '403': ref('responses/Forbidden'),
          '404': ref('responses/NotFound'),
          ...commonErrors,
        },
      },
    },
    '/api/items/{id}/adjust': {
      parameters: [itemIdParameter],
      post: {
        operationId: 'adjustItemAmount',
        security: WRITE_SECURITY,
        summary: 'Add to or take from an item’s amount, atomically',
        requestBody: jsonBody('Adjustment'),
        responses: {
          '200': itemResponse('The item with its new amount.'),
          '404': ref('responses/NotFound'),
          '409': errorResponse(
            `The new amount would leave 0..${AMOUNT_MAX}; nothing changed (code \`out_of_range\`).`,
          ),
          ...bodyErrors,
          ...commonErrors,
        },
      },
    },
    '/api/openapi.json': {
      get: {
        operationId: 'getOpenApiDocument',
        summary: 'This document',
        security: [],
        responses: {
          '200': {
            description: 'OpenAPI 3.1.',
            content: { 'application/json': { schema: { type: 'object' } } },
          },
        },
      },
    },
  },
  components: {
    securitySchemes: {
      bearerToken: {
        type: 'http',
        scheme: 'bearer',
        bearerFormat: 'pi_ followed by 43 base64url characters',
        description:
          'A personal API token from the settings page, sent as `Authorization: Bearer ' +
          '<token>`. Scope `read` may read; `read-write` may also create, change and delete. ' +
          'Token requests carry no cookies and need no same-origin headers. An unknown, ' +
          'revoked or expired token gets 401 with `WWW-Authenticate: Bearer`; a read token ' +
          'asking to change something gets 403; each token may make 600 requests a minute ' +
          '(then 429 with `Retry-After`).',
      },
      sessionCookie: {
        type: 'apiKey',
        in: 'cookie',
        name: SESSION_COOKIE,
        description: 'The session cookie set by signing in at `/login/`.',
      },
    },
    schemas: {
      Item: {
        type: 'object',
        required: ['id', 'name', 'amount', 'description', 'created_at'],
        additionalProperties: false,
        properties: {
          id: { type: 'integer', minimum: 1, maximum: 2147483647 },
          name: { type: 'string' },
          amount: { type: 'integer', minimum: 0, maximum: AMOUNT_MAX },
          description: { type: 'string' },
          created_at: { type: 'string', format: 'date-time' },
        },
      },
      ItemList: {
        type: 'object',
        required: ['items', 'page', 'limit', 'total'],
        additionalProperties: false,
        properties: {
          items: { type: 'array', items: ref('schemas/Item') },
          page: { type: 'integer', minimum: 1 },
          limit: { type: 'integer', minimum: 1, maximum: MAX_LIMIT },
          total: {
            type: 'integer',
            minimum: 0,
            description: 'Items matching `q`, over all pages.',
          },
        },
      },
      ItemInput: {
        type: 'object',
        description: 'Unknown fields (`id`, `user`, …) are refused with 400.',
        required: ['name', 'amount'],
        additionalProperties: false,
        properties: { ...itemFields, description: { ...itemFields.description, default: '' } },
      },
      ItemPatch: {
        type: 'object',
        description: 'At least one field; fields left out keep their value.',
        minProperties: 1,
        additionalProperties: false,
        properties: itemFields,
      },
      Adjustment: {
        type: 'object',
        required: ['delta'],
        additionalProperties: false,
        properties: {
          delta: { type: 'integer', minimum: -AMOUNT_MAX, maximum: AMOUNT_MAX },
        },
      },
      Error: {
        type: 'object',
        required: ['error'],
        additionalProperties: false,
        properties: {
          error: {
            type: 'object',
            required: ['code', 'message'],
            additionalProperties: false,
            properties: {
              code: {
                type: 'string',
                description:
                  'Stable, for programs: `validation_error`, `bad_request`, ' +
                  '`invalid_idempotency_key`, `idempotency_key_reused`, `unauthorized`, ' +
                  '`invalid_token`, `invalid_request`, `insufficient_scope`, `forbidden`, ' +
                  '`not_found`, `method_not_allowed`, `out_of_range`, `payload_too_large`, ' +
                  '`unsupported_media_type`, `too_many_requests`, `server_busy`, ' +
                  '`ids_exhausted`, `database_unavailable`, `internal_error`.',
              },
              message: { type: 'string', description: 'For people.' },
              fields: {
                type: 'object',
                description:
                  'Messages by field name; `_form` for messages about the body as a whole.',
                additionalProperties: { type: 'array', items: { type: 'string' } },
              },
            },
          },
        },
      },
    },
    responses: {
      BadRequest: errorResponse(
        'The body is not valid JSON or UTF-8 (`bad_request`), or fields are invalid or unknown ' +
          '(`validation_error`, with `fields`).',
      ),
      Unauthorized: errorResponse('No valid session (`unauthorized`).'),
      Forbidden: errorResponse('A cross-origin request that would change something (`forbidden`).'),
      NotFound: errorResponse('No such item of the caller’s (`not_found`).'),
      MethodNotAllowed: {
        ...errorResponse('The address does not answer this method (`method_not_allowed`).'),
        headers: {
          Allow: { description: 'The methods it answers.', schema: { type: 'string' } },
        },
      },
      PayloadTooLarge: errorResponse(
        `The body is larger than ${BODY_LIMIT_BYTES / 1024} KiB (\`payload_too_large\`).`,
      ),
      UnsupportedMediaType: errorResponse(
        'The body is not `application/json` (`unsupported_media_type`).',
      ),
      TooManyRequests: {
        ...errorResponse(
          'Too many requests (`too_many_requests`); wait as long as `Retry-After` says.',
        ),
        headers: {
          'Retry-After': { description: 'Seconds to wait.', schema: { type: 'integer' } },
        },
      },
      ServiceUnavailable: {
        ...errorResponse('The database is unreachable for now (`database_unavailable`).'),
        headers: {
          'Retry-After': { description: 'Seconds to wait.', schema: { type: 'integer' } },
        },
      },
    },
  },
} as const;
