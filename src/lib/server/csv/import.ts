import { sql, type Kysely, type Transaction } from 'kysely';
import {
  CSV_COLUMNS,
  IMPORT_MAX_ROWS,
  type CsvColumn,
  type ImportProblemJson,
  type ImportReportJson,
} from '../../contracts/imports.ts';
import { itemInputSchema } from '../../contracts/item-input.ts';
import {
  itemPlacesFormSchema,
  LOCATION_MAX_DEPTH,
  locationNameSchema,
  MAX_LOCATIONS_PER_INVENTORY,
  MAX_TAGS_PER_INVENTORY,
  nameKey,
  PATH_SEPARATOR,
  tagListSchema,
} from '../../contracts/places.ts';
import { plural } from '../../plural.ts';
import { lockInventory } from '../db/transaction.ts';
import type { Database } from '../db/types.ts';
import { asChange, changeBy, changeMadeIn } from '../history/record.ts';
import { checkAccess, type Caller, type Denied, type Need } from '../inventories/access.ts';
import { listLocationsForMember } from '../items/locations.ts';
import { ensureTags, TOO_MANY_TAGS_MESSAGE } from '../items/tags.ts';
import { sha256Hex } from '../sha256.ts';
import { unprotectedText } from './format.ts';
import type { CsvTable } from './read.ts';

/**
 * CSV import (SPEC "Spreadsheets and bulk changes"): what a file would do to an inventory —
 * rows to add, rows to update, locations and tags to make, every problem — worked out from
 * the file and the inventory as it is, and then done in one transaction that is one change
 * (and so one undo). The plan is made again inside that transaction, so what is applied is
 * what the inventory holds then; a page compares it with the preview its user saw.
 */
type Db = Kysely<Database>;

/** Headers people give these columns, compared lower case with `_` and `-` as spaces. */
const COLUMN_NAMES: Readonly<Record<CsvColumn, readonly string[]>> = {
  id: ['id', 'item id'],
  name: ['name', 'item', 'item name', 'title', 'product'],
  amount: ['amount', 'qty', 'quantity', 'count', 'stock', 'in stock', 'on hand'],
  description: ['description', 'desc', 'notes', 'note', 'details', 'comment', 'comments'],
  location: ['location', 'place', 'where', 'storage', 'location path'],
  tags: ['tags', 'tag', 'labels', 'label', 'categories', 'category'],
  min_amount: ['min amount', 'min', 'minimum', 'min qty', 'minimum amount', 'reorder level'],
};

const headerKey = (header: string) =>
  header
    .replace(/^\uFEFF/, '')
    .trim()
    .toLowerCase()
    .replace(/[\s_-]+/g, ' ');

const FIELD_OF_HEADER = new Map<string, CsvColumn>(
  CSV_COLUMNS.flatMap((field) => COLUMN_NAMES[field].map((name) => [name, field] as const)),
);

const KNOWN_COLUMNS = `${CSV_COLUMNS.join(', ')} (or qty, quantity, notes, tag, minimum, …)`;

/** An item's values as a row of the file gives them. */
interface ItemValues {
  name: string;
  amount: number;
  description: string;
  /** The location's names from the top; null for none. */
  location: string[] | null;
  tags: string[];
  minAmount: number | null;
}

type ChangedField = ImportReportJson['update'][number]['changes'][number];

export interface ImportPlan {
  encoding: CsvTable['encoding'];
  delimiter: CsvTable['delimiter'];
  columns: { header: string; field: CsvColumn }[];
  rows: number;
  add: { row: number; values: ItemValues }[];
  update: { row: number; id: number; name: string; values: ItemValues; changes: ChangedField[] }[];
  unchanged: number;
  /** Paths of the locations to make, each after its parent. */
  newLocations: string[][];
  newTags: string[];
  notices: string[];
  problems: ImportProblemJson[];
}

/** An item of this inventory, as the import compares it. */
interface CurrentItem {
  id: number;
  name: string;
  amount: number;
  description: string;
  locationId: number | null;
  minAmount: number | null;
  tags: string[];
  inTrash: boolean;
}

