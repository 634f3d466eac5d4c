import { z } from 'zod';
import { MAX_ROW_ID } from './ids.ts';
import { AMOUNT_MAX } from './item-input.ts';
import { MAX_TAGS_PER_ITEM, TAG_NAME_MAX_LENGTH } from './places.ts';

/**
 * The items API's contract besides the item's own fields (item-input.ts, which the add-item
 * island ships): what the API sends, the list's query, the adjustment, the idempotency key.
 * The server parses with these, the OpenAPI document is made from them, and the islands
 * take their types from them (types only: this module stays on the server).
 */

export const ITEM_SORTS = ['newest', 'oldest', 'name', '-name', 'amount', '-amount'] as const;
export type ItemSort = (typeof ITEM_SORTS)[number];
export const DEFAULT_SORT: ItemSort = 'newest';

/** Page sizes the main page offers; any size from 1 to the largest is accepted. */
export const PAGE_SIZES = [10, 25, 50, 100] as const;
export const DEFAULT_PAGE_SIZE = 25;
export const MAX_PAGE_SIZE = 100;
/** Far beyond any real list, and the offset stays well inside PostgreSQL's bigint. */
const MAX_PAGE = 1_000_000_000;
const SEARCH_MAX_LENGTH = 200;

/** An item as the API sends it. */
export const itemSchema = z.strictObject({
  id: z.int().min(1).max(MAX_ROW_ID),
  inventory: z.int().min(1).max(MAX_ROW_ID).meta({ description: 'The inventory it belongs to.' }),
  name: z.string(),
  amount: z.int().min(0).max(AMOUNT_MAX),
  description: z.string(),
  created_at: z.iso.datetime({ offset: false }).meta({ description: 'ISO 8601, UTC.' }),
  created_by: z
    .strictObject({ id: z.int().min(1).max(MAX_ROW_ID), username: z.string() })
    .nullable()
    .meta({ description: 'Who added it; null once that account is deleted.' }),
  updated_at: z.iso.datetime({ offset: false }).meta({ description: 'ISO 8601, UTC.' }),
  version: z
    .int()
    .min(1)
    .meta({ description: 'One more with every change; sent as the ETag, checked by If-Match.' }),
  location_id: z
    .int()
    .min(1)
    .max(MAX_ROW_ID)
    .nullable()
    .meta({ description: 'The location it is kept in; null for none.' }),
  tags: z.array(z.string()).meta({ description: "Its tags' names, by name ignoring case." }),
  min_amount: z
    .int()
    .min(0)
    .max(AMOUNT_MAX)
    .nullable()
    .meta({ description: 'Below this amount the item is low; null for no minimum.' }),
  low: z.boolean().meta({
    description: 'Read-only: whether `amount` is below `min_amount` (never with no minimum).',
  }),
});
export type ItemJson = z.output<typeof itemSchema>;

export const itemListSchema = z.strictObject({
  items: z.array(itemSchema),
  page: z.int().min(1).max(MAX_PAGE),
  limit: z.int().min(1).max(MAX_PAGE_SIZE),
  total: z
    .int()
    .min(0)
    .meta({ description: 'Items matching `q` and the filters, over all pages.' }),
});
export type ItemListJson = z.output<typeof itemListSchema>;

/** A whole-number query parameter from `min` to `max`, with the message a client reads. */
export function wholeNumberParam(min: number, max: number) {
  const message = `Enter a whole number from ${min} to ${max}.`;
  return z
    .string()
    .regex(/^\s*\d{1,10}\s*$/, message)
    .transform(Number)
    .refine((value) => value >= min && value <= max, message);
}

/**
 * The list's query string, as the API reads it. Unknown parameters are ignored (caches and
 * tools add their own); a known one with a bad value is a 400 rather than a silent default,
 * so a client's typo does not look like an empty result.
 */
