import { activityQuerySchema } from '../../../../lib/contracts/history.ts';
import {
  apiEndpoint,
  apiJson,
  notFound,
  validationError,
} from '../../../../lib/server/api/http.ts';
import { changeJson } from '../../../../lib/server/api/history.ts';
import { db } from '../../../../lib/server/db/index.ts';
import { listItemHistoryForMember } from '../../../../lib/server/history/changes.ts';
import { parseRowId } from '../../../../lib/server/ids.ts';
import { callerOf } from '../../../../lib/server/inventories/access.ts';

const historyQuerySchema = activityQuerySchema.pick({ before: true, limit: true });

/**
 * An item's history, newest first, for any member: each change with that item's fields.
 * An item in the trash answers 404, as everywhere but the trash.
 */
export const ALL = apiEndpoint({
  async GET({ params, url, locals }) {
    const id = parseRowId(params.id);
    if (id === undefined) return notFound();
    const query = historyQuerySchema.safeParse(Object.fromEntries(url.searchParams));
    if (!query.success) return validationError(query.error, 'The query is invalid.');
    const page = await listItemHistoryForMember(db, callerOf(locals), 'read', id, query.data);
    if (!page) return notFound();
    return apiJson(200, { changes: page.changes.map(changeJson), next_before: page.before });
  },
});
