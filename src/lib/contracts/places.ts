import { z } from 'zod';
import {
  AMOUNT_MAX,
  characterCount,
  firstUnstorableCharacter,
  unstorableCharacterMessage,
} from './item-input.ts';
import { MAX_ROW_ID } from './ids.ts';

/**
 * Where items are kept and how they are grouped: locations (a tree per inventory), tags,
 * and the minimum amount below which an item is low. The rules for their names and for the
 * item fields that refer to them, shared by the forms, the API and the OpenAPI document.
 */

export const LOCATION_NAME_MAX_LENGTH = 100;
/** Levels of the tree, the top one included: "Garage / Shelf 2 / Blue box" is three. */
export const LOCATION_MAX_DEPTH = 10;
export const TAG_NAME_MAX_LENGTH = 50;
export const MAX_TAGS_PER_ITEM = 20;
/** Far more than a household or a lab keeps, and few enough for one select on a page. */
export const MAX_LOCATIONS_PER_INVENTORY = 1000;
export const MAX_TAGS_PER_INVENTORY = 1000;

/** How a location's path is written: "Garage / Shelf 2 / Blue box". */
export const PATH_SEPARATOR = ' / ';

/** What makes two names the same: case does not count. */
export const nameKey = (name: string): string => name.toLowerCase();

function placeName(what: string, limit: number, forbidden: { text: string; message: string }) {
  return z.string({ error: `Enter the ${what}'s name.` }).transform((raw, ctx) => {
    const value = raw.trim();
    const unstorable = firstUnstorableCharacter(value);
    const length = characterCount(value);
    const problem =
      value === ''
        ? `Enter the ${what}'s name.`
        : unstorable
          ? unstorableCharacterMessage(unstorable)
          : length > limit
            ? `A ${what}'s name has at most ${limit} characters (this one has ${length}).`
            : value.includes(forbidden.text)
              ? forbidden.message
              : undefined;
    if (problem) ctx.issues.push({ code: 'custom', message: problem, input: raw });
    return value;
  });
}

export const locationNameSchema = placeName('location', LOCATION_NAME_MAX_LENGTH, {
  text: PATH_SEPARATOR.trim(),
  message: `A location's name cannot contain “${PATH_SEPARATOR.trim()}”: it separates the levels of a path. Make a location inside this one instead.`,
}).meta({ description: `1 to ${LOCATION_NAME_MAX_LENGTH} characters, without “/”.` });

export const tagNameSchema = placeName('tag', TAG_NAME_MAX_LENGTH, {
  text: ',',
  message: 'A tag cannot contain a comma: commas separate tags.',
}).meta({ description: `1 to ${TAG_NAME_MAX_LENGTH} characters, without commas.` });

const idMessage = (what: string) => `Enter the id of one of this inventory's ${what}.`;
const rowId = (what: string) =>
  z
    .int({ error: idMessage(what) })
    .min(1, idMessage(what))
    .max(MAX_ROW_ID, idMessage(what));

/**
 * A list of tags: each a tag name, the same name twice counting once (the first spelling
 * wins), at most `MAX_TAGS_PER_ITEM`.
 */
