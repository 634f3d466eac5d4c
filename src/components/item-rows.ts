import { isLongText } from '../lib/format.ts';
import { escapeHtml as escape } from '../lib/html.ts';
import { formatNumber } from '../lib/plural.ts';
import type { Item } from '../lib/server/items/items.ts';
import { PATH_SEPARATOR } from '../lib/contracts/places.ts';
import { locationPath, type Location } from '../lib/server/items/locations.ts';
import { withFilter } from '../lib/paging.ts';
import { iconSymbolsHtml, iconUseSvg, type IconName } from './icons.ts';

/**
 * The rows of the items table (ItemTable.astro), written as one string: a page holds up to
 * a hundred rows of some thirty elements each, and as components they were most of the
 * page's render time (bench/RESULTS.md, issue 20). Every value goes through `escape`.
 *
 * Each row has its −/+ stepper, edit and delete controls as plain forms, and for editors the
 * checkbox of the bulk form. Each control's accessible name is its action followed by the
 * item's name, in a `data-name` span the page's script rewrites when the row changes.
 */
export interface ItemRowOptions {
  returnTo: string;
  /** False for a viewer: the amount without its stepper, and no edit or delete. */
  canEdit: boolean;
  /** The inventory's page, which the rows' location and tag links filter. */
  listUrl: URL;
}

/** The icons the rows draw, defined once ahead of the table by `rowIconSymbolsHtml`. */
const ROW_ICONS = [
  'pin',
  'minus',
  'plus',
  'warning',
  'edit',
  'trash',
] as const satisfies IconName[];
// Only those: an icon missing from the definitions would draw nothing.
const icon = (name: (typeof ROW_ICONS)[number], size: number) => iconUseSvg(name, size);
export const rowIconSymbolsHtml = (): string => iconSymbolsHtml(ROW_ICONS);

/** A deep place by its last two levels in the row ("… / Shelf 2 / Blue box"); all on hover. */
const shortPath = ({ path }: Location) =>
  path.length > 2 ? ['…', ...path.slice(-2)].join(PATH_SEPARATOR) : path.join(PATH_SEPARATOR);

/** A control's name for assistive technology: `before` (markup) and the item's name. */
const hiddenName = (name: string, before: string) =>
  `<span class="visually-hidden">${before}<span data-name>${name}</span></span>`;

/** The rows of `items`, each with its location (by `locationOf`) shown. */
export function itemRowsHtml(
  items: readonly Item[],
  locationOf: (item: Item) => Location | undefined,
  { returnTo, canEdit, listUrl }: ItemRowOptions,
  selectable = true,
): string {
  const page = {
    back: escape(`return_to=${encodeURIComponent(returnTo)}`),
    returnTo: escape(returnTo),
    plain: new URL(listUrl.pathname, listUrl),
    canEdit,
    selectable,
  };
  // Concatenated, not joined: join copies the rows into a new flat string, and the page
  // around them is copied (and encoded) once more when it is sent.
  let rows = '';
  for (const item of items) rows += itemRowHtml(item, locationOf(item), page);
  return rows;
}

/** An empty item, for the rows the page's script fills with items the add-item island stores. */
const BLANK_ITEM: Item = {
  id: 0,
  inventoryId: 0,
  name: '',
  amount: 0,
  description: '',
  createdBy: null,
  createdAt: new Date(0),
  updatedAt: new Date(0),
  version: 1,
  locationId: null,
  minAmount: null,
  low: false,
  tags: [],
};

/**
 * The row the page's script copies for a new item. Its checkbox would need script to carry
 * the new id (the page's script budget has no room), so it has none: that comes with a reload.
 */
export const templateRowHtml = (options: ItemRowOptions): string =>
  itemRowsHtml([BLANK_ITEM], () => undefined, options, false);

function itemRowHtml(
  item: Item,
  location: Location | undefined,
  {
    back,
    returnTo,
    plain,
    canEdit,
    selectable,
  }: { back: string; returnTo: string; plain: URL; canEdit: boolean; selectable: boolean },
): string {
  const name = escape(item.name);
  const amount = `<span class="num" data-cell="amount">${formatNumber(item.amount)}</span>`;
  const adjust = `/items/${item.id}/adjust?${back}`;

  const select = !canEdit
    ? ''
    : !selectable
      ? '<td class="select-cell"></td>'
      : // In the bulk form (BulkBar.astro): forms cannot nest in the row's own.
        `<td class="select-cell"><label class="select-item"><input type="checkbox" name="ids" value="${item.id}" form="bulk-form" data-select>${hiddenName(name, 'Select ')}</label></td>`;

  const place = location
    ? `<a class="item-place" href="${escape(withFilter(plain, 'location', String(location.id)))}" title="${escape(locationPath(location))}">${icon('pin', 14)}<span class="visually-hidden">In</span><span>${escape(shortPath(location))}</span></a>`
    : '';
  const tags = item.tags
    .map(
      (tag) =>
        `<a class="tag" href="${escape(withFilter(plain, 'tag', tag))}"><span class="visually-hidden">Tag</span><span>${escape(tag)}</span></a>`,
    )
    .join('');
  const meta = place || tags ? `<p class="item-meta">${place}${tags}</p>` : '';

  const stepper = canEdit
    ? `<div class="stepper"><form method="post" action="${adjust}" data-delta="-1"><input type="hidden" name="delta" value="-1"><button type="submit" class="quiet step"${item.amount === 0 ? ' disabled' : ''}>${icon('minus', 16)}${hiddenName(name, '−1 from ')}</button></form>${amount}<form method="post" action="${adjust}" data-delta="1"><input type="hidden" name="delta" value="1"><button type="submit" class="quiet step">${icon('plus', 16)}${hiddenName(name, '+1 to ')}</button></form></div>`
    : amount;
  const minimum =
    item.minAmount === null
      ? ''
      : `<span class="muted">(min <span data-min>${formatNumber(item.minAmount)}</span>)</span>`;
  const low = `<p class="low-mark" data-low${item.low ? '' : ' hidden'}>${icon('warning', 14)}Low ${minimum}</p>`;

  // No script: opening the (empty) details lifts the clamp through CSS.
  const description = `<td class="desc"><div class="clamp" data-cell="description">${escape(item.description)}</div><details class="more"${isLongText(item.description) ? '' : ' hidden'}><summary><span class="when-closed">Show all</span><span class="when-open">Show less</span>${hiddenName(name, ' of the description of ')}</summary></details></td>`;

  const actions = canEdit
    ? `<td class="row-actions-cell"><div class="row-actions"><a class="button quiet" href="/items/${item.id}/edit?${back}">${icon('edit', 16)}<span class="action-word">Edit</span>${hiddenName(name, ' ')}</a><form method="get" action="/items/${item.id}/delete" data-delete><input type="hidden" name="return_to" value="${returnTo}"><button type="submit" class="quiet destroy">${icon('trash', 16)}<span class="action-word">Delete</span>${hiddenName(name, ' ')}</button></form></div><p class="error" role="alert" data-row-error hidden></p></td>`
    : '';

  return `<tr data-item-id="${item.id}" data-amount="${item.amount}">${select}<td class="name-cell"><a data-cell="name" class="item-name" href="/items/${item.id}/">${name}</a>${meta}</td><td class="amount">${stepper}${low}</td>${description}${actions}</tr>`;
}
