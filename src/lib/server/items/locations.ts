import { sql, type Kysely, type RawBuilder, type SqlBool, type Transaction } from 'kysely';
import type { Role } from '../../contracts/inventories.ts';
import {
  LOCATION_MAX_DEPTH,
  MAX_LOCATIONS_PER_INVENTORY,
  nameKey,
  PATH_SEPARATOR,
} from '../../contracts/places.ts';
import { inTransaction, lockInventory } from '../db/transaction.ts';
import { asChange, changeBy } from '../history/record.ts';
import type { Database } from '../db/types.ts';
import {
  allows,
  checkAccess,
  inventoriesFor,
  type Caller,
  type Denied,
  type Need,
} from '../inventories/access.ts';

/**
 * Locations: a tree per inventory ("Garage / Shelf 2 / Blue box"). An inventory has at most
 * `MAX_LOCATIONS_PER_INVENTORY`, so a tree is read whole and its rules (no cycles, at most
 * `LOCATION_MAX_DEPTH` levels, siblings' names unique ignoring case) are checked in memory,
 * under the inventory's lock, in the transaction that changes it.
 */
type Db = Kysely<Database>;

export interface Location {
  id: number;
  inventoryId: number;
  parentId: number | null;
  name: string;
  /** Names from the top down to this one. */
  path: string[];
  /** 1 at the top. */
  depth: number;
}

/** A location with what it holds: directly, and with everything inside it. */
export interface LocationWithCounts extends Location {
  itemCount: number;
  totalAmount: number;
  subtreeItemCount: number;
  subtreeAmount: number;
}

export const locationPath = (location: Pick<Location, 'path'>): string =>
  location.path.join(PATH_SEPARATOR);

interface LocationRow {
  id: number;
  inventory_id: number;
  parent_id: number | null;
  name: string;
  name_key: string;
}

/** The columns a location is made of, read by `locationsInOrder`. */
export const LOCATION_COLUMNS = ['id', 'inventory_id', 'parent_id', 'name', 'name_key'] as const;

/** Rows of LOCATION_COLUMNS, one inventory's, as its locations in tree order. */
export const locationsInOrder = (rows: readonly LocationRow[]): Location[] =>
  new Tree(rows).inOrder();

/** One inventory's locations, with the questions the rules ask of a tree. */
class Tree {
  readonly byId: Map<number, LocationRow>;
  readonly children = new Map<number | null, LocationRow[]>();

  constructor(rows: readonly LocationRow[]) {
    this.byId = new Map(rows.map((row) => [row.id, row]));
    for (const row of rows) {
      const siblings = this.children.get(row.parent_id) ?? [];
      siblings.push(row);
      this.children.set(row.parent_id, siblings);
    }
    for (const siblings of this.children.values()) {
      siblings.sort((a, b) => (a.name_key < b.name_key ? -1 : a.name_key > b.name_key ? 1 : 0));
    }
  }

  pathOf(id: number): string[] {
    const names: string[] = [];
    for (let row = this.byId.get(id); row; row = this.byId.get(row.parent_id ?? 0)) {
      names.unshift(row.name);
    }
    return names;
  }

  /** How many levels a location and what is inside it take: 1 for an empty one. */
  heightOf(id: number): number {
    const below = (this.children.get(id) ?? []).map((child) => this.heightOf(child.id));
    return 1 + Math.max(0, ...below);
  }

  /** Whether `id` is `ancestorId` or inside it. */
  isWithin(id: number, ancestorId: number): boolean {
    for (let row = this.byId.get(id); row; row = this.byId.get(row.parent_id ?? 0)) {
      if (row.id === ancestorId) return true;
    }
    return false;
  }

  /** The ids of a location and everything inside it. */
  subtreeIds(id: number): number[] {
    return [id, ...(this.children.get(id) ?? []).flatMap((child) => this.subtreeIds(child.id))];
  }

  /** A location in `parentId` of that name, other than those in `except`. */
  siblingNamed(
    parentId: number | null,
    name: string,
    except: readonly number[] = [],
  ): LocationRow | undefined {
    const key = nameKey(name);
    return (this.children.get(parentId) ?? []).find(
      (row) => row.name_key === key && !except.includes(row.id),
    );
  }

