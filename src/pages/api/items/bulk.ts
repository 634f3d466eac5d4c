import {
  bulkChangeSchema,
  toBulkAction,
  type BulkResultJson,
} from '../../../lib/contracts/bulk.ts';
import {
  apiEndpoint,
  apiJson,
  deniedResponse,
  fieldsRefused,
  validationError,
} from '../../../lib/server/api/http.ts';
import { changeIdHeader } from '../../../lib/server/api/history.ts';
import { db } from '../../../lib/server/db/index.ts';
import { callerOf } from '../../../lib/server/inventories/access.ts';
import { bulkChangeForMember } from '../../../lib/server/items/bulk.ts';
import { readJsonBody } from '../../../lib/server/request-body.ts';

/**
 * One action on many items of one inventory, all or nothing, as one change (editors and
 * owners): if any id is not an item the caller can see, 404 and nothing changes.
 */
export const ALL = apiEndpoint({
  async POST({ request, locals }) {
    const body = bulkChangeSchema.safeParse(await readJsonBody(request));
    if (!body.success) return validationError(body.error);
    const outcome = await bulkChangeForMember(
      db,
      callerOf(locals),
      'edit',
      { ids: body.data.ids },
      toBulkAction(body.data),
    );
    switch (outcome.status) {
      case 'changed': {
        const result: BulkResultJson = { change_id: outcome.changeId, changed: outcome.count };
        return apiJson(200, result, changeIdHeader(outcome.changeId));
      }
      case 'refused':
        return fieldsRefused({ [outcome.field]: [outcome.message] });
      case 'too-many':
        // A listed selection is held to the limit by the schema; kept for completeness.
        return fieldsRefused({ ids: ['Too many items for one bulk change.'] });
      default:
        return deniedResponse(outcome, 'edit');
    }
  },
});
