/**
 * The `--places` case: one inventory of 10,000 items in 200 locations (8 rooms, 4 shelves
 * each, 5 boxes on each shelf) with 50 tags (0–3 an item) and minimum amounts (about 5 % of
 * the items low); its main page unfiltered and with each filter, and the plans of the list's
 * statements for each filter, taken from `listItemsForMember` itself.
 */
import { CompiledQuery, createQueryId, sql, type Kysely, type RootOperationNode } from 'kysely';
import type { ItemListQuery } from '../src/lib/contracts/items.ts';
import type { Database } from '../src/lib/server/db/types.ts';
import { listItemsForMember } from '../src/lib/server/items/items.ts';
import type { BenchUser } from './database.ts';

export const PLACES_ITEMS = 10_000;
const ROOMS = 8;
const SHELVES_PER_ROOM = 4;
const BOXES_PER_SHELF = 5;
const TAGS = 50;
const TIMED_CALLS = 200;

export interface PlacesInventory {
  inventoryId: number;
  /** The filters loaded, each with its query string and its query for the repository. */
  filters: { key: string; label: string; search: string; query: Partial<ItemListQuery> }[];
}

/** Seeds the inventory (the personal one of `owner`) and picks the filters' values. */
export async function seedPlaces(db: Kysely<Database>, owner: BenchUser): Promise<PlacesInventory> {
  const { id: inventoryId } = await db
    .selectFrom('inventories')
    .select('id')
    .where('personal_of', '=', owner.id)
    .executeTakeFirstOrThrow();
  await sql`insert into locations (inventory_id, name, name_key)
    select ${inventoryId}, 'Room ' || g, 'room ' || g from generate_series(1, ${ROOMS}) as g`.execute(
    db,
  );
  await sql`insert into locations (inventory_id, parent_id, name, name_key)
    select ${inventoryId}, room.id, 'Shelf ' || g, 'shelf ' || g
    from locations room, generate_series(1, ${SHELVES_PER_ROOM}) as g
    where room.inventory_id = ${inventoryId} and room.parent_id is null`.execute(db);
  await sql`insert into locations (inventory_id, parent_id, name, name_key)
    select ${inventoryId}, shelf.id, 'Box ' || g, 'box ' || g
    from locations shelf join locations room on room.id = shelf.parent_id,
      generate_series(1, ${BOXES_PER_SHELF}) as g
    where shelf.inventory_id = ${inventoryId} and room.parent_id is null`.execute(db);
  await sql`insert into tags (inventory_id, name, name_key)
    select ${inventoryId}, 'Tag ' || g, 'tag ' || g from generate_series(1, ${TAGS}) as g`.execute(
    db,
  );
  // Every tenth item in no location; every twentieth low (amount one or more below its
  // minimum), every fifth from the second on with a minimum it meets.
  await sql`
    with places as (
      select array_agg(id order by id) as ids, count(*)::int as n
      from locations where inventory_id = ${inventoryId})
    insert into items (inventory_id, created_by, name, amount, description, location_id, min_amount)
    select ${inventoryId}, ${owner.id}, 'Part ' || g || ' <b>& "Café"', (g * 7919) % 1000,
      'Bench item ' || g || ' ' || repeat('lorem ipsum ', g % 20),
      case when g % 10 = 0 then null else places.ids[1 + (g * 31) % places.n] end,
      case when g % 20 = 0 then (g * 7919) % 1000 + 1 + g % 7
           when g % 5 = 1 then ((g * 7919) % 1000) / 2 end
    from places, generate_series(1, ${PLACES_ITEMS}::int) as g`.execute(db);
  // Item g has g % 4 tags, spread so that pairs of tags share a few dozen items.
  await sql`
    with tagged as (select array_agg(id order by id) as ids from tags where inventory_id = ${inventoryId})
    insert into item_tags (item_id, tag_id)
    select items.id, tagged.ids[1 + (items.id * (k * 2 + 1) + k * 17) % ${TAGS}]
    from tagged, items, generate_series(1, 3) as k
    where items.inventory_id = ${inventoryId} and items.id % 4 >= k
    on conflict do nothing`.execute(db);
  // As autovacuum leaves a table after such a load: statistics, and a visibility map that
  // lets item_tags be read from its indexes alone.
  await sql`vacuum analyze locations, tags, item_tags, stored_items, memberships, inventories`.execute(
    db,
  );

  const { id: room } = await db
    .selectFrom('locations')
    .select('id')
    .where('inventory_id', '=', inventoryId)
    .where('parent_id', 'is', null)
    .orderBy('id')
    .executeTakeFirstOrThrow();
  const pair = await sql<{ a: string; b: string }>`
    select ta.name as a, tb.name as b
    from item_tags x join item_tags y on y.item_id = x.item_id and y.tag_id > x.tag_id
      join tags ta on ta.id = x.tag_id join tags tb on tb.id = y.tag_id
    where ta.inventory_id = ${inventoryId}
    group by ta.name, tb.name order by count(*) desc, ta.name, tb.name limit 1`.execute(db);
  const { a, b } = pair.rows[0]!;
  const tags = new URLSearchParams([
    ['tag', a],
    ['tag', b],
  ]).toString();
  return {
    inventoryId,
    filters: [
      { key: 'all', label: 'unfiltered', search: '', query: {} },
      {
        key: 'location',
        label: `?location=${room} (Room 1)`,
        search: `?location=${room}`,
        query: { location: room },
      },
      { key: 'tags', label: `?tag=${a}&tag=${b}`, search: `?${tags}`, query: { tags: [a, b] } },
      { key: 'low', label: '?low=true', search: '?low=true', query: { low: true } },
    ],
  };
}

