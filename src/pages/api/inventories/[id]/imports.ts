import {
  importQuerySchema,
  IMPORT_MAX_BYTES,
  type ImportReportJson,
} from '../../../../lib/contracts/imports.ts';
import { changeIdHeader } from '../../../../lib/server/api/history.ts';
import {
  apiEndpoint,
  apiJson,
  deniedResponse,
  notFound,
  validationError,
} from '../../../../lib/server/api/http.ts';
import { NO_SUCH_INVENTORY } from '../../../../lib/server/api/inventories.ts';
import {
  importCsvForMember,
  importReportJson,
  planImportForMember,
} from '../../../../lib/server/csv/import.ts';
import { readCsv } from '../../../../lib/server/csv/read.ts';
import { db } from '../../../../lib/server/db/index.ts';
import { parseRowId } from '../../../../lib/server/ids.ts';
import { callerOf, checkAccess } from '../../../../lib/server/inventories/access.ts';
import { readFileBody } from '../../../../lib/server/request-body.ts';

/**
 * A CSV file as the body (editors and owners). With `?dry_run=true`, the report of what it
 * would do; otherwise all of it as one change (its id in `change_id` and `Change-Id`), or
 * nothing and a 422 with the report when the file has any problem.
 */
const refused = (message: string, report: ImportReportJson | null) =>
  apiJson(422, { error: { code: 'import_refused', message }, report });

export const ALL = apiEndpoint({
  async POST({ params, url, request, locals }) {
    const id = parseRowId(params.id);
    if (id === undefined) return notFound(NO_SUCH_INVENTORY);
    const caller = callerOf(locals);
    // Who may, before the body is read: a stranger learns nothing from a file's problems.
    const access = await checkAccess(db, caller, 'edit', id);
    if (access.status !== 'allowed') return deniedResponse(access, 'edit', NO_SUCH_INVENTORY);
    const query = importQuerySchema.safeParse(Object.fromEntries(url.searchParams));
    if (!query.success) return validationError(query.error, 'The query is invalid.');
    const reading = readCsv(await readFileBody(request, 'text/csv', IMPORT_MAX_BYTES));
    if (reading.status !== 'read') return refused(reading.message, null);

    if (query.data.dry_run) {
      const planned = await planImportForMember(db, caller, 'edit', id, reading.table);
      if (planned.status !== 'planned') return deniedResponse(planned, 'edit', NO_SUCH_INVENTORY);
      return apiJson(200, { change_id: null, report: importReportJson(planned.plan) });
    }
    const outcome = await importCsvForMember(db, caller, 'edit', id, reading.table);
    switch (outcome.status) {
      case 'imported':
        return apiJson(
          200,
          { change_id: outcome.changeId, report: importReportJson(outcome.plan) },
          changeIdHeader(outcome.changeId),
        );
      case 'refused': {
        const count = outcome.plan.problems.length;
        return refused(
          `The file has ${count === 1 ? 'a problem' : `${count} problems`}; nothing was imported.`,
          importReportJson(outcome.plan),
        );
      }
      case 'changed':
        return refused(
          'Items changed while the file was imported; nothing was imported. Send it again.',
          importReportJson(outcome.plan),
        );
      default:
        return deniedResponse(outcome, 'edit', NO_SUCH_INVENTORY);
    }
  },
});
