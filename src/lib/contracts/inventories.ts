import { z } from 'zod';
import { firstUnstorableCharacter, unstorableCharacterMessage } from './item-input.ts';
import { MAX_ROW_ID } from './ids.ts';

/**
 * The inventories API's contract: names, roles, invite links, and what the API sends. The
 * server parses with these and the OpenAPI document is made from them.
 */

export const ROLES = ['owner', 'editor', 'viewer'] as const;
export type Role = (typeof ROLES)[number];

export const ROLE_LABELS: Readonly<Record<Role, string>> = {
  owner: 'Owner',
  editor: 'Editor',
  viewer: 'Viewer',
};

export const INVENTORY_NAME_MAX_LENGTH = 100;
/** The name registration, the migration and the Django import give a personal inventory. */
export const PERSONAL_INVENTORY_NAME = 'My items';

export const inventoryNameSchema = z
  .string({ error: 'This field is required.' })
  .transform((name) => name.trim())
  .superRefine((name, ctx) => {
    const unstorable = firstUnstorableCharacter(name);
    const length = Array.from(name).length;
    const message =
      name === ''
        ? 'This field is required.'
        : unstorable
          ? unstorableCharacterMessage(unstorable)
          : length > INVENTORY_NAME_MAX_LENGTH
            ? `Ensure this value has at most ${INVENTORY_NAME_MAX_LENGTH} characters (it has ${length}).`
            : undefined;
    if (message) ctx.addIssue({ code: 'custom', message });
  });

const roleMessage = `Choose one of the roles: ${ROLES.join(', ')}.`;
export const roleSchema = z.enum(ROLES, { error: roleMessage });

export const inventoryInputSchema = z.strictObject(
  { name: inventoryNameSchema },
  { error: 'Send an object with the field name.' },
);

export const memberInputSchema = z.strictObject(
  { role: roleSchema },
  { error: 'Send an object with the field role.' },
);

/** Invite links last at most this long. */
export const INVITE_MAX_DAYS = 30;
export const INVITE_DEFAULT_DAYS = 7;
export const INVITE_MAX_USES = 1000;

export const inventorySchema = z.strictObject({
  id: z.int().min(1).max(MAX_ROW_ID),
  name: z.string(),
  role: roleSchema,
  item_count: z.int().min(0),
});
export type InventoryJson = z.output<typeof inventorySchema>;

export const inventoryListSchema = z.strictObject({ inventories: z.array(inventorySchema) });

export const memberSchema = z.strictObject({
  user_id: z.int().min(1).max(MAX_ROW_ID),
  username: z.string(),
  role: roleSchema,
});
export type MemberJson = z.output<typeof memberSchema>;

export const memberListSchema = z.strictObject({ members: z.array(memberSchema) });
