import type { Kysely } from 'kysely';
import { parseItemListParams } from '../../contracts/items.ts';
import { locationNameSchema } from '../../contracts/places.ts';
import type { Database } from '../db/types.ts';
import type { FieldErrors, FormOutcome } from '../http/forms.ts';
import { parseRowId } from '../ids.ts';
import { allows, type Caller } from '../inventories/access.ts';
import { findInventoryForMember, type Inventory } from '../inventories/inventories.ts';
import { listItemsForMember, type ItemPage } from './items.ts';
import {
  createLocationForMember,
  deleteLocationForMember,
  findLocationWithRole,
  listLocationsWithCountsForMember,
  locationPath,
  TREE_REFUSAL_MESSAGES,
  updateLocationForMember,
  type Location,
  type LocationWithCounts,
  type TreeRefusal,
} from './locations.ts';

/**
 * The forms of the locations pages, as outcomes for the form layer: add a location (the
 * inventory's Locations page), rename, move or delete one (its own page). A refusal of the
 * tree's rules comes back next to the field it is about, with what was typed kept.
 */

export const locationsPagePath = (inventoryId: number): string =>
  `/inventories/${inventoryId}/locations`;
export const locationPagePath = (id: number): string => `/locations/${id}/`;

/** The value of the "Top level" choice (and of "No location" when deleting). */
const TOP = '';
const CHOOSE_FROM_LIST = 'Choose a location from the list.';

interface Option {
  value: string;
  label: string;
}

/** Where the sub-locations of `locations[start]` end: tree order keeps them right after it. */
function subtreeEnd(locations: readonly Location[], start: number): number {
  let end = start + 1;
  while (end < locations.length && locations[end]!.depth > locations[start]!.depth) end += 1;
  return end;
}

/**
 * Every location by its path, "Top level" first; `except` and what is inside it left out.
 */
export function parentOptions(locations: readonly Location[], except?: number): Option[] {
  const start = locations.findIndex((location) => location.id === except);
  const kept =
    start < 0
      ? locations
      : [...locations.slice(0, start), ...locations.slice(subtreeEnd(locations, start))];
  return [
    { value: TOP, label: 'Top level' },
    ...kept.map((location) => ({ value: String(location.id), label: locationPath(location) })),
  ];
}

/** Where a deleted location's contents may go: none, or any location outside it. */
export function moveToOptions(locations: readonly Location[], deleting: number): Option[] {
  const [, ...others] = parentOptions(locations, deleting);
  return [
    {
      value: TOP,
      label: 'No location: items keep no location, sub-locations move to the top level',
    },
    ...others,
  ];
}

/** A location chosen in a select: null for the top, undefined when it is no id at all. */
function chosenLocation(raw: string | undefined): number | null | undefined {
  return (raw ?? TOP).trim() === TOP ? null : parseRowId(raw?.trim());
}

function nameOf(raw: string | undefined): { name: string } | { errors: FieldErrors } {
  const parsed = locationNameSchema.safeParse(raw ?? '');
  return parsed.success
    ? { name: parsed.data }
    : { errors: { name: [parsed.error.issues[0]!.message] } };
}

/** A refusal of the tree's rules, shown at `field`: 409 for a clash, 422 for a bad choice. */
function refused(refusal: TreeRefusal, field: string): FormOutcome {
  const clash = refusal.status === 'name-taken' || refusal.status === 'too-many';
  return {
    kind: 'show',
    status: clash ? 409 : 422,
    errors: { [field]: [TREE_REFUSAL_MESSAGES[refusal.status](refusal)] },
  };
}

const UNKNOWN_FORM: FormOutcome = {
  kind: 'show',
  status: 400,
  failure: 'That form is not known here. Please try again.',
};

/** The inventory's Locations page: add a location. */
export async function locationsAction(
  db: Kysely<Database>,
  caller: Caller,
  inventoryId: number,
  fields: Record<string, string>,
): Promise<FormOutcome> {
  if (fields.action !== 'create') return UNKNOWN_FORM;
  const named = nameOf(fields.name);
  const parentId = chosenLocation(fields.parent);
  if ('errors' in named || parentId === undefined) {
    return {
      kind: 'show',
      status: 400,
      errors: {
        ...('errors' in named ? named.errors : {}),
        ...(parentId === undefined ? { parent: [CHOOSE_FROM_LIST] } : {}),
      },
    };
  }
  const outcome = await createLocationForMember(db, caller, 'edit', inventoryId, {
    name: named.name,
    parentId,
  });
  switch (outcome.status) {
    case 'created':
      return {
        kind: 'redirect',
        to: locationsPagePath(inventoryId),
        notice: { about: 'location-created', name: locationPath(outcome.location) },
      };
    case 'not-found':
    case 'forbidden':
      return { kind: 'denied', denied: outcome, need: 'edit' };
    default:
      return refused(outcome, outcome.status === 'name-taken' ? 'name' : 'parent');
  }
}

