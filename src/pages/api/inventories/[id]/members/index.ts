import {
  apiEndpoint,
  apiJson,
  notFound,
  deniedResponse,
} from '../../../../../lib/server/api/http.ts';
import { memberJson, NO_SUCH_INVENTORY } from '../../../../../lib/server/api/inventories.ts';
import { db } from '../../../../../lib/server/db/index.ts';
import { parseRowId } from '../../../../../lib/server/ids.ts';
import { callerOf } from '../../../../../lib/server/inventories/access.ts';
import { listMembers } from '../../../../../lib/server/inventories/members.ts';

/** Everyone in an inventory with their role, for any of its members to see. */
export const ALL = apiEndpoint({
  async GET({ params, locals }) {
    const id = parseRowId(params.id);
    if (id === undefined) return notFound(NO_SUCH_INVENTORY);
    const outcome = await listMembers(db, callerOf(locals), id);
    return outcome.status === 'found'
      ? apiJson(200, { members: outcome.members.map(memberJson) })
      : deniedResponse(outcome, 'read', NO_SUCH_INVENTORY);
  },
});
