import { itemInputSchema } from '../../../lib/contracts/item-input.ts';
import { apiEndpoint, apiError, apiJson, validationError } from '../../../lib/server/api/http.ts';
import { parseListQuery } from '../../../lib/contracts/items.ts';
import {
  idempotencyKeyOf,
  itemJson,
  itemLocation,
  KEY_REUSED_MESSAGE,
} from '../../../lib/server/api/items.ts';
import { db } from '../../../lib/server/db/index.ts';
import { createItemForUser, listItemsForUser } from '../../../lib/server/items.ts';
import { readJsonBody } from '../../../lib/server/request-body.ts';

/** The caller's items: a page of them, or a new one. */
export const ALL = apiEndpoint({
  async GET({ url }, user) {
    const query = parseListQuery(url.searchParams);
    if (!query.success) return validationError(query.error, 'The query is invalid.');
    const { items, page, limit, total } = await listItemsForUser(db, user.id, query.data);
    return apiJson(200, { items: items.map(itemJson), page, limit, total });
  },

  async POST({ request }, user) {
    const idempotency = idempotencyKeyOf(request);
    if (!idempotency.ok) {
      return apiError(400, { code: 'invalid_idempotency_key', message: idempotency.message });
    }
    const input = itemInputSchema.safeParse(await readJsonBody(request));
    if (!input.success) return validationError(input.error);
    const outcome = await createItemForUser(
      db,
      user.id,
      input.data,
      idempotency.key === undefined ? undefined : { key: idempotency.key, route: 'api' },
    );
    if (outcome.status === 'key-reused') {
      return apiError(422, { code: 'idempotency_key_reused', message: KEY_REUSED_MESSAGE });
    }
    // A replayed key answers with what the first request stored, and says it made nothing.
    const { item } = outcome;
    return apiJson(outcome.status === 'created' ? 201 : 200, itemJson(item), {
      Location: itemLocation(item.id),
    });
  },
});
