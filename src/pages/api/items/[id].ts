import {
  apiEndpoint,
  deniedResponse,
  fieldsRefused,
  placeRefused,
  notFound,
} from '../../../lib/server/api/http.ts';
import { changeIdHeader } from '../../../lib/server/api/history.ts';
import {
  ifMatchVersion,
  itemResponse,
  parseItemBody,
  preconditionFailed,
} from '../../../lib/server/api/items.ts';
import { parseRowId } from '../../../lib/server/ids.ts';
import { itemPatchSchema } from '../../../lib/contracts/item-input.ts';
import { db } from '../../../lib/server/db/index.ts';
import { callerOf } from '../../../lib/server/inventories/access.ts';
import {
  deleteItemForMember,
  findItemForMember,
  updateItemForMember,
} from '../../../lib/server/items/items.ts';
import { readJsonBody } from '../../../lib/server/request-body.ts';

/**
 * One item of the caller's inventories. An id from an inventory the caller is not in
 * answers exactly like a missing one; a viewer's change is a 403. `If-Match` makes a change
 * conditional on the version the client last saw (412 when someone changed it since).
 */
export const ALL = apiEndpoint({
  async GET({ params, locals }) {
    const id = parseRowId(params.id);
    const item =
      id === undefined ? undefined : await findItemForMember(db, callerOf(locals), 'read', id);
    return item ? itemResponse(200, item) : notFound();
  },

  async PATCH({ params, request, locals }) {
    const id = parseRowId(params.id);
    if (id === undefined) return notFound();
    const ifVersion = ifMatchVersion(request);
    const patch = parseItemBody(await readJsonBody(request), itemPatchSchema, 'patch');
    if (!patch.success) return fieldsRefused(patch.fields);
    if (ifVersion === null) return preconditionFailed(undefined);
    const caller = callerOf(locals);
    const { item, places } = patch.data;
    const change = { ...item, ...places };
    const outcome = await updateItemForMember(db, caller, 'edit', id, change, ifVersion);
    switch (outcome.status) {
      case 'changed':
        return itemResponse(200, outcome.item, changeIdHeader(outcome.changeId));
      case 'conflict':
        return preconditionFailed(outcome.current);
      case 'place-refused':
        return placeRefused(outcome);
      default:
        return deniedResponse(outcome, 'edit');
    }
  },

  async DELETE({ params, request, locals }) {
    const id = parseRowId(params.id);
    if (id === undefined) return notFound();
    const ifVersion = ifMatchVersion(request);
    if (ifVersion === null) return preconditionFailed(undefined);
    const outcome = await deleteItemForMember(db, callerOf(locals), 'edit', id, ifVersion);
    switch (outcome.status) {
      case 'deleted':
        return new Response(null, { status: 204, headers: changeIdHeader(outcome.changeId) });
      case 'conflict':
        return preconditionFailed(outcome.current);
      default:
        return deniedResponse(outcome, 'edit');
    }
  },
});