const pathKey = (names: readonly string[]) => names.map(nameKey).join('\u0000');
const pathText = (names: readonly string[] | null) => (names ? names.join(PATH_SEPARATOR) : null);
const tagsKey = (names: readonly string[]) => names.map(nameKey).sort().join('\u0000');

const ENCODING_NOTICE: Partial<Record<CsvTable['encoding'], string>> = {
  'windows-1252':
    'The file is not UTF-8, so it was read as Windows-1252 (what Excel saves as "CSV" on Western Windows). Check that accented letters look right below; if not, save it as "CSV UTF-8" and upload it again.',
  'utf-16le': 'The file was read as UTF-16 (what Excel saves as "Unicode Text").',
  'utf-16be': 'The file was read as UTF-16 (big-endian).',
};

/** The items of `inventoryId` with these ids, trashed ones included. */
async function currentItems(
  db: Db,
  inventoryId: number,
  ids: readonly number[],
): Promise<Map<number, CurrentItem>> {
  if (ids.length === 0) return new Map();
  const rows = await db
    .selectFrom('stored_items as s')
    .select([
      's.id',
      's.name',
      's.amount',
      's.description',
      's.location_id',
      's.min_amount',
      's.deleted_at',
      sql<string[]>`coalesce((select array_agg(t.name order by t.name_key) from item_tags it
        join tags t on t.id = it.tag_id where it.item_id = s.id), '{}')`.as('tags'),
    ])
    .where('s.inventory_id', '=', inventoryId)
    .where('s.id', '=', sql<number>`any(${sql.val(ids)}::int[])`)
    .execute();
  return new Map(
    rows.map((row) => [
      row.id,
      {
        id: row.id,
        name: row.name,
        amount: row.amount,
        description: row.description,
        locationId: row.location_id,
        minAmount: row.min_amount,
        tags: row.tags,
        inTrash: row.deleted_at !== null,
      },
    ]),
  );
}

/** The names of a location path's levels, or the message about the first that cannot be. */
function parseLocationPath(text: string): string[] | null | string {
  const trimmed = text.trim();
  if (trimmed === '') return null;
  const names: string[] = [];
  for (const part of trimmed.split('/')) {
    const parsed = locationNameSchema.safeParse(part);
    if (!parsed.success) return parsed.error.issues[0]!.message;
    names.push(parsed.data);
  }
  if (names.length > LOCATION_MAX_DEPTH) {
    return `A location path has at most ${LOCATION_MAX_DEPTH} levels (this one has ${names.length}).`;
  }
  return names;
}

/**
 * What the file would do to the inventory, for a caller allowed `need` there. Reads only;
 * in the transaction that applies it, under the inventory's lock.
 */
