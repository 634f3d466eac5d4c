import type { Kysely } from 'kysely';
import { nameKey, tagNameSchema } from '../../contracts/places.ts';
import type { Database } from '../db/types.ts';
import type { FormOutcome } from '../http/forms.ts';
import { parseRowId } from '../ids.ts';
import type { Caller } from '../inventories/access.ts';
import { inventoryPath } from '../inventories/view.ts';
import {
  deleteTagForMember,
  findTagWithRole,
  mergeTagsForMember,
  renameTagForMember,
  type Tag,
} from './tags.ts';

/**
 * The forms of an inventory's Tags page, as outcomes for the form layer: rename a tag (a
 * name another tag has is refused with an offer to merge the two), merge one into another,
 * delete one. Each form names its tag in `tag_id`; the page shows errors at that tag.
 */

const tagsPagePath = (inventoryId: number): string => `/inventories/${inventoryId}/tags`;

/** The inventory's main page, filtered by this tag. */
export const tagFilterPath = (inventoryId: number, name: string): string =>
  `${inventoryPath(inventoryId)}?tag=${encodeURIComponent(name)}`;

const GONE: FormOutcome = {
  kind: 'show',
  status: 404,
  failure: 'That tag is not here any more: someone may have merged or deleted it.',
};

export async function tagsAction(
  db: Kysely<Database>,
  caller: Caller,
  inventoryId: number,
  fields: Record<string, string>,
): Promise<FormOutcome> {
  const tagId = parseRowId(fields.tag_id);
  const done = (about: 'tag-renamed' | 'tag-merged' | 'tag-deleted', name: string) =>
    ({ kind: 'redirect', to: tagsPagePath(inventoryId), notice: { about, name } }) as const;
  if (!['rename', 'merge', 'delete'].includes(fields.action ?? '')) {
    return { kind: 'show', status: 400, failure: 'That form is not known here. Please try again.' };
  }
  const found = tagId === undefined ? undefined : await findTagWithRole(db, caller, tagId);
  // A tag of another inventory is not on this page.
  if (!found || found.tag.inventoryId !== inventoryId) return GONE;
  const { tag } = found;
  switch (fields.action) {
    case 'rename': {
      const parsed = tagNameSchema.safeParse(fields.name ?? '');
      if (!parsed.success) {
        return { kind: 'show', status: 400, errors: { name: [parsed.error.issues[0]!.message] } };
      }
      const outcome = await renameTagForMember(db, caller, 'edit', tag.id, parsed.data);
      switch (outcome.status) {
        case 'renamed':
          return done('tag-renamed', parsed.data);
        case 'name-taken':
          return {
            kind: 'show',
            status: 409,
            errors: {
              name: [`There is a tag named “${outcome.otherName}” already. Merge the two instead?`],
            },
          };
        case 'not-found':
          return GONE;
        default:
          return { kind: 'denied', denied: outcome, need: 'edit' };
      }
    }
    case 'merge': {
      const intoId = parseRowId(fields.into);
      const outcome =
        intoId === undefined
          ? ({ status: 'not-mergeable' } as const)
          : await mergeTagsForMember(db, caller, 'edit', tag.id, intoId);
      switch (outcome.status) {
        case 'merged':
          return done('tag-merged', outcome.into);
        case 'not-mergeable':
          return {
            kind: 'show',
            status: 422,
            errors: { into: ['Choose another tag from the list.'] },
          };
        case 'not-found':
          return GONE;
        default:
          return { kind: 'denied', denied: outcome, need: 'edit' };
      }
    }
    default: {
      const outcome = await deleteTagForMember(db, caller, 'edit', tag.id);
      if (outcome.status === 'deleted') return done('tag-deleted', tag.name);
      return outcome.status === 'not-found'
        ? GONE
        : { kind: 'denied', denied: outcome, need: 'edit' };
    }
  }
}

/**
 * After a rename refused because another tag has the name: that tag, to offer merging into.
 */
export function mergeOffer(
  tags: readonly Tag[],
  fields: Record<string, string>,
): { from: Tag; into: Tag } | undefined {
  if (fields.action !== 'rename') return undefined;
  const from = tags.find((tag) => String(tag.id) === fields.tag_id);
  const parsed = tagNameSchema.safeParse(fields.name ?? '');
  if (!from || !parsed.success) return undefined;
  const into = tags.find((tag) => tag.id !== from.id && nameKey(tag.name) === nameKey(parsed.data));
  return into && { from, into };
}
