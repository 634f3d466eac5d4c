import type { Kysely } from 'kysely';
import { parseItemListParams, type ItemListQuery } from '../../contracts/items.ts';
import { pageCount, pageHref } from '../../paging.ts';
import type { Database } from '../db/types.ts';
import { parseRowId } from '../ids.ts';
import { listItemsForMember, type ItemPage } from '../items/items.ts';
import { listItemChoicesForMember } from '../items/choices.ts';
import type { Location } from '../items/locations.ts';
import { allows, type Caller, type Denied, type Need } from './access.ts';
import {
  findInventoryForMember,
  type ItemCounts,
  listInventoriesForMember,
  lastUsedOf,
  rememberLastInventory,
  type Inventory,
} from './inventories.ts';

/**
 * What an inventory's page shows: the inventory, one page of its items as the address asks
 * for them, and the caller's other inventories for the switcher. `/` and
 * `/inventories/<id>/` are the same page; this is it, without the markup.
 */
export type InventoryView =
  | {
      status: 'ok';
      inventory: Inventory;
      inventories: Inventory[];
      canEdit: boolean;
      query: ItemListQuery;
      listing: ItemPage;
      /** The inventory's locations in tree order, for the filter and the rows' paths. */
      locations: Location[];
      /** Its tags' names, for the filter. */
      tagNames: string[];
    }
  /** A page past the end (an old link, a list that shrank): the last page there is. */
  | { status: 'redirect'; to: string }
  | { status: 'not-found' };

/**
 * The view of one inventory, or with 'last-used' of the one `/` opens (see `lastUsedOf`).
 * `remember` records it as the one used last.
 */
export async function loadInventoryView(
  db: Kysely<Database>,
  caller: Caller,
  which: number | 'last-used',
  url: URL,
  { remember = true }: { remember?: boolean } = {},
): Promise<InventoryView> {
  const query = parseItemListParams(url.searchParams);
  // The inventory is found among the caller's (the switcher's list), and every query is the
  // caller's own, so for a stranger's id they find nothing, and it is not found. By id, all
  // run at once; the one used last is read off that list first, which the rest waits for.
  const listedFirst =
    which === 'last-used'
      ? await listInventoriesForMember(db, caller, { itemCounts: false })
      : undefined;
  const inventoryId = which === 'last-used' ? lastUsedOf(listedFirst ?? [])?.id : which;
  if (inventoryId === undefined) return { status: 'not-found' };
  const [inventories, listing, { locations, tagNames }] = await Promise.all([
    listedFirst ?? listInventoriesForMember(db, caller, { itemCounts: false }),
    listItemsForMember(db, caller, 'read', { inventoryId }, query),
    listItemChoicesForMember(db, caller, 'read', inventoryId),
    remember ? rememberLastInventory(db, caller.userId, inventoryId) : undefined,
  ]);
  const inventory = inventories.find((candidate) => candidate.id === inventoryId);
  if (!inventory) return { status: 'not-found' };
  const lastPage = pageCount(listing.total, listing.limit);
  if (listing.page > lastPage) return { status: 'redirect', to: pageHref(url, lastPage) };
  return {
    status: 'ok',
    inventory,
    inventories,
    canEdit: allows(inventory.role, 'edit'),
    query,
    listing,
    locations,
    tagNames,
  };
}

export const inventoryPath = (id: number): string => `/inventories/${id}/`;

/**
 * The inventory an `[id]` route names, when the caller may act on it with `need`. An id that
 * is no id (letters, past the integer range) is not found, exactly like a missing one.
 */
export async function inventoryFromParam(
  db: Kysely<Database>,
  caller: Caller,
  need: Need,
  param: string | undefined,
  counts: ItemCounts = {},
): Promise<{ status: 'found'; inventory: Inventory } | Denied> {
  const id = parseRowId(param);
  if (id === undefined) return { status: 'not-found' };
  return findInventoryForMember(db, caller, need, id, counts);
}