/**
 * EXPLAIN (ANALYZE, BUFFERS) of the statements `listItemsForMember` sends that read the
 * items (the count and the page), for each filter, with the number of items it matches.
 */
export async function explainPlaces(
  db: Kysely<Database>,
  owner: BenchUser,
  places: PlacesInventory,
): Promise<string> {
  const out: string[] = [];
  const caller = { userId: owner.id, onlyInventoryId: null };
  for (const filter of places.filters) {
    const statements: RootOperationNode[] = [];
    const page = await listItemsForMember(
      db.withPlugin({
        transformQuery: ({ node }) => {
          statements.push(node);
          return node;
        },
        transformResult: async ({ result }) => result,
      }),
      caller,
      'read',
      { inventoryId: places.inventoryId },
      filter.query,
    );
    // The list alone, from this process, one call at a time: the database's share of a page,
    // steadier than a page's requests per second on a busy machine.
    const started = performance.now();
    for (let i = 0; i < TIMED_CALLS; i++) {
      await listItemsForMember(
        db,
        caller,
        'read',
        { inventoryId: places.inventoryId },
        filter.query,
      );
    }
    const each = (performance.now() - started) / TIMED_CALLS;
    out.push(
      `### ${filter.label}: ${page.total} items, ${page.lowCount} low; ` +
        `listItemsForMember ${each.toFixed(2)} ms a call (mean of ${TIMED_CALLS})`,
    );
    for (const node of statements) {
      const compiled = db.getExecutor().compileQuery(node, createQueryId());
      if (!/from "items"/.test(compiled.sql)) continue;
      const plan = await db.executeQuery<{ 'QUERY PLAN': string }>(
        CompiledQuery.raw(`explain (analyze, buffers) ${compiled.sql}`, [...compiled.parameters]),
      );
      const kind = /count\(\*\)/.test(compiled.sql) ? 'count' : 'list';
      out.push(`${kind}:`, ...plan.rows.map((row) => `    ${row['QUERY PLAN']}`));
    }
  }
  return out.join('\n');
}
