import { z } from 'zod';
import { AMOUNT_MAX } from '../../item-schema.ts';
import { isIdempotencyKey, ITEM_SORTS, type Item, type ItemQuery } from '../items.ts';

/** How the API shows items and reads the parts of a request that are not the item itself. */

export interface ItemJson {
  id: number;
  name: string;
  amount: number;
  description: string;
  /** ISO 8601, UTC. */
  created_at: string;
}

/** The one mapping from a stored item to what the API sends; the owner is implied. */
export function itemJson(item: Item): ItemJson {
  return {
    id: item.id,
    name: item.name,
    amount: item.amount,
    description: item.description,
    created_at: item.createdAt.toISOString(),
  };
}

export const itemLocation = (id: number): string => `/api/items/${id}`;

export const DEFAULT_LIMIT = 25;
export const MAX_LIMIT = 100;
export const SEARCH_MAX_LENGTH = 200;

function wholeNumberParam(min: number, max: number) {
  const message = `Enter a whole number from ${min} to ${max}.`;
  return z
    .string()
    .regex(/^\s*\d{1,10}\s*$/, message)
    .transform(Number)
    .refine((value) => value >= min && value <= max, message);
}

/**
 * The list's query string. Unknown parameters are ignored (caches and tools add their own);
 * a known one with a bad value is a 400 rather than a silent default, so a client's typo
 * does not look like an empty result.
 */
const listQuerySchema = z.object({
  q: z
    .string()
    .max(SEARCH_MAX_LENGTH, `Search for at most ${SEARCH_MAX_LENGTH} characters.`)
    .optional(),
  sort: z.enum(ITEM_SORTS, { error: `Sort by one of: ${ITEM_SORTS.join(', ')}.` }).optional(),
  // The offset stays well inside PostgreSQL's bigint for any page this allows.
  page: wholeNumberParam(1, 1_000_000_000).optional(),
  limit: wholeNumberParam(1, MAX_LIMIT).default(DEFAULT_LIMIT),
});

export function parseListQuery(params: URLSearchParams) {
  // A repeated parameter counts by its last value, as with form fields.
  const result = listQuerySchema.safeParse(Object.fromEntries(params));
  if (!result.success) return result;
  const { q, sort, page, limit } = result.data;
  const query: ItemQuery = { search: q, page: page ?? 1, limit };
  if (sort) query.sort = sort;
  return { success: true as const, data: query };
}

export const IDEMPOTENCY_KEY_HEADER = 'Idempotency-Key';

export const KEY_REUSED_MESSAGE =
  'This Idempotency-Key was already used for a different request, and nothing was stored. Send a new key for a new item.';

/** The client's key for a retried create: absent, valid, or invalid (a 400). */
export function idempotencyKeyOf(
  request: Request,
): { ok: true; key: string | undefined } | { ok: false; message: string } {
  const key = request.headers.get(IDEMPOTENCY_KEY_HEADER);
  if (key === null) return { ok: true, key: undefined };
  if (isIdempotencyKey(key)) return { ok: true, key };
  return {
    ok: false,
    message: `${IDEMPOTENCY_KEY_HEADER} must be 1 to 100 printable ASCII characters.`,
  };
}

const deltaMessage = `Enter a whole number from -${AMOUNT_MAX} to ${AMOUNT_MAX}.`;

/** `POST /api/items/<id>/adjust`: the change to the amount, e.g. `{"delta": -1}`. */
export const adjustSchema = z.strictObject({
  delta: z
    .number({ error: deltaMessage })
    .int(deltaMessage)
    .min(-AMOUNT_MAX, deltaMessage)
    .max(AMOUNT_MAX, deltaMessage),
});
