import { sql, type Kysely, type SqlBool } from 'kysely';
import { nameKey } from '../../contracts/places.ts';
import type { Database } from '../db/types.ts';
import { inventoriesFor, type Caller, type Need } from '../inventories/access.ts';
import type { ItemScope } from './items.ts';
import { inLocationsOrBelow } from './locations.ts';

/**
 * Which items a list shows: the main page's and the API's filters, combined (all must
 * hold). Each is written so that PostgreSQL can answer it from an index (bench/RESULTS.md
 * records the plans): a location's subtree walks the parent index and then the items'
 * location index; each tag is an index range of `item_tags`; low stock is a partial index of
 * the low items only.
 */
export interface ItemFilters {
  /** Text in the name, the description, a tag's name or a location's name (and inside it). */
  search?: string | undefined;
  /** In this location or below it. */
  location?: number | undefined;
  /** With every one of these tags (names, any case). */
  tags: readonly string[];
  low: boolean;
}

/** `%`, `_` and `\` typed by a user are literal characters, not patterns. */
function containsPattern(text: string): string {
  return `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/** PostgreSQL text cannot hold U+0000 (a parameter with one is an error, not a miss). */
const storable = (text: string) => !text.includes('\0');

export function matchingItems(
  db: Kysely<Database>,
  caller: Caller,
  need: Need,
  scope: ItemScope,
  filters: ItemFilters,
) {
  const readable = inventoriesFor(db, caller, need);
  let query = db.selectFrom('items').where('items.inventory_id', 'in', readable);
  if (scope.inventoryId !== undefined) {
    query = query.where('items.inventory_id', '=', scope.inventoryId);
  }
  if (scope.directlyIn !== undefined) query = query.where('location_id', '=', scope.directlyIn);
  if (filters.location !== undefined) {
    query = query.where(inLocationsOrBelow('location_id', sql`select ${filters.location}::int`));
  }
  const tags = filters.tags.map((tag) => tag.trim());
  // No stored tag holds U+0000 (nor any name beyond a tag's length): such a filter matches
  // nothing, as no item has that tag.
  if (!tags.every(storable)) return query.where(sql<boolean>`false`);
  const inventories = scope.inventoryId ?? readable;
  const [first, ...rest] = [...new Set(tags.map(nameKey))];
  if (first !== undefined) {
    // One index range of item_tags per tag, joined on the item: the items with all of them
    // come out before any item row is read.
    const tagged = (key: string) =>
      sql`select id from tags where inventory_id in (${inventories}) and name_key = ${key}`;
    const also = rest.map((key, i) => {
      const alias = sql.raw(`t${i + 1}`);
      return sql`join item_tags ${alias} on ${alias}.item_id = t0.item_id and ${alias}.tag_id in (${tagged(key)})`;
    });
    query = query.where(
      sql<SqlBool>`items.id in (select t0.item_id from item_tags t0 ${sql.join(also, sql` `)}
        where t0.tag_id in (${tagged(first)}))`,
    );
  }
  if (filters.low) query = query.where(sql<boolean>`amount < min_amount`);
  const text = filters.search?.trim();
  if (text !== undefined && !storable(text)) return query.where(sql<boolean>`false`);
  if (text) {
    const pattern = containsPattern(text);
    query = query.where((eb) =>
      eb.or([
        eb('name', 'ilike', pattern),
        eb('description', 'ilike', pattern),
        eb.exists(
          eb
            .selectFrom('item_tags')
            .innerJoin('tags', 'tags.id', 'item_tags.tag_id')
            .select(sql`1`.as('one'))
            .whereRef('item_tags.item_id', '=', 'items.id')
            .where('tags.name', 'ilike', pattern),
        ),
        inLocationsOrBelow(
          'location_id',
          sql`select id from locations where inventory_id in (${inventories}) and name ilike ${pattern}`,
        ),
      ]),
    );
  }
  return query;
}
