import type * as z from 'zod/mini';

/**
 * The one way a refused input's problems are grouped for people: messages by field, in
 * order; those that belong to no field under `_form`. Forms, the API and the island all
 * show errors this way. (zod/mini's types: the island loads this too.)
 */
export const FORM_ERRORS = '_form';

/**
 * Grouped in a Map because the names of unknown fields come from the client: as keys of a
 * plain object, `toString` or `__proto__` would find what every object inherits.
 */
export function fieldErrors(error: z.core.$ZodError): Record<string, string[]> {
  const errors = new Map<string, string[]>();
  const add = (field: string, message: string) => {
    const messages = errors.get(field);
    if (messages) messages.push(message);
    else errors.set(field, [message]);
  };
  for (const issue of error.issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) add(key, 'This field is not allowed.');
      continue;
    }
    add(issue.path.length > 0 ? String(issue.path[0]) : FORM_ERRORS, issue.message);
  }
  return Object.fromEntries(errors);
}
