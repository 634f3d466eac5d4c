import { itemInputSchema } from '../../../lib/contracts/item-input.ts';
import {
  apiEndpoint,
  apiError,
  apiJson,
  deniedResponse,
  fieldsRefused,
  placeRefused,
  validationError,
} from '../../../lib/server/api/http.ts';
import { newItemTarget, parseListQuery } from '../../../lib/contracts/items.ts';
import {
  idempotencyKeyOf,
  itemJson,
  itemLocation,
  itemResponse,
  KEY_REUSED_MESSAGE,
  parseItemBody,
} from '../../../lib/server/api/items.ts';
import { changeIdHeader } from '../../../lib/server/api/history.ts';
import { db } from '../../../lib/server/db/index.ts';
import { callerOf } from '../../../lib/server/inventories/access.ts';
import { defaultInventoryId } from '../../../lib/server/inventories/inventories.ts';
import { createItemForMember, listItemsForMember } from '../../../lib/server/items/items.ts';
import { readJsonBody } from '../../../lib/server/request-body.ts';

/**
 * The items the caller can read (all of them, or one inventory's): a page of them, or a
 * new one (in the inventory the body names, by default the caller's personal one).
 */
export const ALL = apiEndpoint({
  async GET({ url, locals }) {
    const query = parseListQuery(url.searchParams);
    if (!query.success) return validationError(query.error, 'The query is invalid.');
    const { inventory, ...list } = query.data;
    const { items, page, limit, total } = await listItemsForMember(
      db,
      callerOf(locals),
      'read',
      { inventoryId: inventory },
      list,
    );
    return apiJson(200, { items: items.map(itemJson), page, limit, total });
  },

  async POST({ request, locals }) {
    const idempotency = idempotencyKeyOf(request);
    if (!idempotency.ok) {
      return apiError(400, { code: 'invalid_idempotency_key', message: idempotency.message });
    }
    const body = newItemTarget(await readJsonBody(request));
    if (!body.success) return validationError(body.error);
    const input = parseItemBody(body.item, itemInputSchema, 'new');
    if (!input.success) return fieldsRefused(input.fields);
    const caller = callerOf(locals);
    const inventoryId = body.inventory ?? (await defaultInventoryId(db, caller));
    if (inventoryId === undefined)
      return deniedResponse({ status: 'not-found' }, 'edit', 'No such inventory.');
    const outcome = await createItemForMember(
      db,
      caller,
      'edit',
      inventoryId,
      { ...input.data.item, ...input.data.places },
      idempotency.key === undefined ? undefined : { key: idempotency.key, route: 'api' },
    );
    switch (outcome.status) {
      case 'key-reused':
        return apiError(422, { code: 'idempotency_key_reused', message: KEY_REUSED_MESSAGE });
      case 'not-found':
      case 'forbidden':
        return deniedResponse(outcome, 'edit', 'No such inventory.');
      case 'place-refused':
        return placeRefused(outcome);
      default:
        // A replayed key answers with what the first request stored, and says it made nothing.
        return itemResponse(outcome.status === 'created' ? 201 : 200, outcome.item, {
          Location: itemLocation(outcome.item.id),
          ...(outcome.status === 'created' ? changeIdHeader(outcome.changeId) : {}),
        });
    }
  },
});