  /** Every location, each parent before its children, siblings by name. */
  inOrder(): Location[] {
    const out: Location[] = [];
    const visit = (parentId: number | null, path: string[]) => {
      for (const row of this.children.get(parentId) ?? []) {
        const here = [...path, row.name];
        out.push({
          id: row.id,
          inventoryId: row.inventory_id,
          parentId: row.parent_id,
          name: row.name,
          path: here,
          depth: here.length,
        });
        visit(row.id, here);
      }
    };
    visit(null, []);
    return out;
  }
}

async function treeOf(db: Db, inventoryId: number): Promise<Tree> {
  const rows = await db
    .selectFrom('locations')
    .select(['id', 'inventory_id', 'parent_id', 'name', 'name_key'])
    .where('inventory_id', '=', inventoryId)
    .execute();
  return new Tree(rows);
}

/**
 * An inventory's locations in tree order, each with its path; empty when the caller may not
 * read the inventory (check the inventory first to tell a stranger 404).
 */
export async function listLocationsForMember(
  db: Db,
  caller: Caller,
  need: Need,
  inventoryId: number,
): Promise<Location[]> {
  const rows = await db
    .selectFrom('locations')
    .select(LOCATION_COLUMNS)
    .where('inventory_id', '=', inventoryId)
    .where('inventory_id', 'in', inventoriesFor(db, caller, need))
    .execute();
  return locationsInOrder(rows);
}

/** The same, with the items each location holds, directly and with its sub-locations. */
export async function listLocationsWithCountsForMember(
  db: Db,
  caller: Caller,
  need: Need,
  inventoryId: number,
): Promise<LocationWithCounts[]> {
  const [locations, counts] = await Promise.all([
    listLocationsForMember(db, caller, need, inventoryId),
    db
      .selectFrom('items')
      .select([
        'location_id',
        sql<number>`count(*)::int`.as('count'),
        sql<string>`sum(amount)::text`.as('amount'),
      ])
      .where('inventory_id', '=', inventoryId)
      .where('inventory_id', 'in', inventoriesFor(db, caller, need))
      .where('location_id', 'is not', null)
      .groupBy('location_id')
      .execute(),
  ]);
  const direct = new Map(
    counts.map((row) => [row.location_id!, { count: row.count, amount: Number(row.amount) }]),
  );
  const withCounts = new Map<number, LocationWithCounts>(
    locations.map((location) => {
      const here = direct.get(location.id) ?? { count: 0, amount: 0 };
      return [
        location.id,
        {
          ...location,
          itemCount: here.count,
          totalAmount: here.amount,
          subtreeItemCount: here.count,
          subtreeAmount: here.amount,
        },
      ];
    }),
  );
  // Children come after their parents: adding up from the end reaches every ancestor.
  for (const location of [...withCounts.values()].reverse()) {
    const parent = location.parentId === null ? undefined : withCounts.get(location.parentId);
    if (!parent) continue;
    parent.subtreeItemCount += location.subtreeItemCount;
    parent.subtreeAmount += location.subtreeAmount;
  }
  return [...withCounts.values()];
}

/** A location the caller can read, with their role in its inventory. */
export async function findLocationWithRole(
  db: Db,
  caller: Caller,
  id: number,
): Promise<{ location: Location; role: Role } | undefined> {
  const row = await db
    .selectFrom('locations')
    .innerJoin('memberships', (join) =>
      join
        .onRef('memberships.inventory_id', '=', 'locations.inventory_id')
        .on('memberships.user_id', '=', caller.userId),
    )
    .select(['locations.id', 'locations.inventory_id', 'memberships.role'])
    .where('locations.id', '=', id)
    .where('locations.inventory_id', 'in', inventoriesFor(db, caller, 'read'))
    .executeTakeFirst();
  if (!row) return undefined;
  const location = (await treeOf(db, row.inventory_id)).inOrder().find((l) => l.id === id);
  return location && { location, role: row.role };
}

/** Why a change to a tree is refused, besides the caller's role. */
export type TreeRefusal =
  /** A sibling has this name already (ignoring case). */
  | { status: 'name-taken'; name: string }
  /** It would make the tree deeper than `LOCATION_MAX_DEPTH`. */
  | { status: 'too-deep' }
  /** A location cannot go inside itself. */
  | { status: 'cycle' }
  /** The parent (or the target) is not a location of this inventory. */
  | { status: 'parent-not-found' }
  | { status: 'too-many' };