export const tagListSchema = z
  .array(tagNameSchema, { error: 'Send the tags as a list of names.' })
  .transform((names) => {
    const seen = new Set<string>();
    return names.filter((name) => {
      const key = nameKey(name);
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
  })
  .refine((names) => names.length <= MAX_TAGS_PER_ITEM, {
    message: `An item has at most ${MAX_TAGS_PER_ITEM} tags.`,
  });

const minAmountMessage = `Enter a whole number from 0 to ${AMOUNT_MAX}, or nothing for no minimum.`;
const minAmount = z
  .int({ error: minAmountMessage })
  .min(0, minAmountMessage)
  .max(AMOUNT_MAX, minAmountMessage)
  .nullable();

/** The item's fields about its place, in the API: any of them may be left out. */
export const itemPlacesSchema = z.strictObject({
  location_id: rowId('locations')
    .nullable()
    .optional()
    .meta({ description: 'The location it is kept in; null for none.' }),
  tags: tagListSchema
    .optional()
    .meta({ description: "Its tags' names; a name the inventory has no tag for makes one." }),
  min_amount: minAmount
    .optional()
    .meta({ description: 'Below this amount the item is low; null for no minimum.' }),
});
export type ItemPlacesJson = z.output<typeof itemPlacesSchema>;

/** The same fields in the domain's words; a field left out stays as it is. */
export interface ItemPlaces {
  locationId?: number | null;
  tags?: string[];
  minAmount?: number | null;
}

export const toItemPlaces = (json: ItemPlacesJson): ItemPlaces => ({
  ...(json.location_id === undefined ? {} : { locationId: json.location_id }),
  ...(json.tags === undefined ? {} : { tags: json.tags }),
  ...(json.min_amount === undefined ? {} : { minAmount: json.min_amount }),
});

/** The names a comma-separated text lists ("tools, red" is two), blanks left out. */
function tagsFromText(text: string): string[] {
  return text
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== '');
}

/**
 * The item form's fields about its place, as typed: `location` (an id, or empty for none),
 * `tags` (comma-separated) and `min_amount` (empty for none). Only the fields the form has
 * are read, so a form without them leaves them as they are.
 */
export const itemPlacesFormSchema = z.object({
  location: z
    .string()
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined) return undefined;
      if (raw.trim() === '') return null;
      const id = /^\d{1,10}$/.test(raw.trim()) ? Number(raw) : NaN;
      if (!(id >= 1 && id <= MAX_ROW_ID)) {
        ctx.issues.push({
          code: 'custom',
          message: 'Choose a location from the list.',
          input: raw,
        });
      }
      return id;
    }),
  tags: z
    .string()
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined) return undefined;
      const parsed = tagListSchema.safeParse(tagsFromText(raw));
      if (!parsed.success) {
        for (const issue of parsed.error.issues) {
          ctx.issues.push({ code: 'custom', message: issue.message, input: raw });
        }
        return [];
      }
      return parsed.data;
    }),
  min_amount: z
    .string()
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined) return undefined;
      const text = raw.trim();
      if (text === '') return null;
      const number = /^\+?\d{1,10}$/.test(text) ? Number(text) : NaN;
      if (!(number >= 0 && number <= AMOUNT_MAX)) {
        ctx.issues.push({ code: 'custom', message: minAmountMessage, input: raw });
      }
      return number;
    }),
});

export const formPlaces = (parsed: z.output<typeof itemPlacesFormSchema>): ItemPlaces => ({
  ...(parsed.location === undefined ? {} : { locationId: parsed.location }),
  ...(parsed.tags === undefined ? {} : { tags: parsed.tags }),
  ...(parsed.min_amount === undefined ? {} : { minAmount: parsed.min_amount }),
});

/** A new location: its name, and the location it is in (none: at the top). */
export const locationInputSchema = z.strictObject({
  name: locationNameSchema,
  parent_id: rowId('locations')
    .nullable()
    .default(null)
    .meta({ description: 'The location it is in; null (or absent) for the top.' }),
});

/** A change to a location: a new name, a new parent, or both. */
export const locationPatchSchema = z
  .strictObject({
    name: locationNameSchema.optional(),
    parent_id: rowId('locations')
      .nullable()
      .optional()
      .meta({ description: 'Move it (with all it holds) into this location; null for the top.' }),
  })
  .refine((patch) => patch.name !== undefined || patch.parent_id !== undefined, {
    message: 'Send a new name, a new parent_id, or both.',
  });

/** Where a deleted location's contents go: another location, or nowhere (`none`). */
export const moveToSchema = z
  .union(
    [
      z.literal('none'),
      z
        .string()
        .regex(/^\d{1,10}$/)
        .transform(Number),
    ],
    {
      error: 'move_to is a location id or “none”.',
    },
  )
  .refine((value) => value === 'none' || (value >= 1 && value <= MAX_ROW_ID), {
    message: 'move_to is a location id or “none”.',
  })
  .transform((value) => (value === 'none' ? null : value));

/** A location as the API sends it. */
export const locationSchema = z.strictObject({
  id: z.int().min(1).max(MAX_ROW_ID),
  name: z.string(),
  parent_id: z
    .int()
    .min(1)
    .max(MAX_ROW_ID)
    .nullable()
    .meta({ description: 'The location it is in; null at the top.' }),
  path: z.string().meta({
    description: `Its names from the top down, joined by “${PATH_SEPARATOR}”: "Garage${PATH_SEPARATOR}Shelf 2".`,
  }),
  item_count: z.int().min(0).meta({
    description:
      'The items in it and in every location inside it (an item is counted once, where it is).',
  }),
});
export type LocationJson = z.output<typeof locationSchema>;

export const locationListSchema = z.strictObject({
  locations: z.array(locationSchema).meta({
    description: 'In tree order: each location before the ones inside it, siblings by name.',
  }),
});

/** A tag of an inventory as the API sends it. */
export const inventoryTagSchema = z.strictObject({
  id: z.int().min(1).max(MAX_ROW_ID),
  name: z.string(),
  item_count: z.int().min(0).meta({ description: 'The items that have it.' }),
});
export type InventoryTagJson = z.output<typeof inventoryTagSchema>;

export const inventoryTagListSchema = z.strictObject({
  tags: z.array(inventoryTagSchema).meta({ description: 'By name, ignoring case.' }),
});
