import { z } from 'zod';
import { moveToSchema, type InventoryTagJson, type LocationJson } from '../../contracts/places.ts';
import type { Kysely } from 'kysely';
import type { Database } from '../db/types.ts';
import type { Caller } from '../inventories/access.ts';
import {
  listLocationsWithCountsForMember,
  locationPath,
  TREE_REFUSAL_MESSAGES,
  type LocationWithCounts,
  type TreeRefusal,
} from '../items/locations.ts';
import type { Tag } from '../items/tags.ts';
import { apiError, apiJson, notFound } from './http.ts';

/** How the API shows locations and tags, and answers what the tree's rules refuse. */

export const NO_SUCH_LOCATION = 'No such location.';

export function locationJson(location: LocationWithCounts): LocationJson {
  return {
    id: location.id,
    name: location.name,
    parent_id: location.parentId,
    path: locationPath(location),
    item_count: location.subtreeItemCount,
  };
}

export function tagJson(tag: Tag): InventoryTagJson {
  return { id: tag.id, name: tag.name, item_count: tag.itemCount };
}

const locationAddress = (id: number): string => `/api/locations/${id}`;

/**
 * One location as the API sends it, counts included, read after a change; a 404 when it is
 * gone, or out of the caller's reach, in the moment since.
 */
export async function locationResponse(
  db: Kysely<Database>,
  caller: Caller,
  inventoryId: number,
  id: number,
  status: number,
): Promise<Response> {
  const locations = await listLocationsWithCountsForMember(db, caller, 'read', inventoryId);
  const location = locations.find((candidate) => candidate.id === id);
  if (!location) return notFound(NO_SUCH_LOCATION);
  return apiJson(
    status,
    locationJson(location),
    status === 201 ? { Location: locationAddress(id) } : undefined,
  );
}

/**
 * What the tree's rules refuse, as a validation error of the field at fault (`parent`: the
 * body's `parent_id`, or `move_to` when a deleted location's contents move): a name a
 * sibling has is a conflict with what is stored (409); a place the location cannot go,
 * 422.
 */
export function treeRefused(refusal: TreeRefusal, parent: 'parent_id' | 'move_to'): Response {
  const message = TREE_REFUSAL_MESSAGES[refusal.status](refusal);
  const [status, field] =
    refusal.status === 'name-taken'
      ? [409, parent === 'move_to' ? parent : 'name']
      : refusal.status === 'too-many'
        ? [422, '_form']
        : [422, parent];
  return apiError(status, {
    code: 'validation_error',
    message,
    fields: { [field]: [message] },
  });
}

/** A location that holds something, deleted without saying where its contents go. */
export function notEmpty(held: { items: number; locations: number }): Response {
  const parts = [
    ...(held.items > 0 ? [`${held.items} ${held.items === 1 ? 'item' : 'items'}`] : []),
    ...(held.locations > 0
      ? [`${held.locations} ${held.locations === 1 ? 'location' : 'locations'}`]
      : []),
  ];
  const message =
    `This location holds ${parts.join(' and ')}. Say where they go: ?move_to=<location id> ` +
    'to move them into another location, or ?move_to=none to take them out of any location.';
  return apiError(409, { code: 'validation_error', message, fields: { move_to: [message] } });
}

const moveToQuery = z.object({ move_to: moveToSchema.optional() });

/** Where a deleted location's contents go, from `?move_to=`: undefined when not said. */
export function moveToOf(url: URL) {
  const parsed = moveToQuery.safeParse({ move_to: url.searchParams.get('move_to') ?? undefined });
  return parsed.success
    ? { success: true as const, data: parsed.data.move_to }
    : { success: false as const, error: parsed.error };
}