export async function planImportForMember(
  db: Db,
  caller: Caller,
  need: Need,
  inventoryId: number,
  table: CsvTable,
): Promise<{ status: 'planned'; plan: ImportPlan } | Denied> {
  const access = await checkAccess(db, caller, need, inventoryId);
  if (access.status !== 'allowed') return access;
  const notice = ENCODING_NOTICE[table.encoding];
  const plan: ImportPlan = {
    encoding: table.encoding,
    delimiter: table.delimiter,
    columns: [],
    rows: 0,
    add: [],
    update: [],
    unchanged: 0,
    newLocations: [],
    newTags: [],
    notices: notice ? [notice] : [],
    problems: [],
  };
  const problem = (
    row: number | null,
    column: string | null,
    message: string,
    value: string | null,
  ) => plan.problems.push({ row, column, message, value });

  // The header: every column known, none twice; a column without a header only if empty.
  const indexOf = new Map<CsvColumn, number>();
  table.header.forEach((header, index) => {
    const key = headerKey(header);
    if (key === '') {
      const used = table.records.find((record) => (record.cells[index] ?? '').trim() !== '');
      if (used) {
        problem(
          used.row,
          `Column ${index + 1}`,
          'This column has values but no header: name it in the first row, or delete it.',
          used.cells[index]!,
        );
      }
      return;
    }
    const field = FIELD_OF_HEADER.get(key);
    if (field === undefined) {
      problem(null, header, `Unknown column. The columns are ${KNOWN_COLUMNS}.`, null);
      return;
    }
    const earlier = indexOf.get(field);
    if (earlier !== undefined) {
      problem(
        null,
        header,
        `This column and “${table.header[earlier]}” both mean ${field}: keep one of them.`,
        null,
      );
      return;
    }
    indexOf.set(field, index);
    plan.columns.push({ header, field });
  });
  if (plan.problems.length === 0 && !indexOf.has('name') && !indexOf.has('id')) {
    problem(
      null,
      null,
      `The first row must name the columns: ${KNOWN_COLUMNS}. New items need at least name and amount.`,
      null,
    );
  }
  if (plan.problems.length > 0) return { status: 'planned', plan };

  const records = table.records.filter((record) => record.cells.some((cell) => cell.trim() !== ''));
  plan.rows = records.length;
  if (records.length > IMPORT_MAX_ROWS) {
    problem(
      null,
      null,
      `The file has ${records.length.toLocaleString('en-US')} rows of items; an import takes at most ${IMPORT_MAX_ROWS.toLocaleString('en-US')}. Split it into smaller files.`,
      null,
    );
    return { status: 'planned', plan };
  }
  const headerOf = (field: CsvColumn) => table.header[indexOf.get(field)!]!;

  // Which rows update an item: an id of this inventory, once.
  const idCells = indexOf.has('id') ? records.map((r) => r.cells[indexOf.get('id')!] ?? '') : [];
  const ids = idCells.flatMap((cell) => {
    const id = /^\s*\d{1,10}\s*$/.test(cell) ? Number(cell) : NaN;
    return id >= 1 && id <= 2_147_483_647 ? [id] : [];
  });
  const current = await currentItems(db, inventoryId, [...new Set(ids)]);
  const locations = await listLocationsForMember(db, caller, 'read', inventoryId);
  const locationIds = new Map(locations.map((location) => [pathKey(location.path), location.id]));
  const locationPaths = new Map(locations.map((location) => [location.id, location.path]));
  const tagRows = await db
    .selectFrom('tags')
    .select(['name', 'name_key'])
    .where('inventory_id', '=', inventoryId)
    .execute();
  const tagNames = new Map(tagRows.map((tag) => [tag.name_key, tag.name]));
  const rowOfId = new Map<number, number>();
  const newLocationKeys = new Set<string>();
  const newTagKeys = new Set<string>();

  for (const record of records) {
    const cellOf = (field: CsvColumn) => {
      const index = indexOf.get(field);
      return index === undefined ? undefined : (record.cells[index] ?? '');
    };
    const before = plan.problems.length;
    const rowProblem = (field: CsvColumn | null, message: string, value: string | null) =>
      problem(record.row, field === null ? null : headerOf(field), message, value);
    if (record.cells.slice(table.header.length).some((cell) => cell.trim() !== '')) {
      rowProblem(null, 'This row has more cells than the header has columns.', null);
    }

    // The item it updates, if any.
    const idCell = cellOf('id')?.trim() ?? '';
    let item: CurrentItem | undefined;
    if (idCell !== '') {
      const id = /^\d{1,10}$/.test(idCell) ? Number(idCell) : NaN;
      item = current.get(id);
      if (item === undefined) {
        rowProblem(
          'id',
          'There is no item with this id in this inventory. Leave the id empty to add the row as a new item.',
          idCell,
        );
      } else if (item.inTrash) {
        rowProblem('id', 'This item is in the trash: restore it first.', idCell);
        item = undefined;
      } else if (rowOfId.has(id)) {
        rowProblem('id', `Row ${rowOfId.get(id)} updates this item already.`, idCell);
        item = undefined;
      } else {
        rowOfId.set(id, record.row);
      }
      if (item === undefined) continue;
    }

    // The item's own fields: a column the file does not have leaves an item as it is.
    const text = (field: 'name' | 'description', kept: string | undefined) => {
      const cell = cellOf(field);
      return cell === undefined ? kept : unprotectedText(cell);
    };
    const fields = itemInputSchema.safeParse({
      name: text('name', item?.name) ?? '',
      amount: cellOf('amount') ?? (item ? String(item.amount) : ''),
      description: text('description', item?.description) ?? '',
    });
    if (!fields.success) {
      for (const issue of fields.error.issues) {
        const field = issue.path[0] as 'name' | 'amount' | 'description';
        if (indexOf.has(field)) rowProblem(field, issue.message, cellOf(field) ?? null);
        else {
          problem(
            record.row,
            null,
            `The file has no ${field} column, and a new item needs one.`,
            null,
          );
        }
      }
    }

    const locationCell = cellOf('location');
    let location = item?.locationId == null ? null : (locationPaths.get(item.locationId) ?? null);
    if (locationCell !== undefined) {
      const parsed = parseLocationPath(unprotectedText(locationCell));
      if (typeof parsed === 'string') rowProblem('location', parsed, locationCell);
      else location = parsed;
    }

    const tagsCell = cellOf('tags');
    let tags = item?.tags ?? [];
    if (tagsCell !== undefined) {
      const names = unprotectedText(tagsCell)
        .split(',')
        .map((name) => name.trim())
        .filter((name) => name !== '');
      const parsed = tagListSchema.safeParse(names);
      if (parsed.success) tags = parsed.data;
      else rowProblem('tags', parsed.error.issues[0]!.message, tagsCell);
    }

    const minCell = cellOf('min_amount');
    let minAmount = item?.minAmount ?? null;
    if (minCell !== undefined) {
      const parsed = itemPlacesFormSchema.shape.min_amount.safeParse(minCell);
      if (parsed.success) minAmount = parsed.data ?? null;
      else rowProblem('min_amount', parsed.error.issues[0]!.message, minCell);
    }

    if (plan.problems.length > before || !fields.success) continue;
    const values: ItemValues = { ...fields.data, location, tags, minAmount };

    // What it makes: each level of a new path, each new tag (the first spelling kept).
    for (let depth = 1; location && depth <= location.length; depth += 1) {
      const key = pathKey(location.slice(0, depth));
      if (!locationIds.has(key) && !newLocationKeys.has(key)) {
        newLocationKeys.add(key);
        plan.newLocations.push(location.slice(0, depth));
      }
    }
    for (const tag of tags) {
      const key = nameKey(tag);
      if (!tagNames.has(key) && !newTagKeys.has(key)) {
        newTagKeys.add(key);
        plan.newTags.push(tag);
      }
    }

    if (!item) {
      plan.add.push({ row: record.row, values });
      continue;
    }
    const changes: ChangedField[] = [];
    const was = item;
    const compare = <T>(field: ChangedField['field'], a: T, b: T, same: boolean) => {
      if (!same)
        changes.push({
          field,
          before: a as ChangedField['before'],
          after: b as ChangedField['after'],
        });
    };
    const oldPath = was.locationId === null ? null : (locationPaths.get(was.locationId) ?? null);
    compare('name', was.name, values.name, was.name === values.name);
    compare('amount', was.amount, values.amount, was.amount === values.amount);
    compare(
      'description',
      was.description,
      values.description,
      was.description === values.description,
    );
    compare(
      'location',
      pathText(oldPath),
      pathText(location),
      (oldPath ? pathKey(oldPath) : null) === (location ? pathKey(location) : null),
    );
    compare('tags', was.tags, tags, tagsKey(was.tags) === tagsKey(tags));
    compare('min_amount', was.minAmount, minAmount, was.minAmount === minAmount);
    if (changes.length === 0) plan.unchanged += 1;
    else plan.update.push({ row: record.row, id: was.id, name: was.name, values, changes });
  }

  if (locations.length + plan.newLocations.length > MAX_LOCATIONS_PER_INVENTORY) {
    problem(
      null,
      indexOf.has('location') ? headerOf('location') : null,
      `The import would make ${plural(plan.newLocations.length, 'location')}, and an inventory has at most ${MAX_LOCATIONS_PER_INVENTORY}.`,
      null,
    );
  }
  if (tagRows.length + plan.newTags.length > MAX_TAGS_PER_INVENTORY) {
    problem(null, indexOf.has('tags') ? headerOf('tags') : null, TOO_MANY_TAGS_MESSAGE, null);
  }
  return { status: 'planned', plan };
}

