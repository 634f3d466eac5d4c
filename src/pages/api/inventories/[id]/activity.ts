import { activityQuerySchema } from '../../../../lib/contracts/history.ts';
import {
  apiEndpoint,
  apiJson,
  deniedResponse,
  notFound,
  validationError,
} from '../../../../lib/server/api/http.ts';
import { changeJson } from '../../../../lib/server/api/history.ts';
import { NO_SUCH_INVENTORY } from '../../../../lib/server/api/inventories.ts';
import { db } from '../../../../lib/server/db/index.ts';
import { listActivityForMember } from '../../../../lib/server/history/changes.ts';
import { parseRowId } from '../../../../lib/server/ids.ts';
import { callerOf } from '../../../../lib/server/inventories/access.ts';
import { findInventoryForMember } from '../../../../lib/server/inventories/inventories.ts';

/**
 * An inventory's changes, newest first, for any member: all, one member's or one item's,
 * each with every field it changed (the pages show a few; a program gets them all).
 */
export const ALL = apiEndpoint({
  async GET({ params, url, locals }) {
    const id = parseRowId(params.id);
    if (id === undefined) return notFound(NO_SUCH_INVENTORY);
    const caller = callerOf(locals);
    const found = await findInventoryForMember(db, caller, 'read', id);
    if (found.status !== 'found') return deniedResponse(found, 'read', NO_SUCH_INVENTORY);
    const query = activityQuerySchema.safeParse(Object.fromEntries(url.searchParams));
    if (!query.success) return validationError(query.error, 'The query is invalid.');
    const { before, member, item, limit } = query.data;
    const page = await listActivityForMember(db, caller, 'read', id, {
      before,
      actorId: member,
      itemId: item,
      limit,
    });
    return apiJson(200, { changes: page.changes.map(changeJson), next_before: page.before });
  },
});
