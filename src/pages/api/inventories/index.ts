import { inventoryInputSchema } from '../../../lib/contracts/inventories.ts';
import { apiEndpoint, apiJson, validationError } from '../../../lib/server/api/http.ts';
import {
  inventoryJson,
  inventoryLocation,
  limitedTokenCannotCreate,
} from '../../../lib/server/api/inventories.ts';
import { db } from '../../../lib/server/db/index.ts';
import { callerOf } from '../../../lib/server/inventories/access.ts';
import {
  createInventoryForCaller,
  listInventoriesForMember,
} from '../../../lib/server/inventories/inventories.ts';
import { readJsonBody } from '../../../lib/server/request-body.ts';

/**
 * The inventories the caller is in, with their role in each (a token limited to one
 * inventory sees that one only), and new ones, which the caller owns.
 */
export const ALL = apiEndpoint({
  async GET({ locals }) {
    const inventories = await listInventoriesForMember(db, callerOf(locals));
    return apiJson(200, { inventories: inventories.map(inventoryJson) });
  },

  async POST({ request, locals }) {
    const input = inventoryInputSchema.safeParse(await readJsonBody(request));
    if (!input.success) return validationError(input.error);
    const outcome = await createInventoryForCaller(db, callerOf(locals), input.data.name);
    if (outcome.status === 'limited') return limitedTokenCannotCreate();
    return apiJson(201, inventoryJson(outcome.inventory), {
      Location: inventoryLocation(outcome.inventory.id),
    });
  },
});
