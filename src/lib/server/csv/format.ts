import { CSV_COLUMNS } from '../../contracts/imports.ts';
import type { ListedItem } from '../items/items.ts';

/**
 * The CSV export's format (SPEC "Spreadsheets and bulk changes"): these columns, UTF-8 with a
 * byte-order mark (so Excel reads it as UTF-8), CRLF line ends, RFC 4180 quoting, and text
 * cells that a spreadsheet would run as a formula written with a leading `'`. The writing is
 * this module's own: RFC 4180's quoting is one rule, and csv-stringify, general as it is,
 * cost 0.7–1.1 s of the 100,000-row export's 3 s budget (bench/RESULTS.md). Reading is
 * csv-parse's (read.ts), where the grammar's corners are.
 */

export const CSV_CONTENT_TYPE = 'text/csv; charset=utf-8';

/** Tags in one cell are joined by this. */
const TAG_SEPARATOR = ', ';

/**
 * What a spreadsheet takes for the start of a formula (or, for tab and CR, what it drops
 * before one), after any `'` already there: such a cell is written with one more `'` in
 * front, and the import takes exactly one away, so that every text, `'=x` included, goes
 * out and back unchanged (the usual escaping, one `'` before `=`, cannot tell `'=x` written
 * from `=x` protected).
 */
const FORMULA_START = /^'*[=+\-@\t\r]/;

/** A text cell as written: with a leading `'` when it would start a formula. */
function protectedText(text: string): string {
  return FORMULA_START.test(text) ? `'${text}` : text;
}

/** A text cell as read back: the `'` the export put before a formula start taken away. */
export function unprotectedText(cell: string): string {
  return cell.startsWith("'") && FORMULA_START.test(cell) ? cell.slice(1) : cell;
}

/** RFC 4180: a cell holding a comma, a quote, CR or LF is quoted, its quotes doubled. */
function cell(text: string): string {
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

const CRLF = '\r\n';

/** One item as a line: numbers as digits, text protected, no location or minimum empty. */
function line(item: ListedItem, locationPaths: ReadonlyMap<number, string>): string {
  const location = item.locationId === null ? '' : (locationPaths.get(item.locationId) ?? '');
  return (
    `${item.id},${cell(protectedText(item.name))},${item.amount},` +
    `${cell(protectedText(item.description))},${cell(protectedText(location))},` +
    `${cell(protectedText(item.tags.join(TAG_SEPARATOR)))},${item.minAmount ?? ''}${CRLF}`
  );
}

/** The byte-order mark and the header line: what every export starts with. */
export function csvHeader(): string {
  return `\uFEFF${CSV_COLUMNS.join(',')}${CRLF}`;
}

/** Rows for `items`, each ending in CRLF. */
export function csvRows(
  items: readonly ListedItem[],
  locationPaths: ReadonlyMap<number, string>,
): string {
  let text = '';
  for (const item of items) text += line(item, locationPaths);
  return text;
}
