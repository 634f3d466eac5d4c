import { sql, type Kysely } from 'kysely';
import { jsonArrayFrom } from 'kysely/helpers/postgres';
import type { Database } from '../db/types.ts';
import { inventoriesFor, type Caller, type Need } from '../inventories/access.ts';
import { LOCATION_COLUMNS, locationsInOrder, type Location } from './locations.ts';

/** What an inventory's item forms and its list's filters offer to choose from. */
export interface ItemChoices {
  /** Its locations in tree order. */
  locations: Location[];
  /** Its tags' names, in name order. */
  tagNames: string[];
}

/**
 * An inventory's locations and tag names: read by every load of its main page and of the item
 * forms, so in one statement rather than one a list (a round trip costs a page more than
 * reading both lists does: bench/RESULTS.md, "Issue 20"). A caller who may not `need` the
 * inventory gets neither.
 */
export async function listItemChoicesForMember(
  db: Kysely<Database>,
  caller: Caller,
  need: Need,
  inventoryId: number,
): Promise<ItemChoices> {
  const row = await db
    .selectNoFrom((eb) => [
      jsonArrayFrom(
        eb.selectFrom('locations').select(LOCATION_COLUMNS).where('inventory_id', '=', inventoryId),
      ).as('locations'),
      eb
        .selectFrom('tags')
        .select(sql<string[]>`coalesce(json_agg(name order by name_key), '[]')`.as('names'))
        .where('inventory_id', '=', inventoryId)
        .as('tagNames'),
    ])
    .where((eb) => eb(eb.val(inventoryId), 'in', inventoriesFor(db, caller, need)))
    .executeTakeFirst();
  return {
    locations: locationsInOrder(row?.locations ?? []),
    tagNames: row?.tagNames ?? [],
  };
}
