import type { Kysely } from 'kysely';
import { INVITE_MAX_DAYS, INVITE_MAX_USES, roleSchema } from '../../contracts/inventories.ts';
import type { Database } from '../db/types.ts';
import type { FormOutcome } from '../http/forms.ts';
import { parseRowId } from '../ids.ts';
import type { Caller } from './access.ts';
import { createInviteLink, revokeInviteLink } from './invites.ts';
import { removeMember, setMemberRole } from './members.ts';

/**
 * The forms of an inventory's Members page, as outcomes for the form layer: add someone or
 * change a role, remove someone or leave, make or revoke an invite link. `self` is the
 * page's own path, where most of them lead back to.
 */

const LAST_OWNER =
  'An inventory always keeps an owner: make someone else an owner first, or delete the inventory.';

/** A whole number of at least `min` and at most `max` typed in a form, or undefined. */
function formNumber(raw: string | undefined, min: number, max: number): number | undefined {
  const value = /^\s*\d{1,7}\s*$/.test(raw ?? '') ? Number(raw) : NaN;
  return value >= min && value <= max ? value : undefined;
}

export async function membersAction(
  db: Kysely<Database>,
  caller: Caller & { username: string },
  inventoryId: number,
  self: string,
  fields: Record<string, string>,
): Promise<FormOutcome> {
  switch (fields.action) {
    case 'set-role': {
      const role = roleSchema.safeParse(fields.role);
      const username = (fields.username ?? '').trim();
      if (username === '' || !role.success) {
        return {
          kind: 'show',
          status: 400,
          errors: {
            ...(username === '' ? { username: ['This field is required.'] } : {}),
            ...(role.success ? {} : { role: [role.error.issues[0]!.message] }),
          },
        };
      }
      const outcome = await setMemberRole(db, caller, inventoryId, username, role.data);
      switch (outcome.status) {
        case 'added':
        case 'changed':
        case 'unchanged': {
          const about = outcome.status === 'added' ? 'member-added' : 'member-changed';
          return { kind: 'redirect', to: self, notice: { about, name: outcome.member.username } };
        }
        case 'no-such-user':
          return {
            kind: 'show',
            status: 404,
            errors: {
              username: [
                'Nobody has that username here. Check the spelling, or send them an invite link.',
              ],
            },
          };
        case 'last-owner':
          return { kind: 'show', status: 409, failure: LAST_OWNER };
        default:
          return { kind: 'denied', denied: outcome, need: 'own' };
      }
    }
    case 'remove': {
      const username = fields.username ?? '';
      const outcome = await removeMember(db, caller, inventoryId, username);
      switch (outcome.status) {
        case 'removed':
          return username.trim().toLowerCase() === caller.username.toLowerCase()
            ? { kind: 'redirect', to: '/inventories/', notice: 'left-inventory' }
            : { kind: 'redirect', to: self, notice: { about: 'member-removed', name: username } };
        case 'no-such-member':
          return { kind: 'show', status: 404, failure: `${username} is not a member here.` };
        case 'last-owner':
          return { kind: 'show', status: 409, failure: LAST_OWNER };
        default:
          return { kind: 'denied', denied: outcome, need: 'own' };
      }
    }
    case 'create-invite': {
      const role = roleSchema.safeParse(fields.role);
      const days = formNumber(fields.days, 1, INVITE_MAX_DAYS);
      const limit = (fields.max_uses ?? '').trim();
      const maxUses = limit === '' ? null : formNumber(limit, 1, INVITE_MAX_USES);
      if (!role.success || days === undefined || maxUses === undefined) {
        return {
          kind: 'show',
          status: 400,
          errors: {
            ...(role.success ? {} : { role: [role.error.issues[0]!.message] }),
            ...(days === undefined
              ? { days: [`Enter a whole number from 1 to ${INVITE_MAX_DAYS}.`] }
              : {}),
            ...(maxUses === undefined
              ? {
                  max_uses: [
                    `Leave it empty, or enter a whole number from 1 to ${INVITE_MAX_USES}.`,
                  ],
                }
              : {}),
          },
        };
      }
      const outcome = await createInviteLink(db, caller, inventoryId, {
        role: role.data,
        days,
        maxUses,
      });
      if (outcome.status !== 'created') return { kind: 'denied', denied: outcome, need: 'own' };
      return {
        kind: 'redirect',
        to: `${self}#invites`,
        secret: { kind: 'invite', value: outcome.secret },
      };
    }
    case 'revoke-invite': {
      const linkId = parseRowId(fields.link_id);
      const outcome =
        linkId === undefined
          ? ({ status: 'not-found' } as const)
          : await revokeInviteLink(db, caller, inventoryId, linkId);
      if (outcome.status === 'revoked') {
        return { kind: 'redirect', to: `${self}#invites`, notice: 'invite-revoked' };
      }
      if (outcome.status === 'forbidden') return { kind: 'denied', denied: outcome, need: 'own' };
      return { kind: 'show', status: 404, failure: 'That invite link no longer works.' };
    }
    default:
      return {
        kind: 'show',
        status: 400,
        failure: 'That form is not known here. Please try again.',
      };
  }
}
