import { MAX_ROW_ID } from '../contracts/ids.ts';

/**
 * Row ids as clients send them: in a URL, a form field or a JSON body. Every id column is a
 * PostgreSQL `integer` starting at 1, so anything else names no row. One parser for all of
 * them: `Number()` would also read `1e3`, `0x10`, ` 7 ` or `7.0`, and an id past the integer
 * range reaches the database as an error instead of a miss.
 */

/**
 * An id: decimal digits only (leading zeros allowed, as Django's `<int:id>` allows them), or
 * a JSON integer, from 1 to `MAX_ROW_ID`. Anything else is `undefined`.
 */
export function parseRowId(raw: unknown): number | undefined {
  if (typeof raw === 'number') {
    return Number.isInteger(raw) && raw >= 1 && raw <= MAX_ROW_ID ? raw : undefined;
  }
  if (typeof raw !== 'string' || !/^\d{1,30}$/.test(raw)) return undefined;
  const id = Number(raw);
  return id >= 1 && id <= MAX_ROW_ID ? id : undefined;
}
