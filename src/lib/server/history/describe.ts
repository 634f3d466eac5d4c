import type { Kysely } from 'kysely';
import { formatNumber } from '../../plural.ts';
import type { ChangeAction, ChangeVia, Database } from '../db/types.ts';
import type { Change, FieldChange } from './changes.ts';

/** A change in the words the pages show: what happened to each item. */

const ACTION_LABELS: Readonly<Record<ChangeAction, string>> = {
  add: 'Added',
  edit: 'Edited',
  adjust: 'Changed the amount',
  move: 'Moved',
  tag: 'Retagged',
  delete: 'Moved to the trash',
  restore: 'Restored',
  purge: 'Deleted for good',
  import: 'Imported',
  bulk: 'Changed in bulk',
  undo: 'Undid a change',
};

export const actionLabel = (action: ChangeAction) => ACTION_LABELS[action];

/** Through what, after the actor: "on the site", "with the API token “sync”". */
export function viaLabel(via: ChangeVia, tokenName: string | null): string {
  switch (via) {
    case 'page':
      return 'on the site';
    case 'api':
      return tokenName === null ? 'through the API' : `with the API token “${tokenName}”`;
    case 'import':
      return 'by an import';
    case 'bulk':
      return 'as a bulk change';
    case 'undo':
      return 'with Undo';
    case 'system':
      return 'automatically';
  }
}

/** Names of the items and locations a page of changes mentions. */
export interface ChangeLabels {
  items: Map<number, string>;
  /** The items not in the trash (and not purged): the ones a page can link to. */
  live: Set<number>;
  locations: Map<number, string>;
}

export async function loadChangeLabels(
  db: Kysely<Database>,
  changes: readonly Change[],
): Promise<ChangeLabels> {
  const entries = changes.flatMap((change) => change.fieldChanges);
  const items = new Map<number, string>();
  // A purged item's name is the one its purge recorded.
  for (const entry of entries) {
    if (entry.field === 'name' && typeof entry.before === 'string') {
      items.set(entry.itemId, entry.before);
    }
  }
  const itemIds = [...new Set(entries.map((entry) => entry.itemId))];
  const locationIds = [
    ...new Set(
      entries.flatMap((entry) =>
        entry.field === 'location_id'
          ? [entry.before, entry.after].filter((id): id is number => typeof id === 'number')
          : [],
      ),
    ),
  ];
  const [itemRows, locationRows] = await Promise.all([
    itemIds.length === 0
      ? []
      : db
          .selectFrom('stored_items')
          .select(['id', 'name', 'deleted_at'])
          .where('id', 'in', itemIds)
          .execute(),
    locationIds.length === 0
      ? []
      : db.selectFrom('locations').select(['id', 'name']).where('id', 'in', locationIds).execute(),
  ]);
  for (const row of itemRows) items.set(row.id, row.name);
  return {
    items,
    live: new Set(itemRows.flatMap((row) => (row.deleted_at === null ? [row.id] : []))),
    locations: new Map(locationRows.map((row) => [row.id, row.name])),
  };
}

const quoted = (value: unknown) => `“${String(value)}”`;
const amountText = (value: unknown) => (typeof value === 'number' ? formatNumber(value) : 'none');

function locationText(value: unknown, labels: ChangeLabels): string {
  if (typeof value !== 'number') return 'no location';
  const name = labels.locations.get(value);
  return name === undefined ? 'a deleted location' : quoted(name);
}

/** What one item's field changes did, in a sentence without the item's name. */
function describeItemChange(entries: readonly FieldChange[], labels: ChangeLabels): string {
  const field = (name: string) => entries.find((entry) => entry.field === name);
  const name = field('name');
  if (name && name.before === null) {
    const amount = field('amount');
    return `added with amount ${amountText(amount?.after)}`;
  }
  if (name && name.after === null) return 'deleted for good';
  const parts: string[] = [];
  for (const entry of entries) {
    switch (entry.field) {
      case 'name':
        parts.push(`renamed from ${quoted(entry.before)} to ${quoted(entry.after)}`);
        break;
      case 'amount':
        parts.push(`amount ${amountText(entry.before)} → ${amountText(entry.after)}`);
        break;
      case 'description':
        parts.push(entry.after === '' ? 'description removed' : 'description changed');
        break;
      case 'location_id':
        parts.push(
          `moved from ${locationText(entry.before, labels)} to ${locationText(entry.after, labels)}`,
        );
        break;
      case 'min_amount':
        parts.push(`minimum ${amountText(entry.before)} → ${amountText(entry.after)}`);
        break;
      case 'tag':
        parts.push(
          entry.after === null
            ? `untagged ${quoted(entry.before)}`
            : `tagged ${quoted(entry.after)}`,
        );
        break;
      case 'deleted_at':
        parts.push(entry.after === null ? 'restored from the trash' : 'moved to the trash');
        break;
    }
  }
  return parts.join('; ');
}

/** A change's items, each with what happened to it, in item order. */
export function describeChange(
  change: Change,
  labels: ChangeLabels,
): { itemId: number; name: string; text: string }[] {
  const byItem = Map.groupBy(change.fieldChanges, (entry) => entry.itemId);
  return [...byItem].map(([itemId, entries]) => ({
    itemId,
    name: labels.items.get(itemId) ?? `Item ${itemId}`,
    text: describeItemChange(entries, labels),
  }));
}

/** “Lamp”, “Lamp” and “Box”, or “Lamp” and 4 other items: what an undo notice names. */
export function itemsPhrase(names: readonly string[]): string {
  if (names.length === 0) return 'nothing';
  if (names.length === 1) return quoted(names[0]);
  if (names.length === 2) return `${quoted(names[0])} and ${quoted(names[1])}`;
  return `${quoted(names[0])} and ${formatNumber(names.length - 1)} other items`;
}
