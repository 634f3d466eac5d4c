import type { Kysely } from 'kysely';
import type { Database } from '../db/types.ts';
import type { FormOutcome } from '../http/forms.ts';
import { checkAccess, type Caller } from '../inventories/access.ts';
import { inventoryPath } from '../inventories/view.ts';
import type { UploadedFile } from '../request-body.ts';
import {
  importCsvForMember,
  importSummary,
  planDigest,
  planImportForMember,
  type ImportPlan,
} from './import.ts';
import {
  discardPendingImport,
  findPendingImport,
  holdImport,
  type PendingImport,
} from './pending.ts';
import { decodeCsvFile, readCsvText } from './read.ts';

/**
 * The Import page's forms and what it shows: upload a file (held, not applied), see its
 * preview, then apply it or discard it. Every step is a plain form.
 */
type Db = Kysely<Database>;

export const importPagePath = (inventoryId: number): string => `/inventories/${inventoryId}/import`;
const previewPath = (inventoryId: number, id: string) =>
  `${importPagePath(inventoryId)}?preview=${encodeURIComponent(id)}`;

const EXPIRED =
  'This preview has expired or was already used, so nothing was imported. Upload the file again.';

export async function importAction(
  db: Db,
  caller: Caller,
  inventoryId: number,
  fields: Record<string, string>,
  file: UploadedFile | undefined,
): Promise<FormOutcome> {
  const access = await checkAccess(db, caller, 'edit', inventoryId);
  if (access.status !== 'allowed') return { kind: 'denied', denied: access, need: 'edit' };
  const here = importPagePath(inventoryId);
  switch (fields.action) {
    case 'upload': {
      if (!file)
        return { kind: 'show', status: 400, errors: { file: ['Choose a CSV file to import.'] } };
      const decoded = decodeCsvFile(file.bytes);
      if (decoded.status !== 'decoded') {
        return { kind: 'show', status: 422, errors: { file: [decoded.message] } };
      }
      const reading = readCsvText(decoded.text, decoded.encoding);
      if (reading.status !== 'read') {
        return { kind: 'show', status: 422, errors: { file: [reading.message] } };
      }
      const id = await holdImport(db, caller, inventoryId, {
        name: file.name,
        encoding: decoded.encoding,
        content: decoded.text,
      });
      return { kind: 'redirect', to: previewPath(inventoryId, id) };
    }
    case 'apply': {
      const pending = await findPendingImport(db, caller, inventoryId, fields.preview ?? '');
      if (!pending) return { kind: 'show', status: 404, failure: EXPIRED };
      const reading = readCsvText(pending.content, pending.encoding);
      if (reading.status !== 'read')
        return { kind: 'redirect', to: previewPath(inventoryId, pending.id) };
      const outcome = await importCsvForMember(
        db,
        caller,
        'edit',
        inventoryId,
        reading.table,
        fields.digest ?? '',
      );
      switch (outcome.status) {
        case 'imported':
          await discardPendingImport(db, caller, pending.id);
          return {
            kind: 'redirect',
            to: inventoryPath(inventoryId),
            notice: {
              about: 'items-imported',
              name: `“${pending.fileName}”: ${importSummary(outcome.plan)}`,
              change: outcome.changeId,
            },
          };
        case 'changed':
          return {
            kind: 'redirect',
            to: previewPath(inventoryId, pending.id),
            notice: 'import-plan-changed',
          };
        case 'refused':
          return { kind: 'redirect', to: previewPath(inventoryId, pending.id) };
        default:
          return { kind: 'denied', denied: outcome, need: 'edit' };
      }
    }
    case 'discard':
      await discardPendingImport(db, caller, fields.preview ?? '');
      return { kind: 'redirect', to: here, notice: 'import-discarded' };
    default:
      return { kind: 'show', status: 400, failure: 'Choose a file and press Preview.' };
  }
}

export type ImportView =
  | { kind: 'upload' }
  | { kind: 'expired'; message: string }
  | { kind: 'unreadable'; pending: PendingImport; message: string }
  | { kind: 'preview'; pending: PendingImport; plan: ImportPlan; digest: string };

/** What the page shows: the upload form, or the preview of a held file. */
export async function loadImportView(
  db: Db,
  caller: Caller,
  inventoryId: number,
  previewId: string | null,
): Promise<ImportView> {
  if (previewId === null) return { kind: 'upload' };
  const pending = await findPendingImport(db, caller, inventoryId, previewId);
  if (!pending) return { kind: 'expired', message: EXPIRED };
  const reading = readCsvText(pending.content, pending.encoding);
  if (reading.status !== 'read') return { kind: 'unreadable', pending, message: reading.message };
  const planned = await planImportForMember(db, caller, 'edit', inventoryId, reading.table);
  if (planned.status !== 'planned') return { kind: 'expired', message: EXPIRED };
  return { kind: 'preview', pending, plan: planned.plan, digest: planDigest(planned.plan) };
}
