import { TRASH_PAGE_SIZE, trashQuerySchema } from '../../../../lib/contracts/history.ts';
import {
  apiEndpoint,
  apiJson,
  deniedResponse,
  notFound,
  validationError,
} from '../../../../lib/server/api/http.ts';
import { trashListJson } from '../../../../lib/server/api/history.ts';
import { NO_SUCH_INVENTORY } from '../../../../lib/server/api/inventories.ts';
import { db } from '../../../../lib/server/db/index.ts';
import { listTrashForMember } from '../../../../lib/server/history/trash.ts';
import { parseRowId } from '../../../../lib/server/ids.ts';
import { callerOf } from '../../../../lib/server/inventories/access.ts';
import { findInventoryForMember } from '../../../../lib/server/inventories/inventories.ts';

/** An inventory's trash, most recently deleted first, a page at a time, for any member. */
export const ALL = apiEndpoint({
  async GET({ params, url, locals }) {
    const id = parseRowId(params.id);
    if (id === undefined) return notFound(NO_SUCH_INVENTORY);
    const caller = callerOf(locals);
    const found = await findInventoryForMember(db, caller, 'read', id);
    if (found.status !== 'found') return deniedResponse(found, 'read', NO_SUCH_INVENTORY);
    const query = trashQuerySchema.safeParse(Object.fromEntries(url.searchParams));
    if (!query.success) return validationError(query.error, 'The query is invalid.');
    const page = await listTrashForMember(db, caller, 'read', id, {
      page: query.data.page,
      limit: TRASH_PAGE_SIZE,
    });
    return apiJson(200, trashListJson(page));
  },
});
