import { z } from 'zod';
import { bulkChangeSchema, bulkResultSchema, MAX_BULK_ITEMS } from '../../contracts/bulk.ts';
import { errorBodySchema } from '../../contracts/errors.ts';
import {
  AMOUNT_MAX,
  DESCRIPTION_MAX_LENGTH,
  itemInputSchema,
  itemPatchSchema,
  NAME_MAX_LENGTH,
} from '../../contracts/item-input.ts';
import {
  INVENTORY_NAME_MAX_LENGTH,
  inventoryInputSchema,
  inventoryListSchema,
  inventoryNameSchema,
  inventorySchema,
  memberInputSchema,
  memberListSchema,
  memberSchema,
} from '../../contracts/inventories.ts';
import {
  adjustmentSchema,
  IDEMPOTENCY_KEY_HEADER,
  idempotencyKeySchema,
  itemListQuerySchema,
  itemListSchema,
  itemSchema,
  newItemInventorySchema,
} from '../../contracts/items.ts';
import { MAX_ROW_ID } from '../../contracts/ids.ts';
import {
  activityQuerySchema,
  changeListSchema,
  changeSchema,
  MAX_CHANGES_PER_PAGE,
  TRASH_PAGE_SIZE,
  trashListSchema,
  trashQuerySchema,
  undoResultSchema,
} from '../../contracts/history.ts';
import {
  CSV_COLUMNS,
  IMPORT_MAX_BYTES,
  IMPORT_MAX_ROWS,
  importQuerySchema,
  importRefusedSchema,
  importResultSchema,
} from '../../contracts/imports.ts';
import {
  inventoryTagListSchema,
  itemPlacesSchema,
  LOCATION_MAX_DEPTH,
  LOCATION_NAME_MAX_LENGTH,
  locationInputSchema,
  locationListSchema,
  locationNameSchema,
  locationPatchSchema,
  locationSchema,
  MAX_LOCATIONS_PER_INVENTORY,
  MAX_TAGS_PER_INVENTORY,
  MAX_TAGS_PER_ITEM,
  PATH_SEPARATOR,
  TAG_NAME_MAX_LENGTH,
  tagListSchema,
  tagNameSchema,
} from '../../contracts/places.ts';
import { API_REQUESTS_PER_MINUTE } from './request-budget.ts';
import { SESSION_COOKIE } from '../auth/lucia.ts';
import { BODY_LIMIT_BYTES } from '../request-body.ts';

/**
 * The API as OpenAPI 3.1, served at /api/openapi.json. The schemas are made from the zod
 * contracts the server parses and answers with (z.toJSONSchema), so the description cannot
 * drift from them; only the operations, which name those schemas, are written here.
 */

type JsonSchema = Record<string, unknown>;

/**
 * An item's fields are single transforms (one schema for forms and JSON, small in the
 * island), which JSON Schema cannot express; what they accept on the wire is said here, from
 * the constants they enforce.
 */
const text = (maxLength: number, description: string): JsonSchema => ({
  type: 'string',
  maxLength,
  description:
    `${description} Line breaks are stored as LF (CR LF and lone CR become LF). Characters ` +
    'XML 1.0 cannot carry (U+0000–U+0008, U+000B, U+000C, U+000E–U+001F, U+FFFE, U+FFFF) ' +
    'are refused. Lengths count characters (code points).',
});
const { name, amount, description } = itemInputSchema.shape;

/**
 * `POST /api/items`'s body: the item's fields and, beside them, the inventory to add it to
 * (the endpoint splits the two with `newItemTarget` and parses each with its own schema).
 */
const newItemSchema = z.strictObject({
  ...itemInputSchema.shape,
  ...itemPlacesSchema.shape,
  inventory: newItemInventorySchema.optional(),
});

/**
 * `PATCH /api/items/{id}`'s body: the item's own fields and those about its place, each read
 * by its own schema (`parseItemBody`).
 */
const itemChangeSchema = z.strictObject({
  ...itemPatchSchema.shape,
  ...itemPlacesSchema.shape,
});

/** Object bodies whose fields are transforms: JSON Schema is told here which are required. */
const INPUT_OBJECTS: ReadonlyMap<unknown, Record<string, z.core.$ZodType>> = new Map<
  unknown,
  Record<string, z.core.$ZodType>
