import { inventoryInputSchema } from '../../../lib/contracts/inventories.ts';
import {
  apiEndpoint,
  apiError,
  apiJson,
  notFound,
  validationError,
  deniedResponse,
} from '../../../lib/server/api/http.ts';
import { inventoryJson, NO_SUCH_INVENTORY } from '../../../lib/server/api/inventories.ts';
import { db } from '../../../lib/server/db/index.ts';
import { parseRowId } from '../../../lib/server/ids.ts';
import { callerOf } from '../../../lib/server/inventories/access.ts';
import {
  deleteInventory,
  findInventoryForMember,
  renameInventory,
} from '../../../lib/server/inventories/inventories.ts';
import { readJsonBody } from '../../../lib/server/request-body.ts';

/**
 * One inventory: any member reads it, an owner renames or deletes it. An id that names no
 * inventory of the caller's is a 404, as the items API answers an id that is not an item's
 * (digits only, within the id range); a member whose role does not allow the change, 403.
 */
export const ALL = apiEndpoint({
  async GET({ params, locals }) {
    const id = parseRowId(params.id);
    if (id === undefined) return notFound(NO_SUCH_INVENTORY);
    const found = await findInventoryForMember(db, callerOf(locals), 'read', id);
    return found.status === 'found'
      ? apiJson(200, inventoryJson(found.inventory))
      : deniedResponse(found, 'read', NO_SUCH_INVENTORY);
  },

  async PATCH({ params, request, locals }) {
    const id = parseRowId(params.id);
    if (id === undefined) return notFound(NO_SUCH_INVENTORY);
    const input = inventoryInputSchema.safeParse(await readJsonBody(request));
    if (!input.success) return validationError(input.error);
    const caller = callerOf(locals);
    const renamed = await renameInventory(db, caller, id, input.data.name);
    if (renamed.status !== 'renamed') return deniedResponse(renamed, 'own', NO_SUCH_INVENTORY);
    const found = await findInventoryForMember(db, caller, 'read', id);
    // Deleted, or the caller removed, in the moment since: it is not theirs to see now.
    return found.status === 'found'
      ? apiJson(200, inventoryJson(found.inventory))
      : deniedResponse(found, 'read', NO_SUCH_INVENTORY);
  },

  async DELETE({ params, locals }) {
    const id = parseRowId(params.id);
    if (id === undefined) return notFound(NO_SUCH_INVENTORY);
    const outcome = await deleteInventory(db, callerOf(locals), id);
    switch (outcome.status) {
      case 'deleted':
        return new Response(null, { status: 204 });
      case 'personal':
        return apiError(409, {
          code: 'personal_inventory',
          message:
            'A personal inventory ("My items") cannot be deleted. You can rename it, or delete the items in it.',
        });
      default:
        return deniedResponse(outcome, 'own', NO_SUCH_INVENTORY);
    }
  },
});
