import { z } from 'zod';
import { MAX_ROW_ID } from './ids.ts';
import { AMOUNT_MAX } from './item-input.ts';
import { parseItemListParams, type ItemListQuery } from './items.ts';
import { itemPlacesFormSchema, tagNameSchema } from './places.ts';

/**
 * Bulk changes: many items of one inventory moved, tagged, untagged, given a minimum or
 * deleted at once, as one change. `POST /api/items/bulk` parses its body with
 * `bulkChangeSchema`, the main page's bulk form with `parseBulkForm`, and the OpenAPI
 * document is made from the same schemas; the page's script takes its types from here
 * (types only: this module stays on the server).
 */

/**
 * The most items one bulk change takes, listed or matched by a filter: 5,000 ids of up to 10
 * digits each fit the 64 KiB body limit, so a list the API refuses for its length is refused
 * as such (400) rather than as a body too large (413).
 */
export const MAX_BULK_ITEMS = 5000;

const BULK_ACTIONS = ['move', 'tag', 'untag', 'set_min', 'delete'] as const;

const idsMessage = 'Send the ids of the items to change, as a list of whole numbers.';
const tooMany = `At most ${MAX_BULK_ITEMS.toLocaleString('en-US')} items can be changed at once.`;
const ids = z
  .array(z.int({ error: idsMessage }).min(1, idsMessage).max(MAX_ROW_ID, idsMessage), {
    error: idsMessage,
  })
  .min(1, 'Choose at least one item.')
  .max(MAX_BULK_ITEMS, tooMany)
  .meta({
    description:
      `1 to ${MAX_BULK_ITEMS} item ids, all of one inventory (an id twice counts once). If ` +
      'any is not an item the caller can see, the answer is 404 and nothing changes.',
  });

const locationMessage = "Enter the id of one of this inventory's locations, or null for none.";
const minMessage = `Enter a whole number from 0 to ${AMOUNT_MAX}, or null for no minimum.`;

/** `POST /api/items/bulk`'s body: the ids, the action and what the action needs. */
export const bulkChangeSchema = z.discriminatedUnion(
  'action',
  [
    z.strictObject({
      ids,
      action: z.literal('move'),
      location_id: z
        .int({ error: locationMessage })
        .min(1, locationMessage)
        .max(MAX_ROW_ID, locationMessage)
        .nullable()
        .meta({ description: 'The location to move them to; null for no location.' }),
    }),
    z.strictObject({
      ids,
      action: z.literal('tag'),
      tag: tagNameSchema,
    }),
    z.strictObject({
      ids,
      action: z.literal('untag'),
      tag: tagNameSchema,
    }),
    z.strictObject({
      ids,
      action: z.literal('set_min'),
      min_amount: z
        .int({ error: minMessage })
        .min(0, minMessage)
        .max(AMOUNT_MAX, minMessage)
        .nullable()
        .meta({ description: 'Below this amount an item is low; null clears the minimum.' }),
    }),
    z.strictObject({ ids, action: z.literal('delete') }),
  ],
  { error: `action is one of: ${BULK_ACTIONS.join(', ')}.` },
);

/** What a bulk change does, in the domain's words. */
export type BulkAction =
  | { action: 'move'; locationId: number | null }
  | { action: 'tag' | 'untag'; tag: string }
  | { action: 'set_min'; minAmount: number | null }
  | { action: 'delete' };

/**
 * Which items: listed by id (with `inventoryId`, only that inventory's count), or every item
 * of an inventory that a list query matches.
 */
export type BulkSelection =
  | { ids: readonly number[]; inventoryId?: number }
  | { inventoryId: number; query: Partial<ItemListQuery> };

export function toBulkAction(body: z.output<typeof bulkChangeSchema>): BulkAction {
  switch (body.action) {
    case 'move':
      return { action: 'move', locationId: body.location_id };
    case 'tag':
    case 'untag':
      return { action: body.action, tag: body.tag };
    case 'set_min':
      return { action: 'set_min', minAmount: body.min_amount };
    case 'delete':
      return { action: 'delete' };
  }
}

/** What `POST /api/items/bulk` answers. */
export const bulkResultSchema = z.strictObject({
  change_id: z
    .int()
    .min(1)
    .max(MAX_ROW_ID)
    .nullable()
    .meta({
      description:
        'The change it recorded, to undo it all by (`POST /api/changes/{id}/undo`); null when ' +
        'no item needed changing (all were already so).',
    }),
  changed: z.int().min(0).meta({ description: 'How many of the items it changed.' }),
});
export type BulkResultJson = z.output<typeof bulkResultSchema>;

/**
 * The main page's bulk form: the checked rows (`ids`, repeated) or every row matching the
 * page's filter (`all=1`, with the page's query string in `query`), the action (the name of
 * the button pressed) and its field: `location` (an id, or empty for none), `tag`, or
 * `min_amount` (empty for none), read as the item form reads them.
 */
export function parseBulkForm(
  fields: Record<string, string>,
  checked: readonly string[],
  inventoryId: number,
):
  | { success: true; selection: BulkSelection; action: BulkAction }
  | { success: false; errors: Record<string, string[]> } {
  const selection: BulkSelection =
    fields.all === '1'
      ? { inventoryId, query: parseItemListParams(new URLSearchParams(fields.query ?? '')) }
      : { ids: checked.map((id) => (/^\d{1,10}$/.test(id) ? Number(id) : 0)), inventoryId };
  const refuse = (field: string, message: string) => ({
    success: false as const,
    errors: { [field]: [message] },
  });
  if ('ids' in selection) {
    const parsed = ids.safeParse(selection.ids);
    if (!parsed.success) return refuse('ids', parsed.error.issues[0]!.message);
  }
  const { location, min_amount: minAmount } = itemPlacesFormSchema.shape;
  switch (fields.action) {
    case 'move': {
      const parsed = location.safeParse(fields.location ?? '');
      if (!parsed.success) return refuse('location', parsed.error.issues[0]!.message);
      return { success: true, selection, action: { action: 'move', locationId: parsed.data! } };
    }
    case 'tag':
    case 'untag': {
      const parsed = tagNameSchema.safeParse(fields.tag ?? '');
      if (!parsed.success) return refuse('tag', parsed.error.issues[0]!.message);
      return { success: true, selection, action: { action: fields.action, tag: parsed.data } };
    }
    case 'set_min': {
      const parsed = minAmount.safeParse(fields.min_amount ?? '');
      if (!parsed.success) return refuse('min_amount', parsed.error.issues[0]!.message);
      return { success: true, selection, action: { action: 'set_min', minAmount: parsed.data! } };
    }
    case 'delete':
      return { success: true, selection, action: { action: 'delete' } };
    default:
      return refuse('action', 'Choose what to do with the selected items.');
  }
}
