import { locationPatchSchema } from '../../../lib/contracts/places.ts';
import {
  apiEndpoint,
  deniedResponse,
  notFound,
  validationError,
} from '../../../lib/server/api/http.ts';
import {
  locationResponse,
  moveToOf,
  NO_SUCH_LOCATION,
  notEmpty,
  treeRefused,
} from '../../../lib/server/api/places.ts';
import { db } from '../../../lib/server/db/index.ts';
import { parseRowId } from '../../../lib/server/ids.ts';
import { callerOf } from '../../../lib/server/inventories/access.ts';
import {
  deleteLocationForMember,
  findLocationWithRole,
  updateLocationForMember,
} from '../../../lib/server/items/locations.ts';
import { readJsonBody } from '../../../lib/server/request-body.ts';

/**
 * One location: any member of its inventory reads it; editors rename it, move it (with all
 * it holds) or delete it. A location of an inventory the caller is not in is a 404, as a
 * missing id is.
 */
export const ALL = apiEndpoint({
  async GET({ params, locals }) {
    const id = parseRowId(params.id);
    const caller = callerOf(locals);
    const found = id === undefined ? undefined : await findLocationWithRole(db, caller, id);
    return found
      ? locationResponse(db, caller, found.location.inventoryId, found.location.id, 200)
      : notFound(NO_SUCH_LOCATION);
  },

  async PATCH({ params, request, locals }) {
    const id = parseRowId(params.id);
    if (id === undefined) return notFound(NO_SUCH_LOCATION);
    const patch = locationPatchSchema.safeParse(await readJsonBody(request));
    if (!patch.success) return validationError(patch.error);
    const caller = callerOf(locals);
    const outcome = await updateLocationForMember(db, caller, 'edit', id, {
      ...(patch.data.name === undefined ? {} : { name: patch.data.name }),
      ...(patch.data.parent_id === undefined ? {} : { parentId: patch.data.parent_id }),
    });
    switch (outcome.status) {
      case 'changed':
        return locationResponse(db, caller, outcome.location.inventoryId, id, 200);
      case 'not-found':
      case 'forbidden':
        return deniedResponse(outcome, 'edit', NO_SUCH_LOCATION);
      default:
        return treeRefused(outcome, 'parent_id');
    }
  },

  async DELETE({ params, url, locals }) {
    const id = parseRowId(params.id);
    if (id === undefined) return notFound(NO_SUCH_LOCATION);
    const moveTo = moveToOf(url);
    if (!moveTo.success) return validationError(moveTo.error, 'The query is invalid.');
    const outcome = await deleteLocationForMember(db, callerOf(locals), 'edit', id, moveTo.data);
    switch (outcome.status) {
      case 'deleted':
        return new Response(null, { status: 204 });
      case 'not-empty':
        return notEmpty(outcome);
      case 'not-found':
      case 'forbidden':
        return deniedResponse(outcome, 'edit', NO_SUCH_LOCATION);
      default:
        return treeRefused(outcome, 'move_to');
    }
  },
});
