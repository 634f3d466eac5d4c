import type { Kysely } from 'kysely';
import type { User, Session } from 'lucia';
import type { Database } from '../db/types.ts';
import type { FormOutcome } from '../http/forms.ts';
import { parseRowId } from '../ids.ts';
import { changePassword, deleteAccount, signOutEverywhere } from './account-settings.ts';
import type { Auth } from './lucia.ts';
import { confirmSessionInDatabase } from './sessions.ts';
import { parseTokenForm } from './token-form.ts';
import { createApiToken, MAX_TOKENS_PER_USER, revokeApiTokenForUser } from './tokens.ts';

/**
 * The settings page's forms, told apart by their `action` field: what each one does, and
 * where the browser goes after. The page renders; this decides.
 */
const TOKEN_LIMIT_MESSAGE = `You have ${MAX_TOKENS_PER_USER} tokens, the most an account may keep. Revoke one you no longer use, then create the new one.`;

const WRONG_PASSWORDS = 'wrong passwords';

export async function settingsAction(
  db: Kysely<Database>,
  auth: Auth,
  caller: { user: User; session: Session; clientAddress: string },
  fields: Record<string, string>,
): Promise<FormOutcome> {
  const { user, session, clientAddress } = caller;
  switch (fields.action) {
    case 'change-password': {
      const outcome = await changePassword(db, auth, user.id, fields, clientAddress);
      if (outcome.status === 'invalid')
        return { kind: 'show', status: 400, errors: outcome.errors };
      if (outcome.status === 'throttled') {
        return {
          kind: 'throttled',
          retryAfterSeconds: outcome.retryAfterSeconds,
          what: WRONG_PASSWORDS,
        };
      }
      return {
        kind: 'redirect',
        to: '/settings/',
        session: { token: outcome.token, expiresAt: outcome.session.expiresAt },
        notice: outcome.tokensRevoked ? 'password-changed' : 'password-changed-tokens-kept',
      };
    }
    case 'sign-out-everywhere':
      await signOutEverywhere(db, auth, user.id);
      return { kind: 'redirect', to: '/login/', signOut: true, notice: 'signed-out-everywhere' };
    case 'delete-account': {
      const outcome = await deleteAccount(db, auth, user.id, fields, clientAddress);
      if (outcome.status === 'invalid')
        return { kind: 'show', status: 400, errors: outcome.errors };
      if (outcome.status === 'throttled') {
        return {
          kind: 'throttled',
          retryAfterSeconds: outcome.retryAfterSeconds,
          what: WRONG_PASSWORDS,
        };
      }
      if (outcome.status === 'sole-owner') {
        const names = outcome.inventories.map((inventory) => `“${inventory.name}”`).join(', ');
        return {
          kind: 'show',
          status: 409,
          failure: `Your account was not deleted: you are the only owner of ${names}, which other members use. Make one of them an owner on the inventory’s Members page, or delete the inventory, first.`,
        };
      }
      return { kind: 'redirect', to: '/login/', signOut: true, notice: 'account-deleted' };
    }
    case 'create-token': {
      const parsed = parseTokenForm(fields);
      if (!parsed.success) return { kind: 'show', status: 400, errors: parsed.errors };
      // A session signed out elsewhere a moment ago must not leave a token behind.
      await confirmSessionInDatabase(db, session.id);
      const outcome = await createApiToken(db, user.id, parsed.data);
      if (outcome.status === 'limit-reached') {
        return { kind: 'show', status: 400, errors: { name: [TOKEN_LIMIT_MESSAGE] } };
      }
      if (outcome.status === 'no-such-inventory') {
        return {
          kind: 'show',
          status: 400,
          errors: { inventory: ['Choose one of your inventories from the list.'] },
        };
      }
      return {
        kind: 'redirect',
        to: '/settings/#tokens',
        secret: { kind: 'token', value: outcome.token },
      };
    }
    case 'revoke-token': {
      const id = parseRowId(fields.token_id);
      if (id !== undefined) await revokeApiTokenForUser(db, user.id, id);
      return { kind: 'redirect', to: '/settings/#tokens', notice: 'token-revoked' };
    }
    default:
      return {
        kind: 'show',
        status: 400,
        failure: 'That form is not known here. Please try again.',
      };
  }
}