/** The plan as the API reports it (and as the preview's digest covers it). */
export function importReportJson(plan: ImportPlan): ImportReportJson {
  return {
    encoding: plan.encoding,
    delimiter: plan.delimiter,
    columns: plan.columns,
    rows: plan.rows,
    unchanged: plan.unchanged,
    add: plan.add.map(({ row, values }) => ({
      row,
      name: values.name,
      amount: values.amount,
      description: values.description,
      location: pathText(values.location),
      tags: values.tags,
      min_amount: values.minAmount,
    })),
    update: plan.update.map(({ row, id, name, changes }) => ({ row, id, name, changes })),
    new_locations: plan.newLocations.map((path) => path.join(PATH_SEPARATOR)),
    new_tags: plan.newTags,
    notices: plan.notices,
    problems: plan.problems,
  };
}

/** What the preview showed, in a few characters: a confirmation applies only the same plan. */
export const planDigest = (plan: ImportPlan): string =>
  sha256Hex(JSON.stringify(importReportJson(plan))).slice(0, 32);

export type ImportOutcome =
  | { status: 'imported'; changeId: number | null; plan: ImportPlan }
  /** The file has problems: nothing was written. */
  | { status: 'refused'; plan: ImportPlan }
  /** The inventory changed since the preview, so the import would not do what it showed. */
  | { status: 'changed'; plan: ImportPlan }
  | Denied;

