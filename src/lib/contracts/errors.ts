import { z } from 'zod';

/**
 * Every error the server answers in JSON (the API, the JSON export, a program's request to a
 * page) has this shape, and its `code` is one of these: the server builds error bodies only
 * from `ErrorCode`, and the OpenAPI document's `Error` schema lists exactly this enum.
 */
export const ERROR_CODES = [
  /** Fields of the body or the query are invalid or unknown; `fields` says which. */
  'validation_error',
  /** The body is not valid JSON, form data or UTF-8. */
  'bad_request',
  'invalid_idempotency_key',
  /** An Idempotency-Key sent again with a different request. */
  'idempotency_key_reused',
  /** No session and no token. */
  'unauthorized',
  /** A token that is unknown, revoked or expired. */
  'invalid_token',
  /** An Authorization header that is not `Bearer <token>`. */
  'invalid_request',
  /** A read-only token asked to change something. */
  'insufficient_scope',
  /** A cross-site request that would change something, or a role that does not allow it. */
  'forbidden',
  'not_found',
  'method_not_allowed',
  /** An amount would leave 0..2147483647. */
  'out_of_range',
  /** Someone changed the item since the version the change was made against. */
  'version_conflict',
  /** `If-Match` names a version the item is no longer at. */
  'precondition_failed',
  /** An undo refused: an item it would revert changed again since. */
  'changed_since',
  /** An undo refused: a purge, a purged item, a deleted location. */
  'not_undoable',
  /** A CSV import with problems (the report lists them); nothing was imported. */
  'import_refused',
  /** The change would leave an inventory without an owner. */
  'last_owner',
  /** A personal inventory ("My items") cannot be deleted. */
  'personal_inventory',
  'payload_too_large',
  'unsupported_media_type',
  'too_many_requests',
  /** Too many password checks waiting in this process. */
  'server_busy',
  /** No id left for a new row. */
  'ids_exhausted',
  'database_unavailable',
  'internal_error',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/** Messages by field name; `_form` holds those about the body as a whole. */
const fieldErrorsSchema = z
  .record(z.string(), z.array(z.string()))
  .meta({ description: 'Messages by field name; `_form` for messages about the body as a whole.' });

export const errorBodySchema = z.strictObject({
  error: z.strictObject({
    code: z.enum(ERROR_CODES).meta({ description: 'Stable, for programs.' }),
    message: z.string().meta({ description: 'For people.' }),
    fields: fieldErrorsSchema.optional(),
  }),
});
