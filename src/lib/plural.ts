/**
 * Counts in English text, for reports and pages alike: digits grouped as `en-US` writes
 * them (`1,000,000`), and a noun that agrees with the count.
 */
export function formatNumber(value: number): string {
  return value.toLocaleString('en-US');
}

/** `1 item`, `2 items`, `1,000 Django hashes` (with `many` for an irregular plural). */
export function plural(count: number, one: string, many = `${one}s`): string {
  return `${formatNumber(count)} ${count === 1 ? one : many}`;
}
