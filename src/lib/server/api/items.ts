import {
  IDEMPOTENCY_KEY_HEADER,
  idempotencyKeySchema,
  type ItemJson,
} from '../../contracts/items.ts';
import type { Item } from '../items.ts';

/** How the API shows items and reads the parts of a request that are not the item itself. */

/** The one mapping from a stored item to what the API sends; the owner is implied. */
export function itemJson(item: Item): ItemJson {
  return {
    id: item.id,
    name: item.name,
    amount: item.amount,
    description: item.description,
    created_at: item.createdAt.toISOString(),
  };
}

export const itemLocation = (id: number): string => `/api/items/${id}`;

export const KEY_REUSED_MESSAGE =
  'This Idempotency-Key was already used for a different request, and nothing was stored. Send a new key for a new item.';

/** The client's key for a retried create: absent, valid, or invalid (a 400). */
export function idempotencyKeyOf(
  request: Request,
): { ok: true; key: string | undefined } | { ok: false; message: string } {
  const key = request.headers.get(IDEMPOTENCY_KEY_HEADER);
  if (key === null) return { ok: true, key: undefined };
  const parsed = idempotencyKeySchema.safeParse(key);
  return parsed.success
    ? { ok: true, key: parsed.data }
    : { ok: false, message: parsed.error.issues[0]!.message };
}
