import { apiEndpoint, apiJson, notFound, validationError } from '../../../lib/server/api/http.ts';
import { itemJson } from '../../../lib/server/api/items.ts';
import { parseRowId } from '../../../lib/server/ids.ts';
import { itemPatchSchema } from '../../../lib/contracts/item-input.ts';
import { db } from '../../../lib/server/db/index.ts';
import {
  deleteItemForUser,
  findItemForUser,
  updateItemForUser,
} from '../../../lib/server/items.ts';
import { readJsonBody } from '../../../lib/server/request-body.ts';

/** One of the caller's items. Another user's id answers exactly like a missing one. */
export const ALL = apiEndpoint({
  async GET({ params }, user) {
    const id = parseRowId(params.id);
    const item = id === undefined ? undefined : await findItemForUser(db, user.id, id);
    return item ? apiJson(200, itemJson(item)) : notFound();
  },

  async PATCH({ params, request }, user) {
    const id = parseRowId(params.id);
    if (id === undefined) return notFound();
    const patch = itemPatchSchema.safeParse(await readJsonBody(request));
    if (!patch.success) return validationError(patch.error);
    const item = await updateItemForUser(db, user.id, id, patch.data);
    return item ? apiJson(200, itemJson(item)) : notFound();
  },

  async DELETE({ params }, user) {
    const id = parseRowId(params.id);
    const deleted = id !== undefined && (await deleteItemForUser(db, user.id, id));
    return deleted ? new Response(null, { status: 204 }) : notFound();
  },
});