>([
  [newItemSchema, newItemSchema.shape],
  [inventoryInputSchema, inventoryInputSchema.shape],
  [memberInputSchema, memberInputSchema.shape],
  [locationInputSchema, locationInputSchema.shape],
]);

const WIRE_FORMS = new Map<unknown, JsonSchema>([
  [name, { ...text(NAME_MAX_LENGTH, 'Trimmed; required.'), minLength: 1 }],
  [
    amount,
    {
      description: 'A whole number; a string of digits is accepted too.',
      oneOf: [
        { type: 'integer', minimum: 0, maximum: AMOUNT_MAX },
        { type: 'string', pattern: '^\\s*[+-]?[0-9]+\\s*$' },
      ],
    },
  ],
  [description, text(DESCRIPTION_MAX_LENGTH, 'May be empty; left out of a new item, it is.')],
  [
    newItemSchema,
    { description: 'Unknown fields (`id`, `user`, `version`, …) are refused with 400.' },
  ],
  [
    inventoryNameSchema,
    {
      type: 'string',
      minLength: 1,
      maxLength: INVENTORY_NAME_MAX_LENGTH,
      description:
        'Trimmed; required. Control characters XML 1.0 cannot carry are refused. Lengths ' +
        'count characters (code points). Names need not be unique.',
    },
  ],
  [
    itemChangeSchema,
    {
      minProperties: 1,
      description:
        'At least one field; fields left out keep their value. `tags` replaces the whole list.',
    },
  ],
  [
    locationNameSchema,
    {
      type: 'string',
      minLength: 1,
      maxLength: LOCATION_NAME_MAX_LENGTH,
      description:
        `Trimmed; 1 to ${LOCATION_NAME_MAX_LENGTH} characters, without “${PATH_SEPARATOR.trim()}”; ` +
        'unique among its siblings, ignoring case.',
    },
  ],
  [
    tagNameSchema,
    {
      type: 'string',
      minLength: 1,
      maxLength: TAG_NAME_MAX_LENGTH,
      description: `Trimmed; 1 to ${TAG_NAME_MAX_LENGTH} characters, without commas.`,
    },
  ],
  [
    tagListSchema,
    {
      description:
        `At most ${MAX_TAGS_PER_ITEM} tags; names that differ only in case are one tag (the ` +
        'first spelling is kept). A name the inventory has no tag for makes one (at most ' +
        `${MAX_TAGS_PER_INVENTORY} in an inventory). Replaces the item’s tags.`,
    },
  ],
  [locationPatchSchema, { minProperties: 1, description: 'A new name, a new parent_id, or both.' }],
]);

/** Fields a body must have: those whose schema refuses a missing value. */
const requiredFields = (shape: Record<string, z.core.$ZodType>) =>
  Object.entries(shape)
    .filter(([, field]) => !z.safeParse(field, undefined).success)
    .map(([key]) => key);

function documented(io: 'input' | 'output', schemas: Record<string, z.core.$ZodType>) {
  const registry = z.registry<{ id: string }>();
  for (const [id, schema] of Object.entries(schemas)) registry.add(schema, { id });
  const document = z.toJSONSchema(registry, {
    io,
    unrepresentable: 'any',
    uri: (id) => `#/components/schemas/${id}`,
    override({ zodSchema, jsonSchema }) {
      Object.assign(jsonSchema, WIRE_FORMS.get(zodSchema));
      const shape = INPUT_OBJECTS.get(zodSchema);
      if (shape) jsonSchema.required = requiredFields(shape);
    },
  });
  // Each schema stands alone in the components; their own `$schema` and `$id` say nothing here.
  return Object.fromEntries(
    Object.entries(document.schemas).map(([id, schema]) => {
      const rest: JsonSchema = { ...schema };
      delete rest.$schema;
      delete rest.$id;
      return [id, rest];
    }),
  );
}

