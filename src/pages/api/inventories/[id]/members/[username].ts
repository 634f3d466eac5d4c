import { memberInputSchema } from '../../../../../lib/contracts/inventories.ts';
import {
  apiEndpoint,
  apiJson,
  notFound,
  validationError,
  deniedResponse,
} from '../../../../../lib/server/api/http.ts';
import {
  lastOwner,
  memberJson,
  memberLocation,
  NO_SUCH_INVENTORY,
  usernameFromPath,
} from '../../../../../lib/server/api/inventories.ts';
import { db } from '../../../../../lib/server/db/index.ts';
import { parseRowId } from '../../../../../lib/server/ids.ts';
import { callerOf } from '../../../../../lib/server/inventories/access.ts';
import { removeMember, setMemberRole } from '../../../../../lib/server/inventories/members.ts';
import { readJsonBody } from '../../../../../lib/server/request-body.ts';

/**
 * One member of an inventory, named by username (compared ignoring case, as sign-in does):
 * an owner adds someone or changes their role with PUT, and removes them with DELETE; any
 * member may DELETE themself to leave. An inventory always keeps an owner (409).
 */
export const ALL = apiEndpoint({
  async PUT({ params, url, request, locals }) {
    const id = parseRowId(params.id);
    if (id === undefined) return notFound(NO_SUCH_INVENTORY);
    const username = usernameFromPath(url);
    const input = memberInputSchema.safeParse(await readJsonBody(request));
    if (!input.success) return validationError(input.error);
    const outcome = await setMemberRole(db, callerOf(locals), id, username, input.data.role);
    switch (outcome.status) {
      case 'added':
        return apiJson(201, memberJson(outcome.member), {
          Location: memberLocation(id, outcome.member.username),
        });
      case 'changed':
      case 'unchanged':
        return apiJson(200, memberJson(outcome.member));
      case 'no-such-user':
        return notFound(
          `No account is called “${username}”. They need to register first; or send them an invite link.`,
        );
      case 'last-owner':
        return lastOwner(
          'This is the only owner of the inventory: make someone else an owner first, then change this role.',
        );
      default:
        return deniedResponse(outcome, 'own', NO_SUCH_INVENTORY);
    }
  },

  async DELETE({ params, url, locals }) {
    const id = parseRowId(params.id);
    if (id === undefined) return notFound(NO_SUCH_INVENTORY);
    const username = usernameFromPath(url);
    const outcome = await removeMember(db, callerOf(locals), id, username);
    switch (outcome.status) {
      case 'removed':
        return new Response(null, { status: 204 });
      case 'no-such-member':
        return notFound(`No member of this inventory is called “${username}”.`);
      case 'last-owner':
        return lastOwner(
          'This is the only owner of the inventory, who cannot leave: make someone else an owner first, or delete the inventory.',
        );
      default:
        return deniedResponse(outcome, 'own', NO_SUCH_INVENTORY);
    }
  },
});
