import type { Kysely } from 'kysely';
import type { Role } from '../../contracts/inventories.ts';
import type { Database } from '../db/types.ts';
import { listItemHistoryForMember, type ChangePage } from '../history/changes.ts';
import { loadChangeLabels, type ChangeLabels } from '../history/describe.ts';
import { allows, type Caller } from '../inventories/access.ts';
import { findItemWithRole, type Item } from './items.ts';
import { listLocationsForMember, type Location } from './locations.ts';

/**
 * What an item's own page shows: the item, where it is kept (the location's whole path, for
 * the breadcrumb), its inventory's name, and who changed it last. Undefined for an id the
 * caller cannot read, exactly as for one that does not exist.
 */
export interface ItemPageView {
  item: Item;
  role: Role;
  canEdit: boolean;
  inventoryName: string;
  /** The location and the ones it is in, from the top. */
  locationTrail: Location[];
  /** Who saved the last change; null once that account is deleted. */
  updatedBy: string | null;
  /** Its latest changes, newest first. */
  history: ChangePage;
  historyLabels: ChangeLabels;
}

/** How many of its changes the item page lists; the Activity page has them all. */
const HISTORY_ON_ITEM_PAGE = 10;

export async function loadItemPage(
  db: Kysely<Database>,
  caller: Caller,
  id: number,
): Promise<ItemPageView | undefined> {
  const found = await findItemWithRole(db, caller, id);
  if (!found) return undefined;
  const { item, role } = found;
  const [inventory, editor, locations, history] = await Promise.all([
    db
      .selectFrom('inventories')
      .select('name')
      .where('id', '=', item.inventoryId)
      .executeTakeFirstOrThrow(),
    db
      .selectFrom('items')
      .innerJoin('users', 'users.id', 'items.updated_by')
      .select('users.username')
      .where('items.id', '=', id)
      .executeTakeFirst(),
    item.locationId === null
      ? Promise.resolve([])
      : listLocationsForMember(db, caller, 'read', item.inventoryId),
    listItemHistoryForMember(db, caller, 'read', id, { limit: HISTORY_ON_ITEM_PAGE }),
  ]);
  const changes = history ?? { changes: [], before: null };
  const byId = new Map(locations.map((location) => [location.id, location]));
  const locationTrail: Location[] = [];
  for (let at = byId.get(item.locationId ?? 0); at; at = byId.get(at.parentId ?? 0)) {
    locationTrail.unshift(at);
  }
  return {
    item,
    role,
    canEdit: allows(role, 'edit'),
    inventoryName: inventory.name,
    locationTrail,
    updatedBy: editor?.username ?? null,
    history: changes,
    historyLabels: await loadChangeLabels(db, changes.changes),
  };
}
