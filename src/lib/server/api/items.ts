import {
  IDEMPOTENCY_KEY_HEADER,
  idempotencyKeySchema,
  type ItemJson,
} from '../../contracts/items.ts';
import { z } from 'zod';
import { fieldErrors } from '../../contracts/field-errors.ts';
import { itemPlacesSchema, toItemPlaces, type ItemPlaces } from '../../contracts/places.ts';
import type { Item } from '../items/items.ts';
import { apiError, apiJson } from './http.ts';

/** How the API shows items and reads the parts of a request that are not the item itself. */

/** The one mapping from a stored item to what the API sends. */
export function itemJson(item: Item): ItemJson {
  return {
    id: item.id,
    inventory: item.inventoryId,
    name: item.name,
    amount: item.amount,
    description: item.description,
    created_at: item.createdAt.toISOString(),
    created_by: item.createdBy,
    updated_at: item.updatedAt.toISOString(),
    version: item.version,
    location_id: item.locationId,
    tags: item.tags,
    min_amount: item.minAmount,
    low: item.low,
  };
}

export const itemLocation = (id: number): string => `/api/items/${id}`;

/** The item's version as an HTTP entity tag: a strong one, `"<version>"`. */
export const itemEtag = (item: Item): string => `"${item.version}"`;

/** One item, with its ETag (and `Location` for a new one). */
export function itemResponse(status: number, item: Item, headers: Record<string, string> = {}) {
  return apiJson(status, itemJson(item), { ETag: itemEtag(item), ...headers });
}

/**
 * The version an `If-Match` header asks for: absent (`undefined`: the last write wins), one
 * version, or unusable (`null`). `*` matches any version of an item that exists, so it is the
 * same as no header for an item found; a weak tag or a list names no single version.
 */
export function ifMatchVersion(request: Request): number | undefined | null {
  const header = request.headers.get('if-match');
  if (header === null || header.trim() === '*') return undefined;
  const match = /^\s*"(\d{1,10})"\s*$/.exec(header);
  const version = match ? Number(match[1]) : NaN;
  return Number.isInteger(version) && version >= 1 && version <= 2_147_483_647 ? version : null;
}

export const preconditionFailed = (current: Item | undefined): Response =>
  apiError(
    412,
    {
      code: 'precondition_failed',
      message: current
        ? `The item changed since: it is at version ${current.version}. Get it again, then send your change with If-Match: "${current.version}".`
        : 'If-Match must be one version as the ETag gives it, e.g. "3".',
    },
    current ? { ETag: itemEtag(current) } : undefined,
  );

export const KEY_REUSED_MESSAGE =
  'This Idempotency-Key was already used for a different request, and nothing was stored. Send a new key for a new item.';

/** The client's key for a retried create: absent, valid, or invalid (a 400). */
export function idempotencyKeyOf(
  request: Request,
): { ok: true; key: string | undefined } | { ok: false; message: string } {
  const key = request.headers.get(IDEMPOTENCY_KEY_HEADER);
  if (key === null) return { ok: true, key: undefined };
  const parsed = idempotencyKeySchema.safeParse(key);
  return parsed.success
    ? { ok: true, key: parsed.data }
    : { ok: false, message: parsed.error.issues[0]!.message };
}

const PLACE_FIELDS: ReadonlySet<string> = new Set(Object.keys(itemPlacesSchema.shape));

type Parsed<T> = { success: true; data: T } | { success: false; fields: Record<string, string[]> };

/**
 * An item's body read in two parts, each by its own schema: the item's own fields (by
 * `itemFields`, the schema the add-item island ships) and the fields about its place
 * (`itemPlacesSchema`), with the problems of both in one answer. A change that sends place
 * fields only has no item fields to read, and may leave them all out.
 */
export function parseItemBody<T>(
  body: unknown,
  itemFields: z.core.$ZodType<T>,
  change: 'new',
): Parsed<{ item: T; places: ItemPlaces }>;
export function parseItemBody<T>(
  body: unknown,
  itemFields: z.core.$ZodType<T>,
  change: 'patch',
): Parsed<{ item: T | undefined; places: ItemPlaces }>;
export function parseItemBody<T>(
  body: unknown,
  itemFields: z.core.$ZodType<T>,
  change: 'new' | 'patch',
): Parsed<{ item: T | undefined; places: ItemPlaces }> {
  const isObject = typeof body === 'object' && body !== null && !Array.isArray(body);
  // fromEntries defines each key as the object's own, `__proto__` included.
  const entries = isObject ? Object.entries(body) : [];
  const own = Object.fromEntries(entries.filter(([key]) => !PLACE_FIELDS.has(key)));
  const places = itemPlacesSchema.safeParse(
    Object.fromEntries(entries.filter(([key]) => PLACE_FIELDS.has(key))),
  );
  const placesOnly =
    change === 'patch' && isObject && Object.keys(own).length === 0 && entries.length > 0;
  const item = placesOnly ? undefined : z.safeParse(itemFields, isObject ? own : body);
  if (places.success && (item === undefined || item.success)) {
    return { success: true, data: { item: item?.data, places: toItemPlaces(places.data) } };
  }
  return {
    success: false,
    fields: {
      ...(item && !item.success ? fieldErrors(item.error) : {}),
      ...(places.success ? {} : fieldErrors(places.error)),
    },
  };
}
