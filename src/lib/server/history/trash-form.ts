import type { Kysely } from 'kysely';
import { plural } from '../../plural.ts';
import type { Database } from '../db/types.ts';
import type { FormOutcome } from '../http/forms.ts';
import { parseRowId } from '../ids.ts';
import type { Caller } from '../inventories/access.ts';
import { inventoryPath } from '../inventories/view.ts';
import { emptyTrashForMember, restoreItemForMember } from './trash.ts';

/**
 * The forms of an inventory's Trash page, as outcomes for the form layer: restore one item
 * (editors; `item` names it), or empty the trash (owners).
 */

export const trashPagePath = (inventoryId: number): string => `${inventoryPath(inventoryId)}trash`;

export async function trashAction(
  db: Kysely<Database>,
  caller: Caller,
  inventoryId: number,
  fields: Record<string, string>,
): Promise<FormOutcome> {
  const here = trashPagePath(inventoryId);
  if (fields.action === 'empty') {
    const outcome = await emptyTrashForMember(db, caller, 'own', inventoryId);
    if (outcome.status !== 'emptied') return { kind: 'denied', denied: outcome, need: 'own' };
    const name = plural(outcome.count, 'item');
    return { kind: 'redirect', to: here, notice: { about: 'trash-emptied', name } };
  }
  const id = parseRowId(fields.item);
  if (fields.action !== 'restore' || id === undefined) {
    return { kind: 'show', status: 400, failure: 'Choose an item to restore.' };
  }
  const outcome = await restoreItemForMember(db, caller, 'edit', id);
  switch (outcome.status) {
    case 'restored': {
      const { name } = outcome.item;
      const notice = { about: 'item-restored', name, change: outcome.changeId } as const;
      return { kind: 'redirect', to: here, notice };
    }
    case 'forbidden':
      return { kind: 'denied', denied: outcome, need: 'edit' };
    case 'not-found':
      return {
        kind: 'show',
        status: 404,
        failure: 'That item is not in the trash any more: it was restored or deleted for good.',
      };
  }
}
