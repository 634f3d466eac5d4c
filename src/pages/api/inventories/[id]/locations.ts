import { locationInputSchema } from '../../../../lib/contracts/places.ts';
import {
  apiEndpoint,
  apiJson,
  deniedResponse,
  notFound,
  validationError,
} from '../../../../lib/server/api/http.ts';
import { NO_SUCH_INVENTORY } from '../../../../lib/server/api/inventories.ts';
import { locationJson, locationResponse, treeRefused } from '../../../../lib/server/api/places.ts';
import { db } from '../../../../lib/server/db/index.ts';
import { parseRowId } from '../../../../lib/server/ids.ts';
import { callerOf } from '../../../../lib/server/inventories/access.ts';
import { findInventoryForMember } from '../../../../lib/server/inventories/inventories.ts';
import {
  createLocationForMember,
  listLocationsWithCountsForMember,
} from '../../../../lib/server/items/locations.ts';
import { readJsonBody } from '../../../../lib/server/request-body.ts';

/** An inventory's locations, for any member to read, and new ones, for its editors. */
export const ALL = apiEndpoint({
  async GET({ params, locals }) {
    const id = parseRowId(params.id);
    if (id === undefined) return notFound(NO_SUCH_INVENTORY);
    const caller = callerOf(locals);
    const found = await findInventoryForMember(db, caller, 'read', id);
    if (found.status !== 'found') return deniedResponse(found, 'read', NO_SUCH_INVENTORY);
    const locations = await listLocationsWithCountsForMember(db, caller, 'read', id);
    return apiJson(200, { locations: locations.map(locationJson) });
  },

  async POST({ params, request, locals }) {
    const id = parseRowId(params.id);
    if (id === undefined) return notFound(NO_SUCH_INVENTORY);
    const input = locationInputSchema.safeParse(await readJsonBody(request));
    if (!input.success) return validationError(input.error);
    const caller = callerOf(locals);
    const outcome = await createLocationForMember(db, caller, 'edit', id, {
      name: input.data.name,
      parentId: input.data.parent_id,
    });
    switch (outcome.status) {
      case 'created':
        return locationResponse(db, caller, id, outcome.location.id, 201);
      case 'not-found':
      case 'forbidden':
        return deniedResponse(outcome, 'edit', NO_SUCH_INVENTORY);
      default:
        return treeRefused(outcome, 'parent_id');
    }
  },
});