/** A location's own page: rename it, move it, or delete it. */
export async function locationAction(
  db: Kysely<Database>,
  caller: Caller,
  location: Location,
  fields: Record<string, string>,
): Promise<FormOutcome> {
  switch (fields.action) {
    case 'rename':
    case 'move': {
      const named = fields.action === 'rename' ? nameOf(fields.name) : { name: undefined };
      const parentId = fields.action === 'move' ? chosenLocation(fields.parent) : undefined;
      if ('errors' in named) return { kind: 'show', status: 400, errors: named.errors };
      if (fields.action === 'move' && parentId === undefined) {
        return { kind: 'show', status: 400, errors: { parent: [CHOOSE_FROM_LIST] } };
      }
      const outcome = await updateLocationForMember(db, caller, 'edit', location.id, {
        ...(named.name === undefined ? {} : { name: named.name }),
        ...(parentId === undefined ? {} : { parentId }),
      });
      switch (outcome.status) {
        case 'changed':
          return {
            kind: 'redirect',
            to: locationPagePath(location.id),
            notice: { about: 'location-changed', name: locationPath(outcome.location) },
          };
        case 'not-found':
        case 'forbidden':
          return { kind: 'denied', denied: outcome, need: 'edit' };
        default:
          return refused(outcome, fields.action === 'rename' ? 'name' : 'parent');
      }
    }
    case 'delete': {
      // Without a move_to field the form was the one for an empty location.
      const moveTo = fields.move_to === undefined ? undefined : chosenLocation(fields.move_to);
      if (fields.move_to !== undefined && moveTo === undefined) {
        return { kind: 'show', status: 400, errors: { move_to: [CHOOSE_FROM_LIST] } };
      }
      const outcome = await deleteLocationForMember(db, caller, 'edit', location.id, moveTo);
      switch (outcome.status) {
        case 'deleted':
          return {
            kind: 'redirect',
            to: locationsPagePath(location.inventoryId),
            notice: { about: 'location-deleted', name: location.name },
          };
        case 'not-empty':
          return {
            kind: 'show',
            status: 409,
            errors: { move_to: ['It holds something now: choose where its contents go.'] },
          };
        case 'not-found':
        case 'forbidden':
          return { kind: 'denied', denied: outcome, need: 'edit' };
        default:
          return refused(outcome, 'move_to');
      }
    }
    default:
      return UNKNOWN_FORM;
  }
}

export type LocationView =
  | {
      status: 'found';
      here: LocationWithCounts;
      /** The locations it is in, from the top down. */
      ancestors: LocationWithCounts[];
      /** The locations inside it, in tree order. */
      inside: LocationWithCounts[];
      /** Every location of the inventory, for the move and delete selects. */
      locations: LocationWithCounts[];
      inventory: Inventory;
      canEdit: boolean;
      /** The items directly in it, by name. */
      items: ItemPage;
    }
  | { status: 'not-found' };

/** What a location's page shows, when the caller may read it; `url` gives the items' page. */
export async function loadLocationView(
  db: Kysely<Database>,
  caller: Caller,
  param: string | undefined,
  url: URL,
): Promise<LocationView> {
  const id = parseRowId(param);
  const found = id === undefined ? undefined : await findLocationWithRole(db, caller, id);
  if (!found) return { status: 'not-found' };
  const { inventoryId } = found.location;
  const { page, limit } = parseItemListParams(url.searchParams);
  const [inventory, locations, items] = await Promise.all([
    findInventoryForMember(db, caller, 'read', inventoryId, { itemCounts: false }),
    listLocationsWithCountsForMember(db, caller, 'read', inventoryId),
    listItemsForMember(
      db,
      caller,
      'read',
      { inventoryId, directlyIn: found.location.id },
      { sort: 'name', page, limit },
    ),
  ]);
  const at = locations.findIndex((location) => location.id === found.location.id);
  if (inventory.status !== 'found' || at < 0) return { status: 'not-found' };
  const here = locations[at]!;
  const byId = new Map(locations.map((location) => [location.id, location]));
  const ancestors: LocationWithCounts[] = [];
  for (let up = byId.get(here.parentId ?? 0); up; up = byId.get(up.parentId ?? 0)) {
    ancestors.unshift(up);
  }
  return {
    status: 'found',
    here,
    ancestors,
    inside: locations.slice(at + 1, subtreeEnd(locations, at)),
    locations,
    inventory: inventory.inventory,
    canEdit: allows(found.role, 'edit'),
    items,
  };
}