export const itemListQuerySchema = z.object({
  inventory: wholeNumberParam(1, MAX_ROW_ID)
    .optional()
    .meta({ description: "One inventory's items; without it, every item the caller can read." }),
  q: z
    .string()
    .max(SEARCH_MAX_LENGTH, `Search for at most ${SEARCH_MAX_LENGTH} characters.`)
    .default('')
    .meta({
      description:
        'Case-insensitive text to find in the name, the description, a tag or a location (and so everything inside it).',
    }),
  location: wholeNumberParam(1, MAX_ROW_ID)
    .optional()
    .meta({ description: 'Items in this location or any location inside it.' }),
  tag: z
    .array(
      z.string().max(TAG_NAME_MAX_LENGTH, `A tag has at most ${TAG_NAME_MAX_LENGTH} characters.`),
    )
    .max(MAX_TAGS_PER_ITEM, `Filter by at most ${MAX_TAGS_PER_ITEM} tags.`)
    .default([])
    .meta({ description: 'Repeatable: items with every one of these tags (names, any case).' }),
  low: z
    .enum(['true', 'false'], { error: 'low is true or false.' })
    .default('false')
    .transform((value) => value === 'true')
    .meta({ description: '`true`: only items whose amount is below their `min_amount`.' }),
  sort: z
    .enum(ITEM_SORTS, { error: `Sort by one of: ${ITEM_SORTS.join(', ')}.` })
    .default(DEFAULT_SORT)
    .meta({ description: '`newest`/`oldest` order by id; ties are broken by id.' }),
  page: wholeNumberParam(1, MAX_PAGE)
    .default(1)
    .meta({ description: 'From 1; a page past the end is empty.' }),
  limit: wholeNumberParam(1, MAX_PAGE_SIZE).default(DEFAULT_PAGE_SIZE),
});

export interface ItemListQuery {
  /** One inventory's items; without it, every item the caller can read. */
  inventory?: number | undefined;
  /** Case-insensitive text to find in the name, the description, a tag or a location. */
  search: string;
  /** Items in this location or below it. */
  location?: number | undefined;
  /** Items with every one of these tags (names, any case). */
  tags: string[];
  /** Only items below their minimum amount. */
  low: boolean;
  sort: ItemSort;
  /** 1-based. */
  page: number;
  limit: number;
}

/** The query string that asks the API for the same list (the main page's, once read). */
export function itemListQueryString(query: ItemListQuery): string {
  const params = new URLSearchParams();
  if (query.inventory !== undefined) params.set('inventory', String(query.inventory));
  params.set('q', query.search);
  if (query.location !== undefined) params.set('location', String(query.location));
  for (const tag of query.tags) params.append('tag', tag);
  if (query.low) params.set('low', 'true');
  params.set('sort', query.sort);
  params.set('page', String(query.page));
  params.set('limit', String(query.limit));
  return params.toString();
}

/**
 * The CSV export of one inventory's list as the main page shows it: the same search,
 * filters and sort (the export has every page, so neither page nor size is named).
 */
export function csvExportHref(inventoryId: number, query: ItemListQuery): string {
  const params = new URLSearchParams({ inventory: String(inventoryId) });
  if (query.search.trim() !== '') params.set('q', query.search);
  if (query.location !== undefined) params.set('location', String(query.location));
  for (const tag of query.tags) params.append('tag', tag);
  if (query.low) params.set('low', 'true');
  if (query.sort !== DEFAULT_SORT) params.set('sort', query.sort);
  return `/export.csv?${params.toString()}`;
}

const toItemListQuery = ({
  q,
  tag,
  ...rest
}: z.output<typeof itemListQuerySchema>): ItemListQuery => ({
  ...rest,
  search: q,
  tags: tag,
});

/** The parameters as the schema reads them: `tag` is a list, the others their last value. */
const paramsObject = (params: URLSearchParams) => ({
  ...Object.fromEntries(params),
  tag: params.getAll('tag'),
});

/** The API's list query: the parameters, or what is wrong with them. */
export function parseListQuery(params: URLSearchParams) {
  // A repeated parameter counts by its last value, as with form fields; `tag` is a list.
  const result = itemListQuerySchema.safeParse(paramsObject(params));
  return result.success
    ? { success: true as const, data: toItemListQuery(result.data) }
    : { success: false as const, error: result.error };
}

