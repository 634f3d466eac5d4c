import { AMOUNT_MAX } from '../../../../lib/contracts/item-input.ts';
import { adjustmentSchema } from '../../../../lib/contracts/items.ts';
import {
  apiEndpoint,
  apiError,
  deniedResponse,
  notFound,
  validationError,
} from '../../../../lib/server/api/http.ts';
import { changeIdHeader } from '../../../../lib/server/api/history.ts';
import { itemEtag, itemResponse } from '../../../../lib/server/api/items.ts';
import { db } from '../../../../lib/server/db/index.ts';
import { parseRowId } from '../../../../lib/server/ids.ts';
import { callerOf } from '../../../../lib/server/inventories/access.ts';
import { adjustItemAmountForMember } from '../../../../lib/server/items/items.ts';
import { readJsonBody } from '../../../../lib/server/request-body.ts';

/**
 * Adds to or takes from an item's amount in one statement, so two members counting stock
 * at once never overwrite each other's change (no If-Match needed).
 */
export const ALL = apiEndpoint({
  async POST({ params, request, locals }) {
    const id = parseRowId(params.id);
    if (id === undefined) return notFound();
    const body = adjustmentSchema.safeParse(await readJsonBody(request));
    if (!body.success) return validationError(body.error);
    const outcome = await adjustItemAmountForMember(
      db,
      callerOf(locals),
      'edit',
      id,
      body.data.delta,
    );
    switch (outcome.status) {
      case 'adjusted':
        return itemResponse(200, outcome.item, changeIdHeader(outcome.changeId));
      case 'out-of-range':
        return apiError(
          409,
          {
            code: 'out_of_range',
            message: `The amount is ${outcome.item.amount}; it must stay between 0 and ${AMOUNT_MAX}.`,
            fields: { delta: [`Ensure the new amount stays between 0 and ${AMOUNT_MAX}.`] },
          },
          { ETag: itemEtag(outcome.item) },
        );
      default:
        return deniedResponse(outcome, 'edit');
    }
  },
});