const componentSchemas = {
  ...documented('output', {
    Item: itemSchema,
    ItemList: itemListSchema,
    Inventory: inventorySchema,
    InventoryList: inventoryListSchema,
    Member: memberSchema,
    MemberList: memberListSchema,
    Location: locationSchema,
    LocationList: locationListSchema,
    TagList: inventoryTagListSchema,
    Change: changeSchema,
    ChangeList: changeListSchema,
    UndoResult: undoResultSchema,
    TrashList: trashListSchema,
    ImportResult: importResultSchema,
    ImportRefused: importRefusedSchema,
    Error: errorBodySchema,
  }),
  ...documented('input', {
    ItemInput: newItemSchema,
    ItemPatch: itemChangeSchema,
    Adjustment: adjustmentSchema,
    InventoryInput: inventoryInputSchema,
    MemberInput: memberInputSchema,
    LocationInput: locationInputSchema,
    LocationPatch: locationPatchSchema,
  }),
};

/** A query string's parameters, from the schema the API parses them with. */
function queryParameters(schema: z.core.$ZodType) {
  const query = z.toJSONSchema(schema, { io: 'input' }) as {
    properties: Record<string, JsonSchema>;
  };
  return Object.entries(query.properties).map(([param, schema]) => {
    const { description: about, ...rest } = schema;
    return {
      name: param,
      in: 'query',
      ...(about ? { description: about } : {}),
      // A list is sent as the parameter repeated: `?tag=red&tag=tools`.
      ...(rest.type === 'array' ? { style: 'form', explode: true } : {}),
      schema: rest,
    };
  });
}

const listParameters = queryParameters(itemListQuerySchema);
const activityParameters = queryParameters(activityQuerySchema);
// An item's history reads the same `before` and `limit` as the Activity list.
const historyParameters = activityParameters.filter((p) => ['before', 'limit'].includes(p.name));
const trashParameters = queryParameters(trashQuerySchema);

const ref = (name: string) => ({ $ref: `#/components/${name}` });

const errorResponse = (summary: string) => ({
  description: summary,
  content: { 'application/json': { schema: ref('schemas/Error') } },
});

/** The change a write recorded, to undo it by. */
const changeIdHeader = {
  'Change-Id': {
    description:
      'The id of the change this request recorded: `POST /api/changes/{id}/undo` reverts ' +
      'it. Absent when nothing changed (a patch that saved the same values).',
    schema: { type: 'string', pattern: '^[0-9]+$' },
  },
};

const etagHeader = {
  ETag: {
    description: 'The item’s version, `"<version>"`: send it back as `If-Match` to change it.',
    schema: { type: 'string', pattern: '^"[0-9]+"$' },
  },
};

/** An item, with its version as the ETag. */
const itemResponse = (summary: string, headers: Record<string, unknown> = {}) => ({
  description: summary,
  headers: { ...etagHeader, ...headers },
  content: { 'application/json': { schema: ref('schemas/Item') } },
});

const jsonResponse = (summary: string, schema: string, headers?: Record<string, unknown>) => ({
  description: summary,
  ...(headers ? { headers } : {}),
  content: { 'application/json': { schema: ref(`schemas/${schema}`) } },
});

const locationHeader = (what: string) => ({
  Location: { description: `The new ${what}’s address.`, schema: { type: 'string' } },
});

const jsonBody = (schema: string) => ({
  required: true,
  content: { 'application/json': { schema: ref(`schemas/${schema}`) } },
});

const retryAfter = {
  'Retry-After': { description: 'Seconds to wait.', schema: { type: 'integer' } },
};

/** Errors any call can meet. */
const commonErrors = {
  '401': ref('responses/Unauthorized'),
  '405': ref('responses/MethodNotAllowed'),
  '429': ref('responses/TooManyRequests'),
  '500': ref('responses/InternalError'),
  '503': ref('responses/ServiceUnavailable'),
};

/** Errors of calls that change something, with or without a body. */
const changeErrors = {
  '400': ref('responses/BadRequest'),
  '403': ref('responses/Forbidden'),
  '413': ref('responses/PayloadTooLarge'),
  '415': ref('responses/UnsupportedMediaType'),
};

const itemIdParameter = {
  name: 'id',
  in: 'path',
  required: true,
  description:
    'The item id: digits; the id of an item in an inventory the caller is not in answers ' +
    'like a missing one (404).',
  schema: { type: 'string', pattern: '^[0-9]+$' },
};

const inventoryIdParameter = {
  name: 'id',
  in: 'path',
  required: true,
  description:
    'The inventory id: digits; one the caller is not a member of answers like a missing ' +
    'one (404).',
  schema: { type: 'string', pattern: '^[0-9]+$' },
};

