import type { Kysely } from 'kysely';
import type { Session } from 'lucia';
import type { Database } from '../db/types.ts';
import type { Auth } from './lucia.ts';
import { PASSWORD_MISMATCH_MESSAGE, validatePassword } from './password-rules.ts';
import { hashPassword, verifyPassword } from './passwords.ts';
import { startSession } from './sessions.ts';
import { SessionEndedError } from './session-ended.ts';
import { clearAttempts, SIGN_IN_POLICY, takeAttempt, throttleKeys } from './throttle.ts';
import { revokeAllApiTokensForUser } from './tokens.ts';
import {
  deleteInventoriesOnlyUserIsIn,
  inventoriesOnlyOwnedBy,
} from '../inventories/inventories.ts';
import { deleteUser, findUserById, lockUser, setPasswordHash, type UserAccount } from './users.ts';
import { REQUIRED_MESSAGE } from './username.ts';

/**
 * What a signed-in user can do to their own account: change the password, end every
 * session, delete the account. Each asks for the current password; wrong guesses count
 * against the same limit as failed sign-ins, so a stolen session cannot be used to guess it.
 */
const WRONG_OLD_PASSWORD_MESSAGE =
  'Your old password was entered incorrectly. Please enter it again.';
const WRONG_PASSWORD_MESSAGE = 'Your password was entered incorrectly. Please enter it again.';
const CONFIRMATION_MESSAGE = 'Type your username exactly as shown to confirm.';

type Errors = Record<string, string[]>;

export type SettingsOutcome<T> =
  | ({ status: 'done' } & T)
  | { status: 'invalid'; errors: Errors }
  | { status: 'throttled'; retryAfterSeconds: number };

/** The account behind a session; a session whose account was deleted meanwhile has ended. */
async function accountOf(db: Kysely<Database>, userId: number): Promise<UserAccount> {
  const account = await findUserById(db, userId);
  if (!account) throw new SessionEndedError();
  return account;
}

/** Checks the current password within the sign-in limit; undefined when it is right. */
async function checkPassword(
  db: Kysely<Database>,
  account: UserAccount,
  password: string,
  client: string,
): Promise<{ retryAfterSeconds: number } | 'wrong' | undefined> {
  const key = throttleKeys.signInUser(account.usernameKey);
  const attempt = await takeAttempt(db, [key], SIGN_IN_POLICY);
  if (!attempt.allowed) return { retryAfterSeconds: attempt.retryAfterSeconds };
  if (!(await verifyPassword(account.passwordHash, password, { client }))) return 'wrong';
  await clearAttempts(db, key);
  return undefined;
}

/**
 * Django's PasswordChangeForm: the old password, then a new one that passes the
 * registration rules. Every other session ends (as Django's update_session_auth_hash
 * leaves only the current one); the current browser gets a new session. The API tokens are
 * revoked too, unless the form says to keep them (`keep_api_tokens`): a password is changed
 * most urgently when someone else had it, and could have made a token with it.
 */
export async function changePassword(
  db: Kysely<Database>,
  auth: Auth,
  userId: number,
  form: Record<string, string>,
  client: string,
): Promise<SettingsOutcome<{ token: string; session: Session; tokensRevoked: boolean }>> {
  const oldPassword = form.old_password ?? '';
  const password1 = form.new_password1 ?? '';
  const password2 = form.new_password2 ?? '';
  const account = await accountOf(db, userId);

  const errors: Errors = {};
  if (oldPassword === '') errors.old_password = [REQUIRED_MESSAGE];
  if (password1 === '') errors.new_password1 = [REQUIRED_MESSAGE];
  if (password2 === '') errors.new_password2 = [REQUIRED_MESSAGE];
  else if (password1 !== '' && password1 !== password2) {
    errors.new_password2 = [PASSWORD_MISMATCH_MESSAGE];
  } else if (password1 !== '') {
    const problems = validatePassword(password2, { username: account.username });
    if (problems.length > 0) errors.new_password2 = problems;
  }
  if (oldPassword !== '') {
    const check = await checkPassword(db, account, oldPassword, client);
    if (check === 'wrong') errors.old_password = [WRONG_OLD_PASSWORD_MESSAGE];
    else if (check) return { status: 'throttled', ...check };
  }
  if (Object.keys(errors).length > 0) return { status: 'invalid', errors };

  const passwordHash = await hashPassword(password2, client);
  await setPasswordHash(db, userId, passwordHash);
  const tokensRevoked = form.keep_api_tokens !== 'on';
  if (tokensRevoked) await revokeAllApiTokensForUser(db, userId);
  await auth.invalidateUserSessions(userId);
  return { status: 'done', tokensRevoked, ...(await startSession(auth, userId)) };
}

/** Ends every session of the user, the current one included, and revokes every API token. */
export async function signOutEverywhere(
  db: Kysely<Database>,
  auth: Auth,
  userId: number,
): Promise<void> {
  await revokeAllApiTokensForUser(db, userId);
  await auth.invalidateUserSessions(userId);
}

/**
 * Deletes the account after the password and a typed confirmation (the username). The
 * inventories nobody else is in go with it, items and all; sessions and tokens too (ON
 * DELETE CASCADE); the username is free again. Items the user added to inventories others
 * keep stay there. Refused while the user is the only owner of an inventory others are in.
 */
export async function deleteAccount(
  db: Kysely<Database>,
  auth: Auth,
  userId: number,
  form: Record<string, string>,
  client: string,
): Promise<
  | SettingsOutcome<object>
  /** The account is the only owner of inventories others are in: hand them over first. */
  | { status: 'sole-owner'; inventories: { id: number; name: string }[] }
> {
  const account = await accountOf(db, userId);
  const password = form.password ?? '';
  const confirmation = form.confirmation ?? '';
  const errors: Errors = {};
  if (confirmation !== account.username) errors.confirmation = [CONFIRMATION_MESSAGE];
  if (password === '') errors.password = [REQUIRED_MESSAGE];
  else {
    const check = await checkPassword(db, account, password, client);
    if (check === 'wrong') errors.password = [WRONG_PASSWORD_MESSAGE];
    else if (check) return { status: 'throttled', ...check };
  }
  if (Object.keys(errors).length > 0) return { status: 'invalid', errors };
  const deleted = await db.transaction().execute(async (trx) => {
    // Locked first, so that nobody joins or leaves an inventory between the check and the delete.
    await lockUser(trx, userId);
    const handOver = await inventoriesOnlyOwnedBy(trx, userId);
    if (handOver.length > 0) return { status: 'sole-owner' as const, inventories: handOver };
    await deleteInventoriesOnlyUserIsIn(trx, userId);
    await deleteUser(trx, userId);
    return undefined;
  });
  if (deleted) return deleted;
  // The rows went with the user; this also ends the sessions Lucia's adapter holds in memory.
  await auth.invalidateUserSessions(userId);
  return { status: 'done' };
}
