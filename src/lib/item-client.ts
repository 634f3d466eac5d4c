import type { ItemInput } from './contracts/item-input.ts';
import type { ItemJson, ItemListJson } from './contracts/items.ts';

/**
 * The browser's side of the items API: what the islands send and what comes back, typed by
 * the API's own contract. Errors arrive as the API's `{"error": {"code", "message",
 * "fields"}}`.
 */

export type ApiResult<T> =
  /** `change`: the change it made, from the `Change-Id` header, to undo it by. */
  | { ok: true; status: number; data: T; change: number | null }
  | { ok: false; status: number; message: string; fields: Record<string, string[]> };

const NETWORK_MESSAGE = 'Could not reach the server. Check your connection and try again.';
const SIGNED_OUT_MESSAGE = 'Your session has ended. Please sign in again.';

async function call<T>(
  method: string,
  path: string,
  body?: unknown,
  headers?: HeadersInit,
): Promise<ApiResult<T>> {
  let response: Response;
  try {
    response = await fetch(path, {
      method,
      credentials: 'same-origin',
      headers: {
        Accept: 'application/json',
        ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
        ...headers,
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    return { ok: false, status: 0, message: NETWORK_MESSAGE, fields: {} };
  }
  const change = Number(response.headers.get('Change-Id')) || null;
  if (response.status === 204) return { ok: true, status: 204, data: undefined as T, change };
  const payload = (await response.json().catch(() => null)) as
    | (T & { error?: undefined })
    | { error?: { message?: string; fields?: Record<string, string[]> } }
    | null;
  if (response.ok && payload) {
    return { ok: true, status: response.status, data: payload as T, change };
  }
  const error = payload && 'error' in payload ? payload.error : undefined;
  const message =
    response.status === 401
      ? SIGNED_OUT_MESSAGE
      : (error?.message ?? `The server answered ${response.status}.`);
  return { ok: false, status: response.status, message, fields: error?.fields ?? {} };
}

/** What the add-item island tells the table (the `item-added` event's detail). */
export interface ItemAdded {
  item: ItemJson;
  change: number | null;
}

export function createItem(input: ItemInput, idempotencyKey: string, inventory?: number) {
  return call<ItemJson>(
    'POST',
    '/api/items',
    { ...input, inventory },
    { 'Idempotency-Key': idempotencyKey },
  );
}

export function adjustItem(id: number, delta: number) {
  return call<ItemJson>('POST', `/api/items/${id}/adjust`, { delta });
}

export function deleteItem(id: number) {
  return call<undefined>('DELETE', `/api/items/${id}`);
}

/** One page of the list, for a query string made by `itemListQueryString`. */
export function listItems(queryString: string) {
  return call<ItemListJson>('GET', `/api/items?${queryString}`);
}