const locationIdParameter = {
  name: 'id',
  in: 'path',
  required: true,
  description:
    'The location id: digits; one in an inventory the caller is not in answers like a ' +
    'missing one (404).',
  schema: { type: 'string', pattern: '^[0-9]+$' },
};

const moveToParameter = {
  name: 'move_to',
  in: 'query',
  description:
    'Where what the location holds goes: another location’s id (its items, and the ' +
    'locations directly inside it, move there), or `none` (its items are in no location, ' +
    'its locations go to the top). Needed only when it holds something.',
  schema: { type: 'string', pattern: '^([0-9]+|none)$' },
};

/** What the tree's rules refuse; nothing changed. */
const treeRefusals = (parent: string) => ({
  '409': errorResponse(
    'A sibling has this name already, ignoring case (`validation_error`, with `fields`); ' +
      'nothing changed.',
  ),
  '422': errorResponse(
    `The place is refused (\`validation_error\`, with \`fields.${parent}\`): not a location of ` +
      `this inventory, inside the location itself, or deeper than ${LOCATION_MAX_DEPTH} levels; ` +
      `or the inventory has ${MAX_LOCATIONS_PER_INVENTORY} locations already. Nothing changed.`,
  ),
});

const usernameParameter = {
  name: 'username',
  in: 'path',
  required: true,
  description:
    'The username, percent-encoded (`encodeURIComponent`); compared ignoring case and ' +
    'width, as signing in compares it.',
  schema: { type: 'string' },
};

const ifMatchParameter = {
  name: 'If-Match',
  in: 'header',
  description:
    'The ETag the client last saw (`"3"`): the change is made only while the item is still ' +
    'at that version, else 412 and nothing changes. `*` or no header: the last write wins.',
  schema: { type: 'string' },
};

const preconditionFailedResponse = {
  ...errorResponse(
    'The item is no longer at the version `If-Match` names, or `If-Match` names no single ' +
      'version (`precondition_failed`); nothing changed. The ETag is the current version.',
  ),
  headers: etagHeader,
};

const lastOwnerResponse = errorResponse(
  'The inventory would be left without an owner (`last_owner`); nothing changed.',
);

/** Changes need a browser session, or a token with the `read-write` scope. */
const WRITE_SECURITY = [{ sessionCookie: [] }, { bearerToken: ['read-write'] }];

// Bulk changes (issue 19): `POST /api/items/bulk`, its body and its answer.
const BULK_SCHEMAS = {
  ...documented('output', { BulkResult: bulkResultSchema }),
  ...documented('input', { BulkChange: bulkChangeSchema }),
};
const BULK_PATHS = {
  '/api/items/bulk': {
    post: {
      operationId: 'bulkChangeItems',
      security: WRITE_SECURITY,
      summary: 'One action on many items of one inventory, all or nothing (editors and owners)',
      description:
        '`move` (to `location_id`, or null for none), `tag` (adds `tag`, making it when the ' +
        'inventory has no such tag), `untag`, `set_min` (`min_amount`, or null for none) or ' +
        '`delete` (to the trash), on 1 to ' +
        `${MAX_BULK_ITEMS} items. One transaction and one change (\`via\` and \`action\` ` +
        '`bulk`): `POST /api/changes/{id}/undo` reverts all of it. Items already so are left ' +
        'as they are (their version too). All the ids must be of one inventory.',
      requestBody: jsonBody('BulkChange'),
      responses: {
        '200': jsonResponse('Done: the change, and how many items it changed.', 'BulkResult', {
          ...changeIdHeader,
        }),
        '404': errorResponse(
          'An id is not an item the caller can see (another user’s, in the trash, or none); ' +
            'nothing changed.',
        ),
        '400': errorResponse(
          'Fields are invalid (`validation_error`, with `fields`): no ids or more than ' +
            `${MAX_BULK_ITEMS}, ids of several inventories, a location not of the inventory, ` +
            `an item that has ${MAX_TAGS_PER_ITEM} tags already, or an inventory with ` +
            `${MAX_TAGS_PER_INVENTORY} tags. Nothing changed.`,
        ),
        '403': ref('responses/Forbidden'),
        '413': ref('responses/PayloadTooLarge'),
        '415': ref('responses/UnsupportedMediaType'),
        ...commonErrors,
      },
    },
  },
};

