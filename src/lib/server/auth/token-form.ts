import { z } from 'zod';
import type { TokenScope } from '../db/types.ts';
import { fieldErrors } from '../../contracts/field-errors.ts';
import { parseRowId } from '../ids.ts';
import { REQUIRED_MESSAGE } from './username.ts';

/** The "create token" form: a name, a scope and an optional expiry in days. */
const tokenFormSchema = z.object({
  name: z
    .string()
    .transform((value) => value.trim())
    .pipe(
      z
        .string()
        .min(1, REQUIRED_MESSAGE)
        .max(100, 'Ensure this value has at most 100 characters.')
        // eslint-disable-next-line no-control-regex -- control characters are what we refuse
        .refine((value) => !/[\u0000-\u001f\u007f]/.test(value), 'Remove the control characters.'),
    ),
  scope: z.enum(['read', 'read-write'], { error: 'Choose read only, or read and write.' }),
  expires_in_days: z.enum(['', '7', '30', '90', '365'], {
    error: 'Choose an expiry from the list.',
  }),
  // Empty: every inventory of the user's.
  inventory: z.union([
    z.literal(''),
    z.string().transform((raw, ctx) => {
      const id = parseRowId(raw);
      if (id === undefined)
        ctx.addIssue({ code: 'custom', message: 'Choose one of your inventories from the list.' });
      return id ?? 0;
    }),
  ]),
});

export type TokenFormResult =
  | {
      success: true;
      data: { name: string; scope: TokenScope; expiresAt: Date | null; inventoryId: number | null };
    }
  | { success: false; errors: Record<string, string[]> };

export function parseTokenForm(fields: Record<string, string>): TokenFormResult {
  const parsed = tokenFormSchema.safeParse({
    name: fields.name ?? '',
    scope: fields.scope ?? '',
    expires_in_days: fields.expires_in_days ?? '',
    inventory: fields.inventory ?? '',
  });
  if (!parsed.success) return { success: false, errors: fieldErrors(parsed.error) };
  const days = parsed.data.expires_in_days;
  return {
    success: true,
    data: {
      name: parsed.data.name,
      scope: parsed.data.scope,
      expiresAt: days === '' ? null : new Date(Date.now() + Number(days) * 86_400_000),
      inventoryId: parsed.data.inventory === '' ? null : parsed.data.inventory,
    },
  };
}