export const TREE_REFUSAL_MESSAGES: Readonly<
  Record<TreeRefusal['status'], (refusal: TreeRefusal) => string>
> = {
  'name-taken': (refusal) =>
    `There is a location named “${'name' in refusal ? refusal.name : ''}” there already.`,
  'too-deep': () => `Locations go at most ${LOCATION_MAX_DEPTH} levels deep.`,
  cycle: () => 'A location cannot go inside itself or one of its own locations.',
  'parent-not-found': () => "Choose one of this inventory's locations.",
  'too-many': () => `An inventory has at most ${MAX_LOCATIONS_PER_INVENTORY} locations.`,
};

export type CreateLocationOutcome =
  { status: 'created'; location: Location } | TreeRefusal | Denied;

export async function createLocationForMember(
  db: Db,
  caller: Caller,
  need: Need,
  inventoryId: number,
  input: { name: string; parentId: number | null },
): Promise<CreateLocationOutcome> {
  return inTransaction(db, async (trx) => {
    const access = await checkAccess(trx, caller, need, inventoryId);
    if (access.status !== 'allowed') return access;
    await lockInventory(trx, inventoryId);
    const tree = await treeOf(trx, inventoryId);
    if (tree.byId.size >= MAX_LOCATIONS_PER_INVENTORY) return { status: 'too-many' };
    if (input.parentId !== null && !tree.byId.has(input.parentId)) {
      return { status: 'parent-not-found' };
    }
    const depth = input.parentId === null ? 1 : tree.pathOf(input.parentId).length + 1;
    if (depth > LOCATION_MAX_DEPTH) return { status: 'too-deep' };
    const taken = tree.siblingNamed(input.parentId, input.name);
    if (taken) return { status: 'name-taken', name: taken.name };
    const { id } = await trx
      .insertInto('locations')
      .values({
        inventory_id: inventoryId,
        parent_id: input.parentId,
        name: input.name,
        name_key: nameKey(input.name),
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    const parentPath = input.parentId === null ? [] : tree.pathOf(input.parentId);
    return {
      status: 'created',
      location: {
        id,
        inventoryId,
        parentId: input.parentId,
        name: input.name,
        path: [...parentPath, input.name],
        depth,
      },
    };
  });
}

/** The location, its inventory's tree locked, when the caller may act on it with `need`. */
async function lockedLocation(
  trx: Transaction<Database>,
  caller: Caller,
  need: Need,
  id: number,
): Promise<{ status: 'allowed'; row: LocationRow; tree: Tree } | Denied> {
  const found = await findLocationWithRole(trx, caller, id);
  if (!found) return { status: 'not-found' };
  if (!allows(found.role, need)) return { status: 'forbidden', role: found.role };
  await lockInventory(trx, found.location.inventoryId);
  // Read again under the lock: it may have moved or gone since.
  const tree = await treeOf(trx, found.location.inventoryId);
  const row = tree.byId.get(id);
  return row ? { status: 'allowed', row, tree } : { status: 'not-found' };
}

/**
 * Whether `parentId` (null: the top) can take `moving` with everything inside it; `leaving`
 * is a location that goes in the same change (a deleted one), whose name is free then.
 */
function refuseMove(
  tree: Tree,
  moving: LocationRow,
  parentId: number | null,
  name: string,
  leaving?: number,
) {
  if (parentId !== null) {
    if (!tree.byId.has(parentId)) return { status: 'parent-not-found' } as const;
    if (tree.isWithin(parentId, moving.id)) return { status: 'cycle' } as const;
  }
  const depth = parentId === null ? 0 : tree.pathOf(parentId).length;
  if (depth + tree.heightOf(moving.id) > LOCATION_MAX_DEPTH) return { status: 'too-deep' } as const;
  const taken = tree.siblingNamed(
    parentId,
    name,
    leaving === undefined ? [moving.id] : [moving.id, leaving],
  );
  if (taken) return { status: 'name-taken', name: taken.name } as const;
  return undefined;
}

export type ChangeLocationOutcome =
  { status: 'changed'; location: Location } | TreeRefusal | Denied;

/** Renames a location, moves it (with all it holds) under another parent, or both. */
export async function updateLocationForMember(
  db: Db,
  caller: Caller,
  need: Need,
  id: number,
  change: { name?: string; parentId?: number | null },
): Promise<ChangeLocationOutcome> {
  return inTransaction(db, async (trx) => {
    const locked = await lockedLocation(trx, caller, need, id);
    if (locked.status !== 'allowed') return locked;
    const { row, tree } = locked;
    const name = change.name ?? row.name;
    const parentId = change.parentId === undefined ? row.parent_id : change.parentId;
    const refusal = refuseMove(tree, row, parentId, name);
    if (refusal) return refusal;
    await trx
      .updateTable('locations')
      .set({ name, name_key: nameKey(name), parent_id: parentId })
      .where('id', '=', id)
      .execute();
    const parentPath = parentId === null ? [] : tree.pathOf(parentId);
    return {
      status: 'changed',
      location: {
        id,
        inventoryId: row.inventory_id,
        parentId,
        name,
        path: [...parentPath, name],
        depth: parentPath.length + 1,
      },
    };
  });
}

export type DeleteLocationOutcome =
  | { status: 'deleted'; movedItems: number; movedLocations: number }
  /** It holds something, and no place was named for it. */
  | { status: 'not-empty'; items: number; locations: number }
  | TreeRefusal
  | Denied;

/**
 * Deletes a location. What it holds (its items and the locations directly inside it) goes
 * to `moveTo`: another location of the inventory, or `null` for none (items in no location,
 * locations at the top). Without `moveTo` only an empty location is deleted.
 */
export async function deleteLocationForMember(
  db: Db,
  caller: Caller,
  need: Need,
  id: number,
  moveTo: number | null | undefined,
): Promise<DeleteLocationOutcome> {
  return asChange(db, changeBy(caller, 'move'), async (trx) => {
    const locked = await lockedLocation(trx, caller, need, id);
    if (locked.status !== 'allowed') return locked;
    const { tree } = locked;
    const { count: items } = await trx
      .selectFrom('items')
      .select(sql<number>`count(*)::int`.as('count'))
      .where('location_id', '=', id)
      .executeTakeFirstOrThrow();
    const children = tree.children.get(id) ?? [];
    if (items + children.length > 0 && moveTo === undefined) {
      return { status: 'not-empty', items, locations: children.length };
    }
    const target = moveTo ?? null;
    if (target !== null && (!tree.byId.has(target) || tree.isWithin(target, id))) {
      return tree.byId.has(target) ? { status: 'cycle' } : { status: 'parent-not-found' };
    }
    for (const child of children) {
      const refusal = refuseMove(tree, child, target, child.name, id);
      if (refusal) return refusal;
    }
    // Items in the trash move too (uncounted above: they are not "in" it any more), so
    // that one restored later is somewhere that exists.
    await trx
      .updateTable('stored_items')
      .set({
        location_id: target,
        updated_at: sql<Date>`now()`,
        updated_by: caller.userId,
        version: sql<number>`version + 1`,
      })
      .where('location_id', '=', id)
      .execute();
    if (children.length > 0) {
      // A child may take this location's own name where it goes ("Box" in "Box"): the key
      // is first set to one no name can have (names refuse control characters; "/" alone is
      // allowed, as in "A/V"), so the unique index lets it.
      await trx
        .updateTable('locations')
        .set({ name_key: `\u0001${id}` })
        .where('id', '=', id)
        .execute();
      await trx
        .updateTable('locations')
        .set({ parent_id: target })
        .where('parent_id', '=', id)
        .execute();
    }
    await trx.deleteFrom('locations').where('id', '=', id).execute();
    return { status: 'deleted', movedItems: items, movedLocations: children.length };
  });
}

/**
 * "The item's location is one of `roots` or inside one": a recursive walk down the parent
 * index from the locations `roots` selects (a query of location ids).
 */
export function inLocationsOrBelow(column: string, roots: RawBuilder<unknown>) {
  // An array computed first (an InitPlan), not a join: the planner cannot tell how many
  // locations a recursive walk finds, and guessing hundreds it scanned every item instead of
  // reading the location index.
  return sql<SqlBool>`${sql.ref(column)} = any(array(
    with recursive subtree(id) as (
      ${roots}
      union all
      select l.id from locations l join subtree on l.parent_id = subtree.id
    )
    select id from subtree))`;
}