export const OPENAPI_DOCUMENT = {
  openapi: '3.1.0',
  info: {
    title: 'Pacil Inventory API',
    version: '1.0.0',
    description:
      'The items of the inventories the signed-in user is a member of, the inventories and ' +
      'their members. A member’s role in an inventory (owner, editor, viewer) decides what ' +
      'they may do there: anything in an inventory the caller is not in answers like a ' +
      'missing id (404); a change the role does not allow answers 403. Requests ' +
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
        summary: 'A page of the items the caller can read (all, or one inventory’s)',
        parameters: listParameters,
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
            description: idempotencyKeySchema.meta()?.description,
            schema: documented('input', { Key: idempotencyKeySchema }).Key,
          },
        ],
        requestBody: jsonBody('ItemInput'),
        responses: {
          '201': itemResponse('Stored.', { ...locationHeader('item'), ...changeIdHeader }),
          '200': itemResponse(
            'The item an earlier request with the same Idempotency-Key stored.',
            locationHeader('item'),
          ),
          '404': ref('responses/NotFound'),
          '422': errorResponse(
            'The Idempotency-Key was used before for a different request (`idempotency_key_reused`); nothing was stored.',
          ),
          ...changeErrors,
          ...commonErrors,
        },
      },
    },
    ...BULK_PATHS,
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
        parameters: [ifMatchParameter],
        requestBody: jsonBody('ItemPatch'),
        responses: {
          '200': itemResponse('The changed item.', changeIdHeader),
          '404': ref('responses/NotFound'),
          '412': preconditionFailedResponse,
          ...changeErrors,
          ...commonErrors,
        },
      },
      delete: {
        operationId: 'deleteItem',
        security: WRITE_SECURITY,
        summary: 'Delete an item',
        parameters: [ifMatchParameter],
        responses: {
          '204': {
            description:
              'Moved to the trash (`GET /api/inventories/{id}/trash`): it answers 404 from now ' +
              'on, until restored; purged after 30 days.',
            headers: changeIdHeader,
          },
          '404': ref('responses/NotFound'),
          '412': preconditionFailedResponse,
          ...changeErrors,
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
          '200': itemResponse('The item with its new amount.', changeIdHeader),
          '404': ref('responses/NotFound'),
          '409': {
            ...errorResponse(
              `The new amount would leave 0..${AMOUNT_MAX}; nothing changed (\`out_of_range\`).`,
            ),
            headers: etagHeader,
          },
          ...changeErrors,
          ...commonErrors,
        },
      },
    },
    '/api/items/{id}/history': {
      parameters: [itemIdParameter],
      get: {
        operationId: 'getItemHistory',
        summary: 'An item’s history, newest first (any member)',
        description:
          'Each change with this item’s fields only. An item in the trash answers 404; its ' +
          'history comes back with it.',
        parameters: historyParameters,
        responses: {
          '200': jsonResponse('A page of its changes.', 'ChangeList'),
          '400': ref('responses/BadRequest'),
          '404': ref('responses/NotFound'),
          ...commonErrors,
        },
      },
    },
    '/api/items/{id}/restore': {
      parameters: [
        {
          ...itemIdParameter,
          description:
            'The id of an item in the trash; one not in the trash, or in an inventory the ' +
            'caller is not in, answers 404.',
        },
      ],
      post: {
        operationId: 'restoreItem',
        security: WRITE_SECURITY,
        summary: 'Bring an item back from the trash, where it was (editors and owners)',
        responses: {
          '200': itemResponse('The restored item.', changeIdHeader),
          '404': ref('responses/NotFound'),
          ...changeErrors,
          ...commonErrors,
        },
      },
    },
    '/api/changes/{id}/undo': {
      parameters: [
        {
          name: 'id',
          in: 'path',
          required: true,
          description:
            'The change id (`Change-Id` of a write, or `id` of a change in a history): ' +
            'digits; a change in an inventory the caller is not in answers like a missing one ' +
            '(404).',
          schema: { type: 'string', pattern: '^[0-9]+$' },
        },
      ],
      post: {
        operationId: 'undoChange',
        security: WRITE_SECURITY,
        summary: 'Undo a change, all of it or nothing (editors and owners)',
        description:
          'The undo is a change of its own (`via` `undo`, `undoes` the id): undoing it redoes. ' +
          'An item the change added goes to the trash; one it deleted comes back.',
        responses: {
          '200': jsonResponse('Undone: the undo’s own change.', 'UndoResult', changeIdHeader),
          '404': ref('responses/NotFound'),
          '409': errorResponse(
            'Not undone, nothing changed: an item changed again since (`changed_since`; the ' +
              'message names the item, who changed it and when: undo that change first), or ' +
              'the change cannot be undone (`not_undoable`: a purge, an item purged since, a ' +
              'location deleted since).',
          ),
          ...changeErrors,
          ...commonErrors,
        },
      },
    },
    '/api/inventories': {
      get: {
        operationId: 'listInventories',
        summary: 'The inventories the caller is a member of, with their role in each',
        description:
          'The personal one ("My items") first, then by name. A token limited to one ' +
          'inventory lists that one only.',
        responses: {
          '200': jsonResponse('The inventories.', 'InventoryList'),
          ...commonErrors,
        },
      },
      post: {
        operationId: 'createInventory',
        security: WRITE_SECURITY,
        summary: 'Create an inventory; the caller is its owner',
        requestBody: jsonBody('InventoryInput'),
        responses: {
          '201': jsonResponse('Created.', 'Inventory', locationHeader('inventory')),
          ...changeErrors,
          '403': errorResponse(
            'A cross-origin request (`forbidden`), a read token (`insufficient_scope`), or a ' +
              'token limited to one inventory, which cannot create another (`forbidden`).',
          ),
          ...commonErrors,
        },
      },
    },
    '/api/inventories/{id}': {
      parameters: [inventoryIdParameter],
      get: {
        operationId: 'getInventory',
        summary: 'One inventory (any member)',
        responses: {
          '200': jsonResponse('The inventory.', 'Inventory'),
          '404': ref('responses/NotFound'),
          ...commonErrors,
        },
      },
      patch: {
        operationId: 'renameInventory',
        security: WRITE_SECURITY,
        summary: 'Rename an inventory (owners)',
        requestBody: jsonBody('InventoryInput'),
        responses: {
          '200': jsonResponse('The renamed inventory.', 'Inventory'),
          '404': ref('responses/NotFound'),
          ...changeErrors,
          ...commonErrors,
        },
      },
      delete: {
        operationId: 'deleteInventory',
        security: WRITE_SECURITY,
        summary: 'Delete an inventory and everything in it (owners)',
        responses: {
          '204': { description: 'Deleted.' },
          '404': ref('responses/NotFound'),
          '409': errorResponse(
            'A personal inventory ("My items") cannot be deleted (`personal_inventory`).',
          ),
          ...changeErrors,
          ...commonErrors,
        },
      },
    },
    '/api/inventories/{id}/members': {
      parameters: [inventoryIdParameter],
      get: {
        operationId: 'listMembers',
        summary: 'Everyone in an inventory, with their roles (any member)',
        responses: {
          '200': jsonResponse('Owners first, then editors, then viewers; by name.', 'MemberList'),
          '404': ref('responses/NotFound'),
          ...commonErrors,
        },
      },
    },
    '/api/inventories/{id}/members/{username}': {
      parameters: [inventoryIdParameter, usernameParameter],
      put: {
        operationId: 'setMember',
        security: WRITE_SECURITY,
        summary: 'Add someone to an inventory with a role, or change their role (owners)',
        requestBody: jsonBody('MemberInput'),
        responses: {
          '201': jsonResponse('Added.', 'Member', locationHeader('member')),
          '200': jsonResponse('Their role changed, or already was this one.', 'Member'),
          '404': ref('responses/NotFound'),
          '409': lastOwnerResponse,
          ...changeErrors,
          ...commonErrors,
        },
      },
      delete: {
        operationId: 'removeMember',
        security: WRITE_SECURITY,
        summary: 'Remove a member (owners), or leave (the member themself)',
        responses: {
          '204': { description: 'Removed; their next request is refused.' },
          '404': ref('responses/NotFound'),
          '409': lastOwnerResponse,
          ...changeErrors,
          ...commonErrors,
        },
      },
    },
    '/api/inventories/{id}/locations': {
      parameters: [inventoryIdParameter],
      get: {
        operationId: 'listLocations',
        summary: 'An inventory’s locations (any member)',
        responses: {
          '200': jsonResponse('Its locations in tree order.', 'LocationList'),
          '404': ref('responses/NotFound'),
          ...commonErrors,
        },
      },
      post: {
        operationId: 'createLocation',
        security: WRITE_SECURITY,
        summary: 'Add a location, at the top or inside another (editors and owners)',
        requestBody: jsonBody('LocationInput'),
        responses: {
          '201': jsonResponse('Created.', 'Location', locationHeader('location')),
          '404': ref('responses/NotFound'),
          ...treeRefusals('parent_id'),
          ...changeErrors,
          ...commonErrors,
        },
      },
    },
    '/api/inventories/{id}/tags': {
      parameters: [inventoryIdParameter],
      get: {
        operationId: 'listTags',
        summary: 'An inventory’s tags, with how many items have each (any member)',
        responses: {
          '200': jsonResponse('Its tags.', 'TagList'),
          '404': ref('responses/NotFound'),
          ...commonErrors,
        },
      },
    },
    '/api/inventories/{id}/activity': {
      parameters: [inventoryIdParameter],
      get: {
        operationId: 'listActivity',
        summary: 'An inventory’s changes, newest first (any member)',
        description:
          `At most ${MAX_CHANGES_PER_PAGE} changes a page, each with every field it changed; ` +
          'the next, older page is `before=<next_before>`.',
        parameters: activityParameters,
        responses: {
          '200': jsonResponse('A page of its changes.', 'ChangeList'),
          '400': ref('responses/BadRequest'),
          '404': ref('responses/NotFound'),
          ...commonErrors,
        },
      },
    },
    '/api/inventories/{id}/trash': {
      parameters: [inventoryIdParameter],
      get: {
        operationId: 'listTrash',
        summary: 'An inventory’s trash, most recently deleted first (any member)',
        description: `${TRASH_PAGE_SIZE} items a page; each is purged 30 days after its delete.`,
        parameters: trashParameters,
        responses: {
          '200': jsonResponse('A page of the trash.', 'TrashList'),
          '400': ref('responses/BadRequest'),
          '404': ref('responses/NotFound'),
          ...commonErrors,
        },
      },
    },
    '/api/inventories/{id}/imports': {
      parameters: [inventoryIdParameter],
      post: {
        operationId: 'importCsv',
        summary: 'Import a CSV file: add and update items, all or nothing (editors and owners)',
        description:
          'The body is a CSV file as a spreadsheet saves it: the export’s columns ' +
          `(${CSV_COLUMNS.join(', ')}) or common other names (qty, quantity, notes, …) in ` +
          'any order and case; `,`, `;` or tab between cells; UTF-8 (with or without a BOM), ' +
          `UTF-16 with a BOM, else Windows-1252; at most ${IMPORT_MAX_BYTES / 1024 / 1024} MB ` +
          `and ${IMPORT_MAX_ROWS} rows. A row with the id of an item of this inventory updates ` +
          'it (a column the file lacks leaves that field as it is); a row without one adds ' +
          'an item. Locations (`Garage / Shelf 2`) and tags that do not exist are made. The ' +
          'import is one change (`via` and `action` `import`): undoing it takes it all back. ' +
          'A file this site exported, unchanged, changes nothing.',
        parameters: queryParameters(importQuerySchema),
        requestBody: {
          required: true,
          content: { 'text/csv': { schema: { type: 'string' } } },
        },
        responses: {
          '200': jsonResponse(
            'Imported (or, with `dry_run=true`, what it would do; nothing written).',
            'ImportResult',
            changeIdHeader,
          ),
          '400': ref('responses/BadRequest'),
          '403': ref('responses/Forbidden'),
          '404': ref('responses/NotFound'),
          '413': errorResponse(
            `The file is larger than ${IMPORT_MAX_BYTES / 1024 / 1024} MB (\`payload_too_large\`).`,
          ),
          '415': errorResponse('The body is not `text/csv` (`unsupported_media_type`).'),
          '422': jsonResponse(
            'Nothing imported: the file is not CSV (`report` null), or has problems (each with ' +
              'its row, column, message and value in `report.problems`).',
            'ImportRefused',
          ),
          ...commonErrors,
        },
      },
    },
    '/api/locations/{id}': {
      parameters: [locationIdParameter],
      get: {
        operationId: 'getLocation',
        summary: 'One location (any member of its inventory)',
        responses: {
          '200': jsonResponse('The location.', 'Location'),
          '404': ref('responses/NotFound'),
          ...commonErrors,
        },
      },
      patch: {
        operationId: 'updateLocation',
        security: WRITE_SECURITY,
        summary: 'Rename a location, or move it with all it holds (editors and owners)',
        requestBody: jsonBody('LocationPatch'),
        responses: {
          '200': jsonResponse('The changed location.', 'Location'),
          '404': ref('responses/NotFound'),
          ...treeRefusals('parent_id'),
          ...changeErrors,
          ...commonErrors,
        },
      },
      delete: {
        operationId: 'deleteLocation',
        security: WRITE_SECURITY,
        summary: 'Delete a location; what it holds moves (editors and owners)',
        parameters: [moveToParameter],
        responses: {
          '204': { description: 'Deleted; what it held is where `move_to` said.' },
          '404': ref('responses/NotFound'),
          '409': errorResponse(
            'It holds items or locations and `move_to` is missing (`validation_error`, with ' +
              '`fields.move_to`; the message says how many), or a location it holds has the ' +
              'name of one in the target already. Nothing changed.',
          ),
          '422': errorResponse(
            '`move_to` is not a location of this inventory, is inside the location itself, or ' +
              `would make the tree deeper than ${LOCATION_MAX_DEPTH} levels ` +
              '(`validation_error`, with `fields.move_to`). Nothing changed.',
          ),
          ...changeErrors,
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
          '405': ref('responses/MethodNotAllowed'),
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
          'revoked or expired token gets 401 with `WWW-Authenticate: Bearer`. A token acts ' +
          'with its owner’s roles, and one limited to one inventory reaches nothing else ' +
          '(anything outside it answers 404). A read token ' +
          `asking to change something gets 403; each token may make ${API_REQUESTS_PER_MINUTE} ` +
          'requests a minute per server process (then 429 with `Retry-After`).',
      },
      sessionCookie: {
        type: 'apiKey',
        in: 'cookie',
        name: SESSION_COOKIE,
        description:
          `The session cookie set by signing in at \`/login/\`; ${API_REQUESTS_PER_MINUTE} ` +
          'requests a minute per server process.',
      },
    },
    schemas: { ...componentSchemas, ...BULK_SCHEMAS },
    responses: {
      BadRequest: errorResponse(
        'The body or the query cannot be read (`bad_request`), fields are invalid or unknown ' +
          '(`validation_error`, with `fields`), or the Idempotency-Key is malformed ' +
          '(`invalid_idempotency_key`).',
      ),
      Unauthorized: {
        ...errorResponse(
          'No valid session or token (`unauthorized`, `invalid_token`, `invalid_request`).',
        ),
        headers: {
          'WWW-Authenticate': {
            description: 'For a token that was refused.',
            schema: { type: 'string' },
          },
        },
      },
      Forbidden: errorResponse(
        'A cross-origin request that would change something (`forbidden`), a read token ' +
          'asking to (`insufficient_scope`), or a role in the inventory that does not allow ' +
          'the change: viewers change nothing, only owners rename, delete or manage members ' +
          '(`forbidden`, the message says which). Nothing changed.',
      ),
      NotFound: errorResponse(
        'No such item, inventory, location, change, member or user that the caller can see ' +
          '(`not_found`); an item in the trash too, except to restore it; ' +
          'anything in an inventory the caller is not a member of answers the same way. Ids ' +
          `go up to ${MAX_ROW_ID}.`,
      ),
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
        headers: retryAfter,
      },
      InternalError: errorResponse(
        'Something failed on the server (`internal_error`); the message holds the request id.',
      ),
      ServiceUnavailable: {
        ...errorResponse(
          'The database is unreachable for now (`database_unavailable`), too many password ' +
            'checks are waiting (`server_busy`), or no id is left for a new item ' +
            '(`ids_exhausted`).',
        ),
        headers: retryAfter,
      },
    },
  },
};
