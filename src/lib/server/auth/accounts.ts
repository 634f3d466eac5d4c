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
import { findUserForSignIn, insertUser, isUsernameKeyTaken, recordSignIn } from './users.ts';
import { USERNAME_TAKEN_MESSAGE, usernameKey } from './username.ts';

/** Django's message for a failed sign-in, the same whether or not the username exists. */
export const SIGN_IN_FAILED_MESSAGE = 'Sorry, incorrect username or password. Please try again.';

export type FormErrors = FieldErrors<string>;

export type RegistrationOutcome =
  | { status: 'created'; userId: number; username: string }
  | { status: 'invalid'; errors: FormErrors }
  | { status: 'throttled'; retryAfterSeconds: number };

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
  if (username !== undefined && (await isUsernameKeyTaken(db, usernameKey(username)))) {
    errors.username = [USERNAME_TAKEN_MESSAGE];
  }
  if (!parsed.success || Object.keys(errors).length > 0) return { status: 'invalid', errors };

  const passwordHash = await hashPassword(parsed.data.password, clientAddress);
  const userId = await insertUser(db, {
    username: parsed.data.username,
    usernameKey: usernameKey(parsed.data.username),
    passwordHash,
  });
  if (userId === null) return { status: 'invalid', errors: { username: [USERNAME_TAKEN_MESSAGE] } };
  return { status: 'created', userId, username: parsed.data.username };
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

  const user = await findUserForSignIn(db, key);
  const passwordMatches = await verifyPassword(user?.passwordHash ?? null, parsed.data.password, {
    client: clientAddress,
    atLeastMs: await signInVerificationFloorMs(db),
  });
  if (!user || !passwordMatches || !user.isActive) return { status: 'failed' };

  await clearAttempts(db, userKey);
  await refundAttempt(db, addressKey, SIGN_IN_POLICY);
  const signedInAt = new Date();
  // A hash kept from the Django app (PBKDF2, Django's Argon2 form) is replaced by an
  // Argon2id one now that the password is known to match.
  const passwordHash = needsRehash(user.passwordHash)
    ? await hashPassword(parsed.data.password, clientAddress)
    : undefined;
  await recordSignIn(db, user.id, { at: signedInAt, passwordHash });
  const { token, session } = await startSession(auth, user.id);
  return {
    status: 'signed-in',
    token,
    session,
    user: { id: user.id, username: user.username },
    signedInAt,
  };
}
