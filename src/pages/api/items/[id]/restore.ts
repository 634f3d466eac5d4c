import { apiEndpoint, deniedResponse, notFound } from '../../../../lib/server/api/http.ts';
import { changeIdHeader } from '../../../../lib/server/api/history.ts';
import { itemResponse } from '../../../../lib/server/api/items.ts';
import { db } from '../../../../lib/server/db/index.ts';
import { restoreItemForMember } from '../../../../lib/server/history/trash.ts';
import { parseRowId } from '../../../../lib/server/ids.ts';
import { callerOf } from '../../../../lib/server/inventories/access.ts';
import { findItemForMember } from '../../../../lib/server/items/items.ts';

/**
 * Brings an item back from the trash, with its history, where it was (editors and owners).
 * An item not in the trash, or not the caller's, is a 404; a viewer's attempt a 403.
 */
export const ALL = apiEndpoint({
  async POST({ params, locals }) {
    const id = parseRowId(params.id);
    if (id === undefined) return notFound();
    const caller = callerOf(locals);
    const outcome = await restoreItemForMember(db, caller, 'edit', id);
    if (outcome.status !== 'restored') return deniedResponse(outcome, 'edit');
    // Read again as the caller sees it: trashed or out of reach in the moment since, a 404.
    const item = await findItemForMember(db, caller, 'read', id);
    return item ? itemResponse(200, item, changeIdHeader(outcome.changeId)) : notFound();
  },
});
