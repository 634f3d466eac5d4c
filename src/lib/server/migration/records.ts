/**
 * Checks one dumpdata record and turns it into a row to import. Users keep their ids,
 * usernames, password hashes and active flags (plus `date_joined` and `last_login`, which an
 * export writes back); items keep their ids, owners and values, and their text goes through
 * the same rules as the forms. Every problem of a record is reported, not just the first.
 */
import { z } from 'zod';
import { fieldErrors } from '../../contracts/field-errors.ts';
import { itemInputSchema } from '../../contracts/item-input.ts';
import { djangoHashCostProblem } from '../auth/django-hashers.ts';
import { checkUsername, usernameKey } from '../auth/username.ts';
import { MAX_ROW_ID } from '../../contracts/ids.ts';

export const USER_MODEL = 'auth.user';
export const ITEM_MODEL = 'main.item';

/**
 * The id sequences move past the imported ids, so a pk near MAX_ROW_ID would leave no ids for new
 * users and items: every registration after it would fail. A pk above this is refused; the
 * 147 million ids left above it are room enough.
 */
const MAX_IMPORTED_ID = 2_000_000_000;

export interface ImportedUser {
  pk: number;
  username: string;
  usernameKey: string;
  passwordHash: string;
  isActive: boolean;
  dateJoined: Date | null;
  lastLogin: Date | null;
}

export interface ImportedItem {
  pk: number;
  userPk: number;
  name: string;
  amount: number;
  description: string;
}

export type CheckedRecord =
  | { model: typeof USER_MODEL; pk: number | null; user?: ImportedUser; problems: string[] }
  | {
      model: typeof ITEM_MODEL;
      pk: number | null;
      /** The owner's pk when that field is valid, even if others are not. */
      userPk: number | null;
      item?: ImportedItem;
      problems: string[];
    }
  /** Another model (a full `dumpdata` has sessions, permissions…): skipped. */
  | { model: 'other'; label: string; problems: [] }
  /** Not a dumpdata record at all. */
  | { model: null; pk: null; problems: string[] };

const envelopeSchema = z.object({
  model: z.string(),
  pk: z.unknown().optional(),
  fields: z.record(z.string(), z.unknown()),
});

const idSchema = z.number().int().min(1).max(MAX_ROW_ID);

function describe(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}

function checkPk(pk: unknown, problems: string[]): number | null {
  if (pk === undefined) {
    problems.push('it has no pk: run dumpdata without --natural-primary');
    return null;
  }
  if (!idSchema.safeParse(pk).success) {
    problems.push(`pk ${describe(pk)} is not a whole number from 1 to ${MAX_ROW_ID}`);
    return null;
  }
  // Still the record's pk: it is staged (as invalid), so the other records' checks see it.
  if ((pk as number) > MAX_IMPORTED_ID) {
    problems.push(
      `pk ${describe(pk)} is too large: ids above ${MAX_IMPORTED_ID.toLocaleString('en-US')} ` +
        'would leave no room for new users and items',
    );
  }
  return pk as number;
}

/** Message for a field that is missing or of the wrong JSON type. */
const fieldError = (expected: string) => (issue: { input: unknown }) =>
  issue.input === undefined ? 'missing' : `expected ${expected}, found ${describe(issue.input)}`;

const userFieldsSchema = z.object({
  username: z.string({ error: fieldError('text') }),
  password: z.string({ error: fieldError('the password hash as text') }),
  is_active: z.boolean({ error: fieldError('true or false') }),
});

/**
 * What Django's JSON encoder writes for a DateTimeField: ISO 8601 with milliseconds, `Z` for
 * UTC, no offset when USE_TZ is off (read as UTC then). Anything else is ignored, not refused:
 * these fields are kept only so an export back to Django carries them.
 */
const DJANGO_DATETIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})?$/;

function parseDjangoDateTime(value: unknown): Date | null {
  if (typeof value !== 'string' || !DJANGO_DATETIME.test(value)) return null;
  const zoned = /(Z|[+-]\d{2}:\d{2})$/.test(value) ? value : `${value}Z`;
  const date = new Date(zoned);
  return Number.isNaN(date.getTime()) ? null : date;
}

function checkUser(pk: number | null, fields: Record<string, unknown>, problems: string[]) {
  const parsed = userFieldsSchema.safeParse(fields);
  if (!parsed.success) {
    for (const issue of parsed.error.issues)
      problems.push(`${issue.path.join('.')}: ${issue.message}`);
  }
  let username: string | null = null;
  if (typeof fields.username === 'string') {
    const check = checkUsername(fields.username);
    if (check.ok) username = check.username;
    else problems.push(`username ${describe(fields.username)}: ${check.errors.join(' ')}`);
  }
  // Imported, such a hash would never match (sign-in will not spend that much on it), and
  // nothing would say why: refused here, with the reason.
  const costProblem = parsed.success ? djangoHashCostProblem(parsed.data.password) : null;
  if (costProblem !== null) problems.push(`password hash ${costProblem}`);
  if (!parsed.success || username === null || pk === null || problems.length > 0) return undefined;
  return {
    pk,
    username,
    usernameKey: usernameKey(username),
    passwordHash: parsed.data.password,
    isActive: parsed.data.is_active,
    dateJoined: parseDjangoDateTime(fields.date_joined),
    lastLogin: parseDjangoDateTime(fields.last_login),
  };
}

function checkOwner(user: unknown, problems: string[]): number | null {
  if (Array.isArray(user)) {
    problems.push(
      `user ${describe(user)} is a natural key: run dumpdata without --natural-foreign`,
    );
    return null;
  }
  if (user === undefined) {
    problems.push('user: missing');
    return null;
  }
  if (!idSchema.safeParse(user).success) {
    problems.push(`user ${describe(user)} is not the pk of a user`);
    return null;
  }
  return user as number;
}

function checkItem(pk: number | null, fields: Record<string, unknown>, problems: string[]) {
  const userPk = checkOwner(fields.user, problems);
  const parsed = itemInputSchema.safeParse({
    name: fields.name,
    amount: fields.amount,
    description: fields.description,
  });
  if (!parsed.success) {
    for (const [field, messages] of Object.entries(fieldErrors(parsed.error))) {
      for (const message of messages) problems.push(`${field}: ${message}`);
    }
  }
  const item =
    parsed.success && userPk !== null && pk !== null && problems.length === 0
      ? { pk, userPk, ...parsed.data }
      : undefined;
  return { userPk, item };
}

/** Checks one parsed record. */
export function checkRecord(value: unknown): CheckedRecord {
  const envelope = envelopeSchema.safeParse(value);
  if (!envelope.success) {
    return {
      model: null,
      pk: null,
      problems: ['not a dumpdata record: expected an object with "model", "pk" and "fields"'],
    };
  }
  const { model, pk: rawPk, fields } = envelope.data;
  if (model !== USER_MODEL && model !== ITEM_MODEL)
    return { model: 'other', label: model, problems: [] };

  const problems: string[] = [];
  const pk = checkPk(rawPk, problems);
  if (model === USER_MODEL) {
    const user = checkUser(pk, fields, problems);
    return { model, pk, problems, ...(user ? { user } : {}) };
  }
  const { userPk, item } = checkItem(pk, fields, problems);
  return { model, pk, userPk, problems, ...(item ? { item } : {}) };
}
