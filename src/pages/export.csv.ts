import type { APIRoute } from 'astro';
import { csvExportResponse } from '../lib/server/csv/export.ts';

/** One inventory's items as the main page lists them, as a spreadsheet. */
export const ALL: APIRoute = (context) => csvExportResponse(context);
