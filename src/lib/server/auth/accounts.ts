import type { Kysely } from 'kysely';
import type { Session, User } from 'lucia';
import type { Database } from '../db/types.ts';
import type { Auth } from './lucia.ts';
import {
  hashPassword,
  needsRehash,
  signInVerificationFloorMs,
  verifyPassword,
} from './passwords.ts';
import { parseLoginForm, parseRegistrationForm, type FieldErrors } from './registration.ts';
import { startSession } from './sessions.ts';
import {
  clearAttempts,
  refundAttempt,
  REGISTRATION_POLICY,
  SIGN_IN_POLICY,
  takeAttempt,
  throttleKeys,
} from './throttle.ts';
import { USERNAME_TAKEN_MESSAGE, usernameKey } from './username.ts';

/** Django's message for a failed sign-in, the same whether or not the username exists. */
export const SIGN_IN_FAILED_MESSAGE = 'Sorry, incorrect username or password. Please try again.';

export type FormErrors = FieldErrors<string>;

export type RegistrationOutcome =
  | { status: 'created'; userId: number; username: string }
  | { status: 'invalid'; errors: FormErrors }
  | { status: 'throttled'; retryAfterSeconds: number };

const UNIQUE_VIOLATION = '23505';

function isUniqueViolation(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === UNIQUE_VIOLATION;
}

async function usernameTaken(db: Kysely<Database>, key: string): Promise<boolean> {
  const row = await db
    .selectFrom('users')
    .select('id')
    .where('username_key', '=', key)
    .executeTakeFirst();
  return row !== undefined;
}

/**
 * Registration as Django's UserCreationForm does it, limited per client address. Every
 * attempt counts, valid or not, so the limit also bounds the hashing work one client can
 * cause. The unique index decides races: of two registrations for `Alice` and `alice` at
 * once, exactly one succeeds.
 */
export async function registerAccount(
  db: Kysely<Database>,
  form: Record<string, unknown>,
  clientAddress: string,
): Promise<RegistrationOutcome> {
  const attempt = await takeAttempt(
    db,
    [throttleKeys.registrationAddress(clientAddress)],
    REGISTRATION_POLICY,
  );
  if (!attempt.allowed)
    return { status: 'throttled', retryAfterSeconds: attempt.retryAfterSeconds };

  const parsed = parseRegistrationForm(form);
  const errors: FormErrors = parsed.success ? {} : { ...parsed.errors };
  const username = parsed.success ? parsed.data.username : undefined;
  if (username !== undefined && (await usernameTaken(db, usernameKey(username)))) {
    errors.username = [USERNAME_TAKEN_MESSAGE];
  }
  if (!parsed.success || Object.keys(errors).length > 0) return { status: 'invalid', errors };

  const passwordHash = await hashPassword(parsed.data.password, clientAddress);
  try {
    const row = await db
      .insertInto('users')
      .values({
        username: parsed.data.username,
        username_key: usernameKey(parsed.data.username),
        password_hash: passwordHash,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    return { status: 'created', userId: row.id, username: parsed.data.username };
  } catch (error) {
    if (!isUniqueViolation(error)) throw error;
    return { status: 'invalid', errors: { username: [USERNAME_TAKEN_MESSAGE] } };
  }
}

export type SignInOutcome =
  | { status: 'signed-in'; token: string; session: Session; user: User; signedInAt: Date }
  | { status: 'invalid'; errors: FormErrors }
  | { status: 'failed' }
  | { status: 'throttled'; retryAfterSeconds: number };

/**
 * Sign-in with the same work for every failure: an unknown or inactive user is verified
 * against a dummy hash, and every verification lasts as long as the slowest kind of stored
 * hash (see `signInVerificationFloorMs`), so neither the message nor the time tells whether
 * a name exists, or came from the Django import. Each attempt counts per username and per
 * client address before anything is verified; while either is blocked, nothing is verified
 * at all. Success clears the username's count, takes the attempt back from the address, and
 * starts a new session; the caller ends the session the request came with.
 */
export async function signIn(
  db: Kysely<Database>,
  auth: Auth,
  form: Record<string, unknown>,
  clientAddress: string,
): Promise<SignInOutcome> {
  const parsed = parseLoginForm(form);
  if (!parsed.success) return { status: 'invalid', errors: parsed.errors };

  const key = usernameKey(parsed.data.username);
  const userKey = throttleKeys.signInUser(key);
  const addressKey = throttleKeys.signInAddress(clientAddress);
  const attempt = await takeAttempt(db, [userKey, addressKey], SIGN_IN_POLICY);
  if (!attempt.allowed)
    return { status: 'throttled', retryAfterSeconds: attempt.retryAfterSeconds };

  const user = await db
    .selectFrom('users')
    .select(['id', 'username', 'password_hash', 'is_active'])
    .where('username_key', '=', key)
    .executeTakeFirst();
  const passwordMatches = await verifyPassword(user?.password_hash ?? null, parsed.data.password, {
    client: clientAddress,
    atLeastMs: await signInVerificationFloorMs(db),
  });
  if (!user || !passwordMatches || !user.is_active) return { status: 'failed' };

  await clearAttempts(db, userKey);
  await refundAttempt(db, addressKey, SIGN_IN_POLICY);
  const signedInAt = new Date();
  // A hash kept from the Django app (PBKDF2, Django's Argon2 form) is replaced by an
  // Argon2id one now that the password is known to match.
  const rehashed = needsRehash(user.password_hash)
    ? { password_hash: await hashPassword(parsed.data.password, clientAddress) }
    : {};
  await db
    .updateTable('users')
    .set({ last_login_at: signedInAt, ...rehashed })
    .where('id', '=', user.id)
    .execute();
  const { token, session } = await startSession(auth, user.id);
  return {
    status: 'signed-in',
    token,
    session,
    user: { id: user.id, username: user.username },
    signedInAt,
  };
}
