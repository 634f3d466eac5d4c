import type { z } from 'zod';
import type { ChangeJson, trashedItemSchema, trashListSchema } from '../../contracts/history.ts';
import type { Change } from '../history/changes.ts';
import type { TrashedItem, TrashPage } from '../history/trash.ts';
import { undoRefusalMessage, type UndoOutcome } from '../history/undo.ts';
import { apiError } from './http.ts';

/** How the API shows the history and the trash, and answers an undo it refuses. */

export const NO_SUCH_CHANGE = 'No such change.';

/** The header a write answers with: the change to undo it by (`POST /api/changes/{id}/undo`). */
const CHANGE_ID_HEADER = 'Change-Id';

/** `{"Change-Id": "<id>"}` when the write recorded a change; nothing when it changed nothing. */
export const changeIdHeader = (changeId: number | null): Record<string, string> =>
  changeId === null ? {} : { [CHANGE_ID_HEADER]: String(changeId) };

/** The one mapping from a change to what the API sends. */
export function changeJson(change: Change): ChangeJson {
  return {
    id: change.id,
    at: change.at.toISOString(),
    actor: change.actor && { id: change.actor.id, username: change.actor.username },
    via: change.via,
    token: change.tokenName,
    action: change.action,
    undoes: change.undoesId,
    item_ids: [...new Set(change.fieldChanges.map((entry) => entry.itemId))],
    changes: change.fieldChanges.map((entry) => ({
      item_id: entry.itemId,
      field: entry.field,
      before: entry.before ?? null,
      after: entry.after ?? null,
    })),
  };
}

function trashedItemJson(item: TrashedItem): z.output<typeof trashedItemSchema> {
  return {
    id: item.id,
    name: item.name,
    amount: item.amount,
    deleted_at: item.deletedAt.toISOString(),
    deleted_by: item.deletedBy && { id: item.deletedBy.id, username: item.deletedBy.username },
    purge_at: item.purgeAt.toISOString(),
  };
}

export function trashListJson(page: TrashPage): z.output<typeof trashListSchema> {
  return {
    items: page.items.map(trashedItemJson),
    page: page.page,
    limit: page.limit,
    total: page.total,
  };
}

/** What a refused undo answers: 409, saying why; nothing was changed. */
export function undoRefused(
  outcome: Extract<UndoOutcome, { status: 'changed-since' | 'not-undoable' }>,
): Response {
  const code = outcome.status === 'not-undoable' ? 'not_undoable' : 'changed_since';
  return apiError(409, { code, message: undoRefusalMessage(outcome) });
}
