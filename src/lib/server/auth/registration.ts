/**
 * Form input schemas for registration and sign-in, with Django's field-by-field behaviour:
 * registration follows `UserCreationForm` (Django 4.2/5.x), sign-in `AuthenticationForm`.
 * Uniqueness of the username is left to the database (see `USERNAME_TAKEN_MESSAGE`).
 */
import { z } from 'zod';
import { fieldErrors, FORM_ERRORS } from '../../contracts/field-errors.ts';
import {
  NULL_CHARACTERS_MESSAGE,
  REQUIRED_MESSAGE,
  USERNAME_MAX_LENGTH,
  checkUsername,
  codePointLength,
  maxLengthMessage,
  normalizeUsername,
  pyStrip,
} from './username.ts';
import {
  PASSWORD_MAX_LENGTH,
  PASSWORD_MISMATCH_MESSAGE,
  passwordTooLongMessage,
  validatePassword,
} from './password-rules.ts';

export type RegistrationField = 'username' | 'password1' | 'password2';
export type LoginField = 'username' | 'password';
export type FieldErrors<F extends string> = Partial<Record<F, string[]>>;

export interface RegistrationData {
  /** Stripped and NFKC-normalized; store it as typed, index it with `usernameKey`. */
  username: string;
  password: string;
}

export interface LoginData {
  /** Stripped and NFKC-normalized, as Django's `AuthenticationForm` hands it to `authenticate`. */
  username: string;
  password: string;
}

export type FormParseResult<T, F extends string> =
  { success: true; data: T } | { success: false; errors: FieldErrors<F> };

/**
 * A text field from `FormData`: a missing field (`null`/`undefined`) or a file where text was
 * expected reads as empty, so it gets "This field is required." like a missing POST key in Django.
 */
const formText = z.preprocess((value) => (typeof value === 'string' ? value : ''), z.string());

/**
 * Errors of a password `CharField(strip=False)`: required, then the length cap (alone, before
 * anything else looks at the value), then Django's `ProhibitNullCharactersValidator`.
 */
function passwordFieldErrors(value: string): string[] {
  if (value === '') return [REQUIRED_MESSAGE];
  const length = codePointLength(value);
  if (length > PASSWORD_MAX_LENGTH) return [passwordTooLongMessage(length)];
  if (value.includes('\0')) return [NULL_CHARACTERS_MESSAGE];
  return [];
}

/**
 * `UserCreationForm` validation without the database:
 * - `username`: see `checkUsername`.
 * - `password1`, `password2`: field errors as above.
 * - `clean_password2`: when both passwords are clean and differ, the mismatch goes on
 *   `password2` and, because `password2` then has no cleaned value, no strength rule runs.
 * - `_post_clean`: otherwise, when `password2` is clean, the password validators run on it
 *   against the username Django has put on the new user (the normalized one, or none when the
 *   username field itself was rejected), and every message goes on `password2`.
 */
function checkRegistration(input: {
  username: string;
  password1: string;
  password2: string;
}): FormParseResult<RegistrationData, RegistrationField> {
  const errors: FieldErrors<RegistrationField> = {};

  const username = checkUsername(input.username);
  if (!username.ok) errors.username = username.errors;

  const password1Errors = passwordFieldErrors(input.password1);
  if (password1Errors.length > 0) errors.password1 = password1Errors;

  let password2Errors = passwordFieldErrors(input.password2);
  if (password2Errors.length === 0) {
    if (password1Errors.length === 0 && input.password1 !== input.password2) {
      password2Errors = [PASSWORD_MISMATCH_MESSAGE];
    } else {
      password2Errors = validatePassword(input.password2, { username: username.username });
    }
  }
  if (password2Errors.length > 0) errors.password2 = password2Errors;

  if (username.ok && Object.keys(errors).length === 0) {
    return { success: true, data: { username: username.username, password: input.password2 } };
  }
  return { success: false, errors };
}

/**
 * `AuthenticationForm` fields: both required; the username is stripped and NFKC-normalized; the
 * password is taken as typed. No strength rules, but both are capped so a sign-in attempt can
 * never make the server normalize or hash megabytes. A username over 150 characters cannot
 * belong to an account, so saying so reveals nothing.
 */
function checkLogin(input: {
  username: string;
  password: string;
}): FormParseResult<LoginData, LoginField> {
  const errors: FieldErrors<LoginField> = {};

  const stripped = pyStrip(input.username);
  const rawLength = codePointLength(stripped);
  let username = '';
  if (stripped === '') {
    errors.username = [REQUIRED_MESSAGE];
  } else if (rawLength > USERNAME_MAX_LENGTH) {
    // Checked before normalizing, like Django's hardened `UsernameField.to_python`.
    errors.username = [maxLengthMessage(USERNAME_MAX_LENGTH, rawLength)];
  } else {
    username = normalizeUsername(stripped);
    const length = codePointLength(username);
    if (length > USERNAME_MAX_LENGTH) {
      errors.username = [maxLengthMessage(USERNAME_MAX_LENGTH, length)];
    } else if (username.includes('\0')) {
      errors.username = [NULL_CHARACTERS_MESSAGE];
    }
  }

  const passwordErrors = passwordFieldErrors(input.password);
  if (passwordErrors.length > 0) errors.password = passwordErrors;

  if (Object.keys(errors).length === 0) {
    return { success: true, data: { username, password: input.password } };
  }
  return { success: false, errors };
}

/** Copies a check's field errors onto zod's context, one issue per message, in order. */
function addFieldIssues<F extends string>(ctx: z.RefinementCtx, errors: FieldErrors<F>): void {
  for (const [field, messages] of Object.entries<string[] | undefined>(errors)) {
    for (const message of messages ?? []) {
      ctx.addIssue({ code: 'custom', path: [field], message });
    }
  }
}

/**
 * Registration form input `{ username, password1, password2 }` (e.g.
 * `Object.fromEntries(await request.formData())`). On success: `{ username, password }` with the
 * normalized username. On failure every message is an issue whose path is its field.
 */
export const registrationSchema = z
  .object({ username: formText, password1: formText, password2: formText })
  .transform((input, ctx): RegistrationData => {
    const result = checkRegistration(input);
    if (!result.success) {
      addFieldIssues(ctx, result.errors);
      return z.NEVER;
    }
    return result.data;
  });

/** Sign-in form input `{ username, password }`; see `checkLogin`. */
export const loginSchema = z
  .object({ username: formText, password: formText })
  .transform((input, ctx): LoginData => {
    const result = checkLogin(input);
    if (!result.success) {
      addFieldIssues(ctx, result.errors);
      return z.NEVER;
    }
    return result.data;
  });

/** Parses a registration form; errors come back keyed by field name. */
export function parseRegistrationForm(
  input: unknown,
): FormParseResult<RegistrationData, RegistrationField | typeof FORM_ERRORS> {
  const parsed = registrationSchema.safeParse(input);
  if (parsed.success) return { success: true, data: parsed.data };
  return { success: false, errors: fieldErrors(parsed.error) };
}

/** Parses a sign-in form; errors come back keyed by field name. */
export function parseLoginForm(
  input: unknown,
): FormParseResult<LoginData, LoginField | typeof FORM_ERRORS> {
  const parsed = loginSchema.safeParse(input);
  if (parsed.success) return { success: true, data: parsed.data };
  return { success: false, errors: fieldErrors(parsed.error) };
}
