import { stringify, type Options } from 'csv-stringify/sync';
import { CSV_COLUMNS } from '../../contracts/imports.ts';
import type { ListedItem } from '../items/items.ts';

/**
 * The CSV export's format (SPEC "Spreadsheets and bulk changes"): these columns, UTF-8 with a
 * byte-order mark (so Excel reads it as UTF-8), CRLF line ends, RFC 4180 quoting, and text
 * cells that a spreadsheet would run as a formula written with a leading `'`. csv-stringify
 * does the quoting; this module says what goes in each cell.
 */

export const CSV_CONTENT_TYPE = 'text/csv; charset=utf-8';

/** Tags in one cell are joined by this. */
const TAG_SEPARATOR = ', ';

/**
 * What a spreadsheet takes for the start of a formula (or, for tab and CR, what it drops
 * before one), after any `'` already there: such a cell is written with one more `'` in
 * front, and the import takes exactly one away, so that every text, `'=x` included, goes
 * out and back unchanged. csv-stringify's own `escape_formulas` also escapes the full-width
 * forms of these, which SPEC does not name, and would not give text starting with `'` its
 * way back; so the rule is applied here, once, both ways.
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

const OPTIONS: Options = {
  columns: [...CSV_COLUMNS],
  record_delimiter: 'windows',
  // RFC 4180: quote a cell holding the delimiter, a quote, CR or LF; double its quotes.
  // Without this, naming a record delimiter stops csv-stringify quoting a lone LF or CR.
  quote_record_delimiter: true,
  quote: '"',
  escape: '"',
  quoted: false,
  escape_formulas: false,
};

/** One item as a record: numbers as digits, text protected, no location or minimum empty. */
function record(item: ListedItem, locationPaths: ReadonlyMap<number, string>) {
  const location = item.locationId === null ? '' : (locationPaths.get(item.locationId) ?? '');
  return {
    id: String(item.id),
    name: protectedText(item.name),
    amount: String(item.amount),
    description: protectedText(item.description),
    location: protectedText(location),
    tags: protectedText(item.tags.join(TAG_SEPARATOR)),
    min_amount: item.minAmount === null ? '' : String(item.minAmount),
  };
}

/** The byte-order mark and the header line: what every export starts with. */
export function csvHeader(): string {
  return stringify([], { ...OPTIONS, header: true, bom: true });
}

/** Rows for `items`, each ending in CRLF. */
export function csvRows(
  items: readonly ListedItem[],
  locationPaths: ReadonlyMap<number, string>,
): string {
  if (items.length === 0) return '';
  return stringify(
    items.map((item) => record(item, locationPaths)),
    { ...OPTIONS, header: false },
  );
}
