import { apiEndpoint, apiJson, deniedResponse, notFound } from '../../../../lib/server/api/http.ts';
import {
  changeIdHeader,
  changeJson,
  NO_SUCH_CHANGE,
  undoRefused,
} from '../../../../lib/server/api/history.ts';
import { db } from '../../../../lib/server/db/index.ts';
import { findChangeWithRole } from '../../../../lib/server/history/changes.ts';
import { undoChangeForMember } from '../../../../lib/server/history/undo.ts';
import { parseRowId } from '../../../../lib/server/ids.ts';
import { callerOf } from '../../../../lib/server/inventories/access.ts';

/**
 * Reverts a change, all of it or nothing, as a new change that can itself be undone
 * (editors and owners). Refused with 409, nothing changed, when an item changed again since
 * or the change cannot be reverted.
 */
export const ALL = apiEndpoint({
  async POST({ params, locals }) {
    const id = parseRowId(params.id);
    if (id === undefined) return notFound(NO_SUCH_CHANGE);
    const caller = callerOf(locals);
    const outcome = await undoChangeForMember(db, caller, 'edit', id);
    switch (outcome.status) {
      case 'undone': {
        const found =
          outcome.changeId === null
            ? undefined
            : await findChangeWithRole(db, caller, outcome.changeId);
        // An undo that wrote no field (its items were already as they had been) made no change.
        if (!found) {
          return undoRefused({
            status: 'not-undoable',
            inventoryId: outcome.inventoryId,
            message: 'Its items are already as they were before it: there is nothing to undo.',
          });
        }
        return apiJson(200, { change: changeJson(found.change) }, changeIdHeader(found.change.id));
      }
      case 'changed-since':
      case 'not-undoable':
        return undoRefused(outcome);
      default:
        return deniedResponse(outcome, 'edit', NO_SUCH_CHANGE);
    }
  },
});
