import type { Kysely } from 'kysely';
import { MAX_BULK_ITEMS, parseBulkForm } from '../../contracts/bulk.ts';
import { formatNumber } from '../../plural.ts';
import type { Notice } from '../auth/cookies.ts';
import type { Database } from '../db/types.ts';
import type { FormOutcome } from '../http/forms.ts';
import type { Caller } from '../inventories/access.ts';
import { bulkChangeForMember } from './bulk.ts';
import { findLocationWithRole } from './locations.ts';

/**
 * The main page's bulk form (`POST /inventories/<id>/bulk`), as an outcome for the form
 * layer: the checked rows or every row matching the page's filter, one action, then back to
 * the list with a notice that offers to undo it all.
 */
export async function bulkAction(
  db: Kysely<Database>,
  caller: Caller,
  inventoryId: number,
  fields: Record<string, string>,
  all: (name: string) => string[],
  returnTo: string,
): Promise<FormOutcome> {
  const parsed = parseBulkForm(fields, all('ids'), inventoryId);
  if (!parsed.success) {
    const failure = Object.values(parsed.errors).flat()[0];
    return { kind: 'show', status: 400, errors: parsed.errors, failure };
  }
  const { selection, action } = parsed;
  const outcome = await bulkChangeForMember(db, caller, 'edit', selection, action);
  switch (outcome.status) {
    case 'not-found':
    case 'forbidden':
      return { kind: 'denied', denied: outcome, need: 'edit' };
    case 'too-many':
      return {
        kind: 'show',
        status: 422,
        failure:
          `These filters match ${formatNumber(outcome.count)} items; one bulk change takes at ` +
          `most ${formatNumber(MAX_BULK_ITEMS)}. Narrow the filters, then try again.`,
      };
    case 'refused':
      return { kind: 'show', status: 422, failure: outcome.message };
    case 'changed':
      break;
  }
  const { count, changeId: change } = outcome;
  let notice: Notice;
  if (count === 0) {
    notice = { about: 'items-unchanged', name: '' };
  } else if (action.action === 'move') {
    const place =
      action.locationId === null
        ? undefined
        : await findLocationWithRole(db, caller, action.locationId);
    notice = { about: 'items-moved', name: place?.location.name ?? '', amount: count, change };
  } else if (action.action === 'tag' || action.action === 'untag') {
    const about = action.action === 'tag' ? 'items-tagged' : 'items-untagged';
    notice = { about, name: action.tag, amount: count, change };
  } else if (action.action === 'set_min') {
    const min = action.minAmount === null ? '' : formatNumber(action.minAmount);
    notice = { about: 'items-min-set', name: min, amount: count, change };
  } else {
    notice = { about: 'items-deleted', name: '', amount: count, change };
  }
  return { kind: 'redirect', to: returnTo, notice };
}
