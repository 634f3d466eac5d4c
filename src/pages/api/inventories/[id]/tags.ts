import { apiEndpoint, apiJson, deniedResponse, notFound } from '../../../../lib/server/api/http.ts';
import { NO_SUCH_INVENTORY } from '../../../../lib/server/api/inventories.ts';
import { tagJson } from '../../../../lib/server/api/places.ts';
import { db } from '../../../../lib/server/db/index.ts';
import { parseRowId } from '../../../../lib/server/ids.ts';
import { callerOf } from '../../../../lib/server/inventories/access.ts';
import { findInventoryForMember } from '../../../../lib/server/inventories/inventories.ts';
import { listTagsForMember } from '../../../../lib/server/items/tags.ts';

/** An inventory's tags with how many items have each, for any member to read. */
export const ALL = apiEndpoint({
  async GET({ params, locals }) {
    const id = parseRowId(params.id);
    if (id === undefined) return notFound(NO_SUCH_INVENTORY);
    const caller = callerOf(locals);
    const found = await findInventoryForMember(db, caller, 'read', id);
    if (found.status !== 'found') return deniedResponse(found, 'read', NO_SUCH_INVENTORY);
    const tags = await listTagsForMember(db, caller, 'read', id);
    return apiJson(200, { tags: tags.map(tagJson) });
  },
});