/** Thrown to roll back when an item changed between the plan and its write. */
class ChangedMeanwhile extends Error {}

/** Rows per statement: the most values one insert or update carries. */
const WRITE_BATCH = 1000;

function batches<T>(list: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let start = 0; start < list.length; start += WRITE_BATCH) {
    out.push(list.slice(start, start + WRITE_BATCH));
  }
  return out;
}

/**
 * Applies the file to the inventory: all of it as one change (via `import`), or nothing.
 * With `digest` (the preview's), only when the plan is still the one the preview showed.
 */
export async function importCsvForMember(
  db: Db,
  caller: Caller,
  need: Need,
  inventoryId: number,
  table: CsvTable,
  digest?: string,
): Promise<ImportOutcome> {
  const context = { ...changeBy(caller, 'import'), via: 'import' as const };
  try {
    return await asChange(db, context, async (trx) => {
      const access = await checkAccess(trx, caller, need, inventoryId);
      if (access.status !== 'allowed') return access;
      await lockInventory(trx, inventoryId);
      const planned = await planImportForMember(trx, caller, need, inventoryId, table);
      if (planned.status !== 'planned') return planned;
      const { plan } = planned;
      if (plan.problems.length > 0) return { status: 'refused', plan };
      if (digest !== undefined && planDigest(plan) !== digest) return { status: 'changed', plan };
      await writePlan(trx, caller, inventoryId, plan);
      return { status: 'imported', changeId: await changeMadeIn(trx, inventoryId), plan };
    });
  } catch (error) {
    if (!(error instanceof ChangedMeanwhile)) throw error;
    const planned = await planImportForMember(db, caller, need, inventoryId, table);
    return planned.status === 'planned' ? { status: 'changed', plan: planned.plan } : planned;
  }
}