/**
 * The same query as the main page reads it, from links people share and edit: a value that
 * makes no sense falls back to the default instead of failing (a search too long is cut, a
 * page size too large is the largest).
 */
export function parseItemListParams(params: URLSearchParams): ItemListQuery {
  const { q, location, tag, low, sort, page, limit } = itemListQuerySchema.shape;
  const value = (name: string) => params.get(name) ?? undefined;
  const or = <T>(parsed: { success: boolean; data?: T }, fallback: T): T =>
    parsed.success ? (parsed.data as T) : fallback;
  const size = Number(/^\d{1,9}$/.exec(value('limit') ?? '')?.[0] ?? 0);
  return toItemListQuery({
    // The page names its inventory in its path, not in the query.
    inventory: undefined,
    q: or(q.safeParse(value('q')), (value('q') ?? '').slice(0, SEARCH_MAX_LENGTH)),
    location: or(location.safeParse(value('location')), undefined),
    // Blank tags are no filter; past the limit, the first ones count.
    tag: or(
      tag.safeParse(
        params
          .getAll('tag')
          .filter((name) => name.trim() !== '')
          .slice(0, MAX_TAGS_PER_ITEM),
      ),
      [] as string[],
    ),
    low: or(low.safeParse(value('low')), false),
    sort: or(sort.safeParse(value('sort')), DEFAULT_SORT),
    page: or(page.safeParse(value('page')), 1),
    limit: or(
      limit.safeParse(value('limit')),
      size > MAX_PAGE_SIZE ? MAX_PAGE_SIZE : DEFAULT_PAGE_SIZE,
    ),
  });
}

/** `POST /api/items/<id>/adjust`: the change to the amount, e.g. `{"delta": -1}`. */
const deltaMessage = `Enter a whole number from -${AMOUNT_MAX} to ${AMOUNT_MAX}.`;
export const adjustmentSchema = z.strictObject({
  delta: z
    .number({ error: deltaMessage })
    .int(deltaMessage)
    .min(-AMOUNT_MAX, deltaMessage)
    .max(AMOUNT_MAX, deltaMessage),
});

export const IDEMPOTENCY_KEY_HEADER = 'Idempotency-Key';

/** A client's idempotency key: 1 to 100 printable ASCII characters (a UUID, typically). */
export const idempotencyKeySchema = z
  .string()
  .regex(
    /^[\x20-\x7E]{1,100}$/,
    `${IDEMPOTENCY_KEY_HEADER} must be 1 to 100 printable ASCII characters.`,
  )
  .meta({
    description:
      'Chosen by the client so that a retried request does not store a copy: a second ' +
      'request with the same key and the same item returns the item the first one stored ' +
      '(200 instead of 201); the same key with a different item, or first used by the ' +
      'add-item form, is refused (422) and stores nothing.',
  });

const inventoryIdMessage = 'Enter the id of one of your inventories (GET /api/inventories).';
/** The one field of a new item's body that is not the item's own. */
export const newItemInventorySchema = z
  .int({ error: inventoryIdMessage })
  .min(1, inventoryIdMessage)
  .max(MAX_ROW_ID, inventoryIdMessage)
  .meta({ description: 'The inventory to add it to; by default the personal one ("My items").' });

/**
 * `POST /api/items`'s body split in two: the inventory it names (if any), and the item's
 * fields, which the item's own schema (item-input.ts) then reads.
 */
export function newItemTarget(body: unknown) {
  if (typeof body !== 'object' || body === null || Array.isArray(body) || !('inventory' in body)) {
    return { success: true as const, inventory: undefined, item: body };
  }
  const { inventory, ...item } = body as Record<string, unknown>;
  const parsed = z.object({ inventory: newItemInventorySchema }).safeParse({ inventory });
  return parsed.success
    ? { success: true as const, inventory: parsed.data.inventory, item }
    : { success: false as const, error: parsed.error };
}
