import { z } from 'zod';
import { MAX_ROW_ID } from './ids.ts';
import { wholeNumberParam } from './items.ts';

/**
 * The history's contract: a change as the API sends it, and the queries of the Activity
 * list, an item's history and the trash. Pages read their query strings with the same
 * schemas.
 */

/** Through what a change was made. */
export const CHANGE_VIAS = ['page', 'api', 'import', 'bulk', 'undo', 'system'] as const;
export const CHANGE_ACTIONS = [
  'add',
  'edit',
  'adjust',
  'move',
  'tag',
  'delete',
  'restore',
  'purge',
  'import',
  'bulk',
  'undo',
] as const;

/** Changes per page of the Activity list and of an item's history. */
export const DEFAULT_CHANGES_PER_PAGE = 25;
export const MAX_CHANGES_PER_PAGE = 100;
/** Items per page of the trash. */
export const TRASH_PAGE_SIZE = 50;

const rowId = z.int().min(1).max(MAX_ROW_ID);

export const changeSchema = z.strictObject({
  id: rowId,
  at: z.iso.datetime({ offset: false }).meta({ description: 'ISO 8601, UTC.' }),
  actor: z
    .strictObject({ id: rowId, username: z.string() })
    .nullable()
    .meta({ description: 'Who made it; null for the system (the purge) or a deleted account.' }),
  via: z.enum(CHANGE_VIAS).meta({
    description:
      'Through what: `page`, `api` (see `token`), `import`, `bulk`, `undo`, or `system` (the purge, a write made outside the site).',
  }),
  token: z
    .string()
    .nullable()
    .meta({ description: 'The name of the API token it came through, for `api`.' }),
  action: z.enum(CHANGE_ACTIONS),
  undoes: rowId.nullable().meta({ description: 'The change this one undid.' }),
  item_ids: z.array(rowId).meta({ description: 'The items it changed.' }),
  changes: z
    .array(
      z.strictObject({
        item_id: rowId,
        field: z.string().meta({
          description:
            '`name`, `amount`, `description`, `location_id`, `min_amount`, `deleted_at` (in the trash since), or `tag` (one tag: its name `after` when added, `before` when removed).',
        }),
        before: z.unknown().meta({ description: 'The value before; null for none.' }),
        after: z.unknown().meta({ description: 'The value after; null for none.' }),
      }),
    )
    .meta({ description: 'Each changed field of each item, before and after.' }),
});
export type ChangeJson = z.output<typeof changeSchema>;

export const changeListSchema = z.strictObject({
  changes: z.array(changeSchema),
  next_before: rowId
    .nullable()
    .meta({ description: 'Pass as `before` for the next, older page; null on the last.' }),
});

export const activityQuerySchema = z.object({
  before: wholeNumberParam(1, MAX_ROW_ID).optional().meta({
    description: 'Only changes older than this change id (the previous page’s `next_before`).',
  }),
  member: wholeNumberParam(1, MAX_ROW_ID)
    .optional()
    .meta({ description: "Only this member's changes (a user id)." }),
  item: wholeNumberParam(1, MAX_ROW_ID)
    .optional()
    .meta({ description: 'Only changes to this item.' }),
  limit: wholeNumberParam(1, MAX_CHANGES_PER_PAGE).default(DEFAULT_CHANGES_PER_PAGE),
});

export const trashedItemSchema = z.strictObject({
  id: rowId,
  name: z.string(),
  amount: z.int().min(0),
  deleted_at: z.iso.datetime({ offset: false }),
  deleted_by: z.strictObject({ id: rowId, username: z.string() }).nullable(),
  purge_at: z.iso
    .datetime({ offset: false })
    .meta({ description: 'When it will be deleted for good.' }),
});

export const trashListSchema = z.strictObject({
  items: z.array(trashedItemSchema),
  page: z.int().min(1),
  limit: z.int().min(1),
  total: z.int().min(0),
});

export const trashQuerySchema = z.object({
  page: wholeNumberParam(1, 1_000_000).default(1),
});

/** What `POST /api/changes/{id}/undo` answers: the undo's own change (undo it to redo). */
export const undoResultSchema = z.strictObject({
  change: changeSchema,
});