async function writePlan(
  trx: Transaction<Database>,
  caller: Caller,
  inventoryId: number,
  plan: ImportPlan,
): Promise<void> {
  // Locations, each after its parent (the plan lists them so).
  const locationIds = new Map(
    (await listLocationsForMember(trx, caller, 'read', inventoryId)).map((location) => [
      pathKey(location.path),
      location.id,
    ]),
  );
  for (const path of plan.newLocations) {
    const name = path[path.length - 1]!;
    const parentId = path.length === 1 ? null : locationIds.get(pathKey(path.slice(0, -1)))!;
    const { id } = await trx
      .insertInto('locations')
      .values({ inventory_id: inventoryId, parent_id: parentId, name, name_key: nameKey(name) })
      .returning('id')
      .executeTakeFirstOrThrow();
    locationIds.set(pathKey(path), id);
  }
  const locationIdOf = (path: string[] | null) => (path ? locationIds.get(pathKey(path))! : null);

  if (plan.newTags.length > 0) {
    const made = await ensureTags(trx, inventoryId, plan.newTags);
    if (made.status !== 'ok') throw new ChangedMeanwhile();
  }
  const tagIds = new Map(
    (
      await trx
        .selectFrom('tags')
        .select(['id', 'name_key'])
        .where('inventory_id', '=', inventoryId)
        .execute()
    ).map((tag) => [tag.name_key, tag.id]),
  );

  // Each item's tags as (item, tag) pairs, for the items whose tags the import sets.
  const links: { itemId: number; tagIds: number[] }[] = [];
  const tagIdsOf = (names: readonly string[]) => names.map((name) => tagIds.get(nameKey(name))!);

  for (const batch of batches(plan.add)) {
    const inserted = await trx
      .insertInto('items')
      .values(
        batch.map(({ values }) => ({
          inventory_id: inventoryId,
          created_by: caller.userId,
          updated_by: caller.userId,
          name: values.name,
          amount: values.amount,
          description: values.description,
          location_id: locationIdOf(values.location),
          min_amount: values.minAmount,
        })),
      )
      .returning('id')
      .execute();
    // Rows come back in the order of the values.
    inserted.forEach(({ id }, index) => {
      const { tags } = batch[index]!.values;
      if (tags.length > 0) links.push({ itemId: id, tagIds: tagIdsOf(tags) });
    });
  }

  for (const batch of batches(plan.update)) {
    const column = <T>(pick: (values: ItemValues) => T) => batch.map((entry) => pick(entry.values));
    const { numAffectedRows } = await sql`update stored_items as s
      set name = v.name, amount = v.amount, description = v.description,
        location_id = v.location_id, min_amount = v.min_amount,
        updated_at = now(), updated_by = ${caller.userId}, version = s.version + 1
      from unnest(${sql.val(batch.map((entry) => entry.id))}::int[],
          ${sql.val(column((v) => v.name))}::text[],
          ${sql.val(column((v) => v.amount))}::int[],
          ${sql.val(column((v) => v.description))}::text[],
          ${sql.val(column((v) => locationIdOf(v.location)))}::int[],
          ${sql.val(column((v) => v.minAmount))}::int[])
        as v(id, name, amount, description, location_id, min_amount)
      where s.id = v.id and s.inventory_id = ${inventoryId} and s.deleted_at is null`.execute(trx);
    if (Number(numAffectedRows) !== batch.length) throw new ChangedMeanwhile();
    for (const entry of batch) {
      if (entry.changes.some((change) => change.field === 'tags')) {
        links.push({ itemId: entry.id, tagIds: tagIdsOf(entry.values.tags) });
      }
    }
  }

  for (const batch of batches(links)) {
    const items = batch.flatMap((link) => link.tagIds.map(() => link.itemId));
    const tags = batch.flatMap((link) => link.tagIds);
    const itemIds = batch.map((link) => link.itemId);
    await sql`delete from item_tags t
      where t.item_id = any(${sql.val(itemIds)}::int[])
        and not exists (select from unnest(${sql.val(items)}::int[], ${sql.val(tags)}::int[])
          as p(item_id, tag_id) where p.item_id = t.item_id and p.tag_id = t.tag_id)`.execute(trx);
    if (items.length > 0) {
      await sql`insert into item_tags (item_id, tag_id)
        select * from unnest(${sql.val(items)}::int[], ${sql.val(tags)}::int[])
        on conflict do nothing`.execute(trx);
    }
  }
}

/** The plan in a sentence, for the notice after it is applied. */
export function importSummary(plan: ImportPlan): string {
  const parts = [
    plan.add.length > 0 ? `${plural(plan.add.length, 'item')} added` : undefined,
    plan.update.length > 0 ? `${plural(plan.update.length, 'item')} updated` : undefined,
  ].filter((part) => part !== undefined);
  return parts.length === 0 ? 'nothing to change' : parts.join(', ');
}
