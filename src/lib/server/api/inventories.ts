import type { InventoryJson, MemberJson } from '../../contracts/inventories.ts';
import { problemResponse, problems } from '../http/problems.ts';
import type { Inventory } from '../inventories/inventories.ts';
import type { Member } from '../inventories/members.ts';
import { apiError } from './http.ts';

/** How the inventories API shows inventories and members, and reads its path segments. */

export const NO_SUCH_INVENTORY = 'No such inventory.';

/** The one mapping from an inventory to what the API sends. */
export function inventoryJson(inventory: Inventory): InventoryJson {
  return {
    id: inventory.id,
    name: inventory.name,
    role: inventory.role,
    item_count: inventory.itemCount,
  };
}

export function memberJson(member: Member): MemberJson {
  return { user_id: member.userId, username: member.username, role: member.role };
}

export const inventoryLocation = (id: number): string => `/api/inventories/${id}`;

export const memberLocation = (inventoryId: number, username: string): string =>
  `${inventoryLocation(inventoryId)}/members/${encodeURIComponent(username)}`;

/**
 * A token limited to one inventory reaches that one only: an inventory it made would be
 * out of its own reach at once, so it makes none.
 */
export const limitedTokenCannotCreate = (): Response =>
  problemResponse(
    'json',
    problems.forbidden(
      'This token is limited to one inventory, so it cannot create another. Use a token for all your inventories, or the site.',
    ),
  );

export const lastOwner = (message: string): Response =>
  apiError(409, { code: 'last_owner', message });

/**
 * The username a member path names. Astro normalizes the address with `decodeURI` (until
 * it stops changing) before an endpoint sees it, in `params` and `url` alike, and that
 * leaves reserved characters encoded: `%40` for `@`, `%2F`, `%23`. So the last segment is
 * decoded once more, as a URI component. What does not decode is left as it is: the front
 * server has refused every address that is not valid percent-encoded UTF-8, so such a
 * segment is text Astro already decoded (`%25` became `%`). No username holds `%`, so
 * either way an odd segment names nobody (404), and never fails.
 */
export function usernameFromPath(url: URL): string {
  // The last segment; the site ignores a trailing slash.
  const segment = /([^/]*)\/?$/.exec(url.pathname)![1]!;
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}
