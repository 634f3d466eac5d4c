// zod/mini: the same schemas as classic zod in a fraction of the bytes, because this module
// also ships to the browser in the add-item island, within the page's JavaScript budget.
import * as z from 'zod/mini';

/**
 * The rules for an item's fields, shared by the server (forms, API, import) and the
 * add-item island, so both refuse exactly the same input with the same messages.
 */

export const NAME_MAX_LENGTH = 255;
export const DESCRIPTION_MAX_LENGTH = 10_000;
export const AMOUNT_MAX = 2_147_483_647;

export const REQUIRED_MESSAGE = 'This field is required.';
export const WHOLE_NUMBER_MESSAGE = 'Enter a whole number.';
export const AMOUNT_MIN_MESSAGE = 'Ensure this value is greater than or equal to 0.';
export const AMOUNT_MAX_MESSAGE = `Ensure this value is less than or equal to ${AMOUNT_MAX}.`;
/** Names the character, since control characters are invisible in the field. */
export const unstorableCharacterMessage = (character: string) =>
  `Remove the invisible control character ${character}: it cannot be stored or exported.`;

/**
 * Characters XML 1.0 cannot carry, and UTF-16 halves without their other half. Without the
 * `u` flag the pattern sees code units, so the look-arounds can tell a lone half from a pair.
 */
const UNSTORABLE =
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** The first character that cannot be stored, as `U+XXXX`, or undefined when there is none. */
export function firstUnstorableCharacter(text: string): string | undefined {
  const match = UNSTORABLE.exec(text);
  if (!match) return undefined;
  return `U+${match[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}`;
}

/** CR LF (what browsers send from a text area) and lone CR become LF. */
export function normalizeLineBreaks(text: string): string {
  return text.replace(/\r\n?/g, '\n');
}

/** Length in characters (code points), as PostgreSQL's char_length and Python's len count. */
export function characterCount(text: string): number {
  return Array.from(text).length;
}

const tooLong = (limit: number, actual: number) =>
  `Ensure this value has at most ${limit} characters (it has ${actual}).`;

/**
 * A text field. Each field is one transform of whatever arrived, checking the type itself,
 * rather than `z.string()` (or a union, a default) piped into it: the results and messages
 * are the same, and the browser's copy of zod needs fewer of its schema types.
 */
function text(limit: number, { required }: { required: boolean }) {
  return z.transform((raw: unknown, ctx) => {
    // An optional field left out is empty; anything else but a string is refused.
    if (raw === undefined && !required) return '';
    if (typeof raw !== 'string') {
      const message = required ? REQUIRED_MESSAGE : 'Enter text.';
      ctx.issues.push({ code: 'custom', message, input: raw });
      return '';
    }
    const normalized = normalizeLineBreaks(raw);
    const value = required ? normalized.trim() : normalized;
    const unstorable = firstUnstorableCharacter(value);
    const length = characterCount(value);
    const problem =
      required && value === ''
        ? REQUIRED_MESSAGE
        : unstorable
          ? unstorableCharacterMessage(unstorable)
          : length > limit
            ? tooLong(limit, length)
            : undefined;
    if (problem) ctx.issues.push({ code: 'custom', message: problem, input: raw });
    return value;
  });
}

/**
 * A whole number from 0 to 2147483647: a JSON integer, or the digits a form sends
 * (surrounding spaces and a sign allowed, as in Django's IntegerField). `1e3`, `10abc`,
 * `NaN`, `Infinity` and fractions are not whole numbers.
 */
const amount = z.transform((raw: unknown, ctx) => {
  // Anything but a number or a string (null, true, an object, a missing field) is not a
  // whole number either.
  const number =
    typeof raw === 'number' ? raw : typeof raw === 'string' ? parseWholeNumber(raw) : undefined;
  const problem =
    typeof raw === 'string' && raw.trim() === ''
      ? REQUIRED_MESSAGE
      : number === undefined || !Number.isInteger(number)
        ? WHOLE_NUMBER_MESSAGE
        : number < 0
          ? AMOUNT_MIN_MESSAGE
          : number > AMOUNT_MAX
            ? AMOUNT_MAX_MESSAGE
            : undefined;
  if (problem) ctx.issues.push({ code: 'custom', message: problem, input: raw });
  return number ?? 0;
});

function parseWholeNumber(value: string): number | undefined {
  const trimmed = value.trim();
  if (!/^[+-]?\d{1,30}$/.test(trimmed)) return undefined;
  return Number(trimmed);
}

const name = text(NAME_MAX_LENGTH, { required: true });
const description = text(DESCRIPTION_MAX_LENGTH, { required: false });
const notAnObject = { error: 'Send an object with the fields name, amount and description.' };

/** A new item, or a whole replacement. Unknown fields (`user`, `id`, …) are refused. */
export const itemInputSchema = z.strictObject({ name, amount, description }, notAnObject);

/**
 * A change to some fields of an item (absent fields stay as they are); at least one field.
 * Only the API uses it: building a schema has no side effects, and saying so lets the
 * bundler leave it out of the add-item island, which imports this module too.
 */
export const itemPatchSchema = /* @__PURE__ */ z
  .strictObject(
    { name: z.optional(name), amount: z.optional(amount), description: z.optional(description) },
    notAnObject,
  )
  .check(
    z.refine((patch) => Object.keys(patch).length > 0, {
      message: 'Send at least one field to change.',
    }),
  );

export type ItemInput = z.output<typeof itemInputSchema>;
export type ItemPatch = z.output<typeof itemPatchSchema>;
export type ItemField = keyof ItemInput;

// The island loads both in one chunk, naming what it takes (a bundler can then leave the
// rest of this module out, as it could not for a destructured Promise.all).
export { fieldErrors } from './field-errors.ts';

/** The item fields of a submitted form; a field the form left out reads as empty. */
export function itemFormInput(fields: Record<string, string>) {
  return {
    name: fields.name ?? '',
    amount: fields.amount ?? '',
    description: fields.description ?? '',
  };
}
